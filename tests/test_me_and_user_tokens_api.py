"""me.* and userApiToken(s).* over HTTP: the calling user and their API tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, bearer, with_settings

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NEW_PASSWORD = "Brand-new-passw0rd"
# Tests that change who can log in, or count a user's tokens, each own a user.
OWN_USERS = {name: (f"{name}@example.com", f"password-{name}1")
             for name in ("pw", "mail", "cutoff", "paging")}


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module; writes are confined to each test's own user or token."""
    users = ((LOGIN["email"], LOGIN["password"]), *OWN_USERS.values())
    return create_app(with_settings(users=users))


def session(client, name: str) -> dict[str, str]:
    """Credentials and a fresh bearer header for one of OWN_USERS."""
    email, password = OWN_USERS[name]
    token = client.post("/auth/user", json={"email": email, "password": password}).json()["token"]
    return {"email": email, "password": password, **bearer(token)}


def user_token(client, auth, **body: Any) -> dict[str, Any]:
    response = client.post("/me/tokens", headers=auth, json={"name": "cli", **body})
    assert response.status_code == 201, response.text
    return response.json()


def login(client, credentials: dict[str, str] = LOGIN, **changes: str):
    body = {"email": credentials["email"], "password": credentials["password"], **changes}
    return client.post("/auth/user", json=body)


