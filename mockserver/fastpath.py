"""The fast lane: well-formed platform requests served without Connexion's per-request stack.

Connexion spends most of a request's time on itself (a linear route scan,
per-request validator construction, ``inspect.signature``, deep copies). The
fast lane does the same work with what start-up already knows: a route table
per method, the parameters' validators compiled once, the token's checked
claims cached (``TokenSigner``), and a direct call into the dispatcher.

It is *accept-only*. A request takes the lane only when it can prove that
Connexion would accept it too: the route matches, every path, query and body
value passes the very schema Connexion checks it against, the credentials
verify. Anything else - an unknown or repeated query parameter, a bracket-form
object parameter, a missing or bad token, a body that fails its schema, an
unusual content type, a streaming or multipart operation - is handed to
Connexion untouched (its body replayed), which answers exactly as it always
did. So every error the mock gives still comes from one place, and the lane
can only ever be stricter than Connexion, never looser.
``tests/test_fastpath.py`` checks that both routes give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connexion.decorators.parameter import sanitized
from connexion.jsonifier import JSONEncoder
from jsonschema import Draft4Validator
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from losant_kit.mockserver.errors import PlatformError
from losant_kit.mockserver.validation import MAX_BODY_BYTES, parse_json_body

if TYPE_CHECKING:
    from losant_kit.mockserver.auth import Authenticator
    from losant_kit.mockserver.dispatch import Dispatcher
    from losant_kit.mockserver.spec import PlatformSpec

ErrorRenderer = Callable[[Scope, Exception], Response]
_JSON = "application/json"


@dataclass
class _Route:
    """One operation as the fast lane sees it."""

    operation_id: str
    segments: tuple[str | None, ...]  # a literal, or None for a path parameter
    path_names: tuple[str, ...]
    path_checks: dict[str, Callable[[Any], bool]]
    query_checks: dict[str, Callable[[Any], bool] | None]  # scalar parameters
    query_defaults: dict[str, Any]
    query_required: frozenset[str]
    object_params: frozenset[str]
    secured: bool
    body_check: Callable[[Any], bool] | None = None  # JSON body operations only
    has_body: bool = False
    kwarg_names: dict[str, str] = field(default_factory=dict)


def _string_check(schema: dict[str, Any]) -> Callable[[Any], bool]:
    # The validator Connexion builds per request (ParameterValidator), built once.
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).is_valid


def _compile(path: str, method: str, op: dict[str, Any], doc: dict[str, Any],
             spec: PlatformSpec) -> _Route | None:
    """The operation's route, or None when the operation always goes to Connexion."""
    if op.get("x-sse"):
        return None
    produces = {ct for r in op["responses"].values() for ct in r.get("content", {})}
    if produces - {_JSON}:
        return None
    security = op.get("security") or doc.get("security") or []
    if any(set(requirement) - {"bearer"} for requirement in security):
        return None
    components = doc["components"].get("parameters", {})
    path_checks: dict[str, Callable[[Any], bool]] = {}
    query_checks: dict[str, Callable[[Any], bool] | None] = {}
    defaults: dict[str, Any] = {}
    required: set[str] = set()
    objects: set[str] = set()
    for parameter in op.get("parameters", []):
        if "$ref" in parameter:
            parameter = components[parameter["$ref"].rsplit("/", 1)[-1]]
        schema = parameter.get("schema", {})
        where, name = parameter["in"], parameter["name"]
        if schema.get("nullable") or schema.get("type") not in ("string", None):
            return None
        if where == "header":
            if parameter.get("required") or set(schema) - {"type", "description"}:
                return None
            continue
        if where == "path":
            path_checks[name] = _string_check(schema)
        elif where == "query":
            if "x-jsonschema" in parameter:
                objects.add(name)
                continue
            if parameter.get("style", "form") != "form":
                return None
            query_checks[name] = _string_check(schema)
            if "default" in parameter:
                defaults[name] = parameter["default"]
            elif "default" in schema:
                defaults[name] = schema["default"]
            if parameter.get("required"):
                required.add(name)
        else:
            return None
    segments = tuple(
        None if part.startswith("{") else part for part in path.strip("/").split("/")
    )
    names = tuple(part[1:-1] for part in path.strip("/").split("/") if part.startswith("{"))
    route = _Route(
        operation_id=op["operationId"], segments=segments, path_names=names,
        path_checks=path_checks, query_checks=query_checks, query_defaults=defaults,
        query_required=frozenset(required), object_params=frozenset(objects),
        secured=bool(security),
        kwarg_names={name: sanitized(name) for name in [*names, *query_checks]},
    )
    body = op.get("requestBody")
    if body:
        media = body.get("content", {})
        name = media.get(_JSON, {}).get("schema", {}).get("x-schema-name")
        if set(media) != {_JSON} or not name or not body.get("required"):
            return None
        route.has_body = True
        route.body_check = spec.validator(name).is_valid
    return route


def _specificity(route: _Route) -> tuple[int, ...]:
    # Literal segments before parameters, position by position: the order in
    # which Connexion (connexion.utils.sort_routes) tries its routes.
    return tuple(0 if part is not None else 1 for part in route.segments)


