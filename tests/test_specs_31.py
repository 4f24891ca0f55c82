"""The OpenAPI 3.1 twin: valid, fresh, served, and exactly the draft-07 contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from losant_kit import specs
from losant_kit.contracts import st_hooks
from losant_kit.specs import constraints, generate, openapi31, rules

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/reference is absent")


@pytest.fixture(scope="module")
def spec31() -> dict:
    return json.loads(specs.PLATFORM_SPEC_31.read_text())


@pytest.fixture(scope="module")
def spec30() -> dict:
    return specs.load_platform_spec()


def _operations(spec: dict):
    for item in spec["paths"].values():
        yield from item.values()


def test_twin_passes_openapi_spec_validator_as_3_1(spec31):
    assert spec31["openapi"] == "3.1.0"
    validate(spec31)


def test_twin_is_derived_from_the_committed_3_0_document(spec30, spec31):
    assert openapi31.twin(spec30) == spec31


@needs_reference
def test_committed_twin_equals_a_fresh_build():
    fresh = generate.render(REFERENCE, (specs.SPECS_DIR / "README.md").read_text())
    assert fresh[openapi31.SPEC_31_FILE] == specs.PLATFORM_SPEC_31.read_text(), (
        "specs/openapi-3.1.json is stale: "
        "run python -m losant_kit.specs.generate --reference ../shared/reference"
    )


def test_twin_schemas_are_the_exact_schemas_inline(spec30, spec31):
    exact = json.dumps(spec30["components"]["x-jsonschema"]).replace(
        "#/components/x-jsonschema/", "#/components/schemas/"
    )
    # Exact, with the length bounds of lookahead patterns folded into the pattern.
    assert spec31["components"]["schemas"] == openapi31.fold_all(json.loads(exact))
    assert openapi31.fold_all(json.loads(exact)) != json.loads(exact)  # the password rule
    text = json.dumps(spec31)
    assert "x-jsonschema" not in text and "x-lossy" not in text and '"nullable"' not in text


PASSWORD = {
    "type": "string",
    "minLength": 12,
    "maxLength": 2048,
    "pattern": "^(?=.*[A-Z])(?=.*[^A-Za-z0-9])(?=.*[0-9])(?=.*[a-z]).{12,}$",
}
PASSWORD_CHARS = st.sampled_from("aZ9!\n é")


@given(
    text=st.one_of(
        st.text(PASSWORD_CHARS, max_size=20),
        st.builds(
            lambda head, n, tail: head + "x" * n + tail,
            st.text(PASSWORD_CHARS, max_size=6), st.integers(2030, 2050),
            st.text(PASSWORD_CHARS, max_size=6),
        ),
    )
)
def test_folded_password_rule_admits_the_same_strings(text):
    folded = openapi31.fold_lengths(PASSWORD)
    assert "maxLength" not in folded and "minLength" not in folded
    same = jsonschema.Draft7Validator(PASSWORD).is_valid(text) == (
        jsonschema.Draft202012Validator(folded).is_valid(text)
    )
    # Python's `$` also matches before a final newline, so a string of 2048
    # characters plus "\n" passes the folded run but not maxLength (README).
    assert same or (len(text) == 2049 and text.endswith("\n")), text


def test_twin_uses_no_keyword_whose_meaning_differs_between_draft_07_and_2020_12(spec31):
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node and len(node) > 1:
                problems.append(f"{where}: $ref with siblings")
            if isinstance(node.get("items"), list):
                problems.append(f"{where}: tuple items")
            for key in ("definitions", "dependencies", "additionalItems", "$recursiveRef"):
                if key in node and not where.endswith("/properties"):
                    problems.append(f"{where}: {key}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(spec31["components"]["schemas"], "")
    assert problems == []


def test_object_query_parameters_carry_their_exact_schema_as_json(spec31):
    found = {
        (op["operationId"], p["name"]): p
        for op in _operations(spec31)
        for p in op["parameters"]
        if "content" in p
    }
    assert ("devices.get", "query") in found and ("devices.get", "deviceClass") in found
    for param in found.values():
        ref = param["content"]["application/json"]["schema"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in spec31["components"]["schemas"]
        assert "style" not in param and "schema" not in param


def _examples() -> list[tuple[str, object]]:
    path = REFERENCE / "losant-api" / "apiExamples.json"
    if not path.exists():
        return []
    names = json.loads(specs.PLATFORM_SPEC_31.read_text())["components"]["schemas"]
    return sorted((n, e) for n, e in json.loads(path.read_text()).items() if n in names)


@needs_reference
@pytest.mark.parametrize("name,example", _examples(), ids=[n for n, _ in _examples()])
def test_twin_schema_judges_examples_like_the_draft_07_schema(spec30, spec31, name, example):
    """Every published example (lossy lowerings included): 2020-12 and draft-07 agree."""
    in_31 = Registry().with_resource("urn:s", Resource.from_contents(spec31, DRAFT202012))
    verdict_31 = jsonschema.Draft202012Validator(
        {"$ref": f"urn:s#/components/schemas/{name}"}, registry=in_31
    ).is_valid(example)
    in_07 = Registry().with_resource("urn:s", Resource.from_contents(spec30, DRAFT7))
    verdict_07 = jsonschema.Draft7Validator(
        {"$ref": f"urn:s#/components/x-jsonschema/{name}"}, registry=in_07
    ).is_valid(example)
    assert verdict_31 == verdict_07


@needs_reference
def test_examples_cover_the_lossy_schemas(spec30):
    """The comparison above includes schemas whose 3.0 lowering is only a superset."""
    lossy = {n for n, s in spec30["components"]["schemas"].items() if "x-lossy" in s}
    assert lossy & {name for name, _ in _examples()}


# ---------------------------------------------------------------- served


def test_mock_serves_the_twin_and_lists_it_in_the_index(client):
    response = client.get("/openapi-3.1.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == specs.PLATFORM_SPEC_31.read_bytes()
    assert client.get("/").json()["links"]["spec31"] == "/openapi-3.1.json"


# ---------------------------------------------------------------- constraints and x-rules


def test_constraints_are_in_both_documents(spec30, spec31):
    for spec in (spec30, spec31):
        for op in _operations(spec):
            for param in op["parameters"]:
                for rule in constraints.CONSTRAINTS:
                    applies = not rule.operations or op["operationId"] in rule.operations
                    if param.get("name") == rule.parameter and param["in"] == "query" and applies:
                        assert rule.keywords.items() <= param["schema"].items(), (
                            op["operationId"],
                            param["name"],
                        )


def test_every_x_rule_is_respected_by_the_kit_hooks(spec31):
    ids = {rule["id"] for op in _operations(spec31) for rule in op.get("x-rules", [])}
    assert ids == {r.id for r in rules.RULES}
    assert ids == set(st_hooks.REPAIRS) | set(st_hooks.SETUPS)


def test_hooks_bundle_is_the_mocks_export_format():
    from losant_kit.mockserver.models.bundles import parse_bundle

    assert parse_bundle(st_hooks.MINIMAL_BUNDLE)["application"]


PER_PAGE = next(c for c in constraints.CONSTRAINTS if c.parameter == "perPage")
MS = next(c for c in constraints.CONSTRAINTS if c.parameter == "end")


@pytest.fixture(scope="module")
def reader(module_mock):
    """A client of the module's mock and a user token; the tests below only read."""
    from starlette.testclient import TestClient

    with TestClient(module_mock, raise_server_exceptions=False) as client:
        token = client.post(
            "/auth/user", json={"email": "dev@example.com", "password": "losant-mock"}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, module_mock.world_summary["applications"][0]["id"]


def _admitted(pattern: str, value: str) -> bool:
    # The mock validates parameters with the 3.0.3 document: the pattern is the verdict.
    return re.search(pattern, value) is not None


@given(value=st.one_of(st.integers(-5, 2000).map(str), st.text(max_size=6)))
def test_mock_accepts_exactly_the_per_page_values_the_pattern_admits(reader, value):
    client, _ = reader
    response = client.get("/applications", params={"perPage": value})
    assert (response.status_code == 200) == _admitted(PER_PAGE.keywords["pattern"], value), (
        value,
        response.text,
    )


@given(value=st.one_of(st.integers(-(10**13), 10**13).map(str), st.text(max_size=6)))
def test_mock_accepts_exactly_the_millisecond_values_the_pattern_admits(reader, value):
    client, app_id = reader
    response = client.get(f"/applications/{app_id}/payloadCounts", params={"end": value})
    assert (response.status_code == 200) == _admitted(MS.keywords["pattern"], value), (
        value,
        response.text,
    )


def test_import_refuses_a_notification_email_that_is_not_an_email(client, auth, app_id):
    """The documented `format: email` of the form field is enforced, so no log echoes junk."""
    form = {"email": (None, "not-an-address"), "options": (None, "{}", "application/json")}
    response = client.post(f"/applications/{app_id}/import", headers=auth, files=form)
    assert response.status_code == 400
    assert "email" in response.json()["message"]
    assert client.get(f"/applications/{app_id}/importLogs", headers=auth).json() == []
