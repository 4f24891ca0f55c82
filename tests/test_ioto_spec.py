"""The committed Ioto spec: valid OpenAPI 3.0.3, equal to a fresh build, and
faithful to every REST endpoint of the shared Ioto reference (api.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from losant_kit.specs.ioto import IOTO_SPEC, generate, load_ioto_spec

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ioto"
needs_reference = pytest.mark.skipif(not REFERENCE.exists(),
                                     reason="../shared/reference/ioto is absent")
CONTROLLERS = ("Account", "Action", "Alert", "Dashboard", "Device", "Generic", "Metric",
               "Provision", "User", "Test")
# The reference's field types as JSON Schema reads them back from the spec.
TYPE_OF = {"string": "string", "number": "number", "boolean": "boolean", "object": "object",
           "array": "array", "date": "string"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_ioto_spec()


@pytest.fixture(scope="module")
def api() -> dict:
    return yaml.safe_load((REFERENCE / "api.yaml").read_text())


def rest_endpoints(api: dict):
    for controller in CONTROLLERS:
        for action, endpoint in api["controllers"][controller]["endpoints"].items():
            if endpoint.get("transport") == "http":
                yield controller, action, endpoint


def test_ioto_spec_passes_openapi_spec_validator(spec):
    validate(spec)
    assert spec["openapi"] == "3.0.3"


@needs_reference
def test_committed_ioto_spec_equals_a_fresh_build():
    assert generate.main(["--reference", str(REFERENCE), "--out", str(IOTO_SPEC.parent),
                          "--check"]) == 0


@needs_reference
def test_every_rest_endpoint_of_the_reference_is_served_in_its_path_forms(spec, api):
    expected = set()
    for _controller, _action, endpoint in rest_endpoints(api):
        role, path = endpoint["role"], endpoint["path"]
        if role not in ("device", "upgrade"):
            expected.add(path)  # login form
        if role != "public":
            expected.add("/tok" + path)  # CloudAPI form
    assert "/test/ping" in expected and "/tok/device/find" in expected
    # /user/login is public but identifies a login: no /tok form.
    assert set(spec["paths"]) == expected - {"/tok/user/login"}


@needs_reference
def test_operations_carry_the_reference_roles(spec, api):
    for _controller, _action, endpoint in rest_endpoints(api):
        for path in (endpoint["path"], "/tok" + endpoint["path"]):
            if path in spec["paths"]:
                assert spec["paths"][path]["post"]["x-role"] == endpoint["role"], path


@needs_reference
def test_request_fields_match_the_reference(spec, api):
    for _controller, _action, endpoint in rest_endpoints(api):
        for path in (endpoint["path"], "/tok" + endpoint["path"]):
            op = spec["paths"].get(path, {}).get("post")
            if op is None or endpoint["path"] == "/test/ping":
                continue
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            fields = endpoint.get("request") or {}
            assert schema["additionalProperties"] is ("*" in fields), path
            for name, field in fields.items():
                if name == "*":
                    continue
                prop = schema["properties"][name]
                kind = TYPE_OF.get(field.get("type"))
                if "schema" in field:  # an object of a named model
                    assert prop["$ref"] == f"#/components/schemas/{field['schema']}"
                elif kind:
                    assert prop.get("type") == kind, (path, name)
                if field.get("type") == "date":
                    assert prop["format"] == "date-time"
                assert (name in schema.get("required", [])) is bool(field.get("required")), \
                    (path, name)
                if "values" in field:
                    assert prop["enum"] == field["values"], (path, name)
                if "role" in field:
                    assert prop["x-role"] == field["role"], (path, name)


@needs_reference
def test_paged_endpoints_answer_pages_and_take_paging_options(spec, api):
    for _controller, _action, endpoint in rest_endpoints(api):
        if endpoint["response"]["shape"] != "paged":
            continue
        for path in (endpoint["path"], "/tok" + endpoint["path"]):
            op = spec["paths"][path]["post"]
            body = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert body["properties"]["data"]["type"] == "array", path
            assert {"next", "prev", "paged"} <= set(body["properties"]), path
            names = {p["name"] for p in op["parameters"]}
            assert {"limit", "next", "prev", "index"} <= names, path


@needs_reference
def test_record_responses_use_the_reference_models(spec, api):
    models = api["models"]
    for _controller, _action, endpoint in rest_endpoints(api):
        model = endpoint["response"].get("model", "").removesuffix(".api_record")
        if not model or endpoint["response"]["shape"] != "record":
            continue
        schema = spec["components"]["schemas"][model]
        fields = models[model].get("api_record", models[model]).get("fields")
        assert set(schema["properties"]) == set(fields), model


def test_errors_are_plain_text_with_the_three_documented_statuses(spec):
    for path, item in spec["paths"].items():
        responses = item["post"]["responses"]
        assert set(responses) == {"200", "400", "403", "500"}, path
        for status in ("400", "403", "500"):
            assert list(responses[status]["content"]) == ["text/plain"], path


def test_every_path_is_a_post(spec):
    assert all(list(item) == ["post"] for item in spec["paths"].values())


def test_generic_type_names_the_device_synced_models(spec):
    body = spec["paths"]["/tok/generic/find"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["properties"]["_type"]["enum"] == [
        "Device", "Store", "Log", "Command"]
