"""Conformance: every operation of the Ioto spec, fuzzed by Schemathesis.

Positive cases must answer a documented status with the documented content
type and a body the schema accepts; negative cases must be refused with 400
(or 403), never a 5xx. Three generated ``deviceId``/``accountId`` values in four
are swapped for real ones, so success bodies get checked rather than only
"Cannot find device". Against the mock the world is reset before each
operation; elsewhere the operations that delete accounts, users or claims are
skipped.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from losant_kit.specs.ioto import load_ioto_spec

DEFAULT_EXAMPLES = 5
POSITIVE_OK = ["200", "400", "403"]
NEGATIVE_OK = ["400", "403"]
# Irreversible outside a mock: closing the account or removing its users and claims.
DESTRUCTIVE = ("account.close", "user.remove", "device.release", "user.updateRole")


def _operations(*, with_input: bool = False) -> list[str]:
    """Every operation; with_input: only those with a body or parameters to make invalid."""
    spec = load_ioto_spec()
    return [item["post"]["operationId"] for item in spec["paths"].values()
            if not with_input or "requestBody" in item["post"] or item["post"].get("parameters")]


@pytest.fixture(scope="module")
def known(ioto_target: Any) -> dict[str, dict[str, Any]]:
    """Real values per controller, read through the API (field -> value)."""
    target = ioto_target

    def first(path: str) -> dict[str, Any]:
        data = target.as_login(path).json().get("data") or [{}]
        return data[0] if isinstance(data, list) else data

    account = first("/account/get")
    device = first("/device/find")
    common = {"accountId": account.get("id"), "deviceId": device.get("id"),
              "cloudId": account.get("cloudId")}
    action = target.as_login("/action/find", {"cloudId": account.get("cloudId")}).json()
    action = (action.get("data") or [{}])[0]
    by_controller = {
        "device": {"id": device.get("id")},
        "provision": {"id": device.get("id"), "product": device.get("product")},
        "alert": {"id": first("/alert/find").get("id")},
        "dashboard": {"id": first("/dashboard/find").get("id")},
        "action": {k: action.get(k) for k in ("id", "name", "type")},
        "user": {"id": first("/user/get").get("id")},
    }
    return {controller: {k: v for k, v in {**common, **fields}.items() if v}
            for controller, fields in {**by_controller, "generic": {}, "metric": {},
                                       "account": {}}.items()}


@pytest.fixture(scope="module")
def schema(ioto_target: Any, ioto_examples: int | None) -> Any:
    import schemathesis

    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": ioto_examples or DEFAULT_EXAMPLES, "database": "none"},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": POSITIVE_OK},
            "negative_data_rejection": {"expected-statuses": NEGATIVE_OK},
            # Ioto answers every failure with 400, 403 or 500; a wrong method is a 400.
            "unsupported_method": {"enabled": False},
        },
    })
    document = load_ioto_spec()
    schema = schemathesis.openapi.from_dict(document, config=config)
    if ioto_target.in_process:
        schema.app = ioto_target.app
    else:
        schema.config.update(base_url=ioto_target.base_url)
    schema.auth()(_provider(ioto_target))
    return schema


def _provider(target: Any) -> type:
    """Schemathesis' auth provider: the path form picks the token (and Origin)."""

    class IotoTokens:
        def get(self, case: Any, ctx: Any) -> str:
            return target.token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            headers = dict(case.headers or {})
            if case.operation.path.startswith("/tok/"):
                headers["Authorization"] = target.token
            elif case.operation.definition.raw.get("security"):
                headers["Authorization"] = target.login
                headers["Origin"] = target.options.origin
            case.headers = headers

    return IotoTokens


def _known_ids(case: Any, known: dict[str, dict[str, Any]]) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    controller = case.operation.path.removeprefix("/tok").split("/")[1]
    for name, value in known.get(controller, {}).items():
        if name in body and isinstance(body[name], str):
            digest = hashlib.blake2b(body[name].encode(), digest_size=1).digest()[0]
            if digest % 4 != 0:
                body[name] = value


def _run(operation_id: str, mode: str, schema: Any, target: Any, known: dict[str, dict[str, Any]],
         request: pytest.FixtureRequest) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.generation.feedback import NO_FEEDBACK

    from losant_kit.contracts.fuzz import run_property

    operation = schema.find_operation_by_id(operation_id)
    count = [0]

    @settings(max_examples=request.getfixturevalue("ioto_examples") or DEFAULT_EXAMPLES,
              deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode),
                                      feedback=NO_FEEDBACK))
    def check(case: Any) -> None:
        count[0] += 1
        if mode == "positive":
            _known_ids(case, known)
        case.call_and_validate()

    target.reset()
    run_property(check, request, count,
                 f"POST {operation.path} ({operation_id}, {mode} data) breaks the contract")


def _skip_destructive(operation_id: str, target: Any) -> None:
    if not target.is_mock and operation_id.removeprefix("tok.") in DESTRUCTIVE:
        pytest.skip("irreversible outside the mock")


@pytest.mark.parametrize("operation_id", _operations())
def test_positive_cases_conform(operation_id: str, schema: Any, ioto_target: Any,
                                known: dict[str, dict[str, Any]],
                                request: pytest.FixtureRequest) -> None:
    _skip_destructive(operation_id, ioto_target)
    _run(operation_id, "positive", schema, ioto_target, known, request)


@pytest.mark.parametrize("operation_id", _operations(with_input=True))
def test_invalid_input_is_refused_with_400(operation_id: str, schema: Any, ioto_target: Any,
                                           known: dict[str, dict[str, Any]],
                                           request: pytest.FixtureRequest) -> None:
    _skip_destructive(operation_id, ioto_target)
    _run(operation_id, "negative", schema, ioto_target, known, request)
