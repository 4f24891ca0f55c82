"""Fault and latency injection: rules, their matching, and the ASGI layer that applies them.

A rule (``POST /_mock/faults``, ``--fault``, the inspector page)::

    {"match": {"operationId": "device.get"},   # or {"method": "GET", "path": "/applications/*"}
     "latencyMs": 300, "status": 503, "drop": false, "probability": 1.0, "times": 5}

Every field but ``match`` is optional. A request the rule matches waits
``latencyMs`` (real time: the point is to see a slow API), then is answered
with ``status`` in the platform's error shape, or has its connection closed
without an answer (``drop``), or - with neither - goes on to the mock as usual.
``probability`` draws from a generator seeded with the mock's seed, so a run
is repeatable; ``times`` expires the rule after that many hits (the rule stays
listed, with its hits, so a test can see it fired). The oldest rule that
matches and fires wins; one rule per request. ``/_mock`` is never faulted.

Paths match as globs over path segments: ``*`` is one segment (or part of
one), ``**`` any run of segments.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from losant_kit.mockserver.dispatch import JOURNAL_KEY
from losant_kit.mockserver.errors import ValidationError

if TYPE_CHECKING:
    from losant_kit.mockserver.spec import PlatformSpec

MAX_LATENCY_MS = 60_000
TRANSPORT_KEY = "losant.transport"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})
# The platform's error ``type`` for the statuses a fault is likely to carry.
ERROR_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class FaultRule:
    id: int
    match: dict[str, str]
    matches: Callable[[str, str, str | None], bool]
    latency_ms: float = 0
    status: int | None = None
    drop: bool = False
    probability: float = 1.0
    times: int | None = None
    hits: int = 0

    @property
    def expired(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def describe(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": self.id, "match": dict(self.match)}
        if self.latency_ms:
            shown["latencyMs"] = self.latency_ms
        if self.status is not None:
            shown["status"] = self.status
        shown["drop"] = self.drop
        shown["probability"] = self.probability
        if self.times is not None:
            shown["times"] = self.times
        shown["hits"] = self.hits
        shown["expired"] = self.expired
        return shown


class Faults:
    """The rule list of one mock, and the seeded draw behind ``probability``."""

    def __init__(self, spec: PlatformSpec, seed: int, startup: Iterable[Mapping[str, Any]] = ()):
        self.spec = spec
        self.seed = seed
        self.startup = [dict(rule) for rule in startup]
        self.rules: list[FaultRule] = []
        self._router: OperationRouter | None = None
        self.reset()

    def reset(self) -> None:
        """Back to the start-up rules (``--fault``) with fresh hit counts and draws."""
        self.rules = []
        self._ids = itertools.count(1)
        self.rng = random.Random(self.seed)
        for body in self.startup:
            self.add(body)

    def add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        rule = self._parse(body)
        self.rules.append(rule)
        return rule.describe()

    def listing(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]

    def remove(self, rule_id: int) -> dict[str, Any] | None:
        for rule in self.rules:
            if rule.id == rule_id:
                self.rules.remove(rule)
                return rule.describe()
        return None

    def clear(self) -> int:
        count = len(self.rules)
        self.rules = []
        return count

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, counting its hit; None for most requests."""
        operation_id = None
        for rule in self.rules:
            if rule.expired:
                continue
            if "operationId" in rule.match and operation_id is None:
                operation_id = self.router.operation_id(method, path)
            if not rule.matches(method, path, operation_id):
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.hits += 1
            return rule
        return None

    @property
    def router(self) -> OperationRouter:
        if self._router is None:
            self._router = OperationRouter(self.spec)
        return self._router

    def _parse(self, body: Mapping[str, Any]) -> FaultRule:
        if not isinstance(body, Mapping):
            raise ValidationError("body: a fault rule is a JSON object")
        unknown = set(body) - {"match", "latencyMs", "status", "drop", "probability", "times"}
        if unknown:
            raise ValidationError(f"body: unknown fields {sorted(unknown)}")
        match = body.get("match")
        if not isinstance(match, Mapping) or not match:
            raise ValidationError("body.match: give an operationId, or a method and/or a path")
        matcher = self._matcher(match)
        latency = _number(body.get("latencyMs", 0), "latencyMs", 0, MAX_LATENCY_MS)
        status = body.get("status")
        if status is not None and (
            not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599
        ):
            raise ValidationError("body.status: an error status between 400 and 599")
        drop = body.get("drop", False)
        if not isinstance(drop, bool):
            raise ValidationError("body.drop: true or false")
        if drop and status is not None:
            raise ValidationError("body: a rule either drops the connection or answers a status")
        probability = _number(body.get("probability", 1.0), "probability", 0, 1)
        times = body.get("times")
        if times is not None and (
            not isinstance(times, int) or isinstance(times, bool) or times < 1
        ):
            raise ValidationError("body.times: a whole number of hits, at least 1")
        return FaultRule(
            id=next(self._ids),
            match={key: match[key] for key in ("operationId", "method", "path") if key in match},
            matches=matcher,
            latency_ms=latency,
            status=status,
            drop=drop,
            probability=float(probability),
            times=times,
        )

    def _matcher(self, match: Mapping[str, Any]) -> Callable[[str, str, str | None], bool]:
        unknown = set(match) - {"operationId", "method", "path"}
        if unknown:
            raise ValidationError(f"body.match: unknown fields {sorted(unknown)}")
        if not all(isinstance(value, str) and value for value in match.values()):
            raise ValidationError("body.match: every field is a non-empty string")
        if "operationId" in match:
            if len(match) > 1:
                raise ValidationError("body.match: an operationId alone, or a method and/or path")
            wanted = match["operationId"]
            if wanted not in self.spec.operations:
                raise ValidationError(f"body.match.operationId: no operation '{wanted}'")
            return lambda _method, _path, operation_id: operation_id == wanted
        method = match.get("method", "").upper() or None
        if method is not None and method not in METHODS:
            raise ValidationError(f"body.match.method: '{match['method']}' is not an HTTP method")
        path = match.get("path")
        if path is not None and not path.startswith("/"):
            raise ValidationError("body.match.path: a path starting with /")
        path_regex = path_glob(path) if path else None
        return lambda req_method, req_path, _op: (
            (method is None or req_method == method)
            and (path_regex is None or path_regex.fullmatch(req_path) is not None)
        )


