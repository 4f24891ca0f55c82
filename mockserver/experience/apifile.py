"""An experience API described by its author's own OpenAPI 3.0 file.

``load_api_file(path)`` reads the file, checks it (the OpenAPI 3.0 schema via
openapi-spec-validator, then the kit's ``x-`` extensions and what the
experience runtime can route) and returns an :class:`ExperienceApi`: one
:class:`ApiOperation` per operation, with its experience route, access rule,
built-in reply and the resolved schemas the runtime validates against. Every
refusal is an :class:`ApiFileError` naming the place in the file as a JSON
pointer. The extensions are documented in ``specs/experience-extensions.md``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.experience.file_errors import ApiFileError
from losant_kit.mockserver.experience.replies import REPLIES
from losant_kit.mockserver.experience.routing import parse_route

METHODS = ("get", "post", "put", "patch", "delete", "options")
JSON_TYPES = ("application/json",)
REPLY_KEY = "x-mock-reply"
LOGIN_KEY = "x-experience-login"
GROUPS_KEY = "x-experience-groups"
LOGIN_FIELDS = {"email": "email", "password": "password", "token": "token"}


@dataclass(frozen=True)
class StaticReply:
    status: int
    body: Any


@dataclass
class ApiOperation:
    operation_id: str
    method: str
    path: str  # the OpenAPI path
    route: str  # the experience route (server base path + path)
    pointer: str  # JSON pointer of the operation in the file
    access: str  # "public", "authenticated" or "group"
    groups: tuple[str, ...]  # group names or ids (access "group")
    reply: str | StaticReply | None
    login: dict[str, str] | None  # field names, when this is the login operation
    parameters: list[dict[str, Any]]  # resolved, path + operation level
    body_schema: dict[str, Any] | None
    body_required: bool
    responses: dict[str, dict[str, Any] | None]  # status ("200", "4XX", "default") -> schema
    summary: str = ""

    @property
    def safe(self) -> bool:
        return self.method in ("get", "options")

    def response_schema(self, status: int) -> tuple[str, dict[str, Any] | None] | None:
        """(the documented key, its JSON schema) for a status, or None if undocumented."""
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in self.responses:
                return key, self.responses[key]
        return None

    def response_pointer(self, key: str) -> str:
        return f"{self.pointer}/responses/{key}"


@dataclass
class ExperienceApi:
    source: str
    document: dict[str, Any]
    operations: dict[str, ApiOperation] = field(default_factory=dict)

    @property
    def login(self) -> ApiOperation | None:
        return next((op for op in self.operations.values() if op.login), None)

    def operation(self, operation_id: str) -> ApiOperation | None:
        return self.operations.get(operation_id)


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) of path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@functools.lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int) -> ExperienceApi:
    return parse_api_document(_read(Path(path)), path)


def load_api_file(path: Path | str) -> ExperienceApi:
    """The checked API of a file (cached while the file is unchanged)."""
    found = Path(path)
    try:
        stamp = found.stat().st_mtime_ns
    except OSError as exc:
        raise ApiFileError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    return _cached(str(found), stamp)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApiFileError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ApiFileError(str(path), "", "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise ApiFileError(str(path), "", f"{problem}{where}") from None


def parse_api_document(document: Any, source: str = "<document>") -> ExperienceApi:
    """Check a parsed OpenAPI document and build its operations table."""

    def fail(where: str, message: str) -> ApiFileError:
        return ApiFileError(source, where, message)

    if not isinstance(document, dict):
        raise fail("", "an OpenAPI document is a mapping at the top level")
    version = str(document.get("openapi", ""))
    if not version.startswith("3.0."):
        raise fail("/openapi", f"'{version or 'missing'}': only OpenAPI 3.0.x files are supported")
    # References first: the schema validator would try to fetch an external one.
    resolved = _resolve_local_refs(document, fail)
    _check_openapi_schema(document, fail)
    base = _base_path(resolved, fail)
    schemes = resolved.get("components", {}).get("securitySchemes", {})
    top_security = resolved.get("security")
    api = ExperienceApi(source, document)
    routes: dict[tuple[str, tuple], str] = {}
    for path, item in resolved.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method in ("parameters", "summary", "description", "servers") or method.startswith(
                "x-"
            ):
                continue
            where = pointer("paths", path, method)
            if method not in METHODS:
                raise fail(where, f"method {method} is not one an experience endpoint can have "
                                  f"({', '.join(METHODS)})")
            route_text = base + path if base else path
            try:
                route = parse_route(route_text)
            except ValidationError as exc:
                raise fail(pointer("paths", path), exc.message) from None
            key = (method, route.shape)
            if key in routes:
                raise fail(where, f"routes the same requests as {routes[key]}")
            routes[key] = where
            operation = _operation(op, method, path, route_text, where, shared, schemes,
                                   top_security, fail)
            if operation.operation_id in api.operations:
                raise fail(f"{where}/operationId",
                           f"'{operation.operation_id}' is already the id of "
                           f"{api.operations[operation.operation_id].pointer}")
            api.operations[operation.operation_id] = operation
    if not api.operations:
        raise fail("/paths", "the file declares no operations")
    logins = [op for op in api.operations.values() if op.login]
    if len(logins) > 1:
        raise fail(f"{logins[1].pointer}/{LOGIN_KEY}",
                   f"a second login operation (the first is {logins[0].pointer})")
    return api


def _check_openapi_schema(document: dict[str, Any], fail: Any) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator

    try:
        error = next(iter(OpenAPIV30SpecValidator(document).iter_errors()), None)
    except Exception as exc:  # the validator trips over some broken documents itself
        raise fail("", f"not a valid OpenAPI 3.0 document ({exc})") from None
    if error is not None:
        raise fail(pointer(*error.absolute_path), error.message.split("\n")[0][:300])


def _resolve_local_refs(document: dict[str, Any], fail: Any) -> dict[str, Any]:
    """A copy with every ``$ref`` replaced by what it points to (local refs only)."""
    root = copy.deepcopy(document)

    def target(ref: str, where: str) -> Any:
        if not ref.startswith("#/"):
            raise fail(where, f"$ref '{ref}': only references inside the file are supported")
        node: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise fail(where, f"$ref '{ref}' points to nothing in the file")
            node = node[part]
        return node

    def walk(node: Any, where: tuple, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and isinstance(node["$ref"], str):
                ref = node["$ref"]
                if ref in seen:
                    # A recursive schema: left as an open object rather than unrolled.
                    return {}
                return walk(copy.deepcopy(target(ref, pointer(*where, "$ref"))), where,
                            (*seen, ref))
            return {k: walk(v, (*where, k), seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*where, i), seen) for i, v in enumerate(node)]
        return node

    return walk(root, (), ())


def _base_path(document: dict[str, Any], fail: Any) -> str:
    """The path part of the first server URL ("" for none): routes start with it."""
    servers = document.get("servers") or []
    if not servers:
        return ""
    url = str(servers[0].get("url", ""))
    path = urlsplit(url).path if "://" in url else url
    if "{" in path:
        raise fail("/servers/0/url", "server variables in the path are not supported")
    return path.rstrip("/")


def _operation(op: dict[str, Any], method: str, path: str, route: str, where: str,
               shared: list[dict[str, Any]], schemes: dict[str, Any], top_security: Any,
               fail: Any) -> ApiOperation:
    operation_id = op.get("operationId") or f"{method} {path}"
    parameters = {(p["name"], p["in"]): p for p in shared}
    parameters.update({(p["name"], p["in"]): p for p in op.get("parameters", [])})
    access, groups = _access(op, where, schemes, top_security, fail)
    body_schema, body_required = _request_body(op, where, fail)
    responses = {}
    for status, response in op.get("responses", {}).items():
        responses[str(status)] = _response_schema(response, f"{where}/responses/{status}", fail)
    return ApiOperation(
        operation_id=operation_id,
        method=method,
        path=path,
        route=route,
        pointer=where,
        access=access,
        groups=groups,
        reply=_reply(op, where, fail),
        login=_login(op, where, fail),
        parameters=list(parameters.values()),
        body_schema=body_schema,
        body_required=body_required,
        responses=responses,
        summary=str(op.get("summary") or op.get("description") or "")[:1024],
    )


def _access(op: dict[str, Any], where: str, schemes: dict[str, Any], top_security: Any,
            fail: Any) -> tuple[str, tuple[str, ...]]:
    security = op.get("security", top_security) or []
    at = f"{where}/security" if "security" in op else "/security"
    required = True
    for requirement in security:
        if not requirement:
            required = False  # {} in the list: the operation may be called without a token
        for name in requirement:
            scheme = schemes.get(name)
            if scheme is None:
                raise fail(at, f"security scheme '{name}' is not in components/securitySchemes")
            if scheme.get("type") != "http" or str(scheme.get("scheme", "")).lower() != "bearer":
                raise fail(pointer("components", "securitySchemes", name),
                           "only HTTP bearer schemes are supported: an experience user's token "
                           "(type: http, scheme: bearer)")
    groups = op.get(GROUPS_KEY)
    if groups is not None:
        if not isinstance(groups, list) or not groups or not all(
                isinstance(g, str) and g for g in groups):
            raise fail(f"{where}/{GROUPS_KEY}", "a list of experience group names or ids")
        if not security or not required:
            raise fail(f"{where}/{GROUPS_KEY}",
                       "groups restrict who may call, so the operation needs bearer security")
        if not {"403", "4XX", "default"} & {str(k) for k in op.get("responses", {})}:
            raise fail(f"{where}/responses",
                       f"document a 403: {GROUPS_KEY} refuses users outside the groups with it")
        return "group", tuple(groups)
    if not security or not required:
        return "public", ()
    return "authenticated", ()


def _request_body(op: dict[str, Any], where: str, fail: Any) -> tuple[dict | None, bool]:
    body = op.get("requestBody")
    if not body:
        return None, False
    content = body.get("content", {})
    unsupported = [t for t in content if t not in JSON_TYPES]
    if unsupported:
        raise fail(pointer(*_parts(where), "requestBody", "content", unsupported[0]),
                   "only application/json request bodies are supported")
    schema = (content.get("application/json") or {}).get("schema") or {}
    return schema, bool(body.get("required"))


def _response_schema(response: dict[str, Any], where: str, fail: Any) -> dict[str, Any] | None:
    content = response.get("content") or {}
    if not content:
        return None
    if "application/json" not in content:
        raise fail(f"{where}/content",
                   f"only application/json responses are supported (found {', '.join(content)})")
    return (content["application/json"] or {}).get("schema") or {}


def _reply(op: dict[str, Any], where: str, fail: Any) -> str | StaticReply | None:
    reply = op.get(REPLY_KEY)
    at = f"{where}/{REPLY_KEY}"
    if reply is None:
        return None
    if isinstance(reply, str):
        if reply not in REPLIES:
            raise fail(at, f"unknown built-in reply '{reply}'; one of {', '.join(sorted(REPLIES))}"
                           " or {status, body}")
        return reply
    if isinstance(reply, dict) and set(reply) <= {"status", "body"} and "body" in reply:
        status = reply.get("status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise fail(f"{at}/status", "an HTTP status (100-599)")
        return StaticReply(status, reply["body"])
    raise fail(at, "a built-in reply's name or a static reply {status, body}")


def _login(op: dict[str, Any], where: str, fail: Any) -> dict[str, str] | None:
    login = op.get(LOGIN_KEY)
    at = f"{where}/{LOGIN_KEY}"
    if login is None or login is False:
        return None
    if login is True:
        return dict(LOGIN_FIELDS)
    if isinstance(login, dict) and set(login) <= set(LOGIN_FIELDS) and all(
            isinstance(v, str) and v for v in login.values()):
        return {**LOGIN_FIELDS, **login}
    raise fail(at, "true, or the field names {email, password, token}")


def _parts(where: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in where.split("/")[1:]]
