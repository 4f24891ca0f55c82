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

from losant_kit.contracts.client import describe
from losant_kit.contracts.plugin import examples

pytestmark = pytest.mark.losant_suite("stateful")

DEFAULT_SCENARIOS = 10  # the declared links are each followed once before the walks
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


def _links(live_safe: bool = False) -> list[tuple[str, str, dict[str, str]]]:
    """(creator, target, parameters) of every link of the record resources, in spec order."""
    from losant_kit.contracts.spec_view import _METHODS

    found = []
    for item in _chains_document()["paths"].values():
        for method, op in item.items():
            if method not in _METHODS or not CRUD.match(op.get("operationId", "")):
                continue
            for response in op["responses"].values():
                for link in (response.get("links") or {}).values():
                    if CRUD.match(link["operationId"]):
                        found.append((op["operationId"], link["operationId"],
                                      dict(link.get("parameters", {}))))
    if live_safe:
        found = [f for f in found if not {f[0], f[1]} & set(LIVE_SAFE_EXCLUDED)]
    return found


def COVERAGE() -> dict[str, list[str]]:
    links = _links()
    return {"link": [f"{a} -> {b}" for a, b, _ in links],
            "operation": sorted({o for a, b, _ in links for o in (a, b)})}


def _resolve(expression: str, request_path: dict[str, str], body: Any) -> Any:
    """An OpenAPI runtime expression of the two forms the spec's links use."""
    if expression.startswith("$request.path."):
        return request_path.get(expression.removeprefix("$request.path."))
    if expression.startswith("$response.body#/") and isinstance(body, dict):
        return body.get(expression.removeprefix("$response.body#/"))
    return None


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
    called: list[str] = []

    class ContractStateMachine(base):  # type: ignore[misc, valid-type]
        first_failure: str | None = None
        calls = called  # every operation the walks called, for the coverage table

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
            called.append(case.operation.definition.raw.get("operationId"))
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


def test_every_declared_link_holds(losant_target: Any, losant_coverage: Any) -> None:
    """Each link once: create with its creator, call its target with the ids it names."""
    from losant_kit.contracts.fuzz import example_request
    from losant_kit.contracts.spec_view import operations

    target, api = losant_target, losant_target.api
    lifecycle = Lifecycle()
    links = _links(target.live_safe)
    # Creators whose path the sandbox alone fills first (devices before attributes).
    creators = sorted(dict.fromkeys(a for a, _, _ in links),
                      key=lambda o: operations()[o].path.count("{"))
    ids = {"applicationId": target.application_id}
    failures = []

    def call(operation_id: str, params: dict[str, str], via: str = "") -> Any:
        op = operations()[operation_id]
        path = re.sub(r"\{([^}]+)\}", lambda m: str(params.get(m.group(1), "")), op.path)
        body = None if op.method in ("GET", "DELETE") else example_request(target,
                                                                            operation_id)["body"]
        response = api.request(op.method, path, json_body=body)
        losant_coverage.hit("operation", operation_id)
        try:
            lifecycle.check(op.method, path, response)
        except AssertionError as found:
            failures.append(f"{via or operation_id}: {found}\n  {describe(response)}")
        return response

    for creator in creators:
        op = operations()[creator]
        params = {name: ids[name] for name in re.findall(r"\{([^}]+)\}", op.path)
                  if name in ids}
        made = call(creator, params)
        if made.status_code != 201:
            failures.append(f"{creator} with a schema-valid example answered "
                            f"{made.status_code}, so none of its links could be followed\n"
                            f"  {describe(made)}")
            continue
        body = made.json()
        # Removals last: a link to delete must not spoil the others of this creator.
        for _, link_target, parameters in sorted(
                (f for f in links if f[0] == creator), key=lambda f: f[1].endswith(".delete")):
            resolved = {name: _resolve(expr, params, body) for name, expr in parameters.items()}
            call(link_target, resolved, via=f"link {creator} -> {link_target}")
            losant_coverage.hit("link", f"{creator} -> {link_target}")
            if link_target.endswith(".delete"):
                # Deleted means gone: the same resource read once more must be 404.
                getter = link_target.removesuffix(".delete") + ".get"
                if getter in operations():
                    call(getter, resolved, via=f"{getter} after link {creator} -> "
                                               f"{link_target}")
        # A fresh one for the creators below (the links above may have deleted this one).
        feeder = call(creator, params)
        for name, expr in next((p for a, _, p in links if a == creator), {}).items():
            if expr.startswith("$response.body#/") and name not in ids \
                    and feeder.status_code == 201:
                ids[name] = _resolve(expr, params, feeder.json())
    if failures:
        pytest.fail("a declared link broke the contract:\n" + "\n".join(failures[:5]),
                    pytrace=False)


def test_link_chains_keep_resources_consistent(losant_target: Any, losant_coverage: Any,
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
    for operation_id in machine.calls:
        losant_coverage.hit("operation", operation_id)
    if found_text is not None:
        pytest.fail(f"a create/read/update/delete chain broke the contract:\n{found_text}",
                    pytrace=False)
