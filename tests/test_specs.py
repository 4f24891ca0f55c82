"""The committed specs: valid, loadable by both engines, and faithful to the reference."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from losant_kit import specs
from losant_kit.specs import generate
from losant_kit.specs import schemas as sch

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is absent")


@pytest.fixture(scope="module")
def spec() -> dict:
    return specs.load_platform_spec()


@pytest.fixture(scope="module")
def api_info() -> dict:
    return json.loads((REFERENCE / "losant-api" / "apiInfo.json").read_text())


@pytest.fixture(scope="module")
def scope_list() -> list[dict]:
    """Every action in the kit's scope: the platform actions and the experience actions."""
    return [
        entry
        for name in ("scope.json", "scope-experience.json")
        for entry in json.loads((REFERENCE / name).read_text())
    ]


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


# ---------------------------------------------------------------- validity


def test_platform_spec_passes_openapi_spec_validator(spec):
    validate(spec)


def test_control_spec_passes_openapi_spec_validator():
    validate(yaml.safe_load(specs.CONTROL_SPEC.read_text()))


def test_platform_spec_is_openapi_3_0_3(spec):
    assert spec["openapi"] == "3.0.3"


def test_connexion_loads_the_spec_with_its_own_validation(spec):
    from connexion import AsyncApp
    from connexion.resolver import Resolver

    app = AsyncApp(__name__)
    # No shortcuts here: Connexion validates the document against the meta-schema.
    app.add_api(spec, resolver=Resolver(function_resolver=lambda op_id: lambda **kw: None))


def test_schemathesis_generates_a_case_for_every_operation(spec):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(spec)
    seen = set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=1, database=None, suppress_health_check=list(HealthCheck)
        )
        def generate_one(case):
            seen.add(case.operation.definition.raw["operationId"])

        generate_one()
    assert seen == {op["operationId"] for _, _, op in operations(spec)}


def test_every_operation_id_is_unique_and_readable(spec):
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)) == 102 + 29
    assert all(id_.count(".") == 1 for id_ in ids)


# ---------------------------------------------------------------- parity with the reference


@needs_reference
def test_spec_has_exactly_the_actions_of_scope_json(spec, scope_list):
    wanted = {
        (e["method"].lower(), e["path"], f"{e['resource']}.{e['action']}") for e in scope_list
    }
    found = {(method, path, op["operationId"]) for path, method, op in operations(spec)}
    assert found == wanted


@needs_reference
def test_every_reference_parameter_is_in_the_spec_with_its_location(spec, scope_list, api_info):
    problems = []
    for entry in scope_list:
        resource, action = api_info[entry["resource"]], entry["resource"]
        act = resource["actions"][entry["action"]]
        op = spec["paths"][entry["path"]][entry["method"].lower()]
        declared = {(p["name"], p["in"]): p for p in op["parameters"] if "name" in p}
        body = op.get("requestBody", {}).get("content", {})
        for param in [*resource.get("params", []), *act.get("params", [])]:
            where = f"{action}.{entry['action']} {param['name']}"
            if param["in"] in ("path", "query", "header"):
                found = declared.get((param["name"], param["in"]))
                if found is None:
                    problems.append(f"{where}: missing {param['in']} parameter")
                    continue
                if bool(param.get("required")) != bool(found.get("required")):
                    problems.append(f"{where}: required differs")
                if param.get("enum") and found["schema"].get("enum") != param["enum"]:
                    problems.append(f"{where}: enum differs")
                if param.get("pattern") and found["schema"].get("pattern") != param["pattern"]:
                    problems.append(f"{where}: pattern differs")
            elif param["in"] == "body":
                schema = body.get("application/json", {}).get("schema", {})
                ref = param["schema"]["$ref"].split("/")[-1]
                if schema.get("$ref") != f"#/components/schemas/{ref}":
                    problems.append(f"{where}: body schema is not {ref}")
                if bool(param.get("required")) != op["requestBody"]["required"]:
                    problems.append(f"{where}: body required flag differs")
            elif param["in"] == "multipart":
                props = body.get("multipart/form-data", {}).get("schema", {}).get("properties", {})
                if param["name"] not in props:
                    problems.append(f"{where}: missing multipart field")
    assert problems == []


