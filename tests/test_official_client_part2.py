"""Every part-2 action through the platform's official Python client, over real HTTP.

State, connection status, commands, MQTT publishing, events, usage counts and
the job-style actions (exports, removals, archives, clones, imports), driven
by ``losant_rest.Client`` against the mock on a loopback port. Each test reads
back what it did. Jobs take the mock's default 2 s of its own clock: the tests
move that clock with ``POST /_mock/clock`` and look at ``GET /_mock/jobs``
rather than sleeping. The client hides 2xx status codes, so where the status
matters (202 for a queued job) the mock's request journal shows it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from losant_rest import Client, LosantError

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LiveServer, official_client, with_settings

pytestmark = pytest.mark.official_client

DAY_MS = 86_400_000
S3_ARCHIVE = {"mode": "all", "s3": {"bucket": "archive-bucket", "region": "us-east-1",
                                    "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-key"}}


# Jobs take five minutes of the mock's clock, so one cannot finish by itself
# while a test under load still expects it running; tests move the clock.
JOB_DURATION = 300.0


@pytest.fixture(scope="module")
def module_mock() -> MockApp:
    return create_app(with_settings(job_duration_s=JOB_DURATION))


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    """One mock for the module: each test works in an application it creates."""
    return module_mock


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def api(server: LiveServer) -> Client:
    return official_client(server.url)


@pytest.fixture
def app_id(api) -> str:
    return api.applications.post(application={"name": "Official client part 2"})["id"]


@pytest.fixture
def fleet(api, app_id) -> dict[str, str]:
    """Two sensors: name -> id."""
    bodies = [
        {"name": "Sensor A", "tags": [{"key": "zone", "value": "north"}],
         "attributes": [{"name": "temp", "dataType": "number"},
                        {"name": "mode", "dataType": "string"}]},
        {"name": "Sensor B", "tags": [{"key": "zone", "value": "south"}],
         "attributes": [{"name": "temp", "dataType": "number"}]},
    ]
    return {body["name"]: api.devices.post(applicationId=app_id, device=body)["id"]
            for body in bodies}


@pytest.fixture
def ids(app_id, fleet) -> dict[str, str]:
    """The path parameters of Sensor A."""
    return {"applicationId": app_id, "deviceId": fleet["Sensor A"]}


@pytest.fixture
def archived(api, app_id) -> str:
    """The application, with an S3 archive destination (the client patches it in)."""
    api.application.patch(applicationId=app_id, application={"archiveConfig": S3_ARCHIVE})
    return app_id


# ---------------------------------------------------------------- helpers


def refusal(call) -> LosantError:
    with pytest.raises(LosantError) as caught:
        call()
    return caught.value


def now_ms(mock: MockApp) -> int:
    return mock.backend.clock.now_ms()


def iso_ms(ms: int) -> str:
    """Epoch ms as the platform writes dates (ISO-8601, UTC, milliseconds)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def send(api: Client, ids: dict[str, str], *reports: tuple[int, dict[str, Any]]) -> None:
    """State reports as (epoch ms, data), in one array call."""
    result = api.device.send_state(**ids, deviceState=[{"time": t, "data": d} for t, d in reports])
    assert result == {"success": True}


def states(api: Client, ids: dict[str, str], start: int, end: int) -> list[dict[str, Any]]:
    return api.device.get_state(**ids, start=start, end=end, limit=100, sortDirection="asc")


def advance(server: LiveServer, seconds: float = JOB_DURATION) -> None:
    assert httpx.post(f"{server.url}/_mock/clock", json={"advance": seconds}).status_code == 200


def job(server: LiveServer, job_id: str) -> dict[str, Any]:
    items = httpx.get(f"{server.url}/_mock/jobs").json()["items"]
    return next(j for j in items if j["id"] == job_id)


def last_status(server: LiveServer, path: str) -> int:
    """The status the mock answered the newest request on ``path`` with."""
    journal = httpx.get(f"{server.url}/_mock/requests", params={"path": path, "limit": 1}).json()
    return journal["items"][-1]["status"]


