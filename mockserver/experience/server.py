"""The experience runtime: an application's experience endpoints, served over HTTP.

An experience is reached three ways, as on the platform (with ``localhost``
standing in for ``onlosant.com``):

* ``http://{slug}.localhost:PORT/ROUTE``: routing on the Host header
  (browsers resolve ``*.localhost`` to loopback). The slug is the
  application's id, its ``endpointSlug`` or an experience slug;
* ``http://{domainName}:PORT/ROUTE`` for an experience domain;
* ``http://127.0.0.1:PORT/_experience/{slug}/ROUTE`` for clients that cannot
  resolve subdomains.

For each request: the most specific enabled endpoint for the method and path
(404 if none), the experience user from its token (Authorization bearer, an
``authorization`` cookie or an ``?authorization=`` parameter), the
endpoint's access rule (unauthorizedReply or 401/403 if refused), then its
reply: the ``staticReply``, else the built-in reply its ``mockReply`` tag
names, else 504 saying how to bind one. Every reply is counted for
``experienceEndpoints.stats``. With the application's
``endpointDefaultCors`` (on unless set false) replies carry CORS headers and
preflights are answered.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from starlette.types import Receive, Scope, Send

from losant_kit.mockserver.dispatch import JOURNAL_KEY
from losant_kit.mockserver.errors import PlatformError, Unauthorized
from losant_kit.mockserver.experience.binding import BoundApi
from losant_kit.mockserver.experience.contracted import ContractedAnswers
from losant_kit.mockserver.experience.replies import REPLIES, ReplyContext
from losant_kit.mockserver.experience.routing import split_path
from losant_kit.mockserver.models.experiences import Site

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

PATH_PREFIX = "/_experience/"
HOST_SUFFIX = ".localhost"
MAX_BODY_BYTES = 1024 * 1024
SITE_KEY = "losant.experience.site"
# Hosts that always mean the platform API (never an experience domain).
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "0.0.0.0", "testserver"})
Record = dict[str, Any]


class ExperienceRuntime:
    """The ASGI app for experience requests; ``site_for`` says which requests are its."""

    def __init__(self, backend: Backend, contracts: dict[str, BoundApi] | None = None) -> None:
        self.backend = backend
        self._platform_hosts: set[bytes] = set()
        # Applications serving an API file (--experience): application id -> file.
        self.contracts = contracts or {}
        self._contracted = ContractedAnswers()

    # ------------------------------------------------------------ which requests

    def claims(self, scope: Scope) -> bool:
        """Whether the request is for an experience (it is then routed here)."""
        found = self.site_for(scope)
        if found is not None:
            scope[SITE_KEY] = found
        return found is not None

    def site_for(self, scope: Scope) -> tuple[Site, str] | None:
        """The experience a request is for and the route path, or None (platform API)."""
        path: str = scope["path"]
        experiences = self.backend.experiences
        if path.startswith(PATH_PREFIX):
            slug, _, rest = path[len(PATH_PREFIX) :].partition("/")
            site = experiences.site_for_slug(slug) or Site("", "", slug)
            return site, "/" + rest
        raw = _raw_host(scope)
        # The platform API's own hosts, remembered: this check runs on every request.
        if raw in self._platform_hosts:
            return None
        host = _host_name(raw)
        if host.endswith(HOST_SUFFIX):
            slug = host[: -len(HOST_SUFFIX)]
            return (experiences.site_for_slug(slug) or Site("", "", slug)), path
        if not host or host in LOOPBACK_NAMES:
            if len(self._platform_hosts) < 64:
                self._platform_hosts.add(raw)
            return None
        site = experiences.site_for_domain(host)
        return (site, path) if site is not None else None

    # ------------------------------------------------------------ serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        site, path = scope.get(SITE_KEY) or self.site_for(scope) or (Site("", "", ""), "/")
        headers = _headers(scope)
        cors = self._cors_headers(site, headers)
        if not site.application_id:
            await _send(send, 404, _error("NotFound", f"No experience at slug {site.name}"), cors)
            return
        body_bytes = await _read_body(receive)
        method = scope["method"].lower()
        endpoints = self.backend.experience_endpoints
        parts = split_path(path)
        resolved = endpoints.resolve(site.application_id, method, parts)
        if resolved is None and method == "options" and cors:
            await _send(send, 204, None, {**cors, **_preflight(headers)})
            return
        if resolved is None:
            status, reply, extra = (
                404,
                _error("NotFound", f"No experience endpoint matches {method.upper()} {path}"),
                {},
            )
            endpoint_id = None
        else:
            endpoint, params = resolved
            endpoint_id = endpoint["id"]
            if body_bytes is None:
                status, reply, extra = (
                    413,
                    _error("PayloadTooLarge", "Request bodies are limited to 1 MiB"),
                    {},
                )
            else:
                status, reply, extra = self._answer(
                    site, endpoint, params, scope, headers, body_bytes
                )
        endpoints.record_request(
            site.application_id, endpoint_id, status, version=site.version, domain=site.name
        )
        await _send(send, status, reply, {**cors, **extra})

    def _answer(
        self,
        site: Site,
        endpoint: Record,
        params: dict[str, str],
        scope: Scope,
        headers: dict[str, str],
        body_bytes: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        token = _token(headers, query)
        users = self.backend.experience_users
        user = users.user_for_token(site.application_id, token) if token else None
        entry = scope.get(JOURNAL_KEY)
        if entry is not None and user is not None:
            entry["subject"] = f"experienceUser:{user['id']}"
        refusal = self._refusal(site, endpoint, user, token)
        bound = self.contracts.get(site.application_id)
        operation = bound.operation_for(endpoint["method"], endpoint["route"]) if bound else None
        if operation is not None and not endpoint.get("unauthorizedReply"):

            def reply(body: Any) -> tuple[int, Any]:
                ctx = ReplyContext(self.backend, site.application_id, user, params, query, body)
                return REPLIES[operation.reply](ctx)

            return self._contracted.answer(
                operation, bound.api.source, refusal, scope, params, body_bytes, reply
            )
        if refusal is not None:
            return _unauthorized_reply(endpoint, refusal)
        static = endpoint.get("staticReply")
        if static:
            return _static_reply(static)
        name = (endpoint.get("endpointTags") or {}).get("mockReply")
        reply = REPLIES.get(name or "")
        if reply is None:
            return 504, _error("GatewayTimeout", _unbound_message(endpoint, name)), {}
        try:
            body = _parse_body(body_bytes, headers)
            ctx = ReplyContext(self.backend, site.application_id, user, params, query, body)
            status, out = reply(ctx)
        except PlatformError as exc:
            return exc.status, exc.body(), {}
        return status, out, {}

    def _refusal(
        self, site: Site, endpoint: Record, user: Record | None, token: str | None
    ) -> PlatformError | None:
        """Why the caller may not use the endpoint (None: it may)."""
        access = endpoint.get("access", "public")
        if access == "public":
            return None
        if access == "device":
            return (
                None
                if self._device_token_ok(site, token)
                else Unauthorized("This endpoint needs a device token of this application")
            )
        if user is None:
            return Unauthorized("This endpoint needs an experience user's token")
        if access == "group":
            allowed = set(self.backend.experience_endpoints.group_ids(endpoint))
            groups = self.backend.experience_groups.access_group_ids(
                site.application_id, user["id"]
            )
            if not allowed & groups:
                return _Forbidden("The experience user is not in a group this endpoint allows")
        return None

    def _device_token_ok(self, site: Site, token: str | None) -> bool:
        if not token:
            return False
        try:
            principal = self.backend.authenticator.principal(token)
        except PlatformError:
            return False
        return principal.kind == "device" and principal.application_id == site.application_id

    def _cors_headers(self, site: Site, headers: dict[str, str]) -> dict[str, str]:
        # The platform's endpointDefaultCors, applied here because it is a
        # per-application setting; an app-wide CORS layer must not add its own
        # headers to these responses too (browsers refuse duplicates).
        app = self.backend.store.get("applications", site.application_id) if site.name else None
        if app is not None and app.get("endpointDefaultCors") is False:
            return {}
        origin = headers.get("origin")
        if not origin:
            return {"access-control-allow-origin": "*"}
        # Echo the origin (not "*") so a page may send its cookie with credentials.
        return {
            "access-control-allow-origin": origin,
            "access-control-allow-credentials": "true",
            "vary": "Origin",
        }


class _Forbidden(PlatformError):
    status = 403
    type = "Forbidden"


# ---------------------------------------------------------------- request pieces


def _raw_host(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return value
    return b""


def _host_name(raw: bytes) -> str:
    """The Host header without its port, lower case."""
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def _token(headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
    """The bearer token from the header, the ``authorization`` cookie or the query."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    cookie_header = headers.get("cookie")
    if cookie_header:
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except CookieError:
            cookies = SimpleCookie()
        if "authorization" in cookies:
            return _strip_bearer(unquote(cookies["authorization"].value))
    if query.get("authorization"):
        return _strip_bearer(query["authorization"][-1])
    return None


