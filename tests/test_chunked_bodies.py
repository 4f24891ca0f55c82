"""Bodies sent with Transfer-Encoding: chunked (no Content-Length) are read like any other."""

import requests

from tests.conftest import LOGIN


def _login(live) -> tuple[dict, str]:
    token = requests.post(f"{live.url}/auth/user", json=LOGIN).json()["token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, (
        live.app.world_summary["applications"][0]["id"])


def test_chunked_json_body_creates_the_device(live):
    headers, app_id = _login(live)
    chunks = iter([b'{"name": ', b'"Chunky sensor"}'])
    response = requests.post(f"{live.url}/applications/{app_id}/devices", data=chunks,
                             headers=headers)
    assert response.status_code == 201
    assert response.json()["name"] == "Chunky sensor"


def test_chunked_body_that_breaks_the_schema_is_refused_naming_the_field(live):
    headers, app_id = _login(live)
    chunks = iter([b'{"name": ', b"42}"])
    response = requests.post(f"{live.url}/applications/{app_id}/devices", data=chunks,
                             headers=headers)
    assert response.status_code == 400
    assert "name" in response.json()["message"]
