"""Stateful: create -> read -> update -> delete chains over the spec's OpenAPI links.

Schemathesis builds a state machine from the links the spec declares (a 201
from ``POST .../devices`` links to ``device.get``/``patch``/``delete`` with
``deviceId = $response.body#/id``, and so on) and walks random chains of them,
checking every response as the conformance suite does plus its stateful checks
(``use_after_free``: a deleted resource must not read back;
``ensure_resource_availability``: a created one must).

The machine is limited to the record resources (applications, keys, API
tokens, devices, attributes, recipes, events) so that a few dozen scenarios
cover their chains. With ``--losant-live-safe`` chains start inside the
sandbox application only: ``applications.post``/``application.delete`` are
left out and every root request is pinned to the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from contracts.plugin import examples

pytestmark = pytest.mark.losant_suite("stateful")

DEFAULT_SCENARIOS = 25
STEPS = 8
RESOURCES = ("applications", "application", "applicationKeys", "applicationKey",
             "applicationApiTokens", "applicationApiToken", "devices", "device",
             "deviceAttributes", "deviceAttribute", "deviceRecipes", "deviceRecipe",
             "events", "event")
CRUD = re.compile(rf"^({'|'.join(RESOURCES)})\.(get|post|patch|delete)$")
LIVE_SAFE_EXCLUDED = ("applications.post", "application.delete", "applications.get")


def _machine(target: Any, max_examples: int) -> Any:
    from contracts.fuzz import build_schema

    schema = build_schema(target, max_examples=max_examples, negative=False)
    schema = schema.include(operation_id_regex=CRUD.pattern)
    if target.live_safe:
        schema = schema.exclude(operation_id=list(LIVE_SAFE_EXCLUDED))
    base = schema.as_state_machine()

    created_apps: set[str] = set()

    class ContractStateMachine(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            # A chain that did not start with creating an application runs in
            # the sandbox (a random application id would only ever answer 404).
            params = case.path_parameters
            if params and params.get("applicationId") not in created_apps:
                params["applicationId"] = target.application_id
            if target.is_mock:
                target.reset_throttles()

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if case.operation.definition.raw.get("operationId") == "applications.post" \
                    and response.status_code == 201:
                created_apps.add(response.json().get("id"))

    return ContractStateMachine


def test_link_chains_keep_resources_consistent(losant_target: Any,
                                               request: pytest.FixtureRequest) -> None:
    from hypothesis import HealthCheck, Phase, settings
    from schemathesis.core.failures import FailureGroup

    scenarios = examples(request.config, DEFAULT_SCENARIOS)
    machine = _machine(losant_target, scenarios)
    # derandomize: the same target and spec walk the same chains run after run.
    chosen = settings(max_examples=scenarios, stateful_step_count=STEPS, deadline=None,
                      database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
    try:
        machine.run(settings=chosen)
    except FailureGroup as group:
        pytest.fail(f"a create/read/update/delete chain broke the contract:\n{group}",
                    pytrace=False)
