"""The mock serving an experience API file: endpoints from the file, requests and
replies held to it (``losant-mock serve --experience FILE``)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from losant_kit.fixtures.experiences import TENANT_LOGINS
from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.experience.binding import BindingError
from losant_kit.mockserver.experience.file_errors import ApiFileError
from tests.conftest import LOGIN, bearer, with_settings

API_FILE = Path(__file__).resolve().parents[1] / "fixtures/experiences/equipment-monitor.yaml"
EXP = "/_experience/equipment-monitor"
TIME_RANGE = re.compile(r"^[1-9][0-9]?[mhd]$")


def serving(*files: tuple[str, str | None]) -> TestClient:
    return TestClient(create_app(with_settings(experiences=files)))


def written(tmp_path: Path, change: Any) -> str:
    doc = yaml.safe_load(API_FILE.read_text())
    change(doc)
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return serving((str(API_FILE), None))


@pytest.fixture(scope="module")
def world(client: TestClient) -> dict[str, Any]:
    return client.get("/_mock/world").json()


def login(client: TestClient, which: int = 0, prefix: str = EXP) -> dict[str, str]:
    email, password = TENANT_LOGINS[which]
    reply = client.post(f"{prefix}/api/auth", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return bearer(reply.json()["token"])


def own_device(world: dict[str, Any], which: int = 0) -> str:
    return world["experienceUsers"][which]["deviceIds"][0]


def test_file_operations_are_the_applications_endpoints(client, world) -> None:
    platform = bearer(client.post("/auth/user", json=LOGIN).json()["token"])
    app_id = world["experienceUsers"][0]["applicationId"]
    listed = client.get(f"/applications/{app_id}/experience/endpoints", headers=platform).json()
    assert {(e["method"], e["route"], e["access"], e["endpointTags"].get("mockReply"))
            for e in listed["items"]} == {
        ("post", "/api/auth", "public", "auth.login"),
        ("get", "/api/devices", "authenticated", "devices.list"),
        ("get", "/api/devices/{deviceId}", "authenticated", "device.get"),
        ("get", "/api/devices/{deviceId}/data", "authenticated", "device.data"),
    }


def test_own_device_reads_in_the_files_shape(client, world) -> None:
    reply = client.get(f"{EXP}/api/devices/{own_device(world)}", headers=login(client))
    assert reply.status_code == 200
    assert reply.json()["id"] == own_device(world)


def test_path_parameter_the_file_forbids_is_a_400_in_its_error_shape(client) -> None:
    reply = client.get(f"{EXP}/api/devices/not-an-id", headers=login(client))
    assert reply.status_code == 400
    assert reply.json() == {"type": "Validation", "message": (
        "path parameter deviceId: 'not-an-id' does not match '^[A-Fa-f0-9]{24}$'")}


def test_login_body_the_file_forbids_is_a_400(client) -> None:
    reply = client.post(f"{EXP}/api/auth", json={"email": "a@example.com"})
    assert reply.status_code == 400
    assert "password" in reply.json()["message"]


def test_missing_token_is_a_401_before_the_input_is_judged(client) -> None:
    reply = client.get(f"{EXP}/api/devices/not-an-id")
    assert reply.status_code == 401


def test_other_tenants_device_is_a_403(client, world) -> None:
    reply = client.get(f"{EXP}/api/devices/{own_device(world, 1)}", headers=login(client))
    assert reply.status_code == 403


@pytest.fixture(scope="module")
def tenant_a(client: TestClient) -> dict[str, str]:
    return login(client)


@given(value=st.text(alphabet="0123456789mhdsw-x ", max_size=4))
def test_time_range_is_served_exactly_when_the_file_allows_it(client, world, tenant_a,
                                                              value) -> None:
    reply = client.get(f"{EXP}/api/devices/{own_device(world)}/data",
                       params={"time_range": value}, headers=tenant_a)
    if TIME_RANGE.match(value):
        assert reply.status_code == 200, reply.text
    else:
        assert reply.status_code == 400, reply.text
        assert set(reply.json()) == {"type", "message"}


def test_declared_error_shape_is_used_for_refusals(tmp_path) -> None:
    def other_shape(doc: dict) -> None:
        doc["components"]["schemas"]["Error"] = {
            "type": "object", "required": ["error", "detail", "status"],
            "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                           "status": {"type": "integer"}}}

    client = serving((written(tmp_path, other_shape), None))
    reply = client.get(f"{EXP}/api/devices/nope", headers=login(client))
    assert reply.status_code == 400
    assert reply.json() == {"error": "Validation", "status": 400, "detail": (
        "path parameter deviceId: 'nope' does not match '^[A-Fa-f0-9]{24}$'")}
    assert client.get(f"{EXP}/api/devices").json()["status"] == 401


def test_reply_that_breaks_the_file_is_a_500_naming_the_schema(tmp_path) -> None:
    def stricter(doc: dict) -> None:
        doc["components"]["schemas"]["Device"]["required"].append("serialNumber")

    client = serving((written(tmp_path, stricter), None))
    world = client.get("/_mock/world").json()
    reply = client.get(f"{EXP}/api/devices/{own_device(world)}", headers=login(client))
    assert reply.status_code == 500
    body = reply.json()
    assert body["type"] == "MockReplyBreachesApiFile"
    assert "'serialNumber' is a required property" in body["message"]
    assert "/paths/~1api~1devices~1{deviceId}/get/responses/200" in body["message"]


def test_static_reply_is_served_as_json(tmp_path) -> None:
    def static(doc: dict) -> None:
        doc["paths"]["/api/devices"]["get"]["x-mock-reply"] = {
            "status": 200, "body": {"items": [], "count": 0}}

    client = serving((written(tmp_path, static), None))
    assert client.get(f"{EXP}/api/devices", headers=login(client)).json() == {
        "items": [], "count": 0}


def test_groups_restrict_an_operation(tmp_path) -> None:
    def tenant_a_only(doc: dict) -> None:
        operation = doc["paths"]["/api/devices"]["get"]
        operation["x-experience-groups"] = ["Tenant A"]
        operation["responses"]["403"] = {"$ref": "#/components/responses/Forbidden"}

    client = serving((written(tmp_path, tenant_a_only), None))
    assert client.get(f"{EXP}/api/devices", headers=login(client, 0)).status_code == 200
    assert client.get(f"{EXP}/api/devices", headers=login(client, 1)).status_code == 403


def test_unknown_group_is_refused_at_its_pointer(tmp_path) -> None:
    def nobody(doc: dict) -> None:
        operation = doc["paths"]["/api/devices"]["get"]
        operation["x-experience-groups"] = ["Nobody"]
        operation["responses"]["403"] = {"$ref": "#/components/responses/Forbidden"}

    with pytest.raises(ApiFileError) as caught:
        serving((written(tmp_path, nobody), None))
    assert caught.value.pointer == "/paths/~1api~1devices/get/x-experience-groups/0"


def test_operation_without_a_reply_is_refused_for_serving(tmp_path) -> None:
    with pytest.raises(ApiFileError) as caught:
        serving((written(tmp_path, lambda d: d["paths"]["/api/devices"]["get"].pop(
            "x-mock-reply")), None))
    assert caught.value.pointer == "/paths/~1api~1devices/get/x-mock-reply"


def test_reset_brings_the_files_endpoints_back(tmp_path) -> None:
    mock = create_app(with_settings(experiences=((str(API_FILE), None),)))
    client = TestClient(mock)
    world = client.get("/_mock/world").json()
    platform = bearer(client.post("/auth/user", json=LOGIN).json()["token"])
    app_id = world["experienceUsers"][0]["applicationId"]
    for endpoint in client.get(f"/applications/{app_id}/experience/endpoints",
                               headers=platform).json()["items"]:
        client.delete(f"/applications/{app_id}/experience/endpoints/{endpoint['id']}",
                      headers=platform)
    assert client.get(f"{EXP}/api/devices").status_code == 404
    client.post("/_mock/reset")
    assert client.get(f"{EXP}/api/devices", headers=login(client)).status_code == 200


def test_several_files_serve_several_applications(tmp_path) -> None:
    base = create_app(with_settings())
    second = base.world_summary["applications"][1]["id"]
    client = serving((str(API_FILE), None), (str(API_FILE), second))
    platform = bearer(client.post("/auth/user", json=LOGIN).json()["token"])
    routes = client.get(f"/applications/{second}/experience/endpoints", headers=platform).json()
    assert {e["route"] for e in routes["items"]} >= {"/api/devices/{deviceId}/data"}
    # Its experience answers at its id (it has no users: the login is refused, by the file).
    reply = client.post(f"/_experience/{second}/api/auth", json={"email": "x", "password": "y"})
    assert reply.status_code == 401 and set(reply.json()) == {"type", "message"}


def test_two_files_for_one_application_are_refused() -> None:
    with pytest.raises(BindingError, match="already serves"):
        serving((str(API_FILE), None), (str(API_FILE), None))


def test_the_file_changes_nothing_when_not_given() -> None:
    plain = TestClient(create_app(with_settings()))
    world = plain.get("/_mock/world").json()
    # The default world's own endpoints: no listing route.
    assert plain.get(f"{EXP}/api/devices", headers=login(plain)).status_code == 404
    assert plain.get(f"{EXP}/api/devices/{own_device(world)}",
                     headers=login(plain)).status_code == 200


def test_unchanged_document_copy_is_not_mutated() -> None:
    from losant_kit.mockserver.experience.apifile import load_api_file

    api = load_api_file(API_FILE)
    before = copy.deepcopy(api.document)
    serving((str(API_FILE), None)).get(f"{EXP}/api/devices")
    assert api.document == before


def test_time_series_with_points_matches_the_file(tmp_path) -> None:
    client = serving((str(API_FILE), None))
    world = client.get("/_mock/world").json()
    device, app_id = own_device(world), world["experienceUsers"][0]["applicationId"]
    platform = bearer(client.post("/auth/user", json=LOGIN).json()["token"])
    attributes = client.get(f"/applications/{app_id}/devices/{device}",
                            headers=platform).json()["attributes"]
    numeric = next(a["name"] for a in attributes if a["dataType"] == "number")
    sent = client.post(f"/applications/{app_id}/devices/{device}/state", headers=platform,
                       json=[{"data": {numeric: 21.5}}])
    assert sent.status_code == 200, sent.text
    reply = client.get(f"{EXP}/api/devices/{device}/data",
                       params={"attribute": numeric, "time_range": "1h"}, headers=login(client))
    assert reply.status_code == 200, reply.text  # a breach of the file would be a 500
    points = reply.json()["points"]
    assert points and all(numeric in p["data"] for p in points if p["data"])