def queued(result: dict[str, Any]) -> str:
    assert result["jobQueued"] is True and result["success"] is True
    return result["jobId"]


def finished(server: LiveServer, result: dict[str, Any]) -> dict[str, Any]:
    """Let the queued job complete on the mock's clock; its record."""
    job_id = queued(result)
    assert job(server, job_id)["status"] == "running"
    advance(server)
    record = job(server, job_id)
    assert record["status"] == "completed", record
    return record


def download(record: dict[str, Any]) -> str:
    response = httpx.get(record["result"]["url"])
    assert response.status_code == 200
    return response.text


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---------------------------------------------------------------- state


def test_client_sends_a_single_state_report(api, ids):
    assert api.device.send_state(**ids, deviceState={"data": {"temp": 21.5}}) == {"success": True}
    assert [s["data"] for s in api.device.get_state(**ids)] == [{"temp": 21.5}]


def test_client_sends_an_array_with_iso_epoch_and_dollar_date_times(api, ids, mock):
    base = now_ms(mock) - 60_000
    times = [base, base + 1000, base + 2000]
    api.device.send_state(**ids, deviceState=[
        {"time": iso_ms(times[0]), "data": {"temp": 1}},
        {"time": times[1], "data": {"temp": 2}},
        {"time": {"$date": iso_ms(times[2])}, "data": {"temp": 3}},
    ])
    read = states(api, ids, base - 1, base + 3000)
    assert [(s["time"], s["data"]["temp"]) for s in read] == [
        (iso_ms(t), v) for t, v in zip(times, (1, 2, 3), strict=True)]


def test_client_bad_state_array_is_refused_whole(api, ids, mock):
    base = now_ms(mock) - 10_000
    error = refusal(lambda: api.device.send_state(**ids, deviceState=[
        {"time": base, "data": {"temp": 1}}, {"time": {"$date": base}, "data": {"temp": 2}}]))
    assert error.status == 400
    assert "time" in error.data["message"]
    assert states(api, ids, base - 1000, base + 1000) == []


def test_client_reads_the_composite_state_of_a_device(api, ids, mock):
    base = now_ms(mock) - 5000
    send(api, ids, (base, {"temp": 10, "mode": "auto"}), (base + 1000, {"temp": 11}))
    composite = api.device.get_composite_state(**ids)
    assert composite == {"temp": {"value": 11, "time": iso_ms(base + 1000)},
                         "mode": {"value": "auto", "time": iso_ms(base)}}


def test_client_reads_the_composite_state_of_many_devices(api, app_id, fleet, mock):
    base = now_ms(mock) - 5000
    send(api, {"applicationId": app_id, "deviceId": fleet["Sensor B"]}, (base, {"temp": 7}))
    listed = api.devices.get_composite_state(applicationId=app_id, attributes="temp",
                                             query={"name": "Sensor B"})
    assert [(d["id"], d["compositeState"]["temp"]["value"]) for d in listed["items"]] == [
        (fleet["Sensor B"], 7)]


def test_client_time_series_query_sums_and_maxes_what_was_sent(api, app_id, ids, mock):
    base = now_ms(mock) - 30_000
    values = [4, 9, 2, 5]
    send(api, ids, *((base + i * 1000, {"temp": v}) for i, v in enumerate(values)))

    def points(aggregation: str) -> list[float]:
        result = api.data.time_series_query(applicationId=app_id, query={
            "deviceIds": [ids["deviceId"]], "attributes": ["temp"], "aggregation": aggregation,
            "resolution": 3_600_000, "start": base - 1, "end": base + 10_000})
        return [p["data"]["temp"] for p in result["devices"][ids["deviceId"]]["points"]
                if p["data"].get("temp") is not None]

    assert sum(points("SUM")) == sum(values)
    assert max(points("MAX")) == max(values)


def test_client_last_value_query_gives_the_newest_value(api, app_id, fleet, mock):
    base = now_ms(mock) - 5000
    a = {"applicationId": app_id, "deviceId": fleet["Sensor A"]}
    send(api, a, (base, {"temp": 1}), (base + 2000, {"temp": 2}))
    found = api.data.last_value_query(applicationId=app_id, query={
        "deviceIds": list(fleet.values()), "attribute": "temp"})
    assert found == {fleet["Sensor A"]: {"time": iso_ms(base + 2000), "data": {"temp": 2}}}