def _strip_bearer(value: str) -> str | None:
    value = value.strip()
    if value.lower().startswith("bearer "):
        value = value[7:].strip()
    return value or None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when it is over the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size <= MAX_BODY_BYTES else None


def _parse_body(body: bytes, headers: dict[str, str]) -> Any:
    if not body:
        return None
    content_type = headers.get("content-type", "")
    if "json" in content_type or content_type == "":
        try:
            return json.loads(body)
        except ValueError:
            from losant_kit.mockserver.errors import ValidationError

            raise ValidationError("The request body is not valid JSON") from None
    if "x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    return body.decode("utf-8", "replace")


def _preflight(headers: dict[str, str]) -> dict[str, str]:
    return {
        "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "access-control-allow-headers": headers.get(
            "access-control-request-headers", "authorization, content-type"
        ),
        "access-control-max-age": "600",
    }


# ---------------------------------------------------------------- replies


def _error(type_: str, message: str) -> dict[str, str]:
    return {"type": type_, "message": message}


def _unbound_message(endpoint: Record, name: str | None) -> str:
    where = f"{endpoint['method'].upper()} {endpoint['route']}"
    known = ", ".join(sorted(REPLIES))
    if name:
        return f"{where}: unknown mockReply '{name}'; use one of {known}"
    return (
        f"{where} has no reply: workflows do not run in the mock. Give the endpoint a "
        f"staticReply, or the endpoint tag mockReply set to one of {known}"
    )


def _static_reply(static: Record) -> tuple[int, Any, dict[str, str]]:
    if static.get("type") == "redirect":
        return static.get("statusCode") or 302, b"", {"location": static["value"]}
    return (
        static.get("statusCode") or 200,
        static["value"].encode(),
        {"content-type": "text/html; charset=utf-8"},
    )


def _unauthorized_reply(
    endpoint: Record, refusal: PlatformError
) -> tuple[int, Any, dict[str, str]]:
    custom = endpoint.get("unauthorizedReply")
    if custom:
        if custom.get("type") == "redirect":
            return custom.get("statusCode") or 302, b"", {"location": custom["value"]}
        return (
            custom.get("statusCode") or refusal.status,
            custom["value"].encode(),
            {"content-type": "text/html; charset=utf-8"},
        )
    return refusal.status, refusal.body(), {}


async def _send(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    if body is None:
        payload = b""
    elif isinstance(body, bytes):
        payload = body
    else:
        payload = json.dumps(body).encode()
        headers = {"content-type": "application/json", **headers}
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
