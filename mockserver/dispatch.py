"""From a routed request to one handler call, and back.

Connexion routes by operationId and validates parameters and bodies. For each
operation this module builds the endpoint Connexion calls: it establishes the
principal, enforces the operation's scopes (from the spec), reassembles and
checks object-valued query parameters, applies the operation's window
throttle (from ``x-throttle``), calls the handler and shapes the reply with
the operation's documented success status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connexion import context
from starlette.responses import Response

from losant_kit.mockserver.auth import Principal, require_scope
from losant_kit.mockserver.errors import PlatformError, Unauthorized
from losant_kit.mockserver.query_params import parse_object_param
from losant_kit.mockserver.spec import Operation, PlatformSpec
from losant_kit.mockserver.validation import check

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.throttle import Throttles

JOURNAL_KEY = "losant.journal"


@dataclass
class Call:
    """Everything a handler may use about the request it serves."""

    backend: Backend
    operation: Operation
    principal: Principal | None
    params: dict[str, Any]
    body: Any = None
    scope: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def who(self) -> Principal:
        if self.principal is None:
            raise Unauthorized("This action needs an Authorization bearer token")
        return self.principal


@dataclass
class Reply:
    """A handler result whose status differs from the operation's first success."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Any]


class Dispatcher:
    def __init__(
        self,
        spec: PlatformSpec,
        backend: Backend,
        handlers: dict[str, Handler],
        throttles: Throttles,
        *,
        check_responses: bool = False,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.handlers = handlers
        self.throttles = throttles
        self.check_responses = check_responses
        self.rules = {
            op.id: throttles.rule_for(op.id, op.throttle)
            for op in spec.operations.values()
            if op.throttle and op.throttle["kind"] == "window"
        }

    def endpoint(self, operation_id: str) -> Callable[..., Any]:
        """The function Connexion calls for ``operation_id``."""
        # tests/test_handlers_cover_spec.py fails while any operation lacks a handler.
        handler = self.handlers.get(operation_id, _unserved)

        async def endpoint(**kwargs: Any) -> Any:
            body = kwargs.pop("body", None)
            # Connexion adds its security context (token_info, user) to the arguments.
            info = kwargs.pop("token_info", None) or context.context.get("token_info") or {}
            kwargs.pop("user", None)
            return await self.serve(
                operation_id, info.get("principal"), kwargs, body, context.scope, handler
            )

        endpoint.__name__ = operation_id.replace(".", "_")
        return endpoint

    async def serve(
        self,
        operation_id: str,
        principal: Principal | None,
        params: dict[str, Any],
        body: Any,
        scope: dict[str, Any],
        handler: Handler | None = None,
    ) -> Any:
        """Run one validated request: scopes, object parameters, throttle, handler, reply.

        Both routes in call this: Connexion's endpoint and the fast lane (fastpath.py).
        """
        operation = self.spec.operations[operation_id]
        if handler is None:
            handler = self.handlers.get(operation_id, _unserved)
        call = Call(
            self.backend, operation, self._principal(operation, principal, scope), params, body,
            scope,
        )
        self._normalize_object_params(call)
        self._throttle(call)
        # One transaction per request: with --data its writes commit before
        # the reply is sent, or (if the handler raises) not at all.
        with self.backend.store.transaction():
            result = handler(call)
            if hasattr(result, "__await__"):
                result = await result
        return self._reply(operation, result)

    def _principal(
        self, operation: Operation, principal: Principal | None, scope: dict[str, Any]
    ) -> Principal | None:
        if operation.public:
            return None
        if principal is None:
            raise Unauthorized("This action needs an Authorization bearer token")
        entry = scope.get(JOURNAL_KEY)
        if entry is not None:
            entry["subject"] = principal.label
        require_scope(principal, operation)
        return principal

    def _normalize_object_params(self, call: Call) -> None:
        for name, schema in call.operation.object_params.items():
            raw = call.params.get(name)
            if raw in (None, "", {}):
                call.params[name] = None
                continue
            value = parse_object_param(raw, name=name)
            if not isinstance(raw, str | bytes):
                value = _bracket_flags(value)
            check(self.spec.validator(schema), value, f"query parameter {name}")
            call.params[name] = value

    def _throttle(self, call: Call) -> None:
        rule = self.rules.get(call.operation.id)
        if rule is None:
            return
        per = rule.per
        key = call.params.get(f"{per}Id")
        if key is None and call.principal is not None:
            # e.g. mqttPublishMessage "per device" without a device in the path:
            # the calling device (or, for users and tokens, the application).
            key = (
                call.principal.subject
                if call.principal.kind == "device"
                else call.params.get("applicationId")
            )
        self.throttles.acquire_window(rule, key or "-")

    def _reply(self, operation: Operation, result: Any) -> Any:
        if isinstance(result, Response):
            return result
        if isinstance(result, Reply):
            status, body, headers = result.status, result.body, result.headers
        else:
            status, body, headers = operation.success_status, result, {}
        if self.check_responses:
            errors = self.spec.response_errors(operation.id, status, body)
            if errors:
                raise ResponseBreach("; ".join(errors[:5]))
        if body is None:
            return Response(status_code=status, headers=headers)
        return body, status, headers


def _bracket_flags(value: Any) -> Any:
    """Read ``$ci`` flags of a bracket-form query as booleans.

    A query string has no booleans, and ``$ci`` is the only non-string leaf of
    the platform's query schemas; the JSON form carries real booleans already.
    """
    if isinstance(value, dict):
        return {
            key: (
                item.lower() == "true"
                if key == "$ci" and isinstance(item, str) and item.lower() in ("true", "false")
                else _bracket_flags(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_bracket_flags(item) for item in value]
    return value


def _unserved(call: Call) -> Any:
    raise Unserved(f"{call.operation.id} is not served by this mock")


class Unserved(PlatformError):
    status = 501
    type = "NotImplemented"


class ResponseBreach(PlatformError):
    """Raised only with check_responses on: the mock was about to break its own spec."""

    status = 500
    type = "MockResponseBreach"