@needs_reference
def test_every_documented_status_is_in_the_spec_with_its_schema(spec, scope_list, api_info):
    problems = []
    for entry in scope_list:
        act = api_info[entry["resource"]]["actions"][entry["action"]]
        op = spec["paths"][entry["path"]][entry["method"].lower()]
        name = f"{entry['resource']}.{entry['action']}"
        for status, response in act["responses"].items():
            found = op["responses"].get(status)
            if found is None:
                problems.append(f"{name}: status {status} missing")
                continue
            if "schema" in response and not act.get("sseStream"):
                ref = response["schema"]["$ref"].split("/")[-1]
                if (entry["resource"], entry["action"]) in generate.ACTION_FIXES:
                    continue  # listed correction (specs/README.md)
                got = found["content"]["application/json"]["schema"].get("$ref", "")
                if got != f"#/components/schemas/{ref}":
                    problems.append(f"{name} {status}: schema {got} is not {ref}")
        for status, found in op["responses"].items():
            if status not in act["responses"] and not found.get("x-kit-addition"):
                problems.append(
                    f"{name}: status {status} is neither documented nor a listed addition"
                )
    assert problems == []


@needs_reference
def test_sse_actions_are_described_as_event_streams(spec, scope_list, api_info):
    for entry in scope_list:
        act = api_info[entry["resource"]]["actions"][entry["action"]]
        if act.get("sseStream"):
            op = spec["paths"][entry["path"]][entry["method"].lower()]
            assert "text/event-stream" in op["responses"]["200"]["content"]


@needs_reference
def test_scopes_and_security_come_from_scopes_json(spec, scope_list):
    scopes = json.loads((REFERENCE / "losant-api" / "scopes.json").read_text())
    for entry in scope_list:
        op = spec["paths"][entry["path"]][entry["method"].lower()]
        accepted = sorted(scopes[entry["resource"]][entry["action"]])
        assert op["x-scopes"] == accepted
        assert op["security"] == ([{"bearer": []}] if accepted else [])


@needs_reference
def test_every_throttle_in_scope_is_on_its_operation(spec, scope_list):
    rules = yaml.safe_load((REFERENCE / "throttles.yaml").read_text())["throttles"]
    in_scope = {(e["resource"], e["action"]): e for e in scope_list}
    for rule in rules:
        entry = in_scope.get((rule["resource"], rule["action"]))
        if entry is None:
            continue
        op = spec["paths"][entry["path"]][entry["method"].lower()]
        expected = {k: v for k, v in rule.items() if k not in ("resource", "action")}
        assert op.get("x-throttle") == expected, entry


@needs_reference
def test_committed_specs_equal_a_fresh_build():
    readme = (specs.SPECS_DIR / "README.md").read_text()
    fresh = generate.render(REFERENCE, readme)
    assert fresh[generate.SPEC_FILE] == specs.PLATFORM_SPEC.read_text(), (
        "specs/openapi.json is stale: "
        "run python -m losant_kit.specs.generate --reference ../shared/reference"
    )
    assert fresh["README.md"] == readme


# ---------------------------------------------------------------- no schema loosened


@needs_reference
def test_exact_schemas_are_the_repaired_reference_schemas(spec):
    """x-jsonschema holds each published schema, changed only by listed repairs and patches."""
    repairs = sch.Repairs()
    raw = {
        p.stem: json.loads(p.read_text())
        for p in (REFERENCE / "losant-api" / "schemas").glob("*.json")
    }
    exact = {name: sch.repair(name, schema, repairs) for name, schema in raw.items()}
    generate.apply_patches(exact)
    for name, kept in spec["components"]["x-jsonschema"].items():
        assert kept == sch.rewrite_refs(exact[name], generate.EXACT), name


def _examples() -> list[tuple[str, object]]:
    """Published examples of the schemas whose lowering claims to be exact."""
    path = REFERENCE / "losant-api" / "apiExamples.json"
    if not path.exists():
        return []
    lowered = specs.load_platform_spec()["components"]["schemas"]
    return sorted(
        (name, example)
        for name, example in json.loads(path.read_text()).items()
        if name in lowered and "x-lossy" not in lowered[name]
    )


@needs_reference
@pytest.mark.parametrize("name,example", _examples(), ids=[n for n, _ in _examples()])
def test_lowered_schema_judges_examples_like_the_exact_one(spec, name, example):
    """Where the lowering claims to be exact, both forms accept and refuse alike."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4, DRAFT7

    def verdict(prefix: str, spec_draft) -> bool:
        registry = Registry().with_resource("urn:s", Resource.from_contents(spec, spec_draft))
        schema = {"$ref": f"urn:s#/components/{prefix}/{name}"}
        validator_cls = (
            jsonschema.Draft4Validator if spec_draft is DRAFT4 else jsonschema.Draft7Validator
        )
        return validator_cls(schema, registry=registry).is_valid(example)

    # OpenAPI 3.0 schema objects are (an extension of) draft 4; nullable needs the OAS validator.
    from openapi_schema_validator import OAS30Validator

    registry = Registry().with_resource("urn:s", Resource.from_contents(spec, DRAFT4))
    lowered_ok = OAS30Validator(
        {"$ref": f"urn:s#/components/schemas/{name}"}, registry=registry
    ).is_valid(example)
    assert lowered_ok == verdict("x-jsonschema", DRAFT7)
