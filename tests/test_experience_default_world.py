"""The seed's API on a fresh default mock: tenants log in, read their devices, nothing more."""

from __future__ import annotations

import pytest

from losant_kit.fixtures.experiences import DEFAULT_SLUG, TENANT_LOGINS
from losant_kit.mockserver.app import MockApp
from losant_kit.mockserver.clock import iso
from tests.conftest import bearer

HOST = {"Host": f"{DEFAULT_SLUG}.localhost"}


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    return module_mock


@pytest.fixture(autouse=True)
def fresh(reset_module_mock: MockApp) -> MockApp:
    return reset_module_mock


@pytest.fixture
def tenants(mock) -> dict[str, dict]:
    users = mock.world_summary["experienceUsers"]
    return {u["email"]: u for u in users}


def login(client, email: str, password: str):
    return client.post("/api/auth", headers=HOST, json={"email": email, "password": password})


@pytest.fixture
def tenant_a(client, tenants) -> tuple[str, dict]:
    email, password = TENANT_LOGINS[0]
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()["token"], tenants[email]


def test_world_lists_both_tenants_with_the_devices_they_reach(tenants):
    a, b = (tenants[email] for email, _ in TENANT_LOGINS)
    assert a["slug"] == b["slug"] == DEFAULT_SLUG
    assert a["deviceIds"] and b["deviceIds"]
    assert not set(a["deviceIds"]) & set(b["deviceIds"])


def test_world_endpoint_of_the_control_api_has_experience_users(client, tenants):
    world = client.get("/_mock/world").json()
    assert {u["email"] for u in world["experienceUsers"]} == set(tenants)
    assert set(world["experienceUsers"][0]) == {
        "email", "password", "applicationId", "slug", "groupIds", "deviceIds"
    }


def test_tenant_reads_its_device(client, tenant_a):
    token, user = tenant_a
    device_id = user["deviceIds"][0]
    response = client.get(f"/api/devices/{device_id}", headers={**HOST, **bearer(token)})
    assert response.status_code == 200
    assert response.json()["id"] == device_id


def test_tenant_reads_its_time_series(client, tenant_a, mock):
    token, user = tenant_a
    device_id = user["deviceIds"][0]
    device = mock.backend.store.get("devices", device_id)
    attribute = device["attributes"][0]["name"]
    response = client.get(
        f"/api/devices/{device_id}/data",
        headers={**HOST, **bearer(token)},
        params={"attribute": attribute, "time_range": "24h"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["deviceId"] == device_id
    assert "points" in response.json()


def test_tenant_never_reaches_another_tenants_device(client, tenant_a, tenants):
    token, _ = tenant_a
    other = tenants[TENANT_LOGINS[1][0]]["deviceIds"][0]
    for path in (f"/api/devices/{other}", f"/api/devices/{other}/data"):
        response = client.get(path, headers={**HOST, **bearer(token)})
        assert response.status_code in (403, 404), (path, response.status_code)


def test_no_token_is_401(client, tenants):
    device_id = tenants[TENANT_LOGINS[0][0]]["deviceIds"][0]
    assert client.get(f"/api/devices/{device_id}", headers=HOST).status_code == 401


def test_wrong_password_is_401(client):
    response = login(client, TENANT_LOGINS[0][0], "not-the-password")
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})


@pytest.mark.parametrize("way", ["header", "cookie", "query"])
def test_all_three_ways_of_sending_the_token_work(client, tenant_a, way):
    token, user = tenant_a
    path = f"/api/devices/{user['deviceIds'][0]}"
    kwargs = {
        "header": {"headers": {**HOST, **bearer(token)}},
        "cookie": {"headers": {**HOST, "Cookie": f"authorization={token}"}},
        "query": {"headers": HOST, "params": {"authorization": token}},
    }[way]
    assert client.get(path, **kwargs).status_code == 200


def test_token_cutoff_invalidates_the_tenants_token(client, tenant_a, mock, auth):
    token, user = tenant_a
    path = f"/api/devices/{user['deviceIds'][0]}"
    experience_user = mock.backend.experience_users.by_email(user["applicationId"], user["email"])
    mock.backend.clock.advance(1)
    response = client.patch(
        f"/applications/{user['applicationId']}/experience/users/{experience_user['id']}",
        headers=auth,
        json={"tokenCutoff": iso(mock.backend.clock.now())},
    )
    assert response.status_code == 200, response.text
    assert client.get(path, headers={**HOST, **bearer(token)}).status_code == 401


def test_the_path_prefix_serves_the_same_api(client, tenants):
    email, password = TENANT_LOGINS[0]
    response = client.post(
        f"/_experience/{DEFAULT_SLUG}/api/auth", json={"email": email, "password": password}
    )
    assert response.status_code == 200
    device_id = tenants[email]["deviceIds"][0]
    read = client.get(
        f"/_experience/{DEFAULT_SLUG}/api/devices/{device_id}",
        headers=bearer(response.json()["token"]),
    )
    assert read.status_code == 200
