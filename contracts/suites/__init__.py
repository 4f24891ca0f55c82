"""The contract suites, each a pytest module selectable by name.

Run them with ``losant-contracts run`` or plain pytest
(``pytest --pyargs losant_kit.contracts.suites.auth --losant-base-url ...``).
"""

from __future__ import annotations

SUITES: dict[str, str] = {
    "conformance": "Every operation against the spec: statuses, bodies (exact schemas), "
                   "content types; invalid input refused with 4xx, never 5xx.",
    "stateful": "Create -> read -> update -> delete chains over the spec's OpenAPI links.",
    "behaviour": "Properties of the platform's semantics: read-back, patch, delete, paging, "
                 "sorting, filters, advanced queries, state, time series, commands, events.",
    "auth": "Every credential kind in every state; authorisation over every operation a "
            "credential's scopes reach; cross-tenant isolation with a second account.",
    "throttle": "Window limits (exactly the limit, then 429, then recovery) and concurrency "
                "limits.",
}


def module_of(name: str) -> str:
    return f"{__name__}.{name}"
