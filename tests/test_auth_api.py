"""auth.* over HTTP, and what each kind of credential may reach.

Logging in (users, devices, the identity providers the mock lacks), device
reach through access-key filters, application API token scopes and
boundaries, and the ways a bearer token fails: missing, malformed, tampered,
signed elsewhere, expired, revoked. Every refusal is immediate (the next
request) and in the platform's error shape.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, TEST_SETTINGS, bearer


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: tests make their own keys, tokens and devices
    and only ever move the clock forward, which no other test depends on."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def world_app(mock) -> dict[str, Any]:
    return mock.world_summary["applications"][0]


@pytest.fixture
def other_app_id(mock) -> str:
    return mock.world_summary["applications"][1]["id"]


def assert_refused(response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "message"}
    assert body["message"]


def create_key(client, auth, app_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/applications/{app_id}/keys", headers=auth,
                           json={"name": "test key", **body})
    assert response.status_code == 201, response.text
    return response.json()


def create_device(client, auth, app_id: str, **body: Any) -> str:
    response = client.post(f"/applications/{app_id}/devices", headers=auth,
                           json={"name": "auth probe", **body})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def device_login(client, key: dict[str, Any], device_id: str, **extra: Any):
    return client.post("/auth/device", json={"deviceId": device_id, "key": key["key"],
                                             "secret": key["secret"], **extra})


def device_token(client, key: dict[str, Any], device_id: str, **extra: Any) -> str:
    response = device_login(client, key, device_id, **extra)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def app_token(client, auth, app_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/applications/{app_id}/tokens", headers=auth,
                           json={"name": "test token", **body})
    assert response.status_code == 201, response.text
    return response.json()


def device_url(app_id: str, device_id: str) -> str:
    return f"/applications/{app_id}/devices/{device_id}"


# ---------------------------------------------------------------- user login


def test_user_login_returns_a_token_for_that_user(client, mock):
    response = client.post("/auth/user", json=LOGIN)
    assert response.status_code == 200
    body = response.json()
    assert body["userId"] == mock.world_summary["logins"][0]["userId"]
    me = client.get("/me", headers=bearer(body["token"]))
    assert me.json()["id"] == body["userId"]


def test_user_login_ignores_the_case_of_the_email(client):
    response = client.post("/auth/user", json={**LOGIN, "email": LOGIN["email"].upper()})
    assert response.status_code == 200


def test_user_login_with_a_wrong_password_is_401(client):
    assert_refused(client.post("/auth/user", json={**LOGIN, "password": "not-the-password"}), 401)


def test_user_login_does_not_reveal_whether_an_email_exists(client):
    wrong_password = client.post("/auth/user", json={**LOGIN, "password": "not-the-password"})
    unknown_email = client.post("/auth/user", json={**LOGIN, "email": "nobody@example.com"})
    assert unknown_email.status_code == 401
    assert unknown_email.json() == wrong_password.json()


def test_user_login_without_a_password_is_400_naming_it(client):
    response = client.post("/auth/user", json={"email": LOGIN["email"]})
    assert_refused(response, 400)
    assert "password" in response.json()["message"]


def test_requested_scopes_narrow_a_user_token(client):
    login = client.post("/auth/user", json={**LOGIN, "requestedScopes": ["applications.get"]})
    narrow = bearer(login.json()["token"])
    assert client.get("/applications", headers=narrow).status_code == 200
    assert_refused(client.get("/me", headers=narrow), 403)


def test_user_token_expires_after_its_requested_ttl(client, mock):
    login = client.post("/auth/user", json={**LOGIN, "tokenTTL": 60})
    short = bearer(login.json()["token"])
    assert client.get("/me", headers=short).status_code == 200
    mock.backend.clock.advance(61)
    assert_refused(client.get("/me", headers=short), 401)


def test_user_token_expires_when_the_clock_passes_exp(client, mock, auth):
    assert client.get("/me", headers=auth).status_code == 200
    mock.backend.clock.advance(31 * 24 * 3600)
    assert_refused(client.get("/me", headers=auth), 401)


# ---------------------------------------------------------------- identity providers


def test_github_login_is_refused_with_401(client):
    assert_refused(client.post("/auth/user/github", json={"accessToken": "gho_123"}), 401)


def test_saml_login_is_refused_with_401(client):
    response = client.post("/auth/user/saml",
                           json={"SAMLResponse": "PHNhbWw+", "SAMLDomain": "example.com"})
    assert_refused(response, 401)


def test_sso_domain_answers_204_for_an_email_without_sso(client):
    response = client.get("/auth/ssoDomain", params={"email": "someone@example.com"})
    assert response.status_code == 204
    assert response.content == b""


def test_sso_domain_without_email_is_400(client):
    assert_refused(client.get("/auth/ssoDomain"), 400)


# ---------------------------------------------------------------- device login


def test_device_login_with_a_seeded_key_returns_a_device_token(client, world_app):
    key, device_id = world_app["keys"][0], world_app["sampleDeviceId"]
    response = device_login(client, key, device_id)
    assert response.status_code == 200
    body = response.json()
    assert (body["applicationId"], body["deviceId"]) == (world_app["id"], device_id)
    assert body["filterType"] == "all"
    assert body["token"].count(".") == 2


def test_device_login_with_a_wrong_secret_is_401(client, world_app):
    key = {**world_app["keys"][0], "secret": "0" * 64}
    assert_refused(device_login(client, key, world_app["sampleDeviceId"]), 401)


def test_device_login_without_key_and_secret_is_401(client, world_app):
    response = client.post("/auth/device", json={"deviceId": world_app["sampleDeviceId"]})
    assert_refused(response, 401)


def test_device_login_with_an_inactive_key_is_401(client, auth, world_app):
    key = create_key(client, auth, world_app["id"])
    client.patch(f"/applications/{world_app['id']}/keys/{key['id']}", headers=auth,
                 json={"status": "inactive"})
    assert_refused(device_login(client, key, world_app["sampleDeviceId"]), 401)


def test_device_login_for_a_device_outside_the_whitelist_is_401(client, auth, world_app):
    listed = create_device(client, auth, world_app["id"])
    key = create_key(client, auth, world_app["id"], filterType="whitelist", deviceIds=[listed])
    assert_refused(device_login(client, key, world_app["sampleDeviceId"]), 401)


def test_device_login_for_a_device_of_another_application_is_401(client, world_app, mock):
    other_device = mock.world_summary["applications"][1]["sampleDeviceId"]
    assert_refused(device_login(client, world_app["keys"][0], other_device), 401)


# ---------------------------------------------------------------- device reach


def test_device_token_reaches_its_own_device(client, world_app):
    device_id = world_app["sampleDeviceId"]
    token = device_token(client, world_app["keys"][0], device_id)
    response = client.get(device_url(world_app["id"], device_id), headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["id"] == device_id


def test_device_token_of_an_id_whitelist_key_is_refused_unlisted_devices(client, auth,
                                                                          world_app):
    me, stranger = (create_device(client, auth, world_app["id"]) for _ in range(2))
    key = create_key(client, auth, world_app["id"], filterType="whitelist", deviceIds=[me])
    token = bearer(device_token(client, key, me))
    assert_refused(client.get(device_url(world_app["id"], stranger), headers=token), 403)


def test_device_token_of_an_id_whitelist_key_reaches_every_listed_device(client, auth,
                                                                         world_app):
    me, peer = (create_device(client, auth, world_app["id"]) for _ in range(2))
    key = create_key(client, auth, world_app["id"], filterType="whitelist",
                     deviceIds=[me, peer])
    token = bearer(device_token(client, key, me))
    assert client.get(device_url(world_app["id"], peer), headers=token).status_code == 200


def test_device_token_of_a_tag_whitelist_key_reaches_tagged_devices_only(client, auth,
                                                                         world_app):
    tag = [{"key": "crew", "value": "auth-test"}]
    me, peer = (create_device(client, auth, world_app["id"], tags=tag) for _ in range(2))
    untagged = create_device(client, auth, world_app["id"])
    key = create_key(client, auth, world_app["id"], filterType="whitelist", deviceTags=tag)
    token = bearer(device_token(client, key, me))
    assert client.get(device_url(world_app["id"], peer), headers=token).status_code == 200
    assert_refused(client.get(device_url(world_app["id"], untagged), headers=token), 403)


def test_device_token_lists_only_the_devices_within_reach(client, auth, world_app):
    tag = [{"key": "crew", "value": "listing"}]
    me, peer = (create_device(client, auth, world_app["id"], tags=tag) for _ in range(2))
    key = create_key(client, auth, world_app["id"], filterType="whitelist", deviceTags=tag)
    token = bearer(device_token(client, key, me))
    body = client.get(f"/applications/{world_app['id']}/devices", headers=token).json()
    assert {d["id"] for d in body["items"]} == {me, peer}
    assert body["totalCount"] == 2


def test_device_token_of_an_all_key_reaches_every_device_of_its_application(client, auth,
                                                                            world_app):
    key = create_key(client, auth, world_app["id"], filterType="all")
    token = bearer(device_token(client, key, world_app["sampleDeviceId"]))
    user_view = client.get(f"/applications/{world_app['id']}/devices", headers=auth).json()
    device_view = client.get(f"/applications/{world_app['id']}/devices", headers=token).json()
    assert device_view["totalCount"] == user_view["totalCount"]


def test_device_token_never_reaches_another_application(client, world_app, other_app_id):
    token = bearer(device_token(client, world_app["keys"][0], world_app["sampleDeviceId"]))
    assert_refused(client.get(f"/applications/{other_app_id}/devices", headers=token), 403)


def test_device_token_cannot_create_devices(client, world_app):
    token = bearer(device_token(client, world_app["keys"][0], world_app["sampleDeviceId"]))
    response = client.post(f"/applications/{world_app['id']}/devices", headers=token,
                           json={"name": "sneaky"})
    assert_refused(response, 403)


def test_requested_scopes_narrow_a_device_token(client, world_app):
    device_id = world_app["sampleDeviceId"]
    token = bearer(device_token(client, world_app["keys"][0], device_id,
                                requestedScopes=["device.get"]))
    assert client.get(device_url(world_app["id"], device_id), headers=token).status_code == 200
    assert_refused(client.get(f"/applications/{world_app['id']}/devices", headers=token), 403)


# ---------------------------------------------------------------- application API tokens


def test_narrow_application_token_can_list_devices(client, auth, world_app):
    token = bearer(app_token(client, auth, world_app["id"], scope=["devices.get"])["token"])
    response = client.get(f"/applications/{world_app['id']}/devices", headers=token)
    assert response.status_code == 200
    assert response.json()["totalCount"] > 0


def test_narrow_application_token_cannot_create_devices(client, auth, world_app):
    token = bearer(app_token(client, auth, world_app["id"], scope=["devices.get"])["token"])
    response = client.post(f"/applications/{world_app['id']}/devices", headers=token,
                           json={"name": "not allowed"})
    assert_refused(response, 403)


def test_application_token_never_reaches_another_application(client, auth, world_app,
                                                              other_app_id):
    token = bearer(app_token(client, auth, world_app["id"], scope=["all.Application"])["token"])
    assert_refused(client.get(f"/applications/{other_app_id}/devices", headers=token), 403)
    assert_refused(client.get(f"/applications/{other_app_id}", headers=token), 403)


def test_seeded_read_only_token_cannot_patch_a_device(client, world_app):
    token = bearer(world_app["tokens"][0]["token"])
    url = device_url(world_app["id"], world_app["sampleDeviceId"])
    assert client.get(url, headers=token).status_code == 200
    assert_refused(client.patch(url, headers=token, json={"name": "x"}), 403)


# ---------------------------------------------------------------- broken tokens


def test_request_without_a_token_is_401(client, app_id):
    assert_refused(client.get(f"/applications/{app_id}/devices"), 401)


def test_malformed_token_is_401(client, app_id):
    assert_refused(client.get(f"/applications/{app_id}/devices", headers=bearer("not-a-jwt")),
                   401)


def test_non_bearer_authorization_is_401(client, app_id):
    response = client.get(f"/applications/{app_id}/devices",
                          headers={"Authorization": "Basic ZGV2OnB3"})
    assert_refused(response, 401)


def test_tampered_token_is_401(client, token, app_id):
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    # A middle character: the last one of a base64url signature may carry only padding bits.
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1:]}"
    assert_refused(client.get(f"/applications/{app_id}/devices", headers=bearer(tampered)), 401)


def test_token_signed_with_another_secret_is_401(client, token, app_id):
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "some-other-secret-of-at-least-32-bytes", algorithm="HS256")
    assert_refused(client.get(f"/applications/{app_id}/devices", headers=bearer(forged)), 401)


def test_token_with_escalated_claims_is_401(client, token):
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    other = jwt.encode({**claims, "scope": ["all.Organization"]}, "x" * 32, algorithm="HS256")
    spliced = f"{header}.{other.split('.')[1]}.{signature}"
    assert_refused(client.get("/me", headers=bearer(spliced)), 401)


# ---------------------------------------------------------------- revocation


def test_deleted_application_token_is_401_on_the_next_request(client, auth, world_app):
    created = app_token(client, auth, world_app["id"], scope=["devices.get"])
    token = bearer(created["token"])
    devices = f"/applications/{world_app['id']}/devices"
    assert client.get(devices, headers=token).status_code == 200
    client.delete(f"/applications/{world_app['id']}/tokens/{created['id']}", headers=auth)
    assert_refused(client.get(devices, headers=token), 401)


def test_inactive_application_token_is_401(client, auth, world_app):
    created = app_token(client, auth, world_app["id"], scope=["devices.get"])
    client.patch(f"/applications/{world_app['id']}/tokens/{created['id']}", headers=auth,
                 json={"status": "inactive"})
    response = client.get(f"/applications/{world_app['id']}/devices",
                          headers=bearer(created["token"]))
    assert_refused(response, 401)


def test_application_token_is_401_after_its_expiration_date(client, auth, world_app, mock):
    expires = datetime.fromtimestamp(mock.backend.clock.now(), tz=UTC) + timedelta(hours=1)
    created = app_token(client, auth, world_app["id"], scope=["devices.get"],
                        expirationDate=expires.isoformat().replace("+00:00", "Z"))
    devices = f"/applications/{world_app['id']}/devices"
    assert client.get(devices, headers=bearer(created["token"])).status_code == 200
    mock.backend.clock.advance(3601)
    assert_refused(client.get(devices, headers=bearer(created["token"])), 401)


def test_device_token_is_401_once_its_key_is_deleted(client, auth, world_app):
    key = create_key(client, auth, world_app["id"])
    device_id = world_app["sampleDeviceId"]
    token = bearer(device_token(client, key, device_id))
    client.delete(f"/applications/{world_app['id']}/keys/{key['id']}", headers=auth)
    assert_refused(client.get(device_url(world_app["id"], device_id), headers=token), 401)


def test_device_token_is_401_once_its_key_is_inactive(client, auth, world_app):
    key = create_key(client, auth, world_app["id"])
    device_id = world_app["sampleDeviceId"]
    token = bearer(device_token(client, key, device_id))
    client.patch(f"/applications/{world_app['id']}/keys/{key['id']}", headers=auth,
                 json={"status": "inactive"})
    assert_refused(client.get(device_url(world_app["id"], device_id), headers=token), 401)


def test_device_token_is_401_once_its_device_is_deleted(client, auth, world_app):
    key = create_key(client, auth, world_app["id"])
    device_id = create_device(client, auth, world_app["id"])
    token = bearer(device_token(client, key, device_id))
    client.delete(device_url(world_app["id"], device_id), headers=auth)
    assert_refused(client.get(device_url(world_app["id"], device_id), headers=token), 401)


def test_device_token_expires_after_its_requested_ttl(client, world_app, mock):
    device_id = world_app["sampleDeviceId"]
    token = bearer(device_token(client, world_app["keys"][0], device_id, tokenTTL=30))
    mock.backend.clock.advance(31)
    assert_refused(client.get(device_url(world_app["id"], device_id), headers=token), 401)
