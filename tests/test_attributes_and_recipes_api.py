"""deviceAttribute(s).* and deviceRecipe(s).* over HTTP, including bulk creation from CSV."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import TEST_SETTINGS, bearer

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RECIPE = {
    "name": "Pump recipe", "deviceName": "Pump", "deviceDescription": "A pump",
    "deviceClass": "standalone", "tags": [{"key": "kind", "value": "pump"}],
    "attributes": [{"name": "pressure", "dataType": "number"}],
}


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: every test works in an application it creates."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def app(client, auth) -> str:
    response = client.post("/applications", headers=auth, json={"name": "Recipes"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def device(client, auth, app) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/devices", headers=auth, json={
        "name": "Boiler", "attributes": [{"name": "temperature", "dataType": "number"},
                                         {"name": "mode", "dataType": "string"}]})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def recipe(client, auth, app) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/device-recipes", headers=auth, json=RECIPE)
    assert response.status_code == 201, response.text
    return response.json()


def attributes_url(device: dict[str, Any]) -> str:
    return f"/applications/{device['applicationId']}/devices/{device['id']}/attributes"


def recipe_url(recipe: dict[str, Any]) -> str:
    return f"/applications/{recipe['applicationId']}/device-recipes/{recipe['id']}"


def bulk_create(client, auth, recipe: dict[str, Any], **body: Any):
    return client.post(f"{recipe_url(recipe)}/bulkCreate", headers=auth, json=body)


def result_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.json()["csvResult"])))


def live_devices(client, auth, app: str) -> list[dict[str, Any]]:
    return client.get(f"/applications/{app}/devices", headers=auth).json()["items"]


# ---------------------------------------------------------------- attributes


def test_created_attribute_reads_back(client, auth, device):
    body = {"name": "humidity", "dataType": "number", "description": "Relative, %",
            "attributeTags": {"unit": "percent"}}
    created = client.post(attributes_url(device), headers=auth, json=body)
    assert created.status_code == 201
    read = client.get(f"{attributes_url(device)}/humidity", headers=auth)
    assert read.status_code == 200
    assert read.json() == created.json()
    assert read.json() == {**body, "applicationId": device["applicationId"],
                           "deviceId": device["id"]}


def test_created_attribute_appears_on_the_device(client, auth, device):
    client.post(attributes_url(device), headers=auth, json={"name": "rpm", "dataType": "number"})
    url = attributes_url(device).removesuffix("/attributes")
    names = [a["name"] for a in client.get(url, headers=auth).json()["attributes"]]
    assert names == ["temperature", "mode", "rpm"]


def test_duplicate_attribute_name_is_400(client, auth, device):
    response = client.post(attributes_url(device), headers=auth,
                           json={"name": "temperature", "dataType": "string"})
    assert response.status_code == 400
    assert "name" in response.json()["message"]


def test_attribute_collection_sorts_and_counts(client, auth, device):
    body = client.get(attributes_url(device), headers=auth,
                      params={"sortField": "name", "sortDirection": "desc"}).json()
    assert [a["name"] for a in body["items"]] == ["temperature", "mode"]
    assert (body["count"], body["totalCount"]) == (2, 2)
    assert (body["sortField"], body["sortDirection"]) == ("name", "desc")
    assert (body["applicationId"], body["deviceId"]) == (device["applicationId"], device["id"])


def test_attribute_collection_glob_filters_by_data_type(client, auth, device):
    body = client.get(attributes_url(device), headers=auth,
                      params={"filterField": "dataType", "filter": "num*"}).json()
    assert [a["name"] for a in body["items"]] == ["temperature"]


def test_attribute_patch_renames_and_bumps_the_device(client, auth, device):
    response = client.patch(f"{attributes_url(device)}/mode", headers=auth,
                            json={"name": "operatingMode", "description": "auto/manual"})
    assert response.status_code == 200
    assert response.json()["name"] == "operatingMode"
    assert client.get(f"{attributes_url(device)}/mode", headers=auth).status_code == 404
    renamed = client.get(f"{attributes_url(device)}/operatingMode", headers=auth).json()
    assert renamed["description"] == "auto/manual"
    device_url = attributes_url(device).removesuffix("/attributes")
    assert client.get(device_url, headers=auth).json()["lastUpdated"] > device["lastUpdated"]


def test_attribute_rename_onto_an_existing_name_is_400(client, auth, device):
    response = client.patch(f"{attributes_url(device)}/mode", headers=auth,
                            json={"name": "temperature"})
    assert response.status_code == 400


def test_deleted_attribute_is_gone(client, auth, device):
    response = client.delete(f"{attributes_url(device)}/mode", headers=auth)
    assert response.json() == {"success": True}
    assert client.get(f"{attributes_url(device)}/mode", headers=auth).status_code == 404
    listed = client.get(attributes_url(device), headers=auth).json()["items"]
    assert [a["name"] for a in listed] == ["temperature"]


def test_unknown_attribute_is_404(client, auth, device):
    response = client.get(f"{attributes_url(device)}/nothing", headers=auth)
    assert response.status_code == 404
    assert set(response.json()) == {"type", "message"}


def test_attributes_of_a_deleted_device_are_404(client, auth, device):
    client.delete(attributes_url(device).removesuffix("/attributes"), headers=auth)
    assert client.get(attributes_url(device), headers=auth).status_code == 404


# ---------------------------------------------------------------- recipes


def test_created_recipe_reads_back_equal(client, auth, recipe):
    read = client.get(recipe_url(recipe), headers=auth)
    assert read.status_code == 200
    assert read.json() == recipe
    assert {k: recipe[k] for k in RECIPE} == RECIPE


def test_recipe_id_is_24_hex_and_equals_device_recipe_id(client, auth, recipe):
    assert OBJECT_ID.match(recipe["id"])
    assert recipe["deviceRecipeId"] == recipe["id"]
    assert ISO_UTC.match(recipe["creationDate"])


def test_recipe_last_updated_strictly_increases_on_every_patch(client, auth, recipe):
    stamps = [recipe["lastUpdated"]]
    for name in ("one", "two", "three"):
        patched = client.patch(recipe_url(recipe), headers=auth, json={"deviceName": name})
        assert patched.status_code == 200
        stamps.append(patched.json()["lastUpdated"])
    assert stamps == sorted(set(stamps))


def test_recipe_patch_reads_back(client, auth, recipe):
    patched = client.patch(recipe_url(recipe), headers=auth,
                           json={"tags": [{"key": "kind", "value": "valve"}]}).json()
    assert patched["tags"] == [{"key": "kind", "value": "valve"}]
    assert client.get(recipe_url(recipe), headers=auth).json() == patched


def test_recipe_tags_as_object(client, auth, recipe):
    read = client.get(recipe_url(recipe), headers=auth, params={"tagsAsObject": "true"}).json()
    assert read["tags"] == {"kind": "pump"}


def test_recipe_collection_has_paging_fields_and_filters(client, auth, app, recipe):
    client.post(f"/applications/{app}/device-recipes", headers=auth, json={"name": "Valve"})
    body = client.get(f"/applications/{app}/device-recipes", headers=auth,
                      params={"filterField": "name", "filter": "pump*"}).json()
    assert [r["id"] for r in body["items"]] == [recipe["id"]]
    assert (body["count"], body["totalCount"], body["page"]) == (1, 1, 0)
    assert (body["sortField"], body["sortDirection"]) == ("name", "asc")


def test_deleted_recipe_is_gone(client, auth, recipe):
    assert client.delete(recipe_url(recipe), headers=auth).json() == {"success": True}
    assert client.get(recipe_url(recipe), headers=auth).status_code == 404


# ---------------------------------------------------------------- bulk create


def test_bulk_create_makes_one_device_per_csv_row(client, auth, app, recipe):
    response = bulk_create(client, auth, recipe,
                           csv="name,description\nPump 1,first\nPump 2,second\n")
    assert response.status_code == 201
    assert (response.json()["created"], response.json()["failed"]) == (2, 0)
    devices = {d["name"]: d for d in live_devices(client, auth, app)}
    assert set(devices) == {"Pump 1", "Pump 2"}
    assert devices["Pump 1"]["description"] == "first"


def test_bulk_created_devices_follow_the_recipe(client, auth, app, recipe):
    bulk_create(client, auth, recipe, csv="name\nPump A\n")
    (made,) = live_devices(client, auth, app)
    assert made["tags"] == RECIPE["tags"]
    assert made["attributes"] == RECIPE["attributes"]
    assert made["description"] == RECIPE["deviceDescription"]


def test_bulk_create_result_lists_each_created_device_id(client, auth, app, recipe):
    response = bulk_create(client, auth, recipe, csv="name\nPump A\nPump B\n")
    rows = result_rows(response)
    ids = {d["name"]: d["id"] for d in live_devices(client, auth, app)}
    assert [(r["name"], r["id"]) for r in rows] == [("Pump A", ids["Pump A"]),
                                                     ("Pump B", ids["Pump B"])]


def test_bulk_create_reads_the_named_columns(client, auth, app, recipe):
    response = bulk_create(client, auth, recipe, nameColumn="Label", descriptionColumn="Notes",
                           csv="Label,Notes\nTank pump,by the tank\n")
    assert response.json()["created"] == 1
    (made,) = live_devices(client, auth, app)
    assert (made["name"], made["description"]) == ("Tank pump", "by the tank")


def test_bulk_create_without_the_name_column_is_400_and_creates_nothing(client, auth, app,
                                                                         recipe):
    response = bulk_create(client, auth, recipe, csv="label\nPump 1\n")
    assert response.status_code == 400
    assert "csv" in response.json()["message"]
    assert live_devices(client, auth, app) == []


def test_bulk_create_reports_a_failing_row_and_creates_the_rest(client, auth, app, recipe):
    response = bulk_create(client, auth, recipe,
                           csv=f"name,gatewayId\nGood,\nBad,{'0' * 24}\n")
    assert (response.json()["created"], response.json()["failed"]) == (1, 1)
    bad = next(r for r in result_rows(response) if r["name"] == "Bad")
    assert bad["id"] == "" and "gatewayId" in bad["error"]
    assert [d["name"] for d in live_devices(client, auth, app)] == ["Good"]


def test_bulk_create_by_count_names_devices_after_the_recipe(client, auth, app, recipe):
    response = bulk_create(client, auth, recipe, count=3)
    assert response.json()["created"] == 3
    names = sorted(d["name"] for d in live_devices(client, auth, app))
    assert names == ["Pump 1", "Pump 2", "Pump 3"]


def test_bulk_create_with_unique_keys_gives_each_device_its_own_login(client, auth, app,
                                                                      recipe):
    response = bulk_create(client, auth, recipe, csv="name\nP1\nP2\n", makeUniqueKeySecret=True)
    rows = result_rows(response)
    assert len({r["key"] for r in rows}) == 2
    first, second = rows
    login = client.post("/auth/device", json={"deviceId": first["id"], "key": first["key"],
                                              "secret": first["secret"]})
    assert login.status_code == 200
    token = bearer(login.json()["token"])
    assert client.get(f"/applications/{app}/devices/{second['id']}",
                      headers=token).status_code == 403
    wrong_device = client.post("/auth/device", json={
        "deviceId": second["id"], "key": first["key"], "secret": first["secret"]})
    assert wrong_device.status_code == 401