# ---------------------------------------------------------------- connection status


def test_client_connection_status_is_logged_and_shown_on_the_device(api, ids):
    assert api.device.set_connection_status(
        **ids, connectionStatus={"status": "connected"}) == {"success": True}
    entries = api.device.get_log_entries(**ids)
    assert [e["connected"] for e in entries] == [1]
    assert api.device.get(**ids)["connectionInfo"]["connected"] == 1


# ---------------------------------------------------------------- commands


def test_client_sends_a_command_to_one_device(api, ids):
    api.device.send_command(**ids, deviceCommand={"name": "reboot", "payload": {"delay": 5}})
    (command,) = api.device.get_command(**ids, limit=10)
    assert (command["name"], command["payload"]) == ("reboot", {"delay": 5})


def test_client_sends_a_command_to_devices_by_id(api, app_id, fleet):
    result = api.devices.send_command(applicationId=app_id, multiDeviceCommand={
        "name": "calibrate", "deviceIds": [fleet["Sensor B"]]})
    assert result == {"success": True}
    assert [c["name"] for c in api.device.get_command(
        applicationId=app_id, deviceId=fleet["Sensor B"], limit=10)] == ["calibrate"]
    assert api.device.get_command(applicationId=app_id, deviceId=fleet["Sensor A"]) == []


def test_client_reads_commands_newest_first_with_a_limit(api, ids):
    for name in ("first", "second", "third"):
        api.device.send_command(**ids, deviceCommand={"name": name})
    listed = api.device.get_command(**ids, limit=2, sortDirection="desc")
    assert [c["name"] for c in listed] == ["third", "second"]


# ---------------------------------------------------------------- MQTT publish


def test_client_publishes_an_mqtt_message(api, app_id):
    result = api.application.mqtt_publish_message(
        applicationId=app_id, payload={"topic": "plant/line-1", "message": "start"})
    assert result == {"success": True}
    counts = api.application.payload_counts(applicationId=app_id)
    assert sum(counts["mqttOut"].values()) == 1


def test_client_31st_publish_within_15s_is_refused(api, app_id):
    """No device token may publish (the spec's device scopes leave it out), so the "per
    device" window counts a user's publishes per application."""
    for n in range(30):
        api.application.mqtt_publish_message(applicationId=app_id,
                                             payload={"topic": "t", "message": str(n)})
    error = refusal(lambda: api.application.mqtt_publish_message(
        applicationId=app_id, payload={"topic": "t", "message": "31"}))
    assert error.status == 429
    assert set(error.data) == {"type", "message"}
    assert sum(api.application.payload_counts(applicationId=app_id)["mqttOut"].values()) == 30


# ---------------------------------------------------------------- events


def post_event(api: Client, app_id: str, subject: str, level: str = "info") -> dict[str, Any]:
    return api.events.post(applicationId=app_id, event={"subject": subject, "level": level})


def test_client_creates_and_reads_an_event(api, app_id):
    created = post_event(api, app_id, "Door open", "warning")
    read = api.event.get(applicationId=app_id, eventId=created["id"])
    assert (read["subject"], read["level"], read["state"]) == ("Door open", "warning", "new")


def test_client_lists_events_with_an_advanced_query(api, app_id):
    post_event(api, app_id, "Low battery", "info")
    hot = post_event(api, app_id, "Overheat", "critical")
    listed = api.events.get(applicationId=app_id, query={"level": {"$eq": "critical"}})
    assert [e["id"] for e in listed["items"]] == [hot["id"]]


def test_client_acknowledges_an_event_and_its_history_grows(api, app_id):
    created = post_event(api, app_id, "Leak")
    ids = {"applicationId": app_id, "eventId": created["id"]}
    api.event.patch(**ids, event={"state": "acknowledged", "comment": "on my way"})
    read = api.event.get(**ids)
    assert read["state"] == "acknowledged"
    assert [u["comment"] for u in read["updates"]] == ["on my way"]
    api.event.patch(**ids, event={"comment": "fixed"})
    assert len(api.event.get(**ids)["updates"]) == 2


