"""applications.* and application.* over HTTP: the tenant boundary."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import TEST_SETTINGS, bearer, with_settings

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PREFIXES = itertools.count()  # name prefixes no other test's applications share
TWO_USERS = (("a@example.com", "password-a1"), ("b@example.com", "password-b1"))


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: every test that writes works in applications it creates."""
    return create_app(TEST_SETTINGS)


def create_application(client, auth, **body: Any) -> dict[str, Any]:
    response = client.post("/applications", headers=auth, json={"name": "App", **body})
    assert response.status_code == 201, response.text
    return response.json()


def app_url(app: dict[str, Any] | str) -> str:
    return f"/applications/{app if isinstance(app, str) else app['id']}"


# ---------------------------------------------------------------- records


def test_created_application_reads_back_equal(client, auth):
    created = create_application(client, auth, name="Greenhouse", description="Tomatoes",
                                 globals=[{"key": "threshold", "json": "21"}])
    read = client.get(app_url(created), headers=auth)
    assert read.status_code == 200
    assert read.json() == created


def test_application_id_is_24_hex_and_equals_application_id(client, auth):
    created = create_application(client, auth)
    assert OBJECT_ID.match(created["id"])
    assert created["applicationId"] == created["id"]


def test_application_is_owned_by_its_creator(client, auth):
    created = create_application(client, auth)
    me = client.get("/me", headers=auth).json()
    assert (created["ownerId"], created["ownerType"]) == (me["id"], "user")


def test_application_creation_date_is_iso_utc(client, auth):
    created = create_application(client, auth)
    assert ISO_UTC.match(created["creationDate"])
    assert ISO_UTC.match(created["lastUpdated"])


def test_application_last_updated_strictly_increases_on_every_update(client, auth):
    created = create_application(client, auth)
    stamps = [created["lastUpdated"]]
    stamps.append(client.patch(app_url(created), headers=auth,
                               json={"description": "one"}).json()["lastUpdated"])
    stamps.append(client.patch(f"{app_url(created)}/globals", headers=auth,
                               json=[{"key": "k", "json": "1"}]).json()["lastUpdated"])
    stamps.append(client.patch(app_url(created), headers=auth,
                               json={"name": "two"}).json()["lastUpdated"])
    assert stamps == sorted(set(stamps))


def test_application_patch_changes_only_the_given_fields(client, auth):
    created = create_application(client, auth, description="keep me")
    patched = client.patch(app_url(created), headers=auth, json={"name": "Renamed"}).json()
    assert (patched["name"], patched["description"]) == ("Renamed", "keep me")
    assert client.get(app_url(created), headers=auth).json() == patched


def test_application_summary_counts_its_devices(client, auth):
    created = create_application(client, auth)
    for name in ("one", "two"):
        client.post(f"{app_url(created)}/devices", headers=auth, json={"name": name})
    summary = client.get(app_url(created), headers=auth).json()["summary"]
    assert summary["deviceCount"] == 2


def test_application_with_an_organization_is_400(client, auth):
    response = client.post("/applications", headers=auth,
                           json={"name": "Org app", "orgId": "0" * 24})
    assert response.status_code == 400
    assert "orgId" in response.json()["message"]


def test_duplicate_global_keys_are_400(client, auth):
    response = client.post("/applications", headers=auth, json={
        "name": "Dup", "globals": [{"key": "a", "json": "1"}, {"key": "a", "json": "2"}]})
    assert response.status_code == 400
    assert "globals" in response.json()["message"]


def test_unknown_application_is_404(client, auth):
    response = client.get(app_url("0" * 24), headers=auth)
    assert response.status_code == 404
    assert set(response.json()) == {"type", "message"}


# ---------------------------------------------------------------- collection


@pytest.fixture
def trio(client, auth) -> str:
    """Three applications, <prefix>-b, <prefix>-A, <prefix>-c; returns the fresh prefix."""
    prefix = f"Trio{next(PREFIXES)}"
    for suffix in ("b", "A", "c"):
        create_application(client, auth, name=f"{prefix}-{suffix}")
    return prefix