class FastLane:
    """An ASGI layer: serve what it can prove valid, hand the rest to ``fallback``."""

    def __init__(
        self,
        spec: PlatformSpec,
        document: dict[str, Any],
        dispatcher: Dispatcher,
        authenticator: Authenticator,
        render_error: ErrorRenderer,
        fallback: ASGIApp,
    ) -> None:
        self.dispatcher = dispatcher
        self.authenticator = authenticator
        self.render_error = render_error
        self.fallback = fallback
        self.routes: dict[tuple[str, int], list[_Route]] = {}
        for path, item in document["paths"].items():
            for method, op in item.items():
                route = _compile(path, method, op, document, spec)
                if route is not None:
                    self.routes.setdefault((method.upper(), len(route.segments)), []).append(
                        route
                    )
        for candidates in self.routes.values():
            candidates.sort(key=_specificity)
        self.encoder = JSONEncoder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        served = await self._try(scope, receive, send)
        if served is not True:
            await self.fallback(scope, served or receive, send)

    # ------------------------------------------------------------ the lane

    async def _try(self, scope: Scope, receive: Receive, send: Send) -> bool | Receive | None:
        """True when served; otherwise what to hand Connexion (a replaying receive, or None)."""
        match = self._match(scope["method"], scope["path"])
        if match is None:
            return None
        route, path_values = match
        params = self._params(route, path_values, scope.get("query_string", b""))
        if params is None:
            return None
        headers = _headers(scope)
        body = None
        if route.has_body:
            outcome = await self._body(route, headers, receive)
            if not isinstance(outcome, tuple):
                return outcome
            body, receive = outcome
        elif not _bodiless(headers):
            return None
        principal = None
        if route.secured:
            principal = self._principal(headers)
            if principal is None:
                return receive
        try:
            response = await self.dispatcher.serve(
                route.operation_id, principal, params, body, scope
            )
            if not isinstance(response, Response):
                response = self._json_response(*response)
        except Exception as exc:
            response = self.render_error(scope, exc)
        await response(scope, receive, send)
        return True

    def _match(self, method: str, path: str) -> tuple[_Route, list[str]] | None:
        parts = path.strip("/").split("/") if path.startswith("/") else None
        if parts is None or (path.endswith("/") and path != "/"):
            return None
        for route in self.routes.get((method, len(parts)), ()):
            values = []
            for literal, part in zip(route.segments, parts, strict=True):
                if literal is None:
                    if not part:
                        break
                    values.append(part)
                elif literal != part:
                    break
            else:
                return route, values
        return None

    def _params(self, route: _Route, path_values: list[str], query: bytes) -> dict | None:
        names = route.kwarg_names
        params: dict[str, Any] = {}
        for name, value in zip(route.path_names, path_values, strict=True):
            if not route.path_checks[name](value):
                return None
            params[names[name]] = value
        seen: set[str] = set()
        if query:
            from urllib.parse import parse_qsl

            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                check = route.query_checks.get(key)
                if check is None or key in seen or not check(value):
                    return None
                seen.add(key)
                params[names[key]] = value
        if route.query_required - seen:
            return None
        for key, value in route.query_defaults.items():
            if key not in seen:
                params[names[key]] = value
        return params

    async def _body(self, route: _Route, headers: dict[bytes, bytes],
                    receive: Receive) -> tuple[Any, Receive] | Receive | None:
        """``(body, replay)`` when it passes its schema, else the receive that replays it."""
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        mime, _, options = content_type.partition(";")
        options = options.strip().replace(" ", "")
        if mime.strip() != _JSON or options not in ("", "charset=utf-8"):
            return None
        if b"transfer-encoding" in headers or not headers.get(b"content-length", b"0").isdigit():
            return None
        if int(headers.get(b"content-length", b"0")) == 0:
            return None
        chunks: list[bytes] = []
        more, size = True, 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return _replay_messages([message], receive)
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        replay = _replay(raw, receive)
        if size > MAX_BODY_BYTES:
            return replay
        try:
            body = parse_json_body(raw.decode("utf-8"))
        except (UnicodeDecodeError, PlatformError):
            return replay
        if body is None or not route.body_check(body):
            return replay
        return body, replay

    def _principal(self, headers: dict[bytes, bytes]) -> Any:
        authorization = headers.get(b"authorization")
        if not authorization:
            return None
        parts = authorization.decode("latin-1").split(maxsplit=1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        try:
            return self.authenticator.principal(parts[1])
        except PlatformError:
            return None

    def _json_response(self, body: Any, status: int, headers: dict[str, str]) -> Response:
        # As Connexion's response decorator: its JSON encoder, a trailing newline.
        if any(key.lower() == "content-type" for key in headers):
            raise TypeError("fast lane replies are JSON; a handler set its own content type")
        return Response(self.encoder.encode(body) + "\n", status_code=status,
                        headers={**headers, "Content-Type": _JSON})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # First occurrence wins, as starlette's Headers.get (what Connexion reads).
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.lower(), value)
    return found


def _bodiless(headers: dict[bytes, bytes]) -> bool:
    return (
        b"content-type" not in headers
        and b"transfer-encoding" not in headers
        and headers.get(b"content-length", b"0") == b"0"
    )


def _replay(raw: bytes, receive: Receive) -> Receive:
    return _replay_messages([{"type": "http.request", "body": raw, "more_body": False}], receive)


def _replay_messages(messages: list[Message], receive: Receive) -> Receive:
    pending = iter(messages)

    async def replaying() -> Message:
        try:
            return next(pending)
        except StopIteration:
            return await receive()

    return replaying

