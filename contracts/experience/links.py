"""The file's OpenAPI links, and the runtime expressions their parameters use.

A link says "from this response, that operation can be called with these
values": following it on a successful response must lead to a successful
call (a listed device that cannot be read is a broken contract).
Supported expressions: ``$response.body#/json/pointer``,
``$request.path.NAME``, ``$request.query.NAME``, ``$response.header.NAME``
and constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from losant_kit.mockserver.experience.apifile import ExperienceApi

_MISSING = object()


@dataclass(frozen=True)
class Link:
    source: str  # operation id
    status: str  # the response key the link hangs on ("200")
    label: str
    target: str  # operation id
    parameters: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}:{self.label}"


def declared_links(api: ExperienceApi) -> list[Link]:
    found = []
    paths = api.document.get("paths", {})
    for operation in api.operations.values():
        raw = paths.get(operation.path, {}).get(operation.method, {})
        for status, response in (raw.get("responses") or {}).items():
            for label, link in ((response or {}).get("links") or {}).items():
                target = link.get("operationId")
                if target in api.operations:
                    found.append(Link(operation.operation_id, str(status), label, target,
                                      tuple((link.get("parameters") or {}).items())))
    return found


def evaluate(expression: Any, request: dict[str, dict[str, Any]], response: Any) -> Any:
    """The value of a link parameter's expression (``_MISSING`` when it resolves to nothing)."""
    if not isinstance(expression, str) or not expression.startswith("$"):
        return expression
    if expression.startswith("$response.body"):
        _, _, pointer = expression.partition("#")
        try:
            node = response.json()
        except ValueError:
            return _MISSING
        for part in [p for p in pointer.split("/")[1:]]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return _MISSING
        return node
    if expression.startswith("$response.header."):
        return response.headers.get(expression.removeprefix("$response.header."), _MISSING)
    for where in ("path", "query"):
        prefix = f"$request.{where}."
        if expression.startswith(prefix):
            return request.get(where, {}).get(expression.removeprefix(prefix), _MISSING)
    return _MISSING


def missing(value: Any) -> bool:
    return value is _MISSING