def test_client_bulk_patches_events_by_query(api, app_id):
    leak = post_event(api, app_id, "Leak")
    other = post_event(api, app_id, "Smoke")
    result = api.events.patch(applicationId=app_id, query={"subject": "Leak"},
                              updates={"state": "resolved"})
    assert result == {"success": True}
    assert api.event.get(applicationId=app_id, eventId=leak["id"])["state"] == "resolved"
    assert api.event.get(applicationId=app_id, eventId=other["id"])["state"] == "new"


def test_client_reads_the_most_recent_event_by_severity(api, app_id):
    post_event(api, app_id, "Minor", "info")
    worst = post_event(api, app_id, "Major", "critical")
    post_event(api, app_id, "Later minor", "info")
    found = api.events.most_recent_by_severity(applicationId=app_id)
    assert found["event"]["id"] == worst["id"]
    assert found["newCount"] == 3


def test_client_deletes_an_event(api, app_id):
    created = post_event(api, app_id, "Gone")
    assert api.event.delete(applicationId=app_id, eventId=created["id"]) == {"success": True}
    assert refusal(lambda: api.event.get(applicationId=app_id, eventId=created["id"])).status \
        == 404


def test_client_bulk_deletes_events_by_query(api, app_id):
    for subject in ("Noise 1", "Noise 2", "Signal"):
        post_event(api, app_id, subject)
    result = api.events.delete(applicationId=app_id, query={"subject": {"$startsWith": "Noise"}})
    assert result["removed"] == 2
    assert [e["subject"] for e in api.events.get(applicationId=app_id)["items"]] == ["Signal"]


# ---------------------------------------------------------------- usage


@pytest.fixture
def reported(api, ids, mock) -> int:
    """Three state reports of Sensor A, one call each; how many."""
    for n in range(3):
        api.device.send_state(**ids, deviceState={"data": {"temp": n}})
    return 3


def test_client_application_payload_counts_count_the_state_sent(api, app_id, reported):
    counts = api.application.payload_counts(applicationId=app_id)
    assert sum(counts["deviceState"].values()) >= reported


def test_client_application_payload_breakdown_counts_the_state_sent(api, app_id, reported):
    breakdown = api.application.payload_counts_breakdown(applicationId=app_id)
    assert sum(c["value"] for c in breakdown["counts"]) >= reported


def test_client_device_payload_counts_are_the_device_s_own(api, app_id, fleet, reported):
    a = api.device.payload_counts(applicationId=app_id, deviceId=fleet["Sensor A"])
    b = api.device.payload_counts(applicationId=app_id, deviceId=fleet["Sensor B"])
    assert (a["deviceState"], b["deviceState"]) == (reported, 0)


def test_client_device_payload_breakdown_by_hour(api, ids, reported):
    breakdown = api.device.payload_counts_breakdown(**ids, resolution="3600000")
    dates = [c["date"] for c in breakdown["counts"]]
    assert dates == sorted(dates) and len(dates) >= 24 * 29
    assert sum(c["value"] for c in breakdown["counts"]) == reported


def test_client_application_device_counts_track_created_devices(api, app_id, fleet):
    counts = api.application.device_counts(applicationId=app_id)["counts"]
    assert sum(c["created"] for c in counts) == len(fleet)
    assert counts[-1]["total"] == len(fleet)


def test_client_notebook_minute_counts_are_daily_and_empty_without_notebooks(api, app_id):
    counts = api.application.notebook_minute_counts(applicationId=app_id)["counts"]
    dates = [c["date"] for c in counts]
    assert 30 <= len(dates) <= 31 and dates == sorted(set(dates))
    assert all(c["minutes"] == 0 for c in counts)


def test_client_period_summaries_include_the_new_application(api, app_id, fleet):
    summaries = api.applications.period_summaries()
    (mine,) = [s for s in summaries["items"] if s["id"] == app_id]
    assert mine["summary"]["deviceCounts"]["counts"][-1]["total"] == len(fleet)


