"""The request journal keeps bodies for the inspector, bounded in size and count."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver import journal
from tests.conftest import LOGIN


def newest(client: TestClient) -> dict:
    return client.get("/_mock/requests", params={"limit": 1}).json()["items"][0]


def test_an_entry_keeps_its_request_and_response_bodies(client: TestClient) -> None:
    client.post("/auth/user", json=LOGIN)
    entry = client.get(f"/_mock/requests/{newest(client)['id']}").json()
    assert LOGIN["email"] in entry["requestBody"]
    assert '"token"' in entry["responseBody"]
    assert (entry["requestBodyTruncated"], entry["responseBodyTruncated"]) == (False, False)


def test_the_listing_leaves_bodies_out(client: TestClient) -> None:
    client.post("/auth/user", json=LOGIN)
    assert "responseBody" not in newest(client)


def test_a_long_body_is_kept_up_to_the_limit_and_marked(client: TestClient) -> None:
    client.post("/auth/user", json={"email": "x" * (2 * journal.BODY_LIMIT), "password": "p"})
    entry = client.get(f"/_mock/requests/{newest(client)['id']}").json()
    assert len(entry["requestBody"].encode()) == journal.BODY_LIMIT
    assert entry["requestBodyTruncated"] is True


def test_only_the_newest_entries_keep_bodies(client: TestClient, monkeypatch) -> None:
    monkeypatch.setattr(journal, "BODIES_KEPT", 2)
    for _ in range(3):
        client.post("/auth/user", json=LOGIN)
    ids = [e["id"] for e in client.get("/_mock/requests").json()["items"]]
    oldest = client.get(f"/_mock/requests/{ids[0]}").json()
    assert oldest["status"] == 200 and oldest["responseBody"] is None
    assert client.get(f"/_mock/requests/{ids[-1]}").json()["responseBody"] is not None


def test_since_lists_only_newer_entries(client: TestClient) -> None:
    client.post("/auth/user", json=LOGIN)
    seen = newest(client)["id"]
    client.post("/auth/user", json=LOGIN)
    later = client.get("/_mock/requests", params={"since": seen}).json()["items"]
    assert [e["id"] for e in later] == [seen + 1]


@pytest.mark.parametrize("request_id", [0, 999999])
def test_an_unknown_entry_is_a_404(client: TestClient, request_id: int) -> None:
    response = client.get(f"/_mock/requests/{request_id}")
    assert response.status_code == 404
    assert response.json()["type"] == "NotFound"


def test_overview_shows_a_devices_last_state(client: TestClient, mock, auth, app_id) -> None:
    device = client.post(f"/applications/{app_id}/devices", headers=auth, json={
        "name": "probe", "deviceClass": "standalone",
        "attributes": [{"name": "level", "dataType": "number"}]}).json()
    client.post(f"/applications/{app_id}/devices/{device['id']}/state", headers=auth,
                json={"data": {"level": 7}})
    apps = {a["id"]: a for a in client.get("/_mock/overview").json()["applications"]}
    devices = {d["id"]: d for d in apps[app_id]["devices"]}
    assert devices[device["id"]]["lastState"]["level"]["value"] == 7
    assert apps[app_id]["keys"], "the seeded keys are listed"
