"""Conformance: every operation of the spec, fuzzed by Schemathesis.

For each operation (one test per operation and generation mode):

* positive cases (valid by the exact schemas) must answer a documented status,
  with the documented content type and a body that matches both the OpenAPI
  response schema and the exact draft-07 schema (``exact_response_schema``);
* negative cases (invalid input) must be refused with a 4xx, never a 5xx.

Path ids are swapped for real resources of the sandbox application three times
in four (see ``KnownIds``), so success bodies get checked, not only 404s.
Streaming operations (``x-sse``) are left to the behaviour suite: their
response never ends. Against the mock, throttle counters are reset before each
case so window limits do not mask other answers; elsewhere the client-side
limiter and the 429s the spec documents cover them.
"""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.plugin import examples
from losant_kit.contracts.spec_view import operations
from losant_kit.contracts.suites._support import unique

pytestmark = pytest.mark.losant_suite("conformance")

DEFAULT_EXAMPLES = 3
# Operations whose effects reach beyond the sandbox application, or that would
# remove the sandbox itself; not run with --losant-live-safe.
OUTSIDE_SANDBOX = frozenset({
    "applications.post", "applications.import", "application.clone", "application.delete",
    "me.patch", "userApiTokens.post", "userApiToken.patch", "userApiToken.delete",
    "auth.authenticateUser", "auth.authenticateUserGithub", "auth.authenticateUserSaml",
})
DESTRUCTIVE_ACTIONS = ("delete", "removeData")


def COVERAGE() -> dict[str, list[str]]:
    """Every operation of the spec (streams aside), with positive and with negative data."""
    return {"operation (positive)": _ordered(), "operation (negative)": _ordered()}


def _ordered() -> list[str]:
    """Operations in spec order, the ones that remove things last (they spoil known ids)."""
    ops = [op for op in operations().values() if not op.sse]
    return [op.id for op in sorted(ops, key=lambda o: o.id.split(".")[1] in DESTRUCTIVE_ACTIONS
                                   or o.method == "DELETE")]


@pytest.fixture(scope="module")
def conformance_schema(losant_target: Any, request: pytest.FixtureRequest) -> Any:
    from losant_kit.contracts.fuzz import build_schema

    schema = build_schema(losant_target, max_examples=examples(request.config, DEFAULT_EXAMPLES))
    # Other suites draw single schema-valid examples from it (fuzz.example_request).
    losant_target.cache.setdefault("example-schema", schema)
    return schema


@pytest.fixture(scope="module")
def known_ids(losant_target: Any) -> Any:
    """A device with an attribute, a key, a token, a recipe and an event in the sandbox."""
    from losant_kit.contracts.fuzz import KnownIds

    api, app = losant_target.api, losant_target.app_path()

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        # Lenient on purpose: a wrong status here is the tests' to report.
        response = api.post(f"{app}{path}", body)
        return response.json() if response.is_success and response.content else {}

    device = made("/devices", {"name": unique("probe"),
                               "tags": [{"key": "kind", "value": "probe"}],
                               "attributes": [{"name": "temperature", "dataType": "number"}]})
    found = {
        "deviceId": device.get("id"),
        "applicationKeyId": made("/keys", {"description": unique("key")}).get("id"),
        "apiTokenId": made("/tokens", {"name": unique("token"),
                                       "scope": ["all.Application"]}).get("id"),
        "deviceRecipeId": made("/device-recipes", {"name": unique("recipe")}).get("id"),
        "eventId": made("/events", {"level": "info", "subject": unique("event")}).get("id"),
        # The experience's resources (their ids are path parameters of 29 actions).
        "experienceGroupId": made("/experience/groups", {"name": unique("group")}).get("id"),
        "experienceUserId": made("/experience/users", {
            "email": f"{unique('user')}@example.com", "password": "contract-pw"}).get("id"),
        "experienceEndpointId": made("/experience/endpoints", {
            "route": f"/{unique('route')}", "method": "get"}).get("id"),
        "experienceSlugId": made("/experience/slugs", {"slug": unique("slug")}).get("id"),
        "experienceDomainId": made("/experience/domains", {
            "domainName": f"{unique('d')}.example.com"}).get("id"),
    }
    ids = {"applicationId": losant_target.application_id, "name": "temperature",
           **{k: v for k, v in found.items() if v}}
    return KnownIds(ids)


def _run(operation_id: str, mode: str, schema: Any, known: Any, target: Any,
         request: pytest.FixtureRequest, coverage: Any) -> None:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis import GenerationMode
    from schemathesis.generation.feedback import NO_FEEDBACK

    from losant_kit.contracts.fuzz import OBJECT_ID, before_case, run_property

    config = request.config
    operation = schema.find_operation_by_id(operation_id)
    generation_mode = GenerationMode(mode)
    count = [0]

    @seed(config.getoption("losant_seed"))
    @settings(max_examples=examples(config, DEFAULT_EXAMPLES), deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    # NO_FEEDBACK: no constants mined from the implementation's source; the
    # suite judges any implementation by the spec alone (and it saves seconds).
    @given(case=operation.as_strategy(generation_mode=generation_mode, feedback=NO_FEEDBACK))
    def check(case: Any) -> None:
        count[0] += 1
        # Never aim application.delete at the sandbox: every later case needs it.
        # Live-safe: every well-formed application id is the sandbox (a malformed
        # one, generated on purpose by a negative case, addresses nothing).
        if operation_id != "application.delete":
            params = case.path_parameters or {}
            if target.live_safe and OBJECT_ID.match(str(params.get("applicationId", ""))):
                params["applicationId"] = target.application_id
            known.apply(case)
        before_case(target, case)
        case.call_and_validate()

    try:
        run_property(check, request, count, f"{operation.method.upper()} {operation.path} "
                     f"({operation_id}, {mode} data) breaks the contract")
    finally:
        coverage.hit(f"operation ({mode})", operation_id, count[0])


@pytest.mark.parametrize("operation_id", _ordered())
def test_positive_cases_conform(operation_id: str, conformance_schema: Any, known_ids: Any,
                                losant_target: Any, losant_coverage: Any,
                                request: pytest.FixtureRequest) -> None:
    if losant_target.live_safe and operation_id in OUTSIDE_SANDBOX:
        pytest.skip("acts outside the sandbox application")
    _run(operation_id, "positive", conformance_schema, known_ids, losant_target, request,
         losant_coverage)


@pytest.mark.parametrize("operation_id", _ordered())
def test_invalid_input_is_refused_with_4xx(operation_id: str, conformance_schema: Any,
                                           known_ids: Any, losant_target: Any,
                                           losant_coverage: Any,
                                           request: pytest.FixtureRequest) -> None:
    if losant_target.live_safe and operation_id in OUTSIDE_SANDBOX:
        pytest.skip("acts outside the sandbox application")
    _run(operation_id, "negative", conformance_schema, known_ids, losant_target, request,
         losant_coverage)
