"""``--data``: the state survives a restart; a request's writes are all or nothing.

Each test opens a mock on a data file, closes it (as a stopped server does) and
opens a second mock on the same file. The kill -9 case is in
tests/test_persistence_kill.py, the start-up refusals in
tests/test_persistence_refusals.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver import cli
from losant_kit.mockserver.app import MockApp, create_app
from losant_kit.mockserver.errors import ValidationError
from tests.conftest import LOGIN, bearer, with_settings


@contextmanager
def running(path: Path, **settings: Any) -> Iterator[tuple[MockApp, TestClient]]:
    """A mock on the data file ``path``, stopped (file closed) at the end of the block."""
    mock = create_app(with_settings(data=path, **settings))
    try:
        yield mock, TestClient(mock)
    finally:
        assert mock.data is not None
        mock.data.close()


def login(client: TestClient) -> dict[str, str]:
    response = client.post("/auth/user", json=LOGIN)
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


def first_app(mock: MockApp) -> str:
    return mock.world_summary["applications"][0]["id"]


def new_device(client: TestClient, auth: dict[str, str], app_id: str, name: str = "d") -> str:
    response = client.post(f"/applications/{app_id}/devices", headers=auth, json={
        "name": name, "attributes": [{"name": "n", "dataType": "number"},
                                     {"name": "half", "dataType": "number"}]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def states(client: TestClient, auth: dict[str, str], app_id: str, device_id: str) -> list[dict]:
    response = client.get(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                          params={"limit": 1000, "start": 1, "sortDirection": "asc"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "mock.db"


def test_first_start_stores_the_world_and_a_restart_resumes_it(path):
    with running(path) as (mock, _client):
        summary = mock.world_summary
        devices = {d["id"] for d in mock.backend.store.all("devices")}
    with running(path, seed=99) as (again, _client):  # the stored world wins over a new seed
        assert again.world_summary == summary
        assert {d["id"] for d in again.backend.store.all("devices")} == devices


def test_created_records_keep_their_ids_and_fields_across_a_restart(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id, name="Boiler")
        created = client.get(f"/applications/{app_id}/devices/{device_id}", headers=auth).json()
    with running(path) as (_mock, client):
        response = client.get(f"/applications/{app_id}/devices/{device_id}", headers=login(client))
        assert response.status_code == 200
        assert response.json() == created


def test_deleted_records_stay_deleted_after_a_restart(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        response = client.delete(f"/applications/{app_id}/devices/{device_id}", headers=auth)
        assert response.status_code == 200
    with running(path) as (_mock, client):
        response = client.get(f"/applications/{app_id}/devices/{device_id}", headers=login(client))
        assert response.status_code == 404


def test_state_history_and_its_order_survive_a_restart(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        now = mock.backend.clock.now_ms()
        body = [{"time": now - 1000, "data": {"n": 1}}, {"time": now - 3000, "data": {"n": 2}},
                {"time": now - 1000, "data": {"n": 3, "half": 0.5}}]
        assert client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                           json=body).status_code == 200
        before = states(client, auth, app_id, device_id)
        assert [s["data"]["n"] for s in before] == [2, 1, 3]
    with running(path) as (_mock, client):
        assert states(client, login(client), app_id, device_id) == before


def test_usage_counts_survive_a_restart(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        for n in range(3):
            client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                        json={"data": {"n": n}})
        url = f"/applications/{app_id}/devices/{device_id}/payloadCounts"
        counts = client.get(url, headers=auth).json()
        assert counts["deviceState"] == 3
    with running(path) as (_mock, client):
        assert client.get(url, headers=login(client)).json() == counts


def test_tokens_issued_before_a_restart_are_still_accepted(path):
    with running(path, jwt_secret=None) as (mock, client):
        auth = login(client)
        app_id = first_app(mock)
    with running(path, jwt_secret=None) as (_mock, client):
        assert client.get(f"/applications/{app_id}", headers=auth).status_code == 200


def test_a_pinned_secret_replaces_the_stored_one(path):
    with running(path, jwt_secret="a" * 40) as (mock, client):
        auth, app_id = login(client), first_app(mock)
    with running(path, jwt_secret="b" * 40) as (_mock, client):
        assert client.get(f"/applications/{app_id}", headers=auth).status_code == 401


def test_the_clock_offset_survives_a_restart(path):
    with running(path) as (_mock, client):
        offset = client.post("/_mock/clock", json={"advance": 86_400}).json()["offsetSeconds"]
    with running(path) as (_mock, client):
        assert client.get("/_mock/clock").json()["offsetSeconds"] == offset


def test_a_clock_move_is_written_when_it_is_answered(path):
    with running(path) as (mock, client):
        offset = client.post("/_mock/clock", json={"advance": 3600}).json()["offsetSeconds"]
        # Read the file as a new process would after kill -9, before any stop.
        assert mock.data.meta("clockOffset") == offset


def test_the_request_journal_tail_survives_a_restart(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        client.get(f"/applications/{app_id}/devices", headers=auth)
        before = client.get("/_mock/requests").json()["items"]
    with running(path) as (_mock, client):
        after = client.get("/_mock/requests").json()["items"]
        assert after[: len(before)] == before
        client.get("/applications", headers=auth)
        newest = client.get("/_mock/requests").json()["items"][-1]
        assert newest["id"] == before[-1]["id"] + 1


def test_a_rejected_state_array_stores_none_of_its_states(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        response = client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                               json=[{"data": {"n": 1}}, {"time": "not a time", "data": {"n": 2}}])
        assert response.status_code == 400
        assert states(client, auth, app_id, device_id) == []
    with running(path) as (mock, _client):
        assert mock.backend.series.count(device_id) == 0


def test_a_request_that_fails_after_writing_leaves_memory_and_file_as_before(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        before = {d["id"] for d in mock.backend.store.children("devices", app_id)}
        create = mock.backend.devices.create

        def create_then_fail(*args: Any, **kwargs: Any) -> Any:
            create(*args, **kwargs)  # written to memory...
            raise ValidationError("refused after the write")  # ...then the request fails

        mock.backend.devices.create = create_then_fail  # type: ignore[method-assign]
        response = client.post(f"/applications/{app_id}/devices", headers=auth,
                               json={"name": "half-made"})
        assert response.status_code == 400
        assert {d["id"] for d in mock.backend.store.children("devices", app_id)} == before
    with running(path) as (mock, _client):
        assert {d["id"] for d in mock.backend.store.children("devices", app_id)} == before


def test_reset_resets_the_stored_world(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        client.post("/_mock/clock", json={"advance": 3600})
        assert client.post("/_mock/reset").status_code == 200
    with running(path) as (mock, client):
        assert mock.backend.store.get("devices", device_id) is None
        assert mock.world_summary["applications"][0]["id"] == app_id
        assert client.get("/_mock/clock").json()["offsetSeconds"] == 0
        assert login(client)


def test_an_imported_snapshot_is_what_the_next_start_resumes(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        snapshot = client.get("/_mock/snapshot").json()
        device_id = new_device(client, auth, app_id)
        assert client.put("/_mock/snapshot", json=snapshot).status_code == 200
    with running(path) as (mock, _client):
        assert mock.backend.store.get("devices", device_id) is None
        assert mock.backend.snapshot()["records"] == snapshot["records"]


def test_removed_state_stays_removed_after_a_restart(path):
    with running(path, job_duration_s=1.0) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        now = mock.backend.clock.now_ms()
        client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                    json=[{"time": now - 100_000, "data": {"n": 1}},
                          {"time": now - 3000, "data": {"n": 2}}])
        response = client.delete(f"/applications/{app_id}/devices/{device_id}/data",
                                 headers=auth, params={"start": "-10000"})
        assert response.status_code == 202
        client.post("/_mock/clock", json={"advance": 5})
        assert mock.backend.series.count(device_id) == 1
    with running(path) as (_mock, client):
        assert [s["data"] for s in states(client, login(client), app_id, device_id)] == [{"n": 1}]


def test_export_then_import_gives_a_file_that_resumes_the_same_state(path, tmp_path, capsys):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                    json={"data": {"n": 7}})
        expected = mock.backend.snapshot()
    backup, copy = tmp_path / "backup.json", tmp_path / "copy.db"
    assert cli.main(["data", "export", str(path), str(backup)]) == 0
    assert cli.main(["data", "import", str(backup), str(copy)]) == 0
    with running(copy) as (mock, client):
        assert mock.backend.snapshot() == expected
        assert client.get(f"/applications/{app_id}/devices/{device_id}/state",
                          headers=auth).json()[0]["data"] == {"n": 7}


def test_import_does_not_overwrite_an_existing_file_without_replace(path, tmp_path, capsys):
    with running(path):
        pass
    backup = tmp_path / "backup.json"
    assert cli.main(["data", "export", str(path), str(backup)]) == 0
    before = path.read_bytes()
    capsys.readouterr()
    assert cli.main(["data", "import", str(backup), str(path)]) == 2
    assert "--replace" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_history_compacted_at_a_stop_and_history_written_after_it_load_as_one(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        device_id = new_device(client, auth, app_id)
        now = mock.backend.clock.now_ms()
        client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                    json=[{"time": now - 5000, "data": {"n": 1}}, {"time": now, "data": {"n": 2}}])
    # A clean stop folded those into the device's block; these stay written-through rows.
    with running(path) as (mock, client):
        assert mock.data.con.execute("SELECT COUNT(*) FROM state").fetchone()[0] == 0
        client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                    json=[{"time": now - 5000, "data": {"n": 3}}, {"time": now - 9000,
                                                                  "data": {"n": 4}}])
        expected = states(client, auth, app_id, device_id)
        assert [s["data"]["n"] for s in expected] == [4, 1, 3, 2]
        rows_before_stop = mock.data.con.execute("SELECT COUNT(*) FROM state").fetchone()[0]
        assert rows_before_stop == 2
        # Load without the stop's compaction, as after a kill: block plus rows.
        fresh = create_app(with_settings(empty=True))
        mock.data.load(fresh.backend, fresh.backend.store.put)
        assert [r["data"]["n"] for r in fresh.backend.series.history(
            device_id, start_ms=0, end_ms=now, limit=100, direction="asc")] == [4, 1, 3, 2]
    with running(path) as (_mock, client):
        assert states(client, login(client), app_id, device_id) == expected


def ok(response: Any) -> dict[str, Any]:
    assert 200 <= response.status_code < 300, (response.request.url, response.text)
    return response.json()


def test_a_restart_resumes_exactly_the_state_a_mix_of_writes_left(path):
    """Every write below changes records in place or through the store; a record a
    model changed without telling the store would differ after the restart."""
    with running(path) as (mock, client):
        auth = login(client)
        app = ok(client.post("/applications", headers=auth, json={"name": "Plant"}))["id"]
        ok(client.patch(f"/applications/{app}", headers=auth, json={"description": "north"}))
        key = ok(client.post(f"/applications/{app}/keys", headers=auth,
                             json={"description": "k"}))
        ok(client.patch(f"/applications/{app}/keys/{key['id']}", headers=auth,
                        json={"description": "k2"}))
        device = new_device(client, auth, app)
        ok(client.patch(f"/applications/{app}/devices/{device}", headers=auth,
                        json={"description": "pump"}))
        ok(client.post("/auth/device", json={"deviceId": device, "key": key["key"],
                                             "secret": key["secret"]}))
        ok(client.post(f"/applications/{app}/devices/{device}/state", headers=auth,
                       json={"data": {"n": 4}}))
        ok(client.post(f"/applications/{app}/devices/{device}/command", headers=auth,
                       json={"name": "go", "payload": {"x": 1}}))
        event = ok(client.post(f"/applications/{app}/events", headers=auth,
                               json={"level": "info", "subject": "s"}))
        ok(client.patch(f"/applications/{app}/events/{event['id']}", headers=auth,
                        json={"state": "acknowledged"}))
        ok(client.post("/me/tokens", headers=auth, json={"name": "t"}))
        ok(client.patch("/me", headers=auth, json={"firstName": "Zoe"}))
        ok(client.post(f"/applications/{app}/device-recipes", headers=auth,
                       json={"name": "r"}))
        login(client)
        expected = mock.backend.snapshot()
    with running(path) as (mock, _client):
        assert mock.backend.snapshot() == expected


def test_a_refused_snapshot_import_leaves_the_stored_state_as_it_was(path):
    with running(path) as (mock, client):
        auth, app_id = login(client), first_app(mock)
        new_device(client, auth, app_id)
        expected = mock.backend.snapshot()
        broken = {"version": 1, "records": {"devices": [{"name": "no id"}]}}
        assert client.put("/_mock/snapshot", json=broken).status_code == 400
        assert mock.backend.snapshot() == expected
    with running(path) as (mock, _client):
        assert mock.backend.snapshot() == expected


def test_a_backup_can_be_imported_over_a_damaged_file(path, tmp_path):
    with running(path) as (mock, _client):
        expected = mock.backend.snapshot()
    backup = tmp_path / "backup.json"
    assert cli.main(["data", "export", str(path), str(backup)]) == 0
    path.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8000)
    assert cli.main(["data", "import", str(backup), str(path), "--replace"]) == 0
    with running(path) as (mock, _client):
        assert mock.backend.snapshot() == expected
