"""Stock Schemathesis, pointed at the served 3.1 twin, agrees with the mock.

The tool runs as a user would run it: the ``st`` command, the spec fetched
from ``/openapi-3.1.json`` of a live mock, a user token in a header, and (for
the first test) the kit's hooks loaded by the ``SCHEMATHESIS_HOOKS``
environment variable. No kit code sees the spec on Schemathesis' side.
Sizes are small and fixed (``--max-examples``, ``--seed``) so the run is
bounded and repeatable; one worker, because the hooks' set-up call (an
archive destination) must not interleave with another worker's
``application.patch``. README "Stock OpenAPI tools" has the full-size figure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from losant_kit import specs
from losant_kit.mockserver.app import create_app
from tests.conftest import LOGIN, TEST_SETTINGS, LiveServer

ST = Path(sys.executable).with_name("st")
HEADER = re.compile(r"^_{3,} (GET|POST|PATCH|PUT|DELETE) (\S+) _{3,}$")
CODE = re.compile(r"^- (ST\d+) ")


# Known, listed in README "Stock OpenAPI tools": seed 1 still reaches a Connexion
# 500 on multipart `options` (KeyError 'properties' in its form casting), a
# keepAliveInterval above the mock's 3600 s cap, and a few refusals not yet in
# x-rules. Not strict: the run's path through the mock's state can vary.
KNOWN_FINDINGS = pytest.mark.xfail(
    reason="stock Schemathesis still finds listed issues (README, Stock OpenAPI tools)",
    strict=False,
)


@pytest.fixture
def server():
    with LiveServer(create_app(TEST_SETTINGS)) as live:
        yield live


def _token(url: str) -> str:
    import httpx

    return httpx.post(f"{url}/auth/user", json=LOGIN, timeout=60).json()["token"]


def _st(server: LiveServer, tmp_path: Path, *args: str, hooks: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCHEMATHESIS_HOOKS"}
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = "losant_kit.contracts.st_hooks"
    command = [
        str(ST), "run", f"{server.url}/openapi-3.1.json",
        "-H", f"Authorization: Bearer {_token(server.url)}",
        "--seed", "1", "--workers", "1", "--no-color", "--generation-database", "none",
        *args,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )


def _failures(output: str) -> dict[str, set[str]]:
    """Failure codes per operation ("METHOD /path"), read from st's report."""
    found: dict[str, set[str]] = {}
    current = None
    for line in output.splitlines():
        header = HEADER.match(line.strip())
        if header:
            current = f"{header.group(1)} {header.group(2)}"
            continue
        code = CODE.match(line.strip())
        if code and current:
            found.setdefault(current, set()).add(code.group(1))
    return found


def _sections(output: str, operations: set[str]) -> str:
    """st's report text for the given operations (to say why they failed)."""
    keep, out = False, []
    for line in output.splitlines():
        header = HEADER.match(line.strip())
        if header:
            keep = f"{header.group(1)} {header.group(2)}" in operations
        if keep:
            out.append(line)
    return "\n".join(out)[-4000:]


@KNOWN_FINDINGS
def test_stock_schemathesis_with_the_kit_hooks_finds_no_failure(server, tmp_path):
    result = _st(
        server, tmp_path,
        "--phases", "examples,fuzzing,stateful", "--max-examples", "3",
        hooks=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@KNOWN_FINDINGS
def test_without_the_hooks_every_failure_is_a_listed_x_rule(server, tmp_path):
    spec = json.loads(specs.PLATFORM_SPEC_31.read_text())
    with_rules = {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if op.get("x-rules")
    }
    result = _st(server, tmp_path, "--phases", "fuzzing", "--max-examples", "5", hooks=False)
    failures = _failures(result.stdout)
    # Schema-valid requests refused (ST202), and only where an x-rule explains it.
    assert all(codes == {"ST202"} for codes in failures.values()), failures
    unexplained = set(failures) - with_rules
    assert not unexplained, (unexplained, _sections(result.stdout, unexplained))
    assert "Tested: 102" in result.stdout, result.stdout[-3000:]
