"""Every part-1 action through the platform's official Python client, over real HTTP.

``losant_rest.Client`` talks to the mock served by uvicorn on a loopback
port, exactly as it would talk to api.losant.com: its own URL building,
query flattening (nested dicts and lists become ``a[0][key]=...``; ``query``
goes as a JSON string), headers and error handling (``LosantError``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from losant_rest import Client, LosantError

from losant_kit.mockserver.app import MockApp
from tests.conftest import LOGIN, LiveServer, official_client

pytestmark = pytest.mark.official_client


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    """One mock for the module: each test works in an application it creates."""
    return module_mock


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def api(server: LiveServer) -> Client:
    return official_client(server.url)


@pytest.fixture
def app_id(api) -> str:
    return api.applications.post(application={"name": "Official client"})["id"]


@pytest.fixture
def fleet(api, app_id) -> dict[str, str]:
    """Three devices: name -> id."""
    bodies = [
        {"name": "Zeta 1", "tags": [{"key": "zone", "value": "north"}],
         "attributes": [{"name": "temperature", "dataType": "number"}]},
        {"name": "Zeta 2", "deviceClass": "gateway", "tags": [{"key": "zone", "value": "south"}],
         "attributes": [{"name": "rssi", "dataType": "number"}]},
        {"name": "Alpha", "tags": [{"key": "zone", "value": "north"}]},
    ]
    return {body["name"]: api.devices.post(applicationId=app_id, device=body)["id"]
            for body in bodies}


def refusal(call) -> LosantError:
    with pytest.raises(LosantError) as caught:
        call()
    return caught.value


def names(collection: dict[str, Any]) -> set[str]:
    return {item["name"] for item in collection["items"]}


# ---------------------------------------------------------------- auth


def test_client_logs_a_user_in(server, mock):
    result = Client(url=server.url).auth.authenticate_user(credentials=LOGIN)
    assert result["userId"] == mock.world_summary["logins"][0]["userId"]


def test_client_sees_a_wrong_password_as_401(server):
    error = refusal(lambda: Client(url=server.url).auth.authenticate_user(
        credentials={**LOGIN, "password": "wrong-password"}))
    assert error.status == 401
    assert set(error.data) == {"type", "message"}


def test_client_logs_a_device_in_with_an_access_key(server, mock):
    world = mock.world_summary["applications"][0]
    key = world["keys"][0]
    device = Client(url=server.url)
    result = device.auth.authenticate_device(credentials={
        "deviceId": world["sampleDeviceId"], "key": key["key"], "secret": key["secret"]})
    device.auth_token = result["token"]
    read = device.device.get(applicationId=world["id"], deviceId=world["sampleDeviceId"])
    assert read["id"] == result["deviceId"] == world["sampleDeviceId"]


def test_client_github_login_is_refused(server):
    error = refusal(lambda: Client(url=server.url).auth.authenticate_user_github(
        oauth={"accessToken": "gho_abc"}))
    assert error.status == 401


def test_client_saml_login_is_refused(server):
    error = refusal(lambda: Client(url=server.url).auth.authenticate_user_saml(
        saml={"SAMLResponse": "PHNhbWw+", "SAMLDomain": "example.com"}))
    assert error.status == 401


def test_client_sso_domain_is_empty_without_sso(server):
    assert Client(url=server.url).auth.sso_domain(email="someone@example.com") == ""


# ---------------------------------------------------------------- me


def test_client_reads_me(api):
    assert api.me.get()["email"] == LOGIN["email"]


def test_client_patches_me(api):
    patched = api.me.patch(user={"title": "Chief tinkerer"})
    assert patched["title"] == "Chief tinkerer"
    assert api.me.get()["title"] == "Chief tinkerer"


def test_client_refreshes_its_token(api, mock):
    mock.backend.clock.advance(1)
    refreshed = api.me.refresh_token()
    assert refreshed["token"] != api.auth_token
    api.auth_token = refreshed["token"]
    assert api.me.get()["id"] == refreshed["userId"]


# ---------------------------------------------------------------- user API tokens


def test_client_creates_a_user_api_token_that_works(api, server):
    created = api.user_api_tokens.post(apiToken={"name": "client-made", "scope": ["me.get"]})
    assert Client(auth_token=created["token"], url=server.url).me.get()["email"] == LOGIN["email"]


def test_client_lists_user_api_tokens(api):
    created = api.user_api_tokens.post(apiToken={"name": "listed-by-client"})
    listed = api.user_api_tokens.get(filterField="name", filter="listed-by-*")
    assert [t["id"] for t in listed["items"]] == [created["id"]]


def test_client_reads_a_user_api_token(api):
    created = api.user_api_tokens.post(apiToken={"name": "read-me"})
    read = api.user_api_token.get(apiTokenId=created["id"])
    assert read == {k: v for k, v in created.items() if k != "token"}


def test_client_patches_a_user_api_token(api):
    created = api.user_api_tokens.post(apiToken={"name": "before"})
    patched = api.user_api_token.patch(apiTokenId=created["id"], apiToken={"name": "after"})
    assert patched["name"] == "after"


def test_client_deletes_a_user_api_token(api):
    created = api.user_api_tokens.post(apiToken={"name": "short-lived"})
    assert api.user_api_token.delete(apiTokenId=created["id"]) == {"success": True}
    assert refusal(lambda: api.user_api_token.get(apiTokenId=created["id"])).status == 404


# ---------------------------------------------------------------- applications


def test_client_creates_an_application(api, app_id):
    assert api.application.get(applicationId=app_id)["name"] == "Official client"


def test_client_lists_applications_with_a_glob_filter(api):
    created = api.applications.post(application={"name": "Listed via client"})
    listed = api.applications.get(filterField="name", filter="listed via*")
    assert created["id"] in {a["id"] for a in listed["items"]}
    assert all(a["name"].lower().startswith("listed via") for a in listed["items"])


def test_client_patches_an_application(api, app_id):
    patched = api.application.patch(applicationId=app_id, application={"description": "new"})
    assert patched["description"] == "new"


def test_client_deletes_an_application(api, app_id):
    assert api.application.delete(applicationId=app_id) == {"success": True}
    assert refusal(lambda: api.application.get(applicationId=app_id)).status == 404


def test_client_patches_application_globals(api, app_id):
    patched = api.application.globals(applicationId=app_id,
                                      globals=[{"key": "limit", "json": "42"}])
    assert patched["globals"] == [{"key": "limit", "json": "42"}]


def test_client_reads_and_patches_the_readme(api, app_id):
    assert api.application.readme(applicationId=app_id)["content"] == ""
    api.application.readme_patch(applicationId=app_id, readme={"content": "Hello"})
    assert api.application.readme(applicationId=app_id)["content"] == "Hello"


def test_client_searches_an_application(api, app_id, fleet):
    found = api.application.search(applicationId=app_id, filter="zeta")
    assert {r["id"] for r in found} == {fleet["Zeta 1"], fleet["Zeta 2"]}


# ---------------------------------------------------------------- application API tokens


def test_client_creates_and_lists_application_api_tokens(api, app_id):
    created = api.application_api_tokens.post(applicationId=app_id,
                                              apiToken={"name": "ci", "scope": ["devices.get"]})
    listed = api.application_api_tokens.get(applicationId=app_id)
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    assert "token" not in listed["items"][0]


def test_client_reads_patches_an_application_api_token(api, app_id):
    created = api.application_api_tokens.post(applicationId=app_id, apiToken={"name": "ci"})
    read = api.application_api_token.get(applicationId=app_id, apiTokenId=created["id"])
    assert read["id"] == created["id"]
    patched = api.application_api_token.patch(applicationId=app_id, apiTokenId=created["id"],
                                              apiToken={"status": "inactive"})
    assert patched["status"] == "inactive"


def test_client_deleted_application_api_token_stops_working(api, app_id, server):
    created = api.application_api_tokens.post(applicationId=app_id,
                                              apiToken={"name": "ci", "scope": ["devices.get"]})
    as_token = Client(auth_token=created["token"], url=server.url)
    assert as_token.devices.get(applicationId=app_id)["totalCount"] == 0
    api.application_api_token.delete(applicationId=app_id, apiTokenId=created["id"])
    assert refusal(lambda: as_token.devices.get(applicationId=app_id)).status == 401


# ---------------------------------------------------------------- application keys


def test_client_creates_a_key_whose_secret_is_shown_once(api, app_id):
    created = api.application_keys.post(applicationId=app_id, applicationKey={"name": "k"})
    assert created["secret"]
    read = api.application_key.get(applicationId=app_id, applicationKeyId=created["id"])
    assert "secret" not in read


def test_client_lists_keys_with_an_advanced_query(api, app_id):
    api.application_keys.post(applicationId=app_id, applicationKey={"name": "open"})
    narrow = api.application_keys.post(applicationId=app_id, applicationKey={
        "name": "narrow", "filterType": "whitelist", "deviceIds": ["a" * 24]})
    listed = api.application_keys.get(applicationId=app_id,
                                      query={"filterType": {"$eq": "whitelist"}})
    assert [k["id"] for k in listed["items"]] == [narrow["id"]]


def test_client_patches_a_key(api, app_id):
    created = api.application_keys.post(applicationId=app_id, applicationKey={"name": "k"})
    patched = api.application_key.patch(applicationId=app_id, applicationKeyId=created["id"],
                                        applicationKey={"status": "inactive"})
    assert patched["status"] == "inactive"


def test_client_deletes_a_key(api, app_id):
    created = api.application_keys.post(applicationId=app_id, applicationKey={"name": "k"})
    api.application_key.delete(applicationId=app_id, applicationKeyId=created["id"])
    error = refusal(lambda: api.application_key.get(applicationId=app_id,
                                                    applicationKeyId=created["id"]))
    assert error.status == 404


# ---------------------------------------------------------------- devices


def test_client_advanced_query_as_a_nested_dict_selects_matching_devices(api, app_id, fleet):
    listed = api.devices.get(applicationId=app_id,
                             query={"$and": [{"name": {"$startsWith": "Z"}}]})
    assert names(listed) == {"Zeta 1", "Zeta 2"}


def test_client_advanced_query_with_or_and_tags(api, app_id, fleet):
    listed = api.devices.get(applicationId=app_id, query={"$or": [
        {"deviceClass": "gateway"}, {"tags": {"$tagKey": "zone", "$tagValue": "north"}}]})
    assert names(listed) == {"Zeta 1", "Zeta 2", "Alpha"}


def test_client_tag_filter_list_is_flattened_into_bracket_form(api, app_id, fleet):
    listed = api.devices.get(applicationId=app_id, tagFilter=[{"key": "zone", "value": "north"}])
    assert names(listed) == {"Zeta 1", "Alpha"}


def test_client_pages_and_sorts_devices(api, app_id, fleet):
    first = api.devices.get(applicationId=app_id, sortField="name", sortDirection="desc",
                            perPage=2, page=0)
    second = api.devices.get(applicationId=app_id, sortField="name", sortDirection="desc",
                             perPage=2, page=1)
    assert [d["name"] for d in first["items"] + second["items"]] == ["Zeta 2", "Zeta 1", "Alpha"]
    assert first["totalCount"] == 3


def test_client_creates_a_device_with_tags_as_object(api, app_id):
    created = api.devices.post(applicationId=app_id, tagsAsObject="true",
                               device={"name": "Obj", "tags": [{"key": "k", "value": "v"}]})
    assert created["tags"] == {"k": "v"}


def test_client_bulk_patches_devices(api, app_id, fleet):
    result = api.devices.patch(applicationId=app_id, patchInfo={
        "query": {"tags": {"zone": "south"}}, "updateFields": {"description": "south side"}})
    assert result["updated"] == 1
    assert api.device.get(applicationId=app_id, deviceId=fleet["Zeta 2"])["description"] == \
        "south side"


def test_client_bulk_deletes_and_restores_devices(api, app_id, fleet):
    removed = api.devices.delete(applicationId=app_id,
                                 options={"query": {"name": {"$startsWith": "Zeta"}}})
    assert removed["removed"] == 2
    assert names(api.devices.get(applicationId=app_id)) == {"Alpha"}
    assert names(api.devices.get(applicationId=app_id, queryDeleted="true")) == {"Zeta 1",
                                                                                 "Zeta 2"}
    restored = api.devices.restore(applicationId=app_id, options={"query": {"name": "Zeta 1"}})
    assert restored["restored"] == 1
    assert names(api.devices.get(applicationId=app_id)) == {"Alpha", "Zeta 1"}


def test_client_lists_attribute_names(api, app_id, fleet):
    assert api.devices.attribute_names(applicationId=app_id)["attributeNames"] == [
        "rssi", "temperature"]


def test_client_lists_device_names_with_a_query(api, app_id, fleet):
    found = api.devices.device_names(applicationId=app_id, query={"deviceClass": "gateway"})
    assert [d["name"] for d in found["deviceSummary"]] == ["Zeta 2"]


def test_client_lists_tag_keys_and_values(api, app_id, fleet):
    assert api.devices.tag_keys(applicationId=app_id)["tagKeys"] == ["zone"]
    assert api.devices.tag_values(applicationId=app_id, key="zone")["tagValues"] == [
        "north", "south"]


def test_client_reads_a_device(api, app_id, fleet):
    read = api.device.get(applicationId=app_id, deviceId=fleet["Alpha"], tagsAsObject="true")
    assert read["tags"] == {"zone": "north"}


def test_client_patches_a_device(api, app_id, fleet):
    patched = api.device.patch(applicationId=app_id, deviceId=fleet["Alpha"],
                               device={"name": "Alpha prime"})
    assert patched["name"] == "Alpha prime"


def test_client_deletes_a_device(api, app_id, fleet):
    assert api.device.delete(applicationId=app_id, deviceId=fleet["Alpha"]) == {"success": True}
    error = refusal(lambda: api.device.get(applicationId=app_id, deviceId=fleet["Alpha"]))
    assert error.status == 404


# ---------------------------------------------------------------- attributes


def test_client_lists_device_attributes(api, app_id, fleet):
    listed = api.device_attributes.get(applicationId=app_id, deviceId=fleet["Zeta 1"])
    assert [a["name"] for a in listed["items"]] == ["temperature"]


def test_client_creates_and_reads_a_device_attribute(api, app_id, fleet):
    ids = {"applicationId": app_id, "deviceId": fleet["Alpha"]}
    api.device_attributes.post(**ids, deviceAttribute={"name": "speed", "dataType": "number"})
    assert api.device_attribute.get(**ids, name="speed")["dataType"] == "number"


def test_client_patches_a_device_attribute(api, app_id, fleet):
    ids = {"applicationId": app_id, "deviceId": fleet["Zeta 1"]}
    patched = api.device_attribute.patch(**ids, name="temperature",
                                         deviceAttribute={"description": "Celsius"})
    assert patched["description"] == "Celsius"


def test_client_deletes_a_device_attribute(api, app_id, fleet):
    ids = {"applicationId": app_id, "deviceId": fleet["Zeta 1"]}
    api.device_attribute.delete(**ids, name="temperature")
    assert refusal(lambda: api.device_attribute.get(**ids, name="temperature")).status == 404


# ---------------------------------------------------------------- recipes


@pytest.fixture
def recipe(api, app_id) -> dict[str, Any]:
    return api.device_recipes.post(applicationId=app_id, deviceRecipe={
        "name": "Sensor recipe", "deviceName": "Sensor",
        "tags": [{"key": "kind", "value": "sensor"}],
        "attributes": [{"name": "level", "dataType": "number"}]})


def test_client_lists_device_recipes(api, app_id, recipe):
    listed = api.device_recipes.get(applicationId=app_id, attributesAsObject="true")
    assert [r["id"] for r in listed["items"]] == [recipe["id"]]
    assert listed["items"][0]["attributes"] == {"level": {"dataType": "number"}}


def test_client_reads_and_patches_a_device_recipe(api, app_id, recipe):
    ids = {"applicationId": app_id, "deviceRecipeId": recipe["id"]}
    assert api.device_recipe.get(**ids) == recipe
    assert api.device_recipe.patch(**ids, deviceRecipe={"deviceName": "Probe"})[
        "deviceName"] == "Probe"


def test_client_deletes_a_device_recipe(api, app_id, recipe):
    ids = {"applicationId": app_id, "deviceRecipeId": recipe["id"]}
    api.device_recipe.delete(**ids)
    assert refusal(lambda: api.device_recipe.get(**ids)).status == 404


def test_client_bulk_creates_devices_from_csv(api, app_id, recipe):
    result = api.device_recipe.bulk_create(
        applicationId=app_id, deviceRecipeId=recipe["id"],
        bulkInfo={"csv": "name,description\nTank A,east\nTank B,west\n"})
    assert (result["created"], result["failed"]) == (2, 0)
    rows = list(csv.DictReader(io.StringIO(result["csvResult"])))
    devices = {d["id"]: d for d in api.devices.get(applicationId=app_id)["items"]}
    assert {devices[r["id"]]["name"] for r in rows} == {"Tank A", "Tank B"}
    assert all(d["tags"] == [{"key": "kind", "value": "sensor"}] for d in devices.values())
