"""Authentication of every secured operation: no token, a garbage token, a tampered one,
and a token issued before the user's ``tokenCutoff``.

Each must be refused with 401, or with a 4xx the file documents for the
operation when it documents no 401; never answered. Requests are otherwise
valid (an example from the file, aimed at the first user's device), so a
refusal is about the credential and nothing else.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from losant_kit.contracts.suites._support import defect


def _refusals(operation: Any) -> set[int]:
    documented = {int(k) for k in operation.responses if k.isdigit()}
    if 401 in documented or not any(400 <= s < 500 for s in documented):
        return {401}
    return {s for s in documented if 400 <= s < 500}


def _send(target: Any, schema: Any, operation: Any, token: str | None) -> Any:
    from losant_kit.contracts.experience.fuzzing import example_case, send_case

    if not target.may_call(operation):
        pytest.skip(f"live-safe: {operation.method.upper()} is not a safe method")
    return send_case(target, example_case(target, schema, operation), token)


def _judge(operation: Any, response: Any, what: str) -> None:
    wanted = _refusals(operation)
    if response.status_code not in wanted:
        defect(f"{operation.method.upper()} {operation.route} with {what} answered "
               f"{response.status_code}, not {' or '.join(map(str, sorted(wanted)))} "
               f"(a {what} accepted)" if response.is_success else
               f"{operation.method.upper()} {operation.route} with {what} answered "
               f"{response.status_code}, not {' or '.join(map(str, sorted(wanted)))}",
               response)


@pytest.mark.exp_over("secured")
def test_no_token_is_refused(exp_operation: str, experience_target: Any,
                             experience_schema: Any) -> None:
    operation = experience_target.api.operations[exp_operation]
    _judge(operation, _send(experience_target, experience_schema, operation, None), "no token")


@pytest.mark.exp_over("secured")
def test_garbage_token_is_refused(exp_operation: str, experience_target: Any,
                                  experience_schema: Any) -> None:
    operation = experience_target.api.operations[exp_operation]
    response = _send(experience_target, experience_schema, operation, "not-a-token-0123456789")
    _judge(operation, response, "garbage token")


@pytest.mark.exp_over("secured")
def test_tampered_token_is_refused(exp_operation: str, experience_target: Any,
                                   experience_schema: Any) -> None:
    operation = experience_target.api.operations[exp_operation]
    for what, token in tampered(experience_target.first.token):
        _judge(operation, _send(experience_target, experience_schema, operation, token), what)


def tampered(token: str) -> list[tuple[str, str]]:
    """The token with its signature changed, and with its claims changed under the old one."""
    parts = token.split(".")
    if len(parts) != 3:
        return [("tampered token", token[:-1] + ("A" if token[-1:] != "A" else "B"))]
    header, payload, signature = parts
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    out = [("token with a forged signature", f"{header}.{payload}.{flipped}")]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return out
    if isinstance(claims, dict):
        claims["exp"] = 4_102_444_800  # 2100-01-01
        claims["sub"] = "0" * 24
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        out.append(("token with altered claims", f"{header}.{forged}.{signature}"))
    return out


def test_token_issued_before_token_cutoff_is_refused(experience_target: Any,
                                                     experience_schema: Any) -> None:
    """Setting the user's tokenCutoff (the platform's "log out everywhere") revokes tokens
    issued before it. Needs the platform API to set it: on the kit's mock its own login."""
    from losant_kit.contracts.experience.cutoff import set_token_cutoff

    target = experience_target
    if target.live_safe:
        pytest.skip("live-safe: setting tokenCutoff logs the user out everywhere")
    if not target.is_mock:
        pytest.skip("needs the platform API to set tokenCutoff (checked against the kit's mock)")
    secured = [op for op in target.api.operations.values() if op.access != "public"]
    if not secured:
        pytest.skip("the file has no secured operation")
    operation = next((op for op in secured if op.safe), secured[0])
    old = target.login(target.first.email, target.first.password)
    before = _send(target, experience_schema, operation, old)
    if not before.is_success:
        pytest.skip(f"a fresh token is not accepted by {operation.route} either "
                    f"({before.status_code}): nothing to compare")
    set_token_cutoff(target, target.first.email)
    try:
        after = _send(target, experience_schema, operation, old)
    finally:
        target.refresh_logins()
    if after.status_code not in _refusals(operation):
        defect(f"{operation.method.upper()} {operation.route} with a token issued before the "
               f"user's tokenCutoff answered {after.status_code} (a revoked token accepted "
               "after tokenCutoff)", after)