def headers(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": user["Authorization"]}


# ---------------------------------------------------------------- /me


def test_me_is_the_logged_in_user(client, auth, mock):
    body = client.get("/me", headers=auth).json()
    assert body["email"] == LOGIN["email"]
    assert body["id"] == body["userId"] == mock.world_summary["logins"][0]["userId"]
    assert OBJECT_ID.match(body["id"])
    assert ISO_UTC.match(body["creationDate"])


def test_me_never_shows_password_material(client, auth):
    body = client.get("/me", headers=auth).json()
    assert not [key for key in body if key.startswith("_") or key == "password"]


def test_me_patch_changes_the_profile_and_reads_back(client, auth):
    patched = client.patch("/me", headers=auth,
                           json={"firstName": "Ada", "lastName": "Lovelace", "title": "CTO"})
    assert patched.status_code == 200
    assert patched.json()["fullName"] == "Ada Lovelace"
    assert client.get("/me", headers=auth).json() == patched.json()


def test_me_last_updated_strictly_increases_on_every_patch(client, auth):
    stamps = [client.get("/me", headers=auth).json()["lastUpdated"]]
    for title in ("one", "two", "three"):
        patched = client.patch("/me", headers=auth, json={"title": title})
        stamps.append(patched.json()["lastUpdated"])
    assert stamps == sorted(set(stamps))


def test_me_patch_of_the_password_needs_the_current_password(client, auth):
    response = client.patch("/me", headers=auth, json={"password": NEW_PASSWORD})
    assert response.status_code == 400
    assert "currentCredentials" in response.json()["message"]
    assert login(client).status_code == 200


def test_changed_password_logs_in_and_the_old_one_does_not(client):
    own_user = session(client, "pw")
    response = client.patch("/me", headers=headers(own_user), json={
        "password": NEW_PASSWORD, "currentCredentials": {"password": own_user["password"]}})
    assert response.status_code == 200
    assert login(client, own_user, password=NEW_PASSWORD).status_code == 200
    assert login(client, own_user).status_code == 401


def test_changed_email_is_the_new_login(client):
    own_user = session(client, "mail")
    client.patch("/me", headers=headers(own_user), json={"email": "renamed@example.com"})
    assert login(client, own_user, email="renamed@example.com").status_code == 200
    assert login(client, own_user).status_code == 401


def test_email_in_use_by_another_user_is_400(client, auth):
    response = client.patch("/me", headers=auth, json={"email": OWN_USERS["paging"][0]})
    assert response.status_code == 400
    assert "email" in response.json()["message"]


def test_token_cutoff_revokes_tokens_issued_before_it(client, mock):
    own_user = session(client, "cutoff")
    mock.backend.clock.advance(5)
    cutoff = datetime.fromtimestamp(mock.backend.clock.now(), tz=UTC)
    response = client.patch("/me", headers=headers(own_user),
                            json={"tokenCutoff": cutoff.isoformat().replace("+00:00", "Z")})
    assert response.status_code == 200
    assert client.get("/me", headers=headers(own_user)).status_code == 401
    mock.backend.clock.advance(1)
    fresh = bearer(login(client, own_user).json()["token"])
    assert client.get("/me", headers=fresh).status_code == 200


def test_refresh_token_returns_a_working_token_for_the_same_user(client, auth, mock):
    mock.backend.clock.advance(2)
    refreshed = client.get("/me/refreshToken", headers=auth)
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["token"] != auth["Authorization"].removeprefix("Bearer ")
    me = client.get("/me", headers=bearer(body["token"])).json()
    assert me["id"] == body["userId"]


def test_refreshed_token_keeps_the_narrow_scopes_it_had(client):
    narrow = bearer(login(client, requestedScopes=["me.*"]).json()["token"])
    refreshed = bearer(client.get("/me/refreshToken", headers=narrow).json()["token"])
    assert client.get("/me", headers=refreshed).status_code == 200
    assert client.get("/applications", headers=refreshed).status_code == 403


# ---------------------------------------------------------------- user API tokens


def test_user_api_token_string_is_shown_only_when_created(client, auth):
    created = user_token(client, auth)
    assert created["token"].count(".") == 2
    read = client.get(f"/me/tokens/{created['id']}", headers=auth).json()
    listed = client.get("/me/tokens", headers=auth).json()["items"]
    assert "token" not in read
    assert all("token" not in item for item in listed)


def test_user_api_token_reads_back_equal_without_its_string(client, auth):
    created = user_token(client, auth, description="for the CLI", scope=["me.get"])
    read = client.get(f"/me/tokens/{created['id']}", headers=auth).json()
    assert read == {k: v for k, v in created.items() if k != "token"}


def test_user_api_token_id_is_24_hex_and_equals_api_token_id(client, auth, mock):
    created = user_token(client, auth)
    assert OBJECT_ID.match(created["id"])
    assert created["apiTokenId"] == created["id"]
    assert created["ownerId"] == mock.world_summary["logins"][0]["userId"]
    assert ISO_UTC.match(created["creationDate"])


def test_user_api_token_works_within_its_scope_only(client, auth):
    token = bearer(user_token(client, auth, scope=["me.get"])["token"])
    assert client.get("/me", headers=token).status_code == 200
    response = client.patch("/me", headers=token, json={"title": "x"})
    assert response.status_code == 403
    assert set(response.json()) == {"type", "message"}


def test_user_api_token_with_all_user_scope_reaches_the_users_applications(client, auth, app_id):
    token = bearer(user_token(client, auth, scope=["all.User"])["token"])
    assert client.get(f"/applications/{app_id}", headers=token).status_code == 200


def test_user_api_token_cannot_mint_user_api_tokens(client, auth):
    token = bearer(user_token(client, auth, scope=["all.User"])["token"])
    response = client.post("/me/tokens", headers=token, json={"name": "child"})
    assert response.status_code == 403


def test_user_api_token_collection_has_paging_fields(client):
    own_user = session(client, "paging")
    for name in ("alpha", "beta", "gamma"):
        user_token(client, headers(own_user), name=name)
    body = client.get("/me/tokens", headers=headers(own_user),
                      params={"perPage": 2, "page": 1, "sortDirection": "desc"}).json()
    assert (body["count"], body["totalCount"], body["perPage"], body["page"]) == (1, 3, 2, 1)
    assert (body["sortField"], body["sortDirection"]) == ("name", "desc")
    assert [item["name"] for item in body["items"]] == ["alpha"]


def test_user_api_token_list_glob_filters_by_name(client, auth):
    for name in ("ci-build", "ci-deploy", "laptop"):
        user_token(client, auth, name=name)
    body = client.get("/me/tokens", headers=auth,
                      params={"filterField": "name", "filter": "ci-*"}).json()
    assert sorted(item["name"] for item in body["items"]) == ["ci-build", "ci-deploy"]


def test_user_api_token_patch_renames_and_bumps_last_updated(client, auth):
    created = user_token(client, auth)
    patched = client.patch(f"/me/tokens/{created['id']}", headers=auth, json={"name": "renamed"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    assert patched.json()["lastUpdated"] > created["lastUpdated"]


def test_inactive_user_api_token_is_401(client, auth):
    created = user_token(client, auth, scope=["me.get"])
    client.patch(f"/me/tokens/{created['id']}", headers=auth, json={"status": "inactive"})
    assert client.get("/me", headers=bearer(created["token"])).status_code == 401


def test_deleted_user_api_token_is_401_and_gone(client, auth):
    created = user_token(client, auth, scope=["me.get"])
    deleted = client.delete(f"/me/tokens/{created['id']}", headers=auth)
    assert deleted.json() == {"success": True}
    assert client.get("/me", headers=bearer(created["token"])).status_code == 401
    assert client.get(f"/me/tokens/{created['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_user_api_token_is_404(client, auth, method):
    kwargs = {"json": {"name": "x"}} if method == "patch" else {}
    response = getattr(client, method)(f"/me/tokens/{'0' * 24}", headers=auth, **kwargs)
    assert response.status_code == 404
    assert set(response.json()) == {"type", "message"}
