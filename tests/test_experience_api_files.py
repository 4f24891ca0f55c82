"""Experience API files: what is accepted, and every refusal naming its place in the file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.experience.apifile import (
    ApiFileError,
    StaticReply,
    load_api_file,
    parse_api_document,
)

API_FILE = Path(__file__).resolve().parents[1] / "fixtures/experiences/equipment-monitor.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(API_FILE.read_text())


def refusal(doc: dict[str, Any]) -> ApiFileError:
    with pytest.raises(ApiFileError) as caught:
        parse_api_document(doc, "api.yaml")
    return caught.value


def test_the_shipped_file_describes_the_seeds_api() -> None:
    api = load_api_file(API_FILE)
    routes = {(op.method, op.route): (op.access, op.reply) for op in api.operations.values()}
    assert routes == {
        ("post", "/api/auth"): ("public", "auth.login"),
        ("get", "/api/devices"): ("authenticated", "devices.list"),
        ("get", "/api/devices/{deviceId}"): ("authenticated", "device.get"),
        ("get", "/api/devices/{deviceId}/data"): ("authenticated", "device.data"),
    }
    assert api.login.operation_id == "login"
    data = api.operations["getDeviceData"]
    assert {p["name"] for p in data.parameters} == {"deviceId", "attribute", "time_range"}


def test_static_reply_and_groups_are_read(document) -> None:
    doc = copy.deepcopy(document)
    op = doc["paths"]["/api/devices"]["get"]
    op["x-mock-reply"] = {"status": 200, "body": {"items": [], "count": 0}}
    op["x-experience-groups"] = ["Tenant A"]
    op["responses"]["403"] = {"$ref": "#/components/responses/Forbidden"}
    listed = parse_api_document(doc).operations["listDevices"]
    assert listed.reply == StaticReply(200, {"items": [], "count": 0})
    assert (listed.access, listed.groups) == ("group", ("Tenant A",))


def test_server_path_prefixes_every_route(document) -> None:
    doc = copy.deepcopy(document)
    doc["servers"] = [{"url": "https://equipment-monitor.onlosant.com/v1"}]
    assert parse_api_document(doc).operations["getDevice"].route == "/v1/api/devices/{deviceId}"


def test_openapi_31_is_refused_at_the_version(document) -> None:
    doc = {**copy.deepcopy(document), "openapi": "3.1.0"}
    assert refusal(doc).pointer == "/openapi"


def test_schema_breach_is_refused_at_its_pointer(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/devices"]["get"]["responses"]["200"] = {"content": {}}
    error = refusal(doc)
    assert error.pointer.startswith("/paths/~1api~1devices/get/responses")


def test_unknown_built_in_reply_is_refused_naming_the_known_ones(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/devices"]["get"]["x-mock-reply"] = "device.delete"
    error = refusal(doc)
    assert error.pointer == "/paths/~1api~1devices/get/x-mock-reply"
    assert "device.get" in error.message


def test_non_bearer_security_scheme_is_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["components"]["securitySchemes"]["bearer"] = {"type": "apiKey", "in": "header",
                                                      "name": "X-Key"}
    assert refusal(doc).pointer == "/components/securitySchemes/bearer"


def test_route_the_runtime_cannot_route_is_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/dev-{deviceId}"] = doc["paths"].pop("/api/devices/{deviceId}")
    error = refusal(doc)
    assert error.pointer == "/paths/~1api~1dev-{deviceId}"
    assert "mixes text and a parameter" in error.message


def test_two_routes_of_one_shape_are_refused(document) -> None:
    doc = copy.deepcopy(document)
    other = copy.deepcopy(doc["paths"]["/api/devices/{deviceId}"])
    other["parameters"][0] = {"name": "id", "in": "path", "required": True,
                              "schema": {"type": "string"}}
    other["get"]["operationId"] = "getDeviceAgain"
    other["get"]["responses"]["200"].pop("links")
    doc["paths"]["/api/devices/{id}"] = other
    assert "routes the same requests as" in refusal(doc).message


def test_second_login_operation_is_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/devices"]["get"]["x-experience-login"] = True
    assert refusal(doc).pointer == "/paths/~1api~1devices/get/x-experience-login"


def test_external_reference_is_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["components"]["schemas"]["Tag"] = {"$ref": "other.yaml#/Tag"}
    error = refusal(doc)
    assert error.pointer.endswith("$ref") and "inside the file" in error.message


def test_groups_without_a_documented_403_are_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/devices"]["get"]["x-experience-groups"] = ["Tenant A"]
    error = refusal(doc)
    assert error.pointer == "/paths/~1api~1devices/get/responses" and "403" in error.message


def test_groups_without_security_are_refused(document) -> None:
    doc = copy.deepcopy(document)
    doc["paths"]["/api/auth"]["post"]["x-experience-groups"] = ["Tenant A"]
    assert refusal(doc).pointer == "/paths/~1api~1auth/post/x-experience-groups"


def test_unreadable_yaml_is_refused_with_its_line(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("openapi: 3.0.3\npaths: {\n  /a: [\n")
    with pytest.raises(ApiFileError) as caught:
        load_api_file(path)
    assert "line" in caught.value.message


def _nodes(node: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _nodes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _nodes(value, (*path, index))
    return found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)


@given(data=st.data())
def test_any_corrupted_file_is_served_or_refused_with_a_pointer(document, data) -> None:
    """Replace any node of the file with any JSON value: the loader either accepts the
    result or refuses it with an ApiFileError; it never fails another way."""
    doc = copy.deepcopy(document)
    path = data.draw(st.sampled_from(_nodes(doc)[1:]))
    value = data.draw(JSON)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    try:
        parse_api_document(doc, "api.yaml")
    except ApiFileError as error:
        assert error.message


def test_each_experience_app_pairs_with_the_file_before_it() -> None:
    from losant_kit.mockserver.cli import build_parser, settings_from

    args = build_parser().parse_args(["serve", "--experience", "a.yaml", "--experience-app",
                                      "app1", "--experience", "b.yaml"])
    assert settings_from(args).experiences == (("a.yaml", "app1"), ("b.yaml", None))


PROPERTY = st.sampled_from([
    {"type": "string"}, {"type": "integer"}, {"type": "boolean"},
    {"type": "string", "enum": ["Validation", "Other"]}, {"type": "string", "maxLength": 3},
    {"type": "object"},
])


@given(properties=st.dictionaries(st.sampled_from(
    ["type", "message", "error", "detail", "code", "status", "reason", "extra", "title"]),
    PROPERTY, min_size=1, max_size=5), data=st.data())
def test_an_error_in_the_declared_shape_satisfies_it_or_is_the_platforms(properties,
                                                                        data) -> None:
    """Whatever error schema a file declares, the mock's error body satisfies it, or is the
    platform's {"type", "message"} (which the reply check then reports)."""
    from connexion.json_schema import Draft4ResponseValidator

    from losant_kit.mockserver.experience.apicheck import shaped_error

    required = data.draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    body = shaped_error(schema, 400, "Validation", "query parameter x: bad")
    assert Draft4ResponseValidator(schema).is_valid(body) or body == {
        "type": "Validation", "message": "query parameter x: bad"}
    assert body  # never an empty error