# ---------------------------------------------------------------- jobs: device data


def test_client_device_export_is_a_202_job_whose_csv_holds_the_reports(
        api, server, ids, mock):
    base = now_ms(mock) - 10_000
    send(api, ids, (base, {"temp": 1}), (base + 1000, {"temp": 2}))
    result = api.device.export(**ids, start=str(base - 1), end="0")
    assert last_status(server, f"/applications/{ids['applicationId']}/devices/"
                               f"{ids['deviceId']}/export*") == 202
    rows = csv_rows(download(finished(server, result)))
    assert [r["temp"] for r in rows] == ["1", "2"]


def test_client_device_remove_data_empties_the_window_once_the_job_completes(
        api, server, ids, mock):
    base = now_ms(mock) - 20_000
    send(api, ids, (base - 60_000, {"temp": 0}), (base, {"temp": 1}), (base + 1000, {"temp": 2}))
    result = api.device.remove_data(**ids, start=str(base - 1), end=str(base + 5000))
    assert len(states(api, ids, base - 1, base + 5000)) == 2  # not before the job runs
    finished(server, result)
    assert states(api, ids, base - 1, base + 5000) == []
    assert [s["data"] for s in states(api, ids, base - 60_001, base - 1)] == [{"temp": 0}]


def test_client_devices_remove_data_touches_only_the_selected_devices(
        api, server, app_id, fleet, mock):
    base = now_ms(mock) - 20_000
    a = {"applicationId": app_id, "deviceId": fleet["Sensor A"]}
    b = {"applicationId": app_id, "deviceId": fleet["Sensor B"]}
    send(api, a, (base, {"temp": 1}))
    send(api, b, (base, {"temp": 2}))
    finished(server, api.devices.remove_data(applicationId=app_id, options={
        "query": {"name": "Sensor A"}, "start": base - 1, "end": base + 1}))
    assert states(api, a, base - 1, base + 1) == []
    assert [s["data"] for s in states(api, b, base - 1, base + 1)] == [{"temp": 2}]


def test_client_devices_export_lists_the_queried_devices(api, server, app_id, fleet):
    record = finished(server, api.devices.export(applicationId=app_id, options={
        "query": {"tags": {"$tagKey": "zone", "$tagValue": "south"}}}))
    assert record["result"]["deviceCount"] == 1
    assert [r["name"] for r in csv_rows(download(record))] == ["Sensor B"]


def test_client_devices_payload_counts_job_counts_each_device(api, server, app_id, fleet,
                                                              reported):
    record = finished(server, api.devices.payload_counts(applicationId=app_id, options={}))
    rows = {r["name"]: r["statePayloads"] for r in csv_rows(download(record))}
    assert rows == {"Sensor A": str(reported), "Sensor B": "0"}


def test_client_data_export_holds_the_reports_in_the_window(api, server, app_id, ids, mock):
    base = now_ms(mock) - 10_000
    send(api, ids, (base, {"temp": 5}), (base + 1000, {"temp": 6}))
    record = finished(server, api.data.export(applicationId=app_id, query={
        "deviceIds": [ids["deviceId"]], "start": base - 1, "end": base + 2000}))
    assert record["result"]["reportCount"] == 2
    assert [r["temp"] for r in csv_rows(download(record))] == ["5", "6"]


def test_client_events_export_holds_the_matching_events(api, server, app_id):
    post_event(api, app_id, "Keep me", "critical")
    post_event(api, app_id, "Not me", "info")
    record = finished(server, api.events.export(applicationId=app_id, exportData={
        "query": {"level": "critical"}}))
    assert record["result"]["eventCount"] == 1
    assert "Keep me" in download(record) and "Not me" not in download(record)


# ---------------------------------------------------------------- jobs: applications


def test_client_application_export_bundle_holds_the_devices(api, server, app_id, fleet):
    record = finished(server, api.application.export(applicationId=app_id,
                                                     options={"includeDevices": True}))
    bundle = json.loads(download(record))
    assert {d["name"] for d in bundle["resources"]["Device"]} == set(fleet)


