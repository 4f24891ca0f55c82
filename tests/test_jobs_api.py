"""Job-style actions over HTTP: 202 and a job, effects when the mock's clock says so, limits.

State reports are seeded straight into the time-series store (``mock.backend.series``):
``device.sendState`` is another group's action and its throttle would only slow these
tests down. Everything else goes through HTTP.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from losant_kit import specs
from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, with_settings

DURATION = 30.0
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def module_mock() -> MockApp:
    """One app for the module; jobs take 30 s of the mock's clock, so no test races real time."""
    return create_app(with_settings(job_duration_s=DURATION))


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    return reset_module_mock


# ---------------------------------------------------------------- helpers


def advance(client: TestClient, seconds: float = DURATION) -> None:
    assert client.post("/_mock/clock", json={"advance": seconds}).status_code == 200


def jobs(client: TestClient) -> list[dict[str, Any]]:
    return client.get("/_mock/jobs").json()["items"]


def job(client: TestClient, job_id: str) -> dict[str, Any]:
    return next(j for j in jobs(client) if j["id"] == job_id)


def queued(response) -> str:
    """The job id of a 202 jobEnqueuedResult."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["jobQueued"] is True and body["success"] is True
    return body["jobId"]


def finished(client: TestClient, response) -> dict[str, Any]:
    """Let a queued job complete; return its record."""
    job_id = queued(response)
    advance(client)
    record = job(client, job_id)
    assert record["status"] == "completed", record
    return record


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def seed_state(mock: MockApp, device_id: str, *times_ms: int, value: float = 1.0) -> None:
    for ms in times_ms:
        mock.backend.series.record(device_id, ms, {"temperature": value, "humidity": 50})


def devices_of(client, auth, app) -> list[dict[str, Any]]:
    return client.get(f"/applications/{app}/devices", headers=auth).json()["items"]


def application_ids(client, auth) -> set[str]:
    return {a["id"] for a in client.get("/applications", headers=auth).json()["items"]}


@pytest.fixture
def devices(mock, app_id) -> dict[str, str]:
    """Seeded devices of the first application, by name."""
    return {d["name"]: d["id"] for d in mock.backend.store.children("devices", app_id)}


@pytest.fixture
def device_id(devices) -> str:
    return devices["Truck 115 ELD"]


@pytest.fixture
def archived_app(client, auth, app_id) -> str:
    """The first application, with an S3 archive destination."""
    response = client.patch(f"/applications/{app_id}", headers=auth, json={"archiveConfig": {
        "mode": "all", "s3": {"bucket": "archive-bucket", "region": "us-east-1",
                              "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t-key"}}})
    assert response.status_code == 200, response.text
    return app_id


@pytest.fixture
def bundle(client, auth, app_id) -> bytes:
    """An export bundle of the first application, devices included, made through the API."""
    record = finished(client, client.post(f"/applications/{app_id}/export", headers=auth,
                                          json={"includeDevices": True}))
    download = client.get(record["result"]["url"])
    assert download.status_code == 200
    return download.content


def form(bundle_bytes: bytes | None = None, **fields: Any) -> dict[str, Any]:
    """A multipart body: the bundle as ``importBundle``, objects as JSON text parts."""
    parts: dict[str, Any] = {
        name: (None, json.dumps(value) if isinstance(value, dict) else value)
        for name, value in fields.items()
    }
    if bundle_bytes is not None:
        parts["importBundle"] = ("bundle.json", bundle_bytes, "application/json")
    return {"files": parts}


def old_ms(mock: MockApp, days: int = 40) -> int:
    return mock.backend.clock.now_ms() - days * DAY_MS


# ---------------------------------------------------------------- the engine


def test_job_runs_until_the_clock_passes_its_duration(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    assert job(client, job_id)["status"] == "running"
    advance(client, DURATION - 1)
    assert job(client, job_id)["status"] == "running"
    advance(client, 1)
    assert job(client, job_id)["status"] == "completed"


def test_job_id_fits_the_documented_length(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    assert 0 < len(job_id) <= 21


def test_job_records_its_request_caller_and_times(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth,
                                json={"format": "json", "email": "ops@example.com",
                                      "callbackUrl": "https://example.com/hook"}))
    record = job(client, job_id)
    assert record["operationId"] == "devices.export"
    assert record["applicationId"] == app_id
    assert record["input"]["format"] == "json"
    assert record["email"] == "ops@example.com"
    assert record["callbackUrl"] == "https://example.com/hook"
    assert record["requestedBy"]["sourceType"] == "user"
    assert record["createdAt"] < record["dueAt"]


def test_jobs_are_listed_oldest_first(client, auth, app_id):
    first = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    second = queued(client.post(f"/applications/{app_id}/events/export", headers=auth, json={}))
    assert [j["id"] for j in jobs(client)] == [first, second]


def test_zero_duration_job_finishes_at_the_next_tick():
    app = create_app(with_settings(job_duration_s=0.0))
    with TestClient(app) as client:
        token = client.post("/auth/user", json=LOGIN).json()["token"]
        app_id = app.world_summary["applications"][0]["id"]
        response = client.post(f"/applications/{app_id}/devices/export",
                               headers={"Authorization": f"Bearer {token}"}, json={})
        job_id = queued(response)
        assert app.backend.store.get("jobs", job_id)["status"] == "running"
        assert job(client, job_id)["status"] == "completed"


def test_ticker_finishes_due_jobs_without_any_request():
    app = create_app(with_settings(job_duration_s=0.05))
    with TestClient(app) as client:
        token = client.post("/auth/user", json=LOGIN).json()["token"]
        app_id = app.world_summary["applications"][0]["id"]
        job_id = queued(client.post(f"/applications/{app_id}/devices/export",
                                    headers={"Authorization": f"Bearer {token}"}, json={}))
        deadline = time.monotonic() + 60
        while app.backend.store.get("jobs", job_id)["status"] == "running":
            assert time.monotonic() < deadline, "the ticker never ran the job"
            time.sleep(0.05)
        assert app.backend.store.get("jobs", job_id)["status"] == "completed"


def test_download_of_a_running_job_is_not_found(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    response = client.get(f"/_mock/jobs/{job_id}/download")
    assert response.status_code == 404


def test_download_of_an_unknown_job_is_not_found(client):
    assert client.get("/_mock/jobs/nope/download").status_code == 404


def test_reset_forgets_running_jobs_and_frees_their_slots(client, auth, app_id):
    queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    client.post("/_mock/reset")
    assert jobs(client) == []
    token = client.post("/auth/user", json=LOGIN).json()["token"]
    again = client.post(f"/applications/{app_id}/devices/export",
                        headers={"Authorization": f"Bearer {token}"}, json={})
    assert again.status_code == 202


def test_restored_snapshot_fails_jobs_whose_work_was_not_carried_over(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    snapshot = client.get("/_mock/snapshot").json()
    advance(client)
    assert client.put("/_mock/snapshot", json=snapshot).status_code == 200
    record = job(client, job_id)
    assert record["status"] == "failed"
    assert record["error"]["type"] == "JobLost"


def test_restored_snapshot_keeps_finished_jobs(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/devices/export", headers=auth, json={}))
    advance(client)
    snapshot = client.get("/_mock/snapshot").json()
    client.put("/_mock/snapshot", json=snapshot)
    assert job(client, job_id)["status"] == "completed"


def test_failing_job_is_marked_failed_with_the_error(client, auth, app_id, bundle):
    # The conflict appears while the job waits, so the import fails when it runs.
    response = client.post(f"/applications/{app_id}/import", headers=auth, **form(
        bundle, options={"forceJob": True, "conflictBehavior": "error",
                         "include": ["DeviceRecipe"]}))
    assert response.status_code == 400  # the recipe already exists: refused at once
    recipes = client.get(f"/applications/{app_id}/device-recipes", headers=auth).json()["items"]
    for recipe in recipes:
        client.delete(f"/applications/{app_id}/device-recipes/{recipe['id']}", headers=auth)
    job_id = queued(client.post(f"/applications/{app_id}/import", headers=auth, **form(
        bundle, options={"forceJob": True, "conflictBehavior": "error",
                         "include": ["DeviceRecipe"]})))
    client.post(f"/applications/{app_id}/device-recipes", headers=auth,
                json={"name": recipes[0]["name"]})
    advance(client)
    record = job(client, job_id)
    assert record["status"] == "failed"
    assert "already exists" in record["error"]["message"]
    log = client.get(f"/applications/{app_id}/importLogs", headers=auth).json()[0]
    assert log["status"] == "failed"


# ---------------------------------------------------------------- concurrency limits


def _call_table(client, auth, app_id, device_id, bundle, mock) -> dict[str, Callable[[], Any]]:
    """One call per concurrency-limited operation; clones and imports forced to be jobs."""
    app = f"/applications/{app_id}"
    return {
        "application.archiveData": lambda: client.get(
            f"{app}/archiveData", headers=auth, params={"date": str(old_ms(mock))}),
        "application.backfillArchiveData": lambda: client.get(
            f"{app}/backfillArchiveData", headers=auth),
        "application.fullDataTablesArchive": lambda: client.get(
            f"{app}/fullDataTablesArchive", headers=auth),
        "application.fullEventsArchive": lambda: client.get(
            f"{app}/fullEventsArchive", headers=auth),
        "application.export": lambda: client.post(f"{app}/export", headers=auth, json={}),
        "application.import": lambda: client.post(
            f"{app}/import", headers=auth,
            **form(bundle, options={"forceJob": True, "conflictBehavior": "retain"})),
        "applications.import": lambda: client.post(
            "/applications/import", headers=auth, **form(bundle, options={"forceJob": True})),
        "application.clone": lambda: client.post(f"{app}/clone", headers=auth,
                                                 json={"forceJob": True}),
        "devices.export": lambda: client.post(f"{app}/devices/export", headers=auth, json={}),
        "devices.payloadCounts": lambda: client.post(f"{app}/devices/payloadCounts",
                                                     headers=auth, json={}),
        "device.export": lambda: client.post(f"{app}/devices/{device_id}/export", headers=auth,
                                             json={}),
        "data.export": lambda: client.post(f"{app}/data/export", headers=auth, json={}),
        "events.export": lambda: client.post(f"{app}/events/export", headers=auth, json={}),
    }


CONCURRENT_OPERATIONS = sorted(
    op["operationId"]
    for item in specs.load_platform_spec()["paths"].values()
    for op in item.values()
    if (op.get("x-throttle") or {}).get("kind") == "concurrent"
)


@pytest.fixture
def calls(client, auth, app_id, device_id, bundle, archived_app, mock):
    return _call_table(client, auth, app_id, device_id, bundle, mock)


def test_every_concurrency_limited_operation_is_exercised(calls):
    assert sorted(calls) == CONCURRENT_OPERATIONS


@pytest.mark.parametrize("operation", CONCURRENT_OPERATIONS)
def test_second_call_is_refused_while_the_first_runs(calls, operation):
    queued(calls[operation]())
    refused = calls[operation]()
    assert refused.status_code == 429
    assert refused.json()["type"] == "TooManyRequests"
    assert refused.headers["Retry-After"] == str(int(DURATION))


@pytest.mark.parametrize("operation", CONCURRENT_OPERATIONS)
def test_call_is_accepted_again_once_the_first_completes(client, calls, operation):
    queued(calls[operation]())
    advance(client)
    queued(calls[operation]())


def test_refused_call_leaves_no_job(client, calls):
    calls["devices.export"]()
    calls["devices.export"]()
    assert len([j for j in jobs(client) if j["operationId"] == "devices.export"]) == 1


def test_clone_and_import_share_one_slot_per_owner(client, calls):
    queued(calls["application.clone"]())
    assert calls["applications.import"]().status_code == 429


def test_synchronous_clone_waits_for_a_queued_one(client, auth, app_id, calls):
    queued(calls["application.clone"]())
    response = client.post(f"/applications/{app_id}/clone", headers=auth, json={})
    assert response.status_code == 429


def test_device_export_slots_are_per_device(client, auth, app_id, devices):
    url = f"/applications/{app_id}/devices/{{}}/export"
    first, second = devices["Truck 115 ELD"], devices["Truck 154 ELD"]
    queued(client.post(url.format(first), headers=auth, json={}))
    queued(client.post(url.format(second), headers=auth, json={}))
    assert client.post(url.format(first), headers=auth, json={}).status_code == 429


def test_export_slots_are_per_application(client, auth, mock):
    first, second = (a["id"] for a in mock.world_summary["applications"][:2])
    queued(client.post(f"/applications/{first}/devices/export", headers=auth, json={}))
    queued(client.post(f"/applications/{second}/devices/export", headers=auth, json={}))


# ---------------------------------------------------------------- archives


def test_archive_data_archives_one_old_day_when_the_job_completes(
        client, auth, archived_app, device_id, mock):
    day = old_ms(mock) // DAY_MS * DAY_MS
    seed_state(mock, device_id, day + 1000, day + 2000, day + DAY_MS - 1, day + DAY_MS)
    record = finished(client, client.get(f"/applications/{archived_app}/archiveData",
                                         headers=auth, params={"date": str(day + 5000)}))
    archive = record["result"]["archive"]
    assert archive["type"] == "deviceData"
    assert archive["reportCount"] == 3
    assert archive["destination"] == {"service": "s3", "bucket": "archive-bucket",
                                      "region": "us-east-1"}


def test_archive_data_without_a_destination_is_refused(client, auth, app_id, mock):
    response = client.get(f"/applications/{app_id}/archiveData", headers=auth,
                          params={"date": str(old_ms(mock))})
    assert response.status_code == 400
    assert "archive" in response.json()["message"]
    assert jobs(client) == []


@pytest.mark.parametrize("date", ["yesterday", "-5", "NaN"])
def test_archive_data_with_a_bad_date_is_refused(client, auth, archived_app, date):
    response = client.get(f"/applications/{archived_app}/archiveData", headers=auth,
                          params={"date": date})
    assert response.status_code == 400
    assert jobs(client) == []


def test_archive_data_of_the_last_month_is_refused(client, auth, archived_app, mock):
    response = client.get(f"/applications/{archived_app}/archiveData", headers=auth,
                          params={"date": str(old_ms(mock, days=10))})
    assert response.status_code == 400
    assert "31 days" in response.json()["message"]


def test_backfill_archives_every_complete_day(client, auth, archived_app, device_id, mock):
    # Noon, so the job's 30 s never carry "today" past midnight (the report
    # sent now would then be in a complete day too).
    noon = mock.backend.clock.now_datetime().replace(hour=12, minute=0, second=0, microsecond=0)
    mock.backend.clock.set(noon)
    seed_state(mock, device_id, old_ms(mock, 90), old_ms(mock, 3), mock.backend.clock.now_ms())
    record = finished(client, client.get(f"/applications/{archived_app}/backfillArchiveData",
                                         headers=auth))
    assert record["result"]["archive"]["reportCount"] == 2


def test_whitelist_archive_holds_only_the_listed_devices(client, auth, app_id, devices, mock):
    listed, other = devices["Truck 115 ELD"], devices["Truck 154 ELD"]
    client.patch(f"/applications/{app_id}", headers=auth, json={"archiveConfig": {
        "mode": "whitelist", "deviceIds": [listed], "gcs": {"bucket": "b"}}})
    seed_state(mock, listed, old_ms(mock, 60))
    seed_state(mock, other, old_ms(mock, 60))
    record = finished(client, client.get(f"/applications/{app_id}/backfillArchiveData",
                                         headers=auth))
    assert record["result"]["archive"]["deviceCount"] == 1
    assert record["result"]["archive"]["reportCount"] == 1


def test_full_events_archive_counts_the_events(client, auth, archived_app):
    for subject in ("a", "b"):
        client.post(f"/applications/{archived_app}/events", headers=auth,
                    json={"level": "info", "subject": subject})
    record = finished(client, client.get(f"/applications/{archived_app}/fullEventsArchive",
                                         headers=auth))
    assert record["result"]["archive"] == {"type": "events", "directory": "",
                                           "destination": {"service": "s3",
                                                           "bucket": "archive-bucket",
                                                           "region": "us-east-1"},
                                           "eventCount": 2}


def test_full_data_tables_archive_is_empty_in_a_mock_without_tables(client, auth, archived_app):
    record = finished(client, client.get(f"/applications/{archived_app}/fullDataTablesArchive",
                                         headers=auth))
    assert record["result"]["archive"]["dataTableCount"] == 0


# ---------------------------------------------------------------- application export


def test_export_bundle_holds_the_application_and_its_devices(client, auth, app_id, bundle):
    exported = json.loads(bundle)
    assert exported["sourceApplicationId"] == app_id
    assert len(exported["resources"]["Device"]) == 12
    assert [r["name"] for r in exported["resources"]["DeviceRecipe"]] == ["Fuel Sensor Recipe"]


def test_export_without_devices_leaves_them_out(client, auth, app_id):
    record = finished(client, client.post(f"/applications/{app_id}/export", headers=auth,
                                          json={}))
    assert "Device" not in json.loads(client.get(record["result"]["url"]).text)["resources"]


def test_export_reflects_the_application_when_the_job_completes(client, auth, app_id):
    job_id = queued(client.post(f"/applications/{app_id}/export", headers=auth,
                                json={"includeDevices": True}))
    client.post(f"/applications/{app_id}/devices", headers=auth, json={"name": "Late arrival"})
    advance(client)
    exported = json.loads(client.get(job(client, job_id)["result"]["url"]).text)
    assert "Late arrival" in [d["name"] for d in exported["resources"]["Device"]]


def test_export_to_a_repository_is_refused(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/export", headers=auth,
                           json={"exportType": "repo", "credentialName": "github"})
    assert response.status_code == 400
    assert jobs(client) == []


# ---------------------------------------------------------------- imports


def test_import_creates_a_new_application_from_a_bundle(client, auth, bundle):
    response = client.post("/applications/import", headers=auth,
                           **form(bundle, includeDevices="true"))
    assert response.status_code == 201, response.text
    new_app = response.json()["application"]
    names = {d["name"] for d in devices_of(client, auth, new_app["id"])}
    assert len(names) == 12 and "Truck 131 Telematics Unit" in names


def test_imported_devices_reference_their_imported_gateway(client, auth, bundle):
    new_app = client.post("/applications/import", headers=auth,
                          **form(bundle, includeDevices="true")).json()["application"]
    by_name = {d["name"]: d for d in devices_of(client, auth, new_app["id"])}
    gateway = by_name["Truck 131 Telematics Unit"]
    assert by_name["Truck 131 Door Sensor"]["gatewayId"] == gateway["id"]


def test_import_without_include_devices_brings_no_devices(client, auth, bundle):
    new_app = client.post("/applications/import", headers=auth,
                          **form(bundle)).json()["application"]
    assert devices_of(client, auth, new_app["id"]) == []
    assert new_app["summary"]["deviceRecipeCount"] == 1


def test_queued_import_creates_the_application_only_when_it_completes(client, auth, bundle):
    before = application_ids(client, auth)
    job_id = queued(client.post("/applications/import", headers=auth,
                                **form(bundle, options={"forceJob": True})))
    assert application_ids(client, auth) == before
    advance(client)
    created = application_ids(client, auth) - before
    assert created == {job(client, job_id)["result"]["applicationId"]}


@pytest.mark.parametrize("content", [b"PK\x03\x04zip", b"{}", b'{"bundleType": "other"}'])
def test_import_of_something_else_than_a_bundle_is_refused(client, auth, content):
    before = application_ids(client, auth)
    response = client.post("/applications/import", headers=auth, **form(content))
    assert response.status_code == 400
    assert "importBundle" in response.json()["message"]
    assert application_ids(client, auth) == before


def test_import_without_a_bundle_is_refused(client, auth):
    response = client.post("/applications/import", headers=auth)
    assert response.status_code == 400


def test_import_options_must_be_json_of_the_documented_shape(client, auth, bundle):
    not_json = client.post("/applications/import", headers=auth,
                           **form(bundle, options="{forceJob"))
    unknown = client.post("/applications/import", headers=auth,
                          **form(bundle, options={"hurry": True}))
    assert (not_json.status_code, unknown.status_code) == (400, 400)
    assert "options" in unknown.json()["message"]


def test_import_for_an_organization_is_refused(client, auth, bundle):
    response = client.post("/applications/import", headers=auth,
                           **form(bundle, ownerType="organization"))
    assert response.status_code == 400


def test_import_into_an_application_with_retain_keeps_existing_resources(
        client, auth, app_id, bundle):
    before = devices_of(client, auth, app_id)
    response = client.post(f"/applications/{app_id}/import", headers=auth,
                           **form(bundle, options={"conflictBehavior": "retain"}))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == app_id
    assert devices_of(client, auth, app_id) == before


def test_import_into_an_application_with_create_adds_copies(client, auth, app_id, bundle):
    client.post(f"/applications/{app_id}/import", headers=auth,
                **form(bundle, options={"include": ["DeviceRecipe"]}))
    recipes = client.get(f"/applications/{app_id}/device-recipes", headers=auth).json()
    assert [r["name"] for r in recipes["items"]] == ["Fuel Sensor Recipe"] * 2


def test_import_into_an_application_with_replace_overwrites(client, auth, app_id, bundle):
    recipes = client.get(f"/applications/{app_id}/device-recipes", headers=auth).json()["items"]
    client.patch(f"/applications/{app_id}/device-recipes/{recipes[0]['id']}", headers=auth,
                 json={"description": "changed locally"})
    client.post(f"/applications/{app_id}/import", headers=auth, **form(
        bundle, options={"include": ["DeviceRecipe"], "conflictBehavior": "replace"}))
    after = client.get(f"/applications/{app_id}/device-recipes", headers=auth).json()["items"]
    assert len(after) == 1
    assert after[0]["description"] != "changed locally"


def test_import_with_conflict_error_is_refused_and_changes_nothing(client, auth, app_id, bundle):
    before = client.get(f"/applications/{app_id}/device-recipes", headers=auth).json()
    response = client.post(f"/applications/{app_id}/import", headers=auth,
                           **form(bundle, options={"conflictBehavior": "error"}))
    assert response.status_code == 400
    assert client.get(f"/applications/{app_id}/device-recipes", headers=auth).json() == before


def test_dry_run_import_changes_nothing_and_is_logged(client, auth, app_id, bundle):
    before = devices_of(client, auth, app_id)
    response = client.post(f"/applications/{app_id}/import", headers=auth,
                           **form(bundle, options={"dryRun": True}))
    assert response.status_code == 200
    assert devices_of(client, auth, app_id) == before
    (log,) = client.get(f"/applications/{app_id}/importLogs", headers=auth).json()
    assert log["dryRun"] is True


def test_import_from_another_application(client, auth, mock):
    source, target = (a["id"] for a in mock.world_summary["applications"][:2])
    response = client.post(f"/applications/{target}/import", headers=auth,
                           **form(options={"fromApplicationId": source, "include": ["Device"]}))
    assert response.status_code == 200, response.text
    names = {d["name"] for d in devices_of(client, auth, target)}
    assert "Truck 131 Telematics Unit" in names


def test_import_from_a_download_url_of_the_mock(client, auth, app_id, bundle, mock):
    url = jobs(client)[0]["result"]["url"]
    target = mock.world_summary["applications"][1]["id"]
    response = client.post(f"/applications/{target}/import", headers=auth,
                           **form(options={"importUrl": url, "include": ["DeviceRecipe"]}))
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["deviceRecipeCount"] >= 1


def test_import_from_a_foreign_url_is_refused(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/import", headers=auth,
                           **form(options={"importUrl": "https://example.com/bundle.zip"}))
    assert response.status_code == 400
    assert "outbound" in response.json()["message"]


def test_queued_import_is_logged_in_progress_then_completed(client, auth, app_id, bundle):
    queued(client.post(f"/applications/{app_id}/import", headers=auth, **form(
        bundle, options={"forceJob": True, "conflictBehavior": "retain"})))
    logs = f"/applications/{app_id}/importLogs"
    assert client.get(logs, headers=auth).json()[0]["status"] == "inProgress"
    advance(client)
    assert client.get(logs, headers=auth).json()[0]["status"] == "completed"


def test_import_logs_are_newest_first_and_limited(client, auth, app_id, bundle):
    for behavior in ("retain", "replace"):
        client.post(f"/applications/{app_id}/import", headers=auth,
                    **form(bundle, options={"conflictBehavior": behavior}))
        advance(client, 1)
    logs = client.get(f"/applications/{app_id}/importLogs", headers=auth,
                      params={"limit": "5"}).json()
    assert [e["conflictBehavior"] for e in logs] == ["replace", "retain"]
    assert len(client.get(f"/applications/{app_id}/importLogs", headers=auth).json()) == 1


# ---------------------------------------------------------------- clone and templates


def test_clone_copies_devices_recipes_and_globals_but_not_keys(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/clone", headers=auth,
                           json={"includeDevices": True})
    assert response.status_code == 201, response.text
    clone = response.json()["application"]
    original = client.get(f"/applications/{app_id}", headers=auth).json()
    assert clone["name"] == f"Copy of {original['name']}"
    assert clone["globals"] == original["globals"]
    assert clone["summary"]["deviceCount"] == 12
    assert clone["summary"]["deviceRecipeCount"] == 1
    assert clone["summary"]["keyCount"] == 0


def test_cloned_recipe_points_at_the_cloned_gateway(client, auth, app_id):
    clone = client.post(f"/applications/{app_id}/clone", headers=auth,
                        json={"includeDevices": True}).json()["application"]
    gateway = next(d for d in devices_of(client, auth, clone["id"])
                   if d["name"] == "Truck 131 Telematics Unit")
    (recipe,) = client.get(f"/applications/{clone['id']}/device-recipes",
                           headers=auth).json()["items"]
    assert recipe["gatewayId"] == gateway["id"]


def test_clone_dry_run_changes_nothing(client, auth, app_id):
    before = application_ids(client, auth)
    response = client.post(f"/applications/{app_id}/clone", headers=auth, json={"dryRun": True})
    assert response.status_code == 200
    assert response.json() == {"success": True, "requiresJob": False}
    assert application_ids(client, auth) == before


def test_forced_clone_is_a_job_creating_the_application_when_it_completes(client, auth, app_id):
    before = application_ids(client, auth)
    job_id = queued(client.post(f"/applications/{app_id}/clone", headers=auth,
                                json={"forceJob": True}))
    assert application_ids(client, auth) == before
    advance(client)
    assert application_ids(client, auth) - before == {
        job(client, job_id)["result"]["applicationId"]}


def test_clone_for_another_owner_is_refused(client, auth, app_id):
    before = application_ids(client, auth)
    response = client.post(f"/applications/{app_id}/clone", headers=auth,
                           json={"ownerId": "0" * 24})
    assert response.status_code == 400
    assert application_ids(client, auth) == before


def test_applying_a_template_the_mock_does_not_have_is_not_found(client, auth, app_id):
    response = client.patch(f"/applications/{app_id}/applyTemplate", headers=auth,
                            json={"templateId": "a" * 24})
    assert response.status_code == 404


# ---------------------------------------------------------------- device data exports


def test_devices_export_lists_the_matching_devices(client, auth, app_id):
    record = finished(client, client.post(
        f"/applications/{app_id}/devices/export", headers=auth,
        json={"query": {"name": {"$startsWith": "Truck 131"}}}))
    rows = csv_rows(client.get(record["result"]["url"]).text)
    assert len(rows) == 6
    assert all(r["name"].startswith("Truck 131") for r in rows)


def test_devices_export_in_json(client, auth, app_id):
    record = finished(client, client.post(f"/applications/{app_id}/devices/export",
                                          headers=auth, json={"format": "json"}))
    download = client.get(record["result"]["url"])
    assert download.headers["content-type"].startswith("application/json")
    assert len(download.json()) == 12


def test_devices_export_with_a_bad_query_is_refused(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/devices/export", headers=auth,
                           json={"query": {"colour": "red"}})
    assert response.status_code == 400
    assert jobs(client) == []


def test_payload_counts_count_each_devices_reports_received_in_the_window(
        client, auth, app_id, devices):
    state_url = f"/applications/{app_id}/devices/{devices['Truck 115 ELD']}/state"
    client.post(state_url, headers=auth, json={"data": {}})
    client.post("/_mock/clock", json={"advance": 100})
    for _ in range(2):
        assert client.post(state_url, headers=auth, json={"data": {}}).status_code == 200
    record = finished(client, client.post(f"/applications/{app_id}/devices/payloadCounts",
                                          headers=auth, json={"start": -10_000}))
    counts = {r["name"]: int(r["statePayloads"])
              for r in csv_rows(client.get(record["result"]["url"]).text)}
    assert counts["Truck 115 ELD"] == 2
    assert counts["Truck 154 ELD"] == 0


def test_device_export_writes_one_row_per_report(client, auth, app_id, device_id, mock):
    now = mock.backend.clock.now_ms()
    seed_state(mock, device_id, now - 3000, now - 2000, now - 1000)
    record = finished(client, client.post(
        f"/applications/{app_id}/devices/{device_id}/export", headers=auth,
        json={"attributes": ["temperature"]}))
    rows = csv_rows(client.get(record["result"]["url"]).text)
    assert [set(r) for r in rows] == [{"ID", "Date", "temperature"}] * 3
    assert rows[0]["ID"] == device_id


def test_device_export_of_another_applications_device_is_not_found(client, auth, mock):
    other = mock.world_summary["applications"][1]
    device = mock.world_summary["applications"][0]["sampleDeviceId"]
    response = client.post(f"/applications/{other['id']}/devices/{device}/export",
                           headers=auth, json={})
    assert response.status_code == 404
    assert jobs(client) == []


def test_data_export_covers_the_selected_devices(client, auth, app_id, devices, mock):
    now = mock.backend.clock.now_ms()
    chosen, other = devices["Truck 115 ELD"], devices["Truck 154 ELD"]
    seed_state(mock, chosen, now - 2000, now - 1000)
    seed_state(mock, other, now - 2000)
    record = finished(client, client.post(f"/applications/{app_id}/data/export", headers=auth,
                                          json={"deviceIds": [chosen], "start": -60_000}))
    rows = csv_rows(client.get(record["result"]["url"]).text)
    assert {r["ID"] for r in rows} == {chosen}
    assert len(rows) == 2


# ---------------------------------------------------------------- data removal


def test_device_remove_data_removes_state_only_when_the_job_completes(
        client, auth, app_id, device_id, mock):
    now = mock.backend.clock.now_ms()
    seed_state(mock, device_id, now - 3000, now - 2000)
    queued(client.delete(f"/applications/{app_id}/devices/{device_id}/data", headers=auth))
    assert mock.backend.series.count(device_id) == 2
    advance(client)
    assert mock.backend.series.count(device_id) == 0


def test_device_remove_data_keeps_reports_outside_the_window(
        client, auth, app_id, device_id, mock):
    now = mock.backend.clock.now_ms()
    seed_state(mock, device_id, now - 100_000, now - 3000)
    finished(client, client.delete(f"/applications/{app_id}/devices/{device_id}/data",
                                   headers=auth, params={"start": "-10000"}))
    assert mock.backend.series.count(device_id) == 1


def test_devices_remove_data_removes_only_the_selected_devices(client, auth, app_id, devices,
                                                               mock):
    now = mock.backend.clock.now_ms()
    chosen, other = devices["Truck 115 ELD"], devices["Truck 154 ELD"]
    seed_state(mock, chosen, now - 1000)
    seed_state(mock, other, now - 1000)
    record = finished(client, client.post(f"/applications/{app_id}/devices/removeData",
                                          headers=auth, json={"query": {"id": chosen}}))
    assert record["result"]["removed"]["stateReports"] == 1
    assert (mock.backend.series.count(chosen), mock.backend.series.count(other)) == (0, 1)


def test_devices_remove_data_of_some_attributes_keeps_the_others(client, auth, app_id,
                                                                 device_id, mock):
    seed_state(mock, device_id, mock.backend.clock.now_ms() - 1000)
    finished(client, client.post(f"/applications/{app_id}/devices/removeData", headers=auth,
                                 json={"query": {"id": device_id}, "attributes": ["humidity"]}))
    (report,) = mock.backend.series.history(device_id)
    assert report["data"] == {"temperature": 1.0}


def test_devices_remove_data_also_removes_command_history(client, auth, app_id, device_id,
                                                          mock):
    sent = client.post(f"/applications/{app_id}/devices/{device_id}/command", headers=auth,
                       json={"name": "reboot"})
    assert sent.status_code == 200, sent.text
    advance(client, 1)
    record = finished(client, client.post(f"/applications/{app_id}/devices/removeData",
                                          headers=auth, json={"query": {"id": device_id}}))
    assert record["result"]["removed"]["commands"] == 1
    history = client.get(f"/applications/{app_id}/devices/{device_id}/command", headers=auth,
                         params={"limit": "10"})
    assert history.json() == []


def test_devices_remove_data_with_a_bad_query_is_refused(client, auth, app_id, device_id, mock):
    seed_state(mock, device_id, mock.backend.clock.now_ms() - 1000)
    response = client.post(f"/applications/{app_id}/devices/removeData", headers=auth,
                           json={"query": {"name": {"$like": "x"}}})
    assert response.status_code == 400
    assert jobs(client) == []
    assert mock.backend.series.count(device_id) == 1
