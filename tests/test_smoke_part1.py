"""Quick end-to-end checks that the mock starts and serves its core."""

from tests.conftest import LOGIN


def test_user_login_returns_token_and_user_id(client):
    response = client.post("/auth/user", json=LOGIN)
    assert response.status_code == 200
    assert set(response.json()) == {"token", "userId"}


def test_created_device_reads_back(client, auth, app_id):
    created = client.post(f"/applications/{app_id}/devices", headers=auth,
                          json={"name": "Boiler 7", "tags": [{"key": "floor", "value": "3"}]})
    assert created.status_code == 201
    device_id = created.json()["id"]
    read = client.get(f"/applications/{app_id}/devices/{device_id}", headers=auth)
    assert read.status_code == 200
    assert read.json()["name"] == "Boiler 7"
    assert read.json()["tags"] == [{"key": "floor", "value": "3"}]
