"""Usage over HTTP: payload counts (by type and source, per device, per day or hour),
device counts, notebook minutes and period summaries, all from what was actually sent."""

from __future__ import annotations

import json

import pytest

from losant_kit import specs
from losant_kit.mockserver.app import MockApp
from losant_kit.mockserver.models.usage import DEVICE_PAYLOAD_KINDS, PAYLOAD_KINDS
from tests.conftest import LOGIN, bearer

DAY_MS = 86_400_000
# After every seeded creation date, before the real now: auth.TokenSigner has PyJWT check a
# token's "iat" against the wall clock, so a mock clock set ahead of it would refuse logins.
NOON = "2025-01-10T12:00:00.000Z"
NOON_MS = 1736510400000


def new_device(client, auth, app_id, name="usage-device") -> str:
    response = client.post(f"/applications/{app_id}/devices", headers=auth,
                           json={"name": name, "attributes": [{"name": "n", "dataType": "number"}]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(client, auth, app_id, device_id, body) -> None:
    response = client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                           json=body)
    assert response.status_code == 200, response.text


def set_status(client, auth, app_id, device_id, status) -> None:
    response = client.post(f"/applications/{app_id}/devices/{device_id}/setConnectionStatus",
                           headers=auth, json={"status": status})
    assert response.status_code == 200, response.text


def get(client, auth, path, **params) -> dict:
    response = client.get(path, headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def login(client) -> dict[str, str]:
    response = client.post("/auth/user", json=LOGIN)
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


def advance(client, seconds: float) -> None:
    assert client.post("/_mock/clock", json={"advance": seconds}).status_code == 200


def compact(value) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    """One mock for the module (a second to build), reset for each test (milliseconds)."""
    return reset_module_mock


@pytest.fixture
def device(client, auth, app_id) -> str:
    return new_device(client, auth, app_id)


@pytest.fixture
def noon(client, mock) -> dict[str, str]:
    """Auth headers for a clock set to NOON (logged in after the jump, so still valid)."""
    assert client.post("/_mock/clock", json={"set": NOON}).status_code == 200
    return login(client)


def test_payload_kinds_are_the_specs():
    schemas = specs.load_platform_spec()["components"]["x-jsonschema"]
    assert set(schemas["payloadStats"]["properties"]) == PAYLOAD_KINDS
    assert set(DEVICE_PAYLOAD_KINDS) == set(schemas["devicePayloadCounts"]["properties"])


# -- payload counts -------------------------------------------------------------------------


def test_each_state_counts_once_by_type_and_source(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    send(client, auth, app_id, device, [{"data": {"n": 2}}, {"data": {"n": 3}}, {"data": {"n": 4}}])
    assert get(client, auth, f"/applications/{app_id}/payloadCounts") == {
        "deviceState": {"user.rest": 4}}


def test_a_device_reporting_for_itself_is_its_own_source(client, auth, app_id, device):
    key = client.post(f"/applications/{app_id}/keys", headers=auth,
                      json={"name": "k", "filterType": "all"}).json()
    token = client.post("/auth/device", json={"deviceId": device, "key": key["key"],
                                              "secret": key["secret"]}).json()["token"]
    send(client, bearer(token), app_id, device, {"data": {"n": 1}})
    send(client, auth, app_id, device, {"data": {"n": 1}})
    assert get(client, auth, f"/applications/{app_id}/payloadCounts")["deviceState"] == {
        "device.rest": 1, "user.rest": 1}


def test_connection_reports_count_as_connects_and_disconnects(client, auth, app_id, device):
    set_status(client, auth, app_id, device, "connected")
    set_status(client, auth, app_id, device, "disconnected")
    set_status(client, auth, app_id, device, "connected")
    assert get(client, auth, f"/applications/{app_id}/payloadCounts") == {
        "deviceConnect": {"user.rest": 2}, "deviceDisconnect": {"user.rest": 1}}


def test_payload_counts_as_bytes_add_up_the_messages(client, auth, app_id, device):
    first, second = {"data": {"n": 1}}, {"data": {"n": 22.5}, "time": 1465790400000}
    send(client, auth, app_id, device, first)
    send(client, auth, app_id, device, [second])
    counts = get(client, auth, f"/applications/{app_id}/payloadCounts", asBytes="true")
    assert counts == {"deviceState": {"user.rest": compact(first) + compact(second)}}


def test_payload_counts_only_count_the_window(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    advance(client, 2 * 86_400)
    send(client, auth, app_id, device, {"data": {"n": 2}})
    counts = get(client, auth, f"/applications/{app_id}/payloadCounts", start=-DAY_MS)
    assert counts == {"deviceState": {"user.rest": 1}}


def test_default_window_is_the_last_30_days(client, noon, app_id):
    device = new_device(client, noon, app_id)
    send(client, noon, app_id, device, {"data": {"n": 1}})
    advance(client, 31 * 86_400)
    assert get(client, login(client), f"/applications/{app_id}/payloadCounts") == {}


def test_counts_belong_to_their_application(client, auth, app_id, device, mock):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    other = mock.world_summary["applications"][1]["id"]
    assert get(client, auth, f"/applications/{other}/payloadCounts") == {}


def test_device_payload_counts_cover_that_device_only(client, auth, app_id, device):
    other = new_device(client, auth, app_id, name="other")
    send(client, auth, app_id, device, [{"data": {"n": 1}}, {"data": {"n": 2}}])
    send(client, auth, app_id, other, {"data": {"n": 1}})
    set_status(client, auth, app_id, device, "connected")
    assert get(client, auth, f"/applications/{app_id}/devices/{device}/payloadCounts") == {
        "deviceCommand": 0, "deviceConnect": 1, "deviceDisconnect": 0, "deviceState": 2,
        "mqttIn": 0, "mqttOut": 0}


# -- breakdowns ------------------------------------------------------------------------------


def test_breakdown_has_one_bucket_per_day_of_the_window(client, noon, app_id):
    auth = noon
    device = new_device(client, auth, app_id)
    send(client, auth, app_id, device, [{"data": {"n": 1}}, {"data": {"n": 2}}])
    advance(client, 86_400)
    send(client, auth, app_id, device, [{"data": {"n": 3}}] * 3)
    body = get(client, auth, f"/applications/{app_id}/payloadCountsBreakdown",
               start=NOON_MS - DAY_MS, end=NOON_MS + DAY_MS + 3_600_000)
    assert body["start"] == "2025-01-09T12:00:00.000Z"
    assert body["end"] == "2025-01-11T13:00:00.000Z"
    assert body["counts"] == [
        {"date": "2025-01-09T00:00:00.000Z", "value": 0},
        {"date": "2025-01-10T00:00:00.000Z", "value": 2},
        {"date": "2025-01-11T00:00:00.000Z", "value": 3},
    ]


def test_hourly_breakdown_puts_messages_in_their_hour(client, noon, app_id):
    auth = noon
    device = new_device(client, auth, app_id)
    send(client, auth, app_id, device, {"data": {"n": 1}})
    advance(client, 2 * 3600)
    send(client, auth, app_id, device, {"data": {"n": 2}})
    body = get(client, auth, f"/applications/{app_id}/payloadCountsBreakdown",
               start=-3 * 3_600_000, resolution="3600000")
    assert [c["value"] for c in body["counts"]] == [0, 1, 0, 1]
    assert body["counts"][1]["date"] == "2025-01-10T12:00:00.000Z"


def test_breakdown_leaves_out_connection_messages_unless_asked(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    set_status(client, auth, app_id, device, "connected")
    path = f"/applications/{app_id}/payloadCountsBreakdown"
    billable = get(client, auth, path, start=-3_600_000)
    everything = get(client, auth, path, start=-3_600_000, includeNonBillable="true")
    assert sum(c["value"] for c in billable["counts"]) == 1
    assert sum(c["value"] for c in everything["counts"]) == 2


def test_device_breakdown_counts_that_device(client, auth, app_id, device):
    other = new_device(client, auth, app_id, name="other")
    send(client, auth, app_id, device, {"data": {"n": 1}})
    send(client, auth, app_id, other, [{"data": {"n": 1}}] * 4)
    body = get(client, auth, f"/applications/{app_id}/devices/{device}/payloadCountsBreakdown",
               start=-3_600_000)
    assert sum(c["value"] for c in body["counts"]) == 1


def test_window_with_too_many_buckets_is_400(client, auth, app_id):
    response = client.get(f"/applications/{app_id}/payloadCountsBreakdown", headers=auth,
                          params={"start": 1, "resolution": "3600000"})
    assert response.status_code == 400
    assert "start" in response.json()["message"]


# -- device counts and notebooks --------------------------------------------------------------


def test_device_counts_follow_creation_and_deletion_per_day(client, noon, app_id, mock):
    auth = noon
    before = len([d for d in mock.backend.store.children("devices", app_id)
                  if not d.get("deletedAt")])
    first = new_device(client, auth, app_id, name="first")
    new_device(client, auth, app_id, name="second")
    advance(client, 86_400)
    new_device(client, auth, app_id, name="third")
    assert client.delete(f"/applications/{app_id}/devices/{first}", headers=auth).status_code == 200
    body = get(client, auth, f"/applications/{app_id}/deviceCounts", start=NOON_MS)
    assert body["counts"] == [
        {"date": "2025-01-10T00:00:00.000Z", "created": 2, "deleted": 0, "total": before + 2},
        {"date": "2025-01-11T00:00:00.000Z", "created": 1, "deleted": 1, "total": before + 2},
    ]


def test_notebook_minutes_are_zero_for_every_day(client, noon, app_id):
    body = get(client, noon, f"/applications/{app_id}/notebookMinuteCounts", start=-2 * DAY_MS)
    assert [c["date"] for c in body["counts"]] == [
        "2025-01-08T00:00:00.000Z", "2025-01-09T00:00:00.000Z", "2025-01-10T00:00:00.000Z"]
    assert all(c["minutes"] == c["completed"] == c["errored"] == 0 for c in body["counts"])


# -- period summaries ---------------------------------------------------------------------------


def test_period_summaries_cover_the_callers_applications(client, auth, mock, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1}}] * 2)
    body = get(client, auth, "/applications/periodSummaries", start=-DAY_MS)
    own = {a["id"] for a in mock.world_summary["applications"] if a["owner"] == "dev@example.com"}
    assert {item["id"] for item in body["items"]} == own
    item = next(i for i in body["items"] if i["id"] == app_id)
    assert set(item["summary"]) == {"deviceCounts", "notebookMinuteCounts", "payloadCounts"}
    assert sum(c["value"] for c in item["summary"]["payloadCounts"]["counts"]) == 2


def test_period_summaries_include_and_exclude_summaries(client, auth):
    body = get(client, auth, "/applications/periodSummaries",
               include="payloadCounts,deviceCounts", exclude="deviceCounts")
    assert all(set(item["summary"]) == {"payloadCounts"} for item in body["items"])


def test_unknown_summary_name_is_400(client, auth):
    response = client.get("/applications/periodSummaries", headers=auth,
                          params={"exclude": "flows"})
    assert response.status_code == 400
    assert "exclude" in response.json()["message"]


def test_period_summaries_of_an_organization_are_empty_without_organizations(client, auth):
    body = get(client, auth, "/applications/periodSummaries", orgId="5" * 24)
    assert body["items"] == [] and body["totalCount"] == 0


# -- state ----------------------------------------------------------------------------------


def test_counts_survive_a_snapshot_round_trip(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    snapshot = client.get("/_mock/snapshot").json()
    send(client, auth, app_id, device, {"data": {"n": 2}})
    assert client.put("/_mock/snapshot", json=snapshot).status_code == 200
    assert get(client, auth, f"/applications/{app_id}/payloadCounts") == {
        "deviceState": {"user.rest": 1}}


def test_malformed_usage_snapshot_is_refused_and_changes_nothing(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    snapshot = client.get("/_mock/snapshot").json()
    snapshot["usage"] = {app_id: [{"kind": "teleport", "times": [1], "bytes": [1]}]}
    assert client.put("/_mock/snapshot", json=snapshot).status_code == 400
    assert get(client, auth, f"/applications/{app_id}/payloadCounts") == {
        "deviceState": {"user.rest": 1}}
