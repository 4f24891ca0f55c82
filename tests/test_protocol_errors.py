"""Protocol-level mistakes: 405 with the Allow header RFC 9110 requires, broken multipart 400."""

from __future__ import annotations


def test_405_lists_the_methods_the_spec_declares_for_the_path(client, app_id, auth):
    response = client.put(f"/applications/{app_id}/devices", headers=auth)
    assert response.status_code == 405
    assert response.json()["type"] == "MethodNotAllowed"
    assert response.headers["allow"] == "GET, PATCH, POST"


def test_405_on_a_public_path_lists_its_one_method(client):
    response = client.request("TRACE", "/auth/user")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_concrete_path_is_not_taken_for_a_templated_one(client, auth):
    """OpenAPI matches /applications/import before /applications/{applicationId}."""
    response = client.patch("/applications/import", headers=auth, json={"name": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_malformed_multipart_body_is_a_400_not_a_500(client, auth):
    headers = {**auth, "Content-Type": "multipart/form-data; boundary=x"}
    response = client.post("/applications/import", headers=headers, content=b"--x\r\nbroken")
    assert response.status_code == 400
    assert response.json()["type"] == "Validation"
