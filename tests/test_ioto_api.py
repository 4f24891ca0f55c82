"""The Ioto mock (--platform ioto): tokens and roles, devices, Generic, paging, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.ioto.world import generate
from losant_kit.mockserver.settings import Settings

SETTINGS = Settings(seed=3, platform="ioto", jwt_secret="ioto-test-secret-of-32-bytes!!!!")
ORIGIN = "https://app.ioto.me"


@pytest.fixture
def ioto() -> Iterator[TestClient]:
    with TestClient(create_app(SETTINGS), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def world(ioto: TestClient) -> dict[str, Any]:
    return ioto.get("/_mock/world").json()


def tok(world: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": world["cloudApiTokens"][0]["token"]}


def login(world: dict[str, Any], n: int = 0, *, role: str = "owner") -> dict[str, str]:
    found = [entry for entry in world["logins"] if entry["role"] == role]
    return {"Authorization": found[n]["token"], "Origin": ORIGIN}


def first_device(world: dict[str, Any], account: int = 0) -> tuple[str, str]:
    entry = world["accounts"][account]
    return entry["id"], entry["deviceIds"][0]


# ---------------------------------------------------------------- tokens


def test_cloudapi_token_finds_devices_under_data(ioto, world):
    response = ioto.post("/tok/device/find", headers=tok(world), json={})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    ids = {d["id"] for d in response.json()["data"]}
    assert ids == {i for a in world["accounts"] for i in a["deviceIds"]}


def test_bad_token_is_403_plain_text(ioto):
    response = ioto.post("/tok/device/find", headers={"Authorization": "NOPE"}, json={})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Authentication failed"


def test_missing_token_is_403_plain_text(ioto):
    response = ioto.post("/tok/device/find", json={})
    assert response.status_code == 403 and response.headers["content-type"].startswith(
        "text/plain")


def test_bearer_prefixed_token_is_accepted(ioto, world):
    token = world["cloudApiTokens"][0]["token"]
    response = ioto.post("/tok/device/find", headers={"Authorization": f"bearer {token}"},
                         json={})
    assert response.status_code == 200


def test_login_token_needs_origin(ioto, world):
    headers = login(world)
    del headers["Origin"]
    assert ioto.post("/device/find", headers=headers, json={}).status_code == 403


def test_token_forms_do_not_cross_paths(ioto, world):
    assert ioto.post("/tok/device/find", headers=login(world), json={}).status_code == 403
    assert ioto.post("/device/find", headers={**tok(world), "Origin": ORIGIN},
                     json={}).status_code == 403


def test_login_token_lists_only_its_account_devices(ioto, world):
    response = ioto.post("/device/find", headers=login(world), json={})
    assert {d["id"] for d in response.json()["data"]} == set(world["accounts"][0]["deviceIds"])


def test_login_token_never_reaches_another_accounts_device(ioto, world):
    other_account, other_device = first_device(world, 1)
    response = ioto.post("/device/get", headers=login(world),
                         json={"id": other_device, "accountId": other_account})
    assert response.status_code == 400 and response.text == "Cannot find device"
    response = ioto.post("/generic/find", headers=login(world),
                         json={"_type": "Store", "deviceId": other_device})
    assert response.status_code == 400


def test_login_token_expires_after_an_hour_on_the_mock_clock(ioto, world):
    headers = login(world)
    assert ioto.post("/device/find", headers=headers, json={}).status_code == 200
    ioto.post("/_mock/clock", json={"advance": 3601})
    assert ioto.post("/device/find", headers=headers, json={}).status_code == 403


def test_mock_login_hands_out_a_working_token(ioto, world):
    entry = world["logins"][0]
    token = ioto.post("/_mock/login", json={"email": entry["email"],
                                            "password": entry["password"]}).json()["token"]
    response = ioto.post("/user/get", headers={"Authorization": token, "Origin": ORIGIN},
                         json={})
    assert response.json()["data"]["email"] == entry["email"]


def test_user_role_cannot_create_users(ioto, world):
    response = ioto.post("/user/create", headers=login(world, role="user"),
                         json={"email": "new@example.com", "role": "user"})
    assert response.status_code == 403


def test_device_token_reaches_only_its_device_calls(ioto, world):
    token = world["deviceTokens"][0]
    headers = {"Authorization": f"bearer {token['token']}"}
    provisioned = ioto.post("/tok/device/provision", headers=headers,
                            json={"id": token["deviceId"]})
    assert provisioned.status_code == 200
    assert {"certificate", "key", "endpoint", "port"} <= set(provisioned.json())  # top level
    assert ioto.post("/tok/device/find", headers=headers, json={}).status_code == 403


# ---------------------------------------------------------------- devices


def test_claim_then_release_moves_a_device_in_and_out_of_an_account(ioto, world):
    account_id = world["accounts"][1]["id"]
    device_id = world["unclaimedDevices"][0]
    body = {"id": device_id, "accountId": account_id}
    claimed = ioto.post("/tok/device/claim", headers=tok(world), json=body)
    assert claimed.json()["data"]["accountId"] == account_id
    found = ioto.post("/tok/device/find", headers=tok(world), json={"accountId": account_id})
    assert device_id in {d["id"] for d in found.json()["data"]}
    ioto.post("/tok/device/release", headers=tok(world), json=body)
    found = ioto.post("/tok/device/find", headers=tok(world), json={"accountId": account_id})
    assert device_id not in {d["id"] for d in found.json()["data"]}


def test_a_claimed_device_cannot_be_claimed_by_another_account(ioto, world):
    _, device_id = first_device(world, 0)
    response = ioto.post("/tok/device/claim", headers=tok(world),
                         json={"id": device_id, "accountId": world["accounts"][1]["id"]})
    assert response.status_code == 400


# ---------------------------------------------------------------- generic


def test_generic_create_reads_back(ioto, world):
    account_id, device_id = first_device(world)
    item = {"_type": "Store", "accountId": account_id, "deviceId": device_id,
            "key": "colour", "value": "blue", "type": "string"}
    created = ioto.post("/tok/generic/create", headers=tok(world), json=item)
    assert created.status_code == 200, created.text
    got = ioto.post("/tok/generic/get", headers=tok(world),
                    json={"_type": "Store", "deviceId": device_id, "key": "colour"})
    assert got.json()["data"] == created.json()["data"]
    assert got.json()["data"]["value"] == "blue"


def test_generic_update_with_exists_refuses_a_missing_item(ioto, world):
    _, device_id = first_device(world)
    body = {"_type": "Store", "deviceId": device_id, "key": "absent", "value": 1,
            "type": "number"}
    refused = ioto.post("/tok/generic/update?exists", headers=tok(world), json=body)
    assert refused.status_code == 400
    missing = ioto.post("/tok/generic/get", headers=tok(world),
                        json={"_type": "Store", "deviceId": device_id, "key": "absent"})
    assert missing.status_code == 400


def test_generic_update_without_exists_upserts(ioto, world):
    _, device_id = first_device(world)
    body = {"_type": "Store", "deviceId": device_id, "key": "fresh", "value": 2, "type": "number"}
    assert ioto.post("/tok/generic/update", headers=tok(world), json=body).status_code == 200
    got = ioto.post("/tok/generic/get", headers=tok(world),
                    json={"_type": "Store", "deviceId": device_id, "key": "fresh"})
    assert got.json()["data"]["value"] == 2


def test_generic_find_filters_by_attributes(ioto, world):
    response = ioto.post("/generic/find", headers=login(world),
                         json={"_type": "Store", "key": "mode"})
    data = response.json()["data"]
    assert data and all(item["key"] == "mode" for item in data)
    assert len(data) == len(world["accounts"][0]["deviceIds"])


def test_generic_remove_deletes_the_item(ioto, world):
    _, device_id = first_device(world)
    key = {"_type": "Store", "deviceId": device_id, "key": "mode"}
    assert ioto.post("/generic/remove", headers=login(world), json=key).json() == {"data": True}
    assert ioto.post("/generic/get", headers=login(world), json=key).status_code == 400


def test_generic_create_of_a_wrongly_typed_field_changes_nothing(ioto, world):
    _, device_id = first_device(world)
    bad = {"_type": "Log", "deviceId": device_id, "message": 5}
    response = ioto.post("/generic/create", headers=login(world), json=bad)
    assert response.status_code == 400 and response.headers["content-type"].startswith(
        "text/plain")
    logs = ioto.post("/generic/find", headers=login(world),
                     json={"_type": "Log", "deviceId": device_id}).json()["data"]
    assert all(isinstance(log["message"], str) for log in logs)


def test_malformed_json_is_400_plain_text(ioto, world):
    response = ioto.post("/tok/generic/find", headers={**tok(world),
                                                       "Content-Type": "application/json"},
                         content=b"{not json")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")


def walk(ioto: TestClient, headers: dict[str, str], body: dict[str, Any],
         limit: int, total: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    for _ in range(total + 1):  # bounded: n items never need more than n pages
        params = {"limit": limit, **({"next": cursor} if cursor else {})}
        page = ioto.post("/tok/generic/find", headers=headers, json=body, params=params).json()
        pages.append(page["data"])
        cursor = page.get("next")
        if cursor is None:
            return pages
    raise AssertionError("paging never ended")


@given(limit=st.integers(min_value=1, max_value=25))
def test_paging_partitions_a_result_set(limit):
    with TestClient(create_app(SETTINGS)) as ioto:
        world = ioto.get("/_mock/world").json()
        body = {"_type": "Log"}
        everything = ioto.post("/tok/generic/find", headers=tok(world), json=body,
                               params={"limit": 1000}).json()["data"]
        pages = walk(ioto, tok(world), body, limit, len(everything))
        seen = [item["id"] for page in pages for item in page]
        assert sorted(seen) == sorted(item["id"] for item in everything)
        assert len(seen) == len(set(seen))
        assert all(0 < len(page) <= limit for page in pages)


def test_prev_cursor_returns_the_page_before(ioto, world):
    first = ioto.post("/tok/generic/find", headers=tok(world), json={"_type": "Log"},
                      params={"limit": 4}).json()
    second = ioto.post("/tok/generic/find", headers=tok(world), json={"_type": "Log"},
                       params={"limit": 4, "next": first["next"]}).json()
    assert second["paged"] is True
    back = ioto.post("/tok/generic/find", headers=tok(world), json={"_type": "Log"},
                     params={"limit": 4, "prev": second["prev"]}).json()
    assert back["data"] == first["data"]


def test_a_cursor_the_service_did_not_issue_is_400(ioto, world):
    response = ioto.post("/tok/generic/find", headers=tok(world), json={"_type": "Log"},
                         params={"next": "%%%"})
    assert response.status_code == 400


# ---------------------------------------------------------------- metrics


def fetch(ioto, world, device_id, **item) -> dict[str, Any]:
    body = {"deviceId": device_id, "items": [{"namespace": "Embedthis/Device", **item}]}
    response = ioto.post("/tok/metric/fetch", headers=tok(world), json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"][0]


@given(values=st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
                       min_size=1, max_size=30),
       statistic=st.sampled_from(["avg", "min", "max", "count", "sum"]))
def test_metric_statistics_over_fed_points(values, statistic):
    with TestClient(create_app(SETTINGS)) as ioto:
        world = ioto.get("/_mock/world").json()
        _, device_id = first_device(world)
        now = ioto.get("/_mock/clock").json()["epochMs"] / 1000
        points = [{"timestamp": now - 100 + i, "value": v} for i, v in enumerate(values)]
        ioto.post("/_mock/metrics", json={"deviceId": device_id, "metric": "probe",
                                          "points": points})
        result = fetch(ioto, world, device_id, metric="probe", statistic=statistic,
                       period=3600, accumulate=True)
        expected = {"avg": sum(values) / len(values), "min": min(values), "max": max(values),
                    "count": len(values), "sum": sum(values)}[statistic]
        assert result["points"][0]["value"] == pytest.approx(expected)
        assert result["samples"] == len(values)


def test_metric_points_outside_the_period_are_left_out(ioto, world):
    _, device_id = first_device(world)
    now = ioto.get("/_mock/clock").json()["epochMs"] / 1000
    ioto.post("/_mock/metrics", json={"deviceId": device_id, "metric": "probe", "points": [
        {"timestamp": now - 10, "value": 1}, {"timestamp": now - 7200, "value": 100}]})
    result = fetch(ioto, world, device_id, metric="probe", statistic="max", period=60,
                   accumulate=True)
    assert result["points"][0]["value"] == 1


def test_a_bad_metric_point_stores_nothing(ioto, world):
    _, device_id = first_device(world)
    now = ioto.get("/_mock/clock").json()["epochMs"] / 1000
    response = ioto.post("/_mock/metrics", json={"deviceId": device_id, "metric": "probe",
                                                 "points": [{"timestamp": now, "value": 1},
                                                            {"timestamp": now, "value": "x"}]})
    assert response.status_code == 400
    assert fetch(ioto, world, device_id, metric="probe", statistic="avg")["points"] == []


def test_metric_namespace_other_than_device_is_refused(ioto, world):
    _, device_id = first_device(world)
    body = {"deviceId": device_id, "items": [{"namespace": "Embedthis/Admin",
                                              "statistic": "avg", "metric": "x"}]}
    assert ioto.post("/tok/metric/fetch", headers=tok(world), json=body).status_code == 400


# ---------------------------------------------------------------- the rest


def test_action_invoke_is_recorded(ioto, world):
    _, device_id = first_device(world)
    response = ioto.post("/tok/action/invoke", headers=tok(world),
                         json={"name": "DeviceCommand", "context": {"deviceId": device_id}})
    assert response.json()["data"]["context"]["deviceId"] == device_id
    recorded = ioto.get("/_mock/invocations").json()
    assert [(r["name"], r["context"]["deviceId"]) for r in recorded] == [
        ("DeviceCommand", device_id)]


def test_dashboard_created_reads_back_by_name(ioto, world):
    created = ioto.post("/dashboard/create", headers=login(world),
                        json={"name": "Energy", "type": "page"}).json()["data"]
    got = ioto.post("/dashboard/get", headers=login(world), json={"name": "Energy"})
    assert got.json()["data"] == created and created["layout"] == "grid"


def test_alert_update_resolves_it(ioto, world):
    alerts = ioto.post("/alert/find", headers=login(world), json={}).json()["data"]
    updated = ioto.post("/alert/update", headers=login(world),
                        json={"id": alerts[0]["id"], "resolved": True}).json()["data"]
    assert updated["resolved"] is True


def test_account_get_defaults_to_the_callers_account(ioto, world):
    got = ioto.post("/account/get", headers=login(world), json={}).json()["data"]
    assert got["id"] == world["accounts"][0]["id"]


def test_reset_restores_the_world(ioto, world):
    _, device_id = first_device(world)
    ioto.post("/generic/remove", headers=login(world),
              json={"_type": "Store", "deviceId": device_id, "key": "mode"})
    ioto.post("/_mock/reset")
    fresh = ioto.get("/_mock/world").json()
    assert ioto.post("/generic/get", headers=login(fresh),
                     json={"_type": "Store", "deviceId": device_id, "key": "mode"}
                     ).status_code == 200


def test_ping_is_public(ioto):
    assert ioto.post("/test/ping").json() == {"data": "pinged\n"}


def test_same_seed_builds_the_same_world():
    logins = (("a@example.com", "pw"), ("b@example.com", "pw"))
    assert generate(5, logins) == generate(5, logins)
    assert generate(5, logins) != generate(6, logins)


def test_losant_stays_the_default_platform():
    from losant_kit.mockserver.app import MockApp

    assert isinstance(create_app(Settings()), MockApp)


# ---------------------------------------------------------------- world files

WORLD_FILE = """
cloud: {id: CLOUD1, name: test-cloud}
cloudApiTokens: [{token: PINNEDCLOUDTOKEN}]
accounts: [{id: A1, name: Acme, email: ops@acme.test}]
users: [{id: U1, accountId: A1, email: ops@acme.test, role: admin, password: pw}]
devices:
  - {id: DEV0000001, accountId: A1, product: Sensor, productId: P1}
  - {id: DEV0000002, accountId: null, product: Sensor, productId: P1}
