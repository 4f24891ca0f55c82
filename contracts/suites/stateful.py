"""Stateful: create -> read -> update -> delete chains over the spec's OpenAPI links.

Schemathesis builds a state machine from the links the spec declares (a 201
from ``POST .../devices`` links to ``device.get``/``patch``/``delete`` with
``deviceId = $response.body#/id``, and so on) and walks random chains of them,
checking every response as the conformance suite does plus its stateful checks
(``use_after_free``: a deleted resource must not read back;
``ensure_resource_availability``: a created one must).

The machine is limited to the record resources (applications, keys, API
tokens, devices, attributes, recipes, events, experience groups) so that a
few dozen scenarios cover their chains. With ``--losant-live-safe`` chains start inside the
sandbox application only: ``applications.post``/``application.delete`` are
left out and every root request is pinned to the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from losant_kit.contracts.plugin import examples

pytestmark = pytest.mark.losant_suite("stateful")

DEFAULT_SCENARIOS = 25
STEPS = 8
RESOURCES = ("applications", "application", "applicationKeys", "applicationKey",
             "applicationApiTokens", "applicationApiToken", "devices", "device",
             "deviceAttributes", "deviceAttribute", "deviceRecipes", "deviceRecipe",
             "events", "event",
             # Experience groups. Experience users, endpoints, slugs and domains
             # have unique names (email, method + route, slug, domain): a chain
             # Hypothesis replays would collide with its own earlier run, and the
             # machine needs repeatable answers.
             "experienceGroups", "experienceGroup")
CRUD = re.compile(rf"^({'|'.join(RESOURCES)})\.(get|post|patch|delete)$")
APPLICATION_LINKS = ("application.get", "application.patch", "application.delete")
LIVE_SAFE_EXCLUDED = ("applications.post", "application.delete", "applications.get")


def _chains_document() -> dict[str, Any]:
    """The contract view with chains that start inside an application.

    The spec links ``applications.post`` to every operation under an
    application; followed literally, every chain would have to create an
    application first and the collection creators (devices, keys, tokens,
    recipes, events) would never be roots. Keeping only the application's own
    read/update/delete links makes each creator a root, run in the sandbox.
    """
    from losant_kit.contracts.spec_view import contract_document

    document = contract_document()
    created = document["paths"]["/applications"]["post"]["responses"]["201"]
    created["links"] = {name: link for name, link in created.get("links", {}).items()
                        if link.get("operationId") in APPLICATION_LINKS}
    return document


class Lifecycle:
    """What one scenario created and deleted, and the two rules that follow.

    A resource a POST just created (``<collection>/<id>``) must read back
    (no 404 before it is deleted), and one a DELETE removed must not (no 200
    after). Schemathesis' own ``ensure_resource_availability`` only judges
    requests whose every parameter came from a link, which this spec's
    optional query parameters rule out, so the suite states the rule itself.
    """

    def __init__(self) -> None:
        self.created: dict[str, str] = {}  # resource path -> the POST that made it
        self.deleted: set[str] = set()

    def check(self, method: str, path: str, response: Any) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        status = response.status_code
        if method == "POST" and status == 201:
            try:
                body = response.json()
            except ValueError:
                return
            ident = body.get("id") or body.get("name") if isinstance(body, dict) else None
            if ident:
                self.created[f"{path}/{ident}"] = f"POST {path}"
            return
        if method == "DELETE" and 200 <= status < 300:
            self.deleted.add(path)
            return
        if method not in ("GET", "PATCH"):
            return
        gone = any(path == d or path.startswith(d + "/") for d in self.deleted)
        if status == 404 and path in self.created and not gone:
            raise AssertionError(
                f"{method} {path} answered 404 for a resource that {self.created[path]} "
                f"created a moment ago and nothing deleted (created resource not persisted)")
        if 200 <= status < 300 and path in self.deleted:
            raise AssertionError(
                f"{method} {path} answered {status} after DELETE {path} succeeded "
                f"(deleted resource still readable)")


def _only_declared_links(schema: Any) -> None:
    """Walk the spec's links only, not Schemathesis' inferred resource graph.

    The inference reads ``gatewayId``/``parentId`` in a device body as
    references to resources nothing produces and then never starts a chain at
    ``devices.post``; the spec's links already say what feeds what.
    """
    from schemathesis.specs.openapi.stateful.dependencies.models import DependencyGraph

    schema.analysis._dependency_graph = DependencyGraph(operations={}, resources={})


def _machine(target: Any, max_examples: int) -> Any:
    from losant_kit.contracts.fuzz import before_case, build_schema

    schema = build_schema(target, max_examples=max_examples, negative=False,
                          document=_chains_document())
    schema = schema.include(operation_id_regex=CRUD.pattern)
    if target.live_safe:
        schema = schema.exclude(operation_id=list(LIVE_SAFE_EXCLUDED))
    _only_declared_links(schema)
    base = schema.as_state_machine()

    created_apps: set[str] = set()

    class ContractStateMachine(base):  # type: ignore[misc, valid-type]
        first_failure: str | None = None

        def setup(self) -> None:
            super().setup()
            self.lifecycle = Lifecycle()

        def before_call(self, case: Any) -> None:
            # A chain that did not start with creating an application runs in
            # the sandbox (a random application id would only ever answer 404).
            params = case.path_parameters
            operation_id = case.operation.definition.raw.get("operationId")
            if (params and params.get("applicationId") not in created_apps
                    and operation_id != "application.delete"):
                params["applicationId"] = target.application_id
            before_case(target, case)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if case.operation.definition.raw.get("operationId") == "applications.post" \
                    and response.status_code == 201:
                created_apps.add(response.json().get("id"))

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, **kwargs)
                self.lifecycle.check(case.method.upper(), case.formatted_path, response)
            except (AssertionError, BaseExceptionGroup) as found:
                # Kept: Hypothesis' replay of a stateful failure can turn into
                # a "flaky" error once the target's state has moved on.
                ContractStateMachine.first_failure = ContractStateMachine.first_failure or (
                    f"{found}" if isinstance(found, AssertionError) else str(found))
                raise

    return ContractStateMachine


def test_link_chains_keep_resources_consistent(losant_target: Any,
                                               request: pytest.FixtureRequest) -> None:
    from hypothesis import HealthCheck, Phase, settings
    from schemathesis.core.failures import FailureGroup

    from losant_kit.contracts.fuzz import failure_text

    scenarios = examples(request.config, DEFAULT_SCENARIOS)
    machine = _machine(losant_target, scenarios)
    # derandomize: the same target and spec walk the same chains run after run.
    chosen = settings(max_examples=scenarios, stateful_step_count=STEPS, deadline=None,
                      database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
    found_text = None
    try:
        machine.run(settings=chosen)
    except Exception as found:
        if not (machine.first_failure or isinstance(found, FailureGroup | BaseExceptionGroup
                                                     | AssertionError)):
            raise
        found_text = machine.first_failure or failure_text(found)
    if found_text is not None:
        pytest.fail(f"a create/read/update/delete chain broke the contract:\n{found_text}",
                    pytrace=False)
