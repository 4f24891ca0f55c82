"""events.* and event.* over HTTP: creation, history, filters, bulk actions, throttling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import with_settings


@pytest.fixture(scope="module")
def module_mock() -> MockApp:
    """One app for the module (building one costs about a second, resetting it milliseconds).

    Jobs last long enough on the mock's clock that no test races real time.
    """
    return create_app(with_settings(job_duration_s=30.0))


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    return reset_module_mock


@pytest.fixture
def app(client, auth) -> str:
    """A fresh application of the logged-in user, with no events."""
    response = client.post("/applications", headers=auth, json={"name": "Event tests"})
    assert response.status_code == 201
    return response.json()["id"]


@pytest.fixture
def device(client, auth, app) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/devices", headers=auth, json={"name": "Pump 4"})
    assert response.status_code == 201
    return response.json()


def advance(client, seconds: float) -> None:
    assert client.post("/_mock/clock", json={"advance": seconds}).status_code == 200


def post_event(client, auth, app, **fields) -> dict[str, Any]:
    body = {"level": "info", "subject": "Something happened", **fields}
    response = client.post(f"/applications/{app}/events", headers=auth, json=body)
    if response.status_code == 429:  # 15 per 15 s per application: wait it out on the mock clock
        advance(client, 15)
        response = client.post(f"/applications/{app}/events", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def list_events(client, auth, app, **params) -> dict[str, Any]:
    response = client.get(f"/applications/{app}/events", headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def subjects(body: dict[str, Any]) -> list[str]:
    return [e["subject"] for e in body["items"]]


def get_event(client, auth, app, event_id) -> dict[str, Any]:
    response = client.get(f"/applications/{app}/events/{event_id}", headers=auth)
    assert response.status_code == 200
    return response.json()


# ---------------------------------------------------------------- creation


def test_created_event_is_new_and_names_its_creator(client, auth, app):
    event = post_event(client, auth, app, level="warning", subject="Door open")
    me = client.get("/me", headers=auth).json()
    assert event["state"] == "new"
    assert event["sourceType"] == "user"
    assert event["sourceId"] == me["id"]
    assert event["updates"] == []


def test_created_event_reads_back(client, auth, app):
    event = post_event(client, auth, app, subject="Pressure low", message="Check valve 3",
                       data={"psi": 12}, eventTags={"site": "north"})
    assert get_event(client, auth, app, event["id"]) == event


def test_event_for_a_device_carries_the_device_name(client, auth, app, device):
    event = post_event(client, auth, app, deviceId=device["id"])
    assert event["deviceName"] == "Pump 4"


def test_event_for_an_unknown_device_is_refused_and_not_stored(client, auth, app):
    response = client.post(f"/applications/{app}/events", headers=auth, json={
        "level": "info", "subject": "x", "deviceId": "0" * 24})
    assert response.status_code == 400
    assert "deviceId" in response.json()["message"]
    assert list_events(client, auth, app)["totalCount"] == 0


def test_given_creation_date_is_kept(client, auth, app):
    event = post_event(client, auth, app, creationDate=1_600_000_000_000)
    assert event["creationDate"] == "2020-09-13T12:26:40.000Z"


def test_event_without_subject_is_refused(client, auth, app):
    response = client.post(f"/applications/{app}/events", headers=auth, json={"level": "info"})
    assert response.status_code == 400
    assert list_events(client, auth, app)["totalCount"] == 0


def test_event_of_another_application_is_not_found(client, auth, app, app_id):
    event = post_event(client, auth, app)
    response = client.get(f"/applications/{app_id}/events/{event['id']}", headers=auth)
    assert response.status_code == 404


# ---------------------------------------------------------------- the 15-per-15-s throttle


def test_fifteen_events_are_accepted_then_the_sixteenth_is_throttled(client, auth, app):
    body = {"level": "info", "subject": "burst"}
    statuses = [client.post(f"/applications/{app}/events", headers=auth, json=body).status_code
                for _ in range(16)]
    assert statuses == [201] * 15 + [429]


def test_throttled_event_says_when_to_retry_and_is_not_stored(client, auth, app):
    body = {"level": "info", "subject": "burst"}
    for _ in range(15):
        client.post(f"/applications/{app}/events", headers=auth, json=body)
    refused = client.post(f"/applications/{app}/events", headers=auth, json=body)
    assert 1 <= int(refused.headers["Retry-After"]) <= 15
    assert list_events(client, auth, app)["totalCount"] == 15


def test_event_creation_recovers_fifteen_seconds_later_on_the_mock_clock(client, auth, app):
    body = {"level": "info", "subject": "burst"}
    for _ in range(15):
        client.post(f"/applications/{app}/events", headers=auth, json=body)
    advance(client, 15)
    response = client.post(f"/applications/{app}/events", headers=auth, json=body)
    assert response.status_code == 201


def test_event_throttle_is_per_application(client, auth, app, app_id):
    body = {"level": "info", "subject": "burst"}
    for _ in range(15):
        client.post(f"/applications/{app}/events", headers=auth, json=body)
    response = client.post(f"/applications/{app_id}/events", headers=auth, json=body)
    assert response.status_code == 201


# ---------------------------------------------------------------- updates and history


def test_patch_records_state_change_and_comment_in_history(client, auth, app):
    event = post_event(client, auth, app)
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"state": "acknowledged", "comment": "On my way"})
    assert response.status_code == 200
    (update,) = response.json()["updates"]
    assert update["stateChange"] == {"old": "new", "new": "acknowledged"}
    assert update["comment"] == "On my way"
    assert update["state"] == "acknowledged"
    assert update["sourceType"] == "user"


def test_patch_history_grows_one_entry_per_update(client, auth, app):
    event = post_event(client, auth, app)
    url = f"/applications/{app}/events/{event['id']}"
    for state in ("acknowledged", "resolved", "new"):
        client.patch(url, headers=auth, json={"state": state})
    changes = [u["stateChange"] for u in get_event(client, auth, app, event["id"])["updates"]]
    assert changes == [{"old": "new", "new": "acknowledged"},
                       {"old": "acknowledged", "new": "resolved"},
                       {"old": "resolved", "new": "new"}]


def test_patch_records_level_subject_and_tag_changes(client, auth, app):
    event = post_event(client, auth, app, eventTags={"site": "north", "line": "1"})
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth, json={
        "level": "critical", "subject": "Fire", "eventTags": {"site": "south", "shift": "B"}})
    (update,) = response.json()["updates"]
    assert update["levelChange"] == {"old": "info", "new": "critical"}
    assert update["subjectChange"] == {"old": "Something happened", "new": "Fire"}
    assert update["tagsChange"] == {"site": {"old": "north", "new": "south"},
                                    "line": {"old": "1"}, "shift": {"new": "B"}}
    assert response.json()["eventTags"] == {"site": "south", "shift": "B"}


def test_tag_changes_are_not_tracked_when_the_event_disables_it(client, auth, app):
    event = post_event(client, auth, app, eventTags={"a": "1"}, disableTagChangeTracking=True)
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"eventTags": {"a": "2"}})
    (update,) = response.json()["updates"]
    assert "tagsChange" not in update
    assert response.json()["eventTags"] == {"a": "2"}


def test_patch_moving_the_event_to_another_device_records_both(client, auth, app, device):
    other = client.post(f"/applications/{app}/devices", headers=auth,
                        json={"name": "Pump 5"}).json()
    event = post_event(client, auth, app, deviceId=device["id"])
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"deviceId": other["id"]})
    assert response.json()["deviceName"] == "Pump 5"
    assert response.json()["updates"][0]["deviceIdChange"] == {
        "old": device["id"], "oldDeviceName": "Pump 4",
        "new": other["id"], "newDeviceName": "Pump 5"}


def test_patch_with_null_device_detaches_the_event(client, auth, app, device):
    event = post_event(client, auth, app, deviceId=device["id"])
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"deviceId": None})
    assert "deviceId" not in response.json()
    assert "deviceName" not in response.json()


def test_patch_to_an_unknown_device_is_refused_and_changes_nothing(client, auth, app):
    event = post_event(client, auth, app)
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"state": "resolved", "deviceId": "0" * 24})
    assert response.status_code == 400
    assert get_event(client, auth, app, event["id"]) == event


def test_patch_with_an_unknown_field_is_refused(client, auth, app):
    event = post_event(client, auth, app)
    response = client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                            json={"colour": "red"})
    assert response.status_code == 400
    assert get_event(client, auth, app, event["id"]) == event


def test_history_keeps_the_newest_hundred_updates(client, auth, app):
    event = post_event(client, auth, app)
    url = f"/applications/{app}/events/{event['id']}"
    for i in range(105):
        client.patch(url, headers=auth, json={"comment": f"note {i}"})
    updates = get_event(client, auth, app, event["id"])["updates"]
    assert len(updates) == 100
    assert updates[0]["comment"] == "note 5"
    assert updates[-1]["comment"] == "note 104"


def test_deleted_event_is_gone(client, auth, app):
    event = post_event(client, auth, app)
    assert client.delete(f"/applications/{app}/events/{event['id']}",
                         headers=auth).json() == {"success": True}
    response = client.get(f"/applications/{app}/events/{event['id']}", headers=auth)
    assert response.status_code == 404


# ---------------------------------------------------------------- listing


@pytest.fixture
def mixed(client, auth, app) -> list[dict[str, Any]]:
    """Events with different levels, states and subjects, created one second apart."""
    specs = [("info", "new", "Door open"), ("critical", "new", "Fire alarm"),
             ("warning", "acknowledged", "Door ajar"), ("error", "new", "Pump failure"),
             ("critical", "resolved", "Fire drill"), ("error", "new", "Pump stalled")]
    created = []
    for level, state, subject in specs:
        created.append(post_event(client, auth, app, level=level, state=state, subject=subject))
        advance(client, 1)
    return created


def test_events_list_newest_first_by_default(client, auth, app, mixed):
    body = list_events(client, auth, app)
    assert subjects(body) == [e["subject"] for e in reversed(mixed)]
    assert body["sortField"] == "creationDate" and body["sortDirection"] == "desc"


def test_subject_filter_globs(client, auth, app, mixed):
    body = list_events(client, auth, app, filterField="subject", filter="Door*",
                       sortDirection="asc")
    assert subjects(body) == ["Door open", "Door ajar"]


def test_state_parameter_selects_one_state(client, auth, app, mixed):
    body = list_events(client, auth, app, state="new")
    assert sorted(subjects(body)) == ["Door open", "Fire alarm", "Pump failure", "Pump stalled"]
    assert body["state"] == "new"


def test_advanced_query_overrides_the_simple_filters(client, auth, app, mixed):
    query = json.dumps({"level": {"$in": ["critical", "error"]}})
    body = list_events(client, auth, app, query=query, state="acknowledged")
    assert sorted(subjects(body)) == ["Fire alarm", "Fire drill", "Pump failure", "Pump stalled"]


def test_advanced_query_in_bracket_form(client, auth, app, mixed):
    body = list_events(client, auth, app, **{"query[subject][$startsWith]": "Pump"})
    assert sorted(subjects(body)) == ["Pump failure", "Pump stalled"]


def test_advanced_query_on_event_tags(client, auth, app):
    post_event(client, auth, app, subject="tagged", eventTags={"site": "north"})
    post_event(client, auth, app, subject="other", eventTags={"site": "south"})
    body = list_events(client, auth, app, query=json.dumps({"eventTags": {"site": "north"}}))
    assert subjects(body) == ["tagged"]


def test_unknown_query_field_is_a_400(client, auth, app):
    response = client.get(f"/applications/{app}/events", headers=auth,
                          params={"query": json.dumps({"colour": "red"})})
    assert response.status_code == 400


@hypothesis_settings(max_examples=15,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_page=st.integers(min_value=1, max_value=7))
def test_pages_partition_the_events(client, auth, app, mixed, per_page):
    everything = subjects(list_events(client, auth, app, sortField="subject",
                                      sortDirection="asc"))
    pages = []
    for page in range(-(-len(mixed) // per_page)):
        body = list_events(client, auth, app, sortField="subject", sortDirection="asc",
                           perPage=str(per_page), page=str(page))
        assert body["totalCount"] == len(mixed)
        assert body["count"] == len(body["items"]) <= per_page
        pages.extend(subjects(body))
    assert pages == everything


# ---------------------------------------------------------------- most recent by severity


def test_most_recent_by_severity_picks_the_newest_of_the_highest_new_level(
        client, auth, app, mixed):
    response = client.get(f"/applications/{app}/events/mostRecentBySeverity", headers=auth)
    body = response.json()
    assert body["event"]["subject"] == "Fire alarm"  # the resolved "Fire drill" does not count
    assert body["newCount"] == 4


def test_most_recent_by_severity_prefers_the_later_of_equal_levels(client, auth, app, mixed):
    response = client.get(f"/applications/{app}/events/mostRecentBySeverity", headers=auth,
                          params={"filter": "Pump*"})
    assert response.json()["event"]["subject"] == "Pump stalled"
    assert response.json()["newCount"] == 2


def test_most_recent_by_severity_without_new_events_has_only_a_count(client, auth, app):
    event = post_event(client, auth, app)
    client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                 json={"state": "resolved"})
    response = client.get(f"/applications/{app}/events/mostRecentBySeverity", headers=auth)
    assert response.json() == {"newCount": 0}


# ---------------------------------------------------------------- bulk patch and delete


def test_bulk_patch_updates_every_matching_event(client, auth, app, mixed):
    response = client.patch(f"/applications/{app}/events", headers=auth,
                            params={"filterField": "subject", "filter": "Pump*"},
                            json={"state": "resolved", "comment": "replaced the pump"})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    resolved = list_events(client, auth, app, state="resolved")
    assert sorted(subjects(resolved)) == ["Fire drill", "Pump failure", "Pump stalled"]
    pump = next(e for e in resolved["items"] if e["subject"] == "Pump failure")
    assert pump["updates"][-1]["comment"] == "replaced the pump"


def test_bulk_patch_with_an_unknown_device_changes_nothing(client, auth, app, mixed):
    before = list_events(client, auth, app)
    response = client.patch(f"/applications/{app}/events", headers=auth,
                            json={"state": "resolved", "deviceId": "0" * 24})
    assert response.status_code == 400
    assert list_events(client, auth, app) == before


def test_bulk_patch_of_many_events_is_a_job_applied_when_it_completes(
        client, auth, app, mixed, mock, monkeypatch):
    monkeypatch.setattr(mock.backend.events, "sync_limit", 3)
    response = client.patch(f"/applications/{app}/events", headers=auth,
                            json={"state": "acknowledged"})
    assert response.status_code == 202
    assert response.json()["jobQueued"] is True
    assert list_events(client, auth, app, state="acknowledged")["totalCount"] == 1
    advance(client, 30)
    assert list_events(client, auth, app, state="acknowledged")["totalCount"] == len(mixed)


def test_bulk_delete_removes_the_matching_events(client, auth, app, mixed):
    response = client.post(f"/applications/{app}/events/delete", headers=auth,
                           json={"level": "critical"})
    assert response.json() == {"removed": 2}
    assert "Fire alarm" not in subjects(list_events(client, auth, app))
    assert list_events(client, auth, app)["totalCount"] == len(mixed) - 2


def test_bulk_delete_with_a_bad_query_is_refused_and_removes_nothing(client, auth, app, mixed):
    response = client.post(f"/applications/{app}/events/delete", headers=auth,
                           json={"level": {"$regex": "crit"}})
    assert response.status_code == 400
    assert list_events(client, auth, app)["totalCount"] == len(mixed)


def test_bulk_delete_of_many_events_is_a_job(client, auth, app, mixed, mock, monkeypatch):
    monkeypatch.setattr(mock.backend.events, "sync_limit", 3)
    response = client.post(f"/applications/{app}/events/delete", headers=auth, json={})
    assert response.status_code == 202
    assert list_events(client, auth, app)["totalCount"] == len(mixed)
    advance(client, 30)
    assert list_events(client, auth, app)["totalCount"] == 0
    job = client.get("/_mock/jobs").json()["items"][-1]
    assert job["operationId"] == "events.delete"
    assert job["result"] == {"removed": len(mixed)}


# ---------------------------------------------------------------- export


def test_events_export_is_a_job_whose_file_lists_the_matching_events(client, auth, app, mixed):
    response = client.post(f"/applications/{app}/events/export", headers=auth,
                           json={"query": {"state": "new"}, "format": "json",
                                 "callbackUrl": "https://example.com/done"})
    assert response.status_code == 202
    job_id = response.json()["jobId"]
    advance(client, 30)
    job = next(j for j in client.get("/_mock/jobs").json()["items"] if j["id"] == job_id)
    assert job["status"] == "completed"
    assert job["callbackUrl"] == "https://example.com/done"
    exported = client.get(job["result"]["url"]).json()
    assert sorted(e["subject"] for e in exported) == [
        "Door open", "Fire alarm", "Pump failure", "Pump stalled"]


def test_events_export_refuses_a_second_one_while_the_first_runs(client, auth, app):
    first = client.post(f"/applications/{app}/events/export", headers=auth, json={})
    second = client.post(f"/applications/{app}/events/export", headers=auth, json={})
    assert first.status_code == 202
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "30"
