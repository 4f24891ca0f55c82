"""applicationKey(s).* and applicationApiToken(s).*: credentials an application hands out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import TEST_SETTINGS

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: every test works in an application it creates."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def app(client, auth) -> str:
    response = client.post("/applications", headers=auth, json={"name": "Credentials"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def create_key(client, auth, app: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/keys", headers=auth,
                           json={"name": "key", **body})
    assert response.status_code == 201, response.text
    return response.json()


def create_token(client, auth, app: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/tokens", headers=auth,
                           json={"name": "token", **body})
    assert response.status_code == 201, response.text
    return response.json()


def without(record: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != field}


# ---------------------------------------------------------------- access keys


def test_key_secret_is_shown_only_when_created(client, auth, app):
    created = create_key(client, auth, app)
    assert len(created["secret"]) >= 32
    read = client.get(f"/applications/{app}/keys/{created['id']}", headers=auth).json()
    listed = client.get(f"/applications/{app}/keys", headers=auth).json()["items"]
    assert "secret" not in read
    assert listed and all("secret" not in item for item in listed)
    assert created["secret"] not in json.dumps([read, listed])


def test_created_key_reads_back_equal_without_its_secret(client, auth, app):
    created = create_key(client, auth, app, description="gateways", filterType="whitelist",
                         deviceTags=[{"key": "site", "value": "north"}])
    read = client.get(f"/applications/{app}/keys/{created['id']}", headers=auth).json()
    assert read == without(created, "secret")


def test_key_id_is_24_hex_and_equals_application_key_id(client, auth, app):
    created = create_key(client, auth, app)
    assert OBJECT_ID.match(created["id"])
    assert created["applicationKeyId"] == created["id"]
    assert created["applicationId"] == app
    assert ISO_UTC.match(created["creationDate"])


def test_key_defaults_to_active_and_all_devices(client, auth, app):
    created = create_key(client, auth, app)
    assert (created["status"], created["filterType"]) == ("active", "all")


def test_key_last_updated_strictly_increases_on_every_patch(client, auth, app):
    created = create_key(client, auth, app)
    stamps = [created["lastUpdated"]]
    for description in ("one", "two", "three"):
        patched = client.patch(f"/applications/{app}/keys/{created['id']}", headers=auth,
                               json={"description": description})
        assert patched.status_code == 200
        stamps.append(patched.json()["lastUpdated"])
    assert stamps == sorted(set(stamps))


def test_key_patch_reads_back_and_records_who_changed_it(client, auth, app):
    created = create_key(client, auth, app)
    patched = client.patch(f"/applications/{app}/keys/{created['id']}", headers=auth,
                           json={"status": "inactive", "name": "retired"}).json()
    assert (patched["status"], patched["name"]) == ("inactive", "retired")
    assert patched["lastUpdatedById"] == client.get("/me", headers=auth).json()["id"]
    read = client.get(f"/applications/{app}/keys/{created['id']}", headers=auth).json()
    assert read == patched


def test_key_collection_has_paging_and_sorting_fields(client, auth, app):
    for name in ("k1", "k2", "k3"):
        create_key(client, auth, app, name=name)
    body = client.get(f"/applications/{app}/keys", headers=auth,
                      params={"perPage": 2, "sortField": "name", "sortDirection": "desc"}).json()
    assert (body["count"], body["totalCount"], body["perPage"], body["page"]) == (2, 3, 2, 0)
    assert (body["sortField"], body["sortDirection"]) == ("name", "desc")
    assert [k["name"] for k in body["items"]] == ["k3", "k2"]


def test_key_list_glob_filters_by_name(client, auth, app):
    for name in ("gateway-east", "gateway-west", "sensor"):
        create_key(client, auth, app, name=name)
    body = client.get(f"/applications/{app}/keys", headers=auth,
                      params={"filterField": "name", "filter": "gateway-*"}).json()
    assert sorted(k["name"] for k in body["items"]) == ["gateway-east", "gateway-west"]


@pytest.mark.parametrize("form", ["json", "bracket"])
def test_key_list_honours_an_advanced_query(client, auth, app, form):
    create_key(client, auth, app, name="open")
    create_key(client, auth, app, name="narrow", filterType="whitelist",
               deviceIds=["a" * 24])
    query = {"filterType": {"$in": ["whitelist", "blacklist"]}}
    params: Any = ({"query": json.dumps(query)} if form == "json"
                   else [("query[filterType][$in][0]", "whitelist"),
                         ("query[filterType][$in][1]", "blacklist")])
    body = client.get(f"/applications/{app}/keys", headers=auth, params=params).json()
    assert [k["name"] for k in body["items"]] == ["narrow"]


def test_deleted_key_is_gone(client, auth, app):
    created = create_key(client, auth, app)
    url = f"/applications/{app}/keys/{created['id']}"
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404
    listed = client.get(f"/applications/{app}/keys", headers=auth).json()["items"]
    assert created["id"] not in {k["id"] for k in listed}


def test_key_of_another_application_is_404_here(client, auth, app, app_id):
    created = create_key(client, auth, app)
    response = client.get(f"/applications/{app_id}/keys/{created['id']}", headers=auth)
    assert response.status_code == 404
    assert set(response.json()) == {"type", "message"}


# ---------------------------------------------------------------- application API tokens


def test_api_token_string_is_shown_only_when_created(client, auth, app):
    created = create_token(client, auth, app)
    assert created["token"].count(".") == 2
    read = client.get(f"/applications/{app}/tokens/{created['id']}", headers=auth).json()
    listed = client.get(f"/applications/{app}/tokens", headers=auth).json()["items"]
    assert "token" not in read
    assert listed and all("token" not in item for item in listed)


def test_created_api_token_reads_back_equal_without_its_string(client, auth, app):
    created = create_token(client, auth, app, description="CI", scope=["devices.get"])
    read = client.get(f"/applications/{app}/tokens/{created['id']}", headers=auth).json()
    assert read == without(created, "token")


def test_api_token_id_is_24_hex_and_equals_api_token_id(client, auth, app):
    created = create_token(client, auth, app)
    assert OBJECT_ID.match(created["id"])
    assert created["apiTokenId"] == created["id"]
    assert (created["ownerId"], created["ownerType"]) == (app, "application")
    assert ISO_UTC.match(created["creationDate"])


def test_api_token_scope_defaults_to_the_whole_application(client, auth, app):
    assert create_token(client, auth, app)["scope"] == ["all.Application"]


def test_api_token_last_updated_strictly_increases_on_every_patch(client, auth, app):
    created = create_token(client, auth, app)
    stamps = [created["lastUpdated"]]
    for name in ("one", "two", "three"):
        patched = client.patch(f"/applications/{app}/tokens/{created['id']}", headers=auth,
                               json={"name": name})
        assert patched.status_code == 200
        stamps.append(patched.json()["lastUpdated"])
    assert stamps == sorted(set(stamps))


def test_api_token_patch_reads_back(client, auth, app):
    created = create_token(client, auth, app)
    patched = client.patch(f"/applications/{app}/tokens/{created['id']}", headers=auth,
                           json={"description": "rotated", "status": "inactive"}).json()
    assert (patched["description"], patched["status"]) == ("rotated", "inactive")
    read = client.get(f"/applications/{app}/tokens/{created['id']}", headers=auth).json()
    assert read == patched


def test_api_token_collection_filters_by_status(client, auth, app):
    active = create_token(client, auth, app, name="active one")
    retired = create_token(client, auth, app, name="retired one")
    client.patch(f"/applications/{app}/tokens/{retired['id']}", headers=auth,
                 json={"status": "inactive"})
    body = client.get(f"/applications/{app}/tokens", headers=auth,
                      params={"filterField": "status", "filter": "active"}).json()
    assert [t["id"] for t in body["items"]] == [active["id"]]
    assert (body["ownerId"], body["ownerType"]) == (app, "application")
    assert (body["totalCount"], body["sortField"], body["sortDirection"]) == (1, "name", "asc")


def test_api_token_expiration_date_in_the_past_is_400(client, auth, app, mock):
    past = datetime.fromtimestamp(mock.backend.clock.now(), tz=UTC) - timedelta(days=1)
    response = client.post(f"/applications/{app}/tokens", headers=auth, json={
        "name": "stale", "expirationDate": past.isoformat().replace("+00:00", "Z")})
    assert response.status_code == 400
    assert "expirationDate" in response.json()["message"]


def test_deleted_api_token_is_gone(client, auth, app):
    created = create_token(client, auth, app)
    url = f"/applications/{app}/tokens/{created['id']}"
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404


def test_api_token_of_another_application_is_404_here(client, auth, app, app_id):
    created = create_token(client, auth, app)
    response = client.get(f"/applications/{app_id}/tokens/{created['id']}", headers=auth)
    assert response.status_code == 404
