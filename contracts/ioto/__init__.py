"""Contract suites for the EmbedThis Ioto cloud API (``losant-contracts run --platform ioto``).

Each suite is a pytest module here, run by ``runner.run_ioto_suites`` with the
target's fixtures (``plugin.IotoPlugin``) against a base URL or an in-process
Ioto mock.
"""

from __future__ import annotations

SUITES: dict[str, str] = {
    "conformance": "Every operation of the Ioto spec, fuzzed by Schemathesis: documented "
                   "statuses, JSON bodies that match, text/plain errors; invalid input 400.",
    "behaviour": "Created items read back; paging partitions a result set; find filters.",
    "auth": "No or a garbage token: 403 with a text body; a login token never reaches "
            "another account's devices.",
}


def module_of(name: str) -> str:
    return f"{__name__}.{name}"