def path_glob(pattern: str) -> re.Pattern[str]:
    """``*`` within one segment, ``**`` across segments; the rest literal."""
    parts = []
    for piece in re.split(r"(\*\*|\*)", pattern):
        if piece == "**":
            parts.append(".*")
        elif piece == "*":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


class OperationRouter:
    """Which platform operation a method and path address, from the spec's paths.

    Routes are grouped by method and segment count, so a lookup tries a
    handful of patterns, not all of them (it runs per request while an
    operationId rule exists)."""

    def __init__(self, spec: PlatformSpec) -> None:
        groups: dict[tuple[str, int], list[tuple[int, re.Pattern[str], str]]] = {}
        for operation in spec.operations.values():
            segments = operation.path.strip("/").split("/")
            literal = sum(1 for seg in segments if not seg.startswith("{"))
            regex = re.compile(
                "/" + "/".join("[^/]+" if seg.startswith("{") else re.escape(seg)
                               for seg in segments)
            )
            key = (operation.method.upper(), len(segments))
            groups.setdefault(key, []).append((-literal, regex, operation.id))
        # A literal segment beats a parameter (``/devices/export`` before ``/devices/{id}``).
        self.groups = {
            key: [(regex, op_id) for _, regex, op_id in sorted(routes, key=lambda r: r[0])]
            for key, routes in groups.items()
        }

    def operation_id(self, method: str, path: str) -> str | None:
        path = path.rstrip("/") or "/"
        for regex, op_id in self.groups.get((method, path.count("/")), ()):
            if regex.fullmatch(path):
                return op_id
        return None


def transport_of(send: Send) -> Any:
    """The server's transport behind ``send`` (uvicorn's), so ``drop`` can close it."""
    return getattr(getattr(send, "__self__", None), "transport", None)


class DroppedConnection(Exception):
    """Raised where no transport can be closed (an in-process test client)."""


class FaultLayer:
    """ASGI layer between the journal and the mock: applies the rule that fires."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.faults.rules
            or scope["type"] != "http"
            or scope["path"].startswith("/_mock")
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        rule = self.faults.pick(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        entry = scope.get(JOURNAL_KEY)
        if entry is not None:
            entry["fault"] = rule.id
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.drop:
            await _drop(scope, receive)
        elif rule.status is not None:
            await _answer_error(send, rule)
        else:
            await self.app(scope, receive, send)


async def _answer_error(send: Send, rule: FaultRule) -> None:
    status = rule.status or 500
    body = json.dumps(
        {
            "type": ERROR_TYPES.get(status, "Error"),
            "message": f"Injected fault: rule {rule.id} answers {status}",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _drop(scope: Scope, receive: Receive) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise DroppedConnection("fault rule drops the connection")
    transport.close()
    # Wait for the server to notice, so it neither logs a missing response
    # nor tries to send a 500 down the closed socket.
    while (await receive())["type"] != "http.disconnect":
        pass


def _number(value: Any, name: str, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(f"body.{name}: a number between {low:g} and {high:g}")
    return value


def parse_cli_rule(text: str) -> dict[str, Any]:
    """``--fault``: a JSON rule, or ``MATCH key=value ...`` where MATCH is an
    operationId (``device.get``) or a method and path (``GET /applications/*``).

        --fault 'device.get status=503 times=2'
        --fault 'GET /applications/** latencyMs=300'
        --fault '{"match": {"operationId": "device.get"}, "drop": true}'
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            rule = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON fault rule: {exc}") from None
        if not isinstance(rule, dict):
            raise ValueError("a JSON fault rule is an object")
        return rule
    words = text.split()
    selectors = [word for word in words if "=" not in word]
    fields = [word for word in words if "=" in word]
    if len(selectors) == 1 and not selectors[0].startswith("/"):
        if selectors[0].upper() in METHODS:
            match = {"method": selectors[0]}
        else:
            match = {"operationId": selectors[0]}
    elif len(selectors) == 1:
        match = {"path": selectors[0]}
    elif len(selectors) == 2:
        match = {"method": selectors[0], "path": selectors[1]}
    else:
        raise ValueError("expected an operationId, or METHOD PATH, then key=value fields")
    rule: dict[str, Any] = {"match": match}
    for field in fields:
        key, _, raw = field.partition("=")
        try:
            rule[key] = json.loads(raw)
        except ValueError:
            raise ValueError(f"{key}={raw}: not a number, true or false") from None
    return rule