def list_trio(client, auth, prefix: str, **params: Any) -> dict[str, Any]:
    response = client.get("/applications", headers=auth,
                          params={"filterField": "name", "filter": f"{prefix}-*", **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_application_collection_has_paging_and_sorting_fields(client, auth, trio):
    body = list_trio(client, auth, trio, perPage=2)
    assert (body["count"], body["totalCount"], body["perPage"], body["page"]) == (2, 3, 2, 0)
    assert (body["sortField"], body["sortDirection"]) == ("name", "asc")
    assert (body["filterField"], body["filter"]) == ("name", f"{trio}-*")


def test_application_pages_partition_the_filtered_collection(client, auth, trio):
    pages = [list_trio(client, auth, trio, perPage=2, page=page)["items"] for page in range(3)]
    names = [app["name"] for page in pages for app in page]
    assert sorted(names) == sorted(f"{trio}-{suffix}" for suffix in "bAc")
    assert pages[2] == []


def test_applications_sort_by_name_in_both_directions(client, auth, trio):
    ascending = [a["name"] for a in list_trio(client, auth, trio, sortField="name")["items"]]
    descending = [a["name"] for a in list_trio(client, auth, trio, sortField="name",
                                               sortDirection="desc")["items"]]
    assert ascending == [f"{trio}-A", f"{trio}-b", f"{trio}-c"]
    assert descending == list(reversed(ascending))


def test_application_glob_filter_is_case_insensitive_and_whole_name(client, auth, trio):
    assert list_trio(client, auth, trio, filter=f"{trio.lower()}-?")["totalCount"] == 0
    assert list_trio(client, auth, trio, filter=f"{trio.lower()}-a")["totalCount"] == 1


# ---------------------------------------------------------------- globals, readme, search


def test_globals_patch_adds_updates_and_removes_by_key(client, auth):
    created = create_application(client, auth, globals=[{"key": "a", "json": "1"},
                                                        {"key": "b", "json": "2"}])
    response = client.patch(f"{app_url(created)}/globals", headers=auth, json=[
        {"key": "a", "json": "10"}, {"key": "b", "json": None}, {"key": "c", "json": "\"x\""}])
    assert response.status_code == 200
    found = {g["key"]: g["json"] for g in response.json()["globals"]}
    assert found == {"a": "10", "c": "\"x\""}
    assert client.get(app_url(created), headers=auth).json()["globals"] == \
        response.json()["globals"]


def test_readme_starts_empty(client, auth):
    created = create_application(client, auth)
    readme = client.get(f"{app_url(created)}/readme", headers=auth).json()
    assert readme == {"applicationId": created["id"], "content": ""}


def test_readme_patch_reads_back_with_its_author(client, auth):
    created = create_application(client, auth)
    patched = client.patch(f"{app_url(created)}/readme", headers=auth,
                           json={"content": "# Greenhouse\nWater daily."})
    assert patched.status_code == 200
    read = client.get(f"{app_url(created)}/readme", headers=auth).json()
    assert read == patched.json()
    assert read["content"] == "# Greenhouse\nWater daily."
    assert read["lastUpdatedById"] == client.get("/me", headers=auth).json()["id"]
    assert ISO_UTC.match(read["lastUpdated"])


def test_search_finds_resources_by_name_substring_case_insensitively(client, auth):
    created = create_application(client, auth)
    device = client.post(f"{app_url(created)}/devices", headers=auth,
                         json={"name": "North Pump"}).json()
    client.post(f"{app_url(created)}/devices", headers=auth, json={"name": "South Valve"})
    recipe = client.post(f"{app_url(created)}/device-recipes", headers=auth,
                         json={"name": "Pump recipe"}).json()
    results = client.get(f"{app_url(created)}/search", headers=auth,
                         params={"filter": "PUMP"}).json()
    assert {(r["id"], r["name"]) for r in results} == {
        (device["id"], "North Pump"), (recipe["id"], "Pump recipe")}


def test_search_skips_deleted_devices(client, auth):
    created = create_application(client, auth)
    device = client.post(f"{app_url(created)}/devices", headers=auth,
                         json={"name": "Ghost"}).json()
    client.delete(f"{app_url(created)}/devices/{device['id']}", headers=auth)
    assert client.get(f"{app_url(created)}/search", headers=auth,
                      params={"filter": "ghost"}).json() == []


# ---------------------------------------------------------------- delete


@pytest.fixture
def populated(client, auth) -> dict[str, Any]:
    """An application with a device, a recipe, an access key and an API token."""
    app = create_application(client, auth, name="Doomed")
    url = app_url(app)
    device = client.post(f"{url}/devices", headers=auth, json={"name": "d"}).json()
    recipe = client.post(f"{url}/device-recipes", headers=auth, json={"name": "r"}).json()
    key = client.post(f"{url}/keys", headers=auth, json={"name": "k"}).json()
    token = client.post(f"{url}/tokens", headers=auth, json={"name": "t"}).json()
    device_token = client.post("/auth/device", json={
        "deviceId": device["id"], "key": key["key"], "secret": key["secret"]}).json()["token"]
    return {"app": app, "device": device, "recipe": recipe, "key": key, "token": token,
            "device_token": device_token}


def test_deleted_application_is_gone(client, auth, populated):
    url = app_url(populated["app"])
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404


def test_deleting_an_application_removes_everything_under_it(client, auth, populated):
    client.delete(app_url(populated["app"]), headers=auth)
    records = client.get("/_mock/snapshot").json()["records"]
    app_id = populated["app"]["id"]
    leftovers = [(kind, r["id"]) for kind, rows in records.items() for r in rows
                 if app_id in (r.get("applicationId"), r.get("ownerId"))]
    assert leftovers == []


def test_application_token_is_401_once_its_application_is_deleted(client, auth, populated):
    token = bearer(populated["token"]["token"])
    assert client.get(app_url(populated["app"]), headers=token).status_code == 200
    client.delete(app_url(populated["app"]), headers=auth)
    assert client.get(app_url(populated["app"]), headers=token).status_code == 401


def test_device_token_is_401_once_its_application_is_deleted(client, auth, populated):
    token = bearer(populated["device_token"])
    device_url = f"{app_url(populated['app'])}/devices/{populated['device']['id']}"
    assert client.get(device_url, headers=token).status_code == 200
    client.delete(app_url(populated["app"]), headers=auth)
    assert client.get(device_url, headers=token).status_code == 401


# ---------------------------------------------------------------- two users


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[TestClient, dict[str, str], dict[str, str], str]]:
    """A world of two users: (client, a's headers, b's headers, one of b's application ids)."""
    other = create_app(with_settings(users=TWO_USERS))
    with TestClient(other, raise_server_exceptions=False) as client:
        a, b = (bearer(client.post("/auth/user", json={"email": e, "password": p})
                       .json()["token"]) for e, p in TWO_USERS)
        b_app = next(s["id"] for s in other.world_summary["applications"]
                     if s["owner"] == TWO_USERS[1][0])
        yield client, a, b, b_app


def test_user_cannot_see_another_users_application(two_users):
    client, a, b, b_app = two_users
    assert client.get(app_url(b_app), headers=b).status_code == 200
    response = client.get(app_url(b_app), headers=a)
    assert response.status_code == 404
    assert response.json()["message"] == client.get(app_url("0" * 24), headers=a).json()[
        "message"].replace("0" * 24, b_app)


def test_user_cannot_change_or_delete_another_users_application(two_users):
    client, a, _, b_app = two_users
    assert client.patch(app_url(b_app), headers=a, json={"name": "x"}).status_code == 404
    assert client.delete(app_url(b_app), headers=a).status_code == 404


def test_user_cannot_reach_devices_of_another_users_application(two_users):
    client, a, _, b_app = two_users
    assert client.get(f"{app_url(b_app)}/devices", headers=a).status_code == 404


def test_application_list_holds_only_the_callers_applications(two_users):
    client, a, b, b_app = two_users
    a_ids = {app["id"] for app in client.get("/applications", headers=a).json()["items"]}
    b_ids = {app["id"] for app in client.get("/applications", headers=b).json()["items"]}
    assert b_app in b_ids
    assert a_ids and not a_ids & b_ids