def test_client_second_application_export_while_one_runs_is_429(api, app_id):
    queued(api.application.export(applicationId=app_id, options={}))
    error = refusal(lambda: api.application.export(applicationId=app_id, options={}))
    assert error.status == 429
    assert set(error.data) == {"type", "message"}


def test_client_clone_creates_a_new_application(api, app_id, fleet):
    cloned = api.application.clone(applicationId=app_id, options={"includeDevices": True})
    new_id = cloned["application"]["id"]
    assert new_id != app_id
    listed = api.applications.get(filterField="name", filter="Copy of Official client part 2")
    assert new_id in {a["id"] for a in listed["items"]}
    devices = api.devices.get(applicationId=new_id)["items"]
    assert {d["name"] for d in devices} == set(fleet)


def test_client_archive_data_without_a_destination_is_refused(api, app_id, mock):
    error = refusal(lambda: api.application.archive_data(
        applicationId=app_id, date=str(now_ms(mock) - 40 * DAY_MS)))
    assert error.status == 400
    assert "archive" in error.data["message"]


def test_client_archive_data_archives_one_old_day(api, server, archived, ids, mock):
    day = (now_ms(mock) - 40 * DAY_MS) // DAY_MS * DAY_MS
    send(api, ids, (day + 1000, {"temp": 1}), (day + 2000, {"temp": 2}),
         (day + DAY_MS + 1000, {"temp": 3}))
    record = finished(server, api.application.archive_data(applicationId=archived,
                                                           date=str(day + 5000)))
    archive = record["result"]["archive"]
    assert (archive["type"], archive["reportCount"]) == ("deviceData", 2)
    assert archive["destination"] == {"service": "s3", "bucket": "archive-bucket",
                                      "region": "us-east-1"}


def test_client_backfill_archives_every_complete_day(api, server, archived, ids, mock):
    if now_ms(mock) % DAY_MS > DAY_MS - 3_600_000:
        # Keep the job's few seconds clear of UTC midnight, where "today" changes.
        mock.backend.clock.advance(2 * 3600)
    old = now_ms(mock) - 3 * DAY_MS
    send(api, ids, (old, {"temp": 1}), (old + 1000, {"temp": 2}))
    api.device.send_state(**ids, deviceState={"data": {"temp": 3}})  # today: not archived
    record = finished(server, api.application.backfill_archive_data(applicationId=archived))
    assert record["result"]["archive"]["reportCount"] == 2


def test_client_full_events_archive_counts_the_events(api, server, archived):
    for subject in ("a", "b", "c"):
        post_event(api, archived, subject)
    record = finished(server, api.application.full_events_archive(applicationId=archived))
    assert record["result"]["archive"]["eventCount"] == 3


def test_client_full_data_tables_archive_goes_to_the_destination(api, server, archived):
    record = finished(server, api.application.full_data_tables_archive(applicationId=archived))
    archive = record["result"]["archive"]
    assert (archive["type"], archive["dataTableCount"]) == ("dataTables", 0)
    assert archive["destination"]["bucket"] == "archive-bucket"


def test_client_import_logs_show_an_import(api, server, app_id, fleet):
    """The client cannot send multipart, so the import itself goes through httpx."""
    bundle = download(finished(server, api.application.export(
        applicationId=app_id, options={"includeDevices": True})))
    target = api.applications.post(application={"name": "Import target"})["id"]
    assert api.application.import_logs(applicationId=target) == []
    response = httpx.post(
        f"{server.url}/applications/{target}/import",
        headers={"Authorization": f"Bearer {api.auth_token}"},
        files={"importBundle": ("bundle.json", bundle.encode(), "application/json"),
               "options": (None, json.dumps({"conflictBehavior": "retain"}))})
    assert response.status_code == 200, response.text
    (entry,) = api.application.import_logs(applicationId=target)
    assert entry["status"] == "completed"
    assert {d["name"] for d in api.devices.get(applicationId=target)["items"]} == set(fleet)