items:
  - {_type: Store, accountId: A1, deviceId: DEV0000001, key: k, value: 1, type: number}
metrics:
  - deviceId: DEV0000001
    metric: power
    points: [{ago: 10, value: 2}, {ago: 20, value: 4}]
"""


def test_world_file_seeds_tokens_items_and_metrics(tmp_path):
    path = tmp_path / "world.yaml"
    path.write_text(WORLD_FILE)
    with TestClient(create_app(Settings(platform="ioto", fixtures=path))) as ioto:
        headers = {"Authorization": "PINNEDCLOUDTOKEN"}
        got = ioto.post("/tok/generic/get", headers=headers,
                        json={"_type": "Store", "deviceId": "DEV0000001", "key": "k"})
        assert got.json()["data"]["value"] == 1
        body = {"deviceId": "DEV0000001", "items": [{"namespace": "Embedthis/Device",
                                                     "metric": "power", "statistic": "sum",
                                                     "accumulate": True}]}
        fetched = ioto.post("/tok/metric/fetch", headers=headers, json=body).json()
        assert fetched["data"][0]["points"][0]["value"] == 6
        assert ioto.get("/_mock/world").json()["unclaimedDevices"] == ["DEV0000002"]


def test_malformed_world_file_is_a_world_file_error(tmp_path):
    from losant_kit.fixtures.errors import WorldFileError

    path = tmp_path / "world.yaml"
    path.write_text("items: [{_type: Store}]\n")
    with pytest.raises(WorldFileError):
        create_app(Settings(platform="ioto", fixtures=path))


def test_cors_preflight_is_answered_for_browser_apps(ioto):
    response = ioto.options("/generic/find", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
