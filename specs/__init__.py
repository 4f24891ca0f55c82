"""The kit's OpenAPI specs: the single source of truth for the mock and the suites.

``load_platform_spec()`` is the one entry point both the mock server and the
contract suites use. The spec is committed as JSON because it parses ~100x
faster than the equivalent YAML and the mock parses it at every start.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS_DIR = Path(__file__).resolve().parent
PLATFORM_SPEC = SPECS_DIR / "openapi.json"
# The OpenAPI 3.1 twin (exact JSON Schema inline) for stock tools; see specs/openapi31.py.
PLATFORM_SPEC_31 = SPECS_DIR / "openapi-3.1.json"
CONTROL_SPEC = SPECS_DIR / "control.yaml"


@cache
def _platform_text() -> str:
    return PLATFORM_SPEC.read_text(encoding="utf-8")


def load_platform_spec() -> dict[str, Any]:
    """A fresh, mutable copy of the platform spec (callers may annotate it)."""
    return json.loads(_platform_text())
