"""The platform spec as the suites read it: operations, routes and the contract view.

Everything the suites know about the API comes from ``specs/openapi.json``
(``specs.load_platform_spec()``), read once into small tables here, so no suite
repeats a fact of the spec.

``contract_document()`` is the copy of the spec Schemathesis generates from.
It differs from the served spec only in how *requests* are described, never in
what responses must look like:

* request bodies point at the exact draft-07 schemas (``components.x-jsonschema``)
  instead of their lowered OpenAPI 3.0 approximations, so "positive" data is
  really valid and reaches the platform's rules instead of bouncing off a 400;
* object-valued query parameters (``style: deepObject`` + ``x-jsonschema``) are
  sent JSON-encoded (``query={"name": "x"}``), the form the official client
  uses, generated from their exact schema;
* links that can never be followed (``$request.path.X`` where the linking
  operation has no path parameter X) are dropped;
* ``page``/``perPage`` are numeric strings: the platform documents them as
  numbers sent as strings, the spec only says "string".
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

EXACT_PREFIX = "#/components/x-jsonschema/"
LOWERED_PREFIX = "#/components/schemas/"
CONTRACT_MARK = "x-losant-contract-view"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
# Numeric query strings, as the platform reads them (page >= 0, 1 <= perPage <= 1000).
NUMERIC_QUERY = {"page": "^(0|[1-9][0-9]{0,2})$", "perPage": "^([1-9][0-9]{0,2}|1000)$"}


@dataclass(frozen=True)
class SpecOperation:
    id: str
    method: str  # upper case
    path: str
    scopes: frozenset[str]
    throttle: dict[str, Any] | None
    sse: bool
    documented: frozenset[int]

    @property
    def public(self) -> bool:
        return not self.scopes


@cache
def platform_document() -> dict[str, Any]:
    from losant_kit import specs

    return specs.load_platform_spec()


@cache
def operations() -> dict[str, SpecOperation]:
    """Every operation of the spec by operationId."""
    table: dict[str, SpecOperation] = {}
    for path, item in platform_document()["paths"].items():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            table[op["operationId"]] = SpecOperation(
                id=op["operationId"], method=method.upper(), path=path,
                scopes=frozenset(op.get("x-scopes", [])), throttle=op.get("x-throttle"),
                sse=bool(op.get("x-sse")),
                documented=frozenset(int(s) for s in op["responses"] if s.isdigit()),
            )
    return table


class Router:
    """Which operation a concrete request (method, path) is."""

    def __init__(self) -> None:
        # Literal segments before templated ones: /devices/command wins over /devices/{id}.
        entries = []
        for op in operations().values():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(op.path))
            literal = op.path.count("/") * 100 - op.path.count("{")
            entries.append((-literal, op.method, re.compile(f"^{pattern}$"), op))
        self._entries = sorted(entries, key=lambda e: e[0])

    def match(self, method: str, path: str) -> SpecOperation | None:
        path = path.split("?", 1)[0]
        for _, m, regex, op in self._entries:
            if m == method.upper() and regex.match(path):
                return op
        return None


@cache
def router() -> Router:
    return Router()


@cache
def _contract_document() -> dict[str, Any]:
    doc = copy.deepcopy(platform_document())
    doc["info"][CONTRACT_MARK] = True
    for item in doc["paths"].values():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            ref = (media or {}).get("schema", {}).get("$ref", "")
            if ref.startswith(LOWERED_PREFIX):
                media["schema"] = {"$ref": EXACT_PREFIX + ref.removeprefix(LOWERED_PREFIX)}
            _drop_unresolvable_links(op)
            for param in op.get("parameters", []):
                if "x-jsonschema" in param:
                    param.pop("style", None)
                    param.pop("explode", None)
                    param.pop("schema", None)
                    param["content"] = {"application/json": {"schema": param.pop("x-jsonschema")}}
                elif param.get("in") == "query" and param.get("name") in NUMERIC_QUERY:
                    param["schema"] = {**param["schema"], "pattern": NUMERIC_QUERY[param["name"]]}
    return doc


def _drop_unresolvable_links(op: dict[str, Any]) -> None:
    """Remove links whose ``$request.path.X`` names no path parameter of ``op``.

    Such a link can never be followed (Schemathesis refuses to build a state
    machine with one); they are a defect of the spec generator, reported, not
    something an implementation could satisfy.
    """
    own = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
    for response in op.get("responses", {}).values():
        links = response.get("links")
        if not links:
            continue
        for name, link in list(links.items()):
            wanted = {str(v).removeprefix("$request.path.")
                      for v in link.get("parameters", {}).values()
                      if str(v).startswith("$request.path.")}
            if wanted - own:
                del links[name]


def contract_document() -> dict[str, Any]:
    """A fresh copy of the contract view (Schemathesis annotates what it loads)."""
    return copy.deepcopy(_contract_document())


def object_query_params(operation_id: str) -> set[str]:
    op = operations()[operation_id]
    raw = platform_document()["paths"][op.path][op.method.lower()]
    return {p["name"] for p in raw.get("parameters", []) if "x-jsonschema" in p}
