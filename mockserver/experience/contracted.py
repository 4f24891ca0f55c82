"""Answering an endpoint whose application serves an API file (``--experience``).

The runtime has already found the endpoint and the caller; here the answer
is held to the file: a refused caller gets the file's 401/403 shape, a
request the file forbids a 400 in its declared error shape (the store is
never touched: no reply runs), and whatever the reply produced is checked
against the documented status and schema before it leaves. A reply that
breaks the file is the mock's (or the file's) mistake, so it goes out as a
500 naming the place in the file rather than as a silently wrong body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from losant_kit.mockserver.errors import PlatformError, ValidationError
from losant_kit.mockserver.experience.apicheck import OperationCheck, RequestRefused
from losant_kit.mockserver.experience.apifile import ApiOperation, StaticReply

Answer = tuple[int, Any, dict[str, str]]
BREACH_TYPE = "MockReplyBreachesApiFile"


class ContractedAnswers:
    """Per-operation validators (built on first use) and the answering rule."""

    def __init__(self) -> None:
        self._checks: dict[int, OperationCheck] = {}

    def check(self, operation: ApiOperation) -> OperationCheck:
        found = self._checks.get(id(operation))
        if found is None:
            found = self._checks[id(operation)] = OperationCheck(operation)
        return found

    def answer(self, operation: ApiOperation, source: str, refusal: PlatformError | None,
               scope: dict[str, Any], params: dict[str, str], body_bytes: bytes,
               reply: Callable[[Any], tuple[int, Any]]) -> Answer:
        check = self.check(operation)
        if refusal is not None:
            status, body = refusal.status, check.error_body(refusal.status, refusal.type,
                                                           refusal.message)
        else:
            status, body = self._reply(check, operation, scope, params, body_bytes, reply)
        problem = check.response_problem(status, body)
        if problem is not None:
            return 500, {
                "type": BREACH_TYPE,
                "message": f"the mock's {status} reply to {operation.method.upper()} "
                           f"{operation.route} breaks {source}: {problem}",
            }, {}
        return status, body, {}

    @staticmethod
    def _reply(check: OperationCheck, operation: ApiOperation, scope: dict[str, Any],
               params: dict[str, str], body_bytes: bytes,
               reply: Callable[[Any], tuple[int, Any]]) -> tuple[int, Any]:
        try:
            body = check.check_request(scope, params, body_bytes)
        except RequestRefused as refused:
            return 400, check.error_body(400, ValidationError.type, refused.message)
        if isinstance(operation.reply, StaticReply):
            return operation.reply.status, operation.reply.body
        try:
            status, out = reply(body)
        except PlatformError as exc:
            return exc.status, check.error_body(exc.status, exc.type, exc.message)
        if status >= 400:
            # Built-in replies speak the platform's error shape; the file may declare another.
            type_, message = _error_parts(out, status)
            return status, check.error_body(status, type_, message)
        return status, out


def _error_parts(body: Any, status: int) -> tuple[str, str]:
    if isinstance(body, dict):
        type_ = body.get("type") or body.get("error") or str(status)
        message = body.get("message") or body.get("error") or f"status {status}"
        return str(type_), str(message)
    return str(status), f"status {status}"
