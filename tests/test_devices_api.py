"""devices.* and device.* over HTTP: records, collections, advanced queries, soft delete."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import TEST_SETTINGS

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# The device set most tests query: names, classes and tags chosen so each
# operator below selects a different, non-trivial subset.
FLEET: list[dict[str, Any]] = [
    {"name": "Alpha", "deviceClass": "standalone",
     "tags": [{"key": "floor", "value": "1"}, {"key": "zone", "value": "north"}],
     "attributes": [{"name": "temperature", "dataType": "number"}]},
    {"name": "Bravo", "deviceClass": "gateway",
     "tags": [{"key": "floor", "value": "2"}, {"key": "zone", "value": "north"}],
     "attributes": [{"name": "rssi", "dataType": "number"},
                    {"name": "firmware", "dataType": "string"}]},
    {"name": "Charlie", "deviceClass": "standalone",
     "tags": [{"key": "floor", "value": "3"}, {"key": "zone", "value": "south"}],
     "attributes": [{"name": "temperature", "dataType": "number"}]},
    {"name": "alpine", "deviceClass": "floating", "tags": [{"key": "floor", "value": "1"}],
     "attributes": [{"name": "location", "dataType": "gps"}]},
    {"name": "Delta Z", "deviceClass": "standalone", "tags": [], "attributes": []},
]
ALL_NAMES = {d["name"] for d in FLEET}


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module (building one costs ~1 s): every test that
    writes does so in its own new application, so tests cannot see each other."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def fresh_app(client, auth) -> str:
    """An application of the logged-in user with no devices yet."""
    response = client.post("/applications", headers=auth, json={"name": "Device tests"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def fleet(client, auth, fresh_app) -> dict[str, str]:
    """FLEET created in fresh_app: name -> device id."""
    ids = {}
    for body in FLEET:
        response = client.post(f"/applications/{fresh_app}/devices", headers=auth, json=body)
        assert response.status_code == 201, response.text
        ids[body["name"]] = response.json()["id"]
    return ids


def devices_url(app: str) -> str:
    return f"/applications/{app}/devices"


def list_names(client, auth, app: str, params: Any = None) -> set[str]:
    response = client.get(devices_url(app), headers=auth, params=params or {})
    assert response.status_code == 200, response.text
    return {d["name"] for d in response.json()["items"]}


def bracket_form(value: Any, prefix: str) -> list[tuple[str, str]]:
    """Flatten a query the way the official client flattens nested params."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in bracket_form(v, f"{prefix}[{k}]")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in bracket_form(v, f"{prefix}[{i}]")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


def create_device(client, auth, app: str, **body: Any) -> dict[str, Any]:
    response = client.post(devices_url(app), headers=auth, json={"name": "Probe", **body})
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- records


def test_created_device_reads_back_equal(client, auth, fresh_app):
    created = create_device(client, auth, fresh_app, **FLEET[1])
    read = client.get(f"{devices_url(fresh_app)}/{created['id']}", headers=auth)
    assert read.status_code == 200
    assert read.json() == created


def test_device_id_is_24_hex_and_equals_device_id(client, auth, fresh_app):
    created = create_device(client, auth, fresh_app)
    assert OBJECT_ID.match(created["id"])
    assert created["deviceId"] == created["id"]
    assert created["applicationId"] == fresh_app


def test_device_creation_date_is_iso_utc(client, auth, fresh_app):
    created = create_device(client, auth, fresh_app)
    assert ISO_UTC.match(created["creationDate"])
    assert ISO_UTC.match(created["lastUpdated"])


def test_device_last_updated_strictly_increases_on_every_patch(client, auth, fresh_app):
    created = create_device(client, auth, fresh_app)
    stamps = [created["lastUpdated"]]
    for i in range(3):
        response = client.patch(f"{devices_url(fresh_app)}/{created['id']}", headers=auth,
                                json={"description": f"revision {i}"})
        assert response.status_code == 200
        stamps.append(response.json()["lastUpdated"])
    assert stamps == sorted(set(stamps))
    assert all(ISO_UTC.match(s) for s in stamps)


def test_device_patch_changes_only_the_given_fields(client, auth, fresh_app):
    created = create_device(client, auth, fresh_app, **FLEET[0])
    response = client.patch(f"{devices_url(fresh_app)}/{created['id']}", headers=auth,
                            json={"name": "Renamed"})
    patched = response.json()
    assert patched["name"] == "Renamed"
    assert patched["tags"] == created["tags"]
    assert patched["attributes"] == created["attributes"]
    read = client.get(f"{devices_url(fresh_app)}/{created['id']}", headers=auth).json()
    assert read == patched


def test_device_patch_with_gateway_that_is_not_a_gateway_is_400(client, auth, fleet, fresh_app):
    response = client.patch(f"{devices_url(fresh_app)}/{fleet['Alpha']}", headers=auth,
                            json={"gatewayId": fleet["Charlie"]})
    assert response.status_code == 400
    assert "gatewayId" in response.json()["message"]


def test_device_can_be_attached_to_a_gateway(client, auth, fleet, fresh_app):
    response = client.patch(f"{devices_url(fresh_app)}/{fleet['Alpha']}", headers=auth,
                            json={"deviceClass": "peripheral", "gatewayId": fleet["Bravo"]})
    assert response.status_code == 200
    assert response.json()["gatewayId"] == fleet["Bravo"]


def test_unknown_device_is_404(client, auth, fresh_app):
    response = client.get(f"{devices_url(fresh_app)}/{'0' * 24}", headers=auth)
    assert response.status_code == 404
    assert set(response.json()) == {"type", "message"}


def test_device_of_another_application_is_404_under_this_one(client, auth, fleet, app_id):
    response = client.get(f"{devices_url(app_id)}/{fleet['Alpha']}", headers=auth)
    assert response.status_code == 404


def test_tags_as_object_renders_tags_as_a_map(client, auth, fleet, fresh_app):
    response = client.get(f"{devices_url(fresh_app)}/{fleet['Bravo']}", headers=auth,
                          params={"tagsAsObject": "true"})
    assert response.json()["tags"] == {"floor": "2", "zone": "north"}


def test_attributes_as_object_renders_attributes_keyed_by_name(client, auth, fleet, fresh_app):
    response = client.get(f"{devices_url(fresh_app)}/{fleet['Bravo']}", headers=auth,
                          params={"attributesAsObject": "true"})
    assert response.json()["attributes"] == {"rssi": {"dataType": "number"},
                                             "firmware": {"dataType": "string"}}


def test_device_list_honours_tags_and_attributes_as_object(client, auth, fleet, fresh_app):
    response = client.get(devices_url(fresh_app), headers=auth,
                          params={"tagsAsObject": "true", "attributesAsObject": "true",
                                  "filterField": "name", "filter": "Alpha"})
    (item,) = response.json()["items"]
    assert item["tags"] == {"floor": "1", "zone": "north"}
    assert item["attributes"] == {"temperature": {"dataType": "number"}}


def test_create_with_tags_as_object_answers_in_object_form(client, auth, fresh_app):
    response = client.post(devices_url(fresh_app), headers=auth, params={"tagsAsObject": "true"},
                           json={"name": "Obj", "tags": [{"key": "k", "value": "v"}]})
    assert response.status_code == 201
    assert response.json()["tags"] == {"k": "v"}


def test_exclude_connection_info_drops_it(client, auth, fleet, fresh_app):
    url = f"{devices_url(fresh_app)}/{fleet['Alpha']}"
    assert "connectionInfo" in client.get(url, headers=auth).json()
    trimmed = client.get(url, headers=auth, params={"excludeConnectionInfo": "true"}).json()
    assert "connectionInfo" not in trimmed


# ---------------------------------------------------------------- collection


def test_device_collection_has_paging_and_sorting_fields(client, auth, fleet, fresh_app):
    body = client.get(devices_url(fresh_app), headers=auth, params={"perPage": 2}).json()
    assert body["count"] == 2 == len(body["items"])
    assert body["totalCount"] == len(FLEET)
    assert (body["perPage"], body["page"]) == (2, 0)
    assert (body["sortField"], body["sortDirection"]) == ("name", "asc")
    assert body["applicationId"] == fresh_app


@settings(max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_page=st.integers(min_value=1, max_value=7),
       sort_field=st.sampled_from(["name", "creationDate", "id", "lastUpdated"]),
       direction=st.sampled_from(["asc", "desc"]))
def test_pages_partition_the_collection(client, auth, fleet, fresh_app, per_page, sort_field,
                                        direction):
    seen: list[str] = []
    pages = -(-len(FLEET) // per_page)
    for page in range(pages + 1):  # one page past the end must be empty
        body = client.get(devices_url(fresh_app), headers=auth, params={
            "perPage": per_page, "page": page, "sortField": sort_field,
            "sortDirection": direction}).json()
        assert body["totalCount"] == len(FLEET)
        assert body["count"] == len(body["items"]) <= per_page
        seen.extend(d["id"] for d in body["items"])
    assert sorted(seen) == sorted(fleet.values())
    assert len(seen) == len(set(seen))


def test_sort_by_name_ascending_is_case_insensitive(client, auth, fleet, fresh_app):
    body = client.get(devices_url(fresh_app), headers=auth, params={"sortField": "name"}).json()
    names = [d["name"] for d in body["items"]]
    assert names == sorted(names, key=str.casefold)


def test_sort_descending_is_the_reverse_of_ascending(client, auth, fleet, fresh_app):
    def order(direction: str) -> list[str]:
        body = client.get(devices_url(fresh_app), headers=auth,
                          params={"sortField": "creationDate", "sortDirection": direction}).json()
        return [d["id"] for d in body["items"]]

    assert order("desc") == list(reversed(order("asc")))


def test_glob_filter_matches_whole_names_with_star(client, auth, fleet, fresh_app):
    names = list_names(client, auth, fresh_app, {"filterField": "name", "filter": "al*"})
    assert names == {"Alpha", "alpine"}


def test_glob_filter_star_in_the_middle(client, auth, fleet, fresh_app):
    assert list_names(client, auth, fresh_app,
                      {"filterField": "name", "filter": "*l*e"}) == {"Charlie", "alpine"}


def test_glob_filter_without_star_is_an_exact_match(client, auth, fleet, fresh_app):
    assert list_names(client, auth, fresh_app, {"filterField": "name", "filter": "Alp"}) == set()


def test_device_class_filter_selects_that_class(client, auth, fleet, fresh_app):
    assert list_names(client, auth, fresh_app, {"deviceClass": "gateway"}) == {"Bravo"}


def test_tag_filter_in_bracket_form_selects_tagged_devices(client, auth, fleet, fresh_app):
    params = [("tagFilter[0][key]", "zone"), ("tagFilter[0][value]", "north")]
    assert list_names(client, auth, fresh_app, params) == {"Alpha", "Bravo"}


# ---------------------------------------------------------------- advanced queries

# operator -> (query, names it selects from FLEET)
ADVANCED_QUERIES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "$eq": ({"name": {"$eq": "Bravo"}}, {"Bravo"}),
    "plain value": ({"deviceClass": "standalone"}, {"Alpha", "Charlie", "Delta Z"}),
    "$ne": ({"deviceClass": {"$ne": "standalone"}}, {"Bravo", "alpine"}),
    "$gt": ({"name": {"$gt": "Bravo"}}, {"Charlie", "Delta Z", "alpine"}),
    "$lt": ({"name": {"$lt": "Bravo"}}, {"Alpha"}),
    "$in": ({"name": {"$in": ["Alpha", "Charlie", "Nobody"]}}, {"Alpha", "Charlie"}),
    "$nin": ({"deviceClass": {"$nin": ["standalone", "gateway"]}}, {"alpine"}),
    "$startsWith": ({"name": {"$startsWith": "Al"}}, {"Alpha"}),
    "$endsWith": ({"name": {"$endsWith": "e"}}, {"Charlie", "alpine"}),
    "$contains": ({"name": {"$contains": "ph"}}, {"Alpha"}),
    "$ci": ({"name": {"$startsWith": "al", "$ci": True}}, {"Alpha", "alpine"}),
    "$and": ({"$and": [{"deviceClass": "standalone"}, {"name": {"$startsWith": "C"}}]},
             {"Charlie"}),
    "$or": ({"$or": [{"name": "Bravo"}, {"deviceClass": "floating"}]}, {"Bravo", "alpine"}),
    "$nor": ({"$nor": [{"name": "Bravo"}, {"deviceClass": "floating"}]},
             {"Alpha", "Charlie", "Delta Z"}),
    "tag key and value": ({"tags": {"$tagKey": "zone", "$tagValue": "north"}},
                          {"Alpha", "Bravo"}),
    "tag key only": ({"tags": {"$tagKey": "zone"}}, {"Alpha", "Bravo", "Charlie"}),
    "tag value $in": ({"tags": {"$tagKey": "floor", "$tagValue": {"$in": ["1", "3"]}}},
                      {"Alpha", "Charlie", "alpine"}),
    "tag map": ({"tags": {"floor": "1", "zone": "north"}}, {"Alpha"}),
    "no tags": ({"tags": None}, {"Delta Z"}),
    "attributeName": ({"attributeName": "temperature"}, {"Alpha", "Charlie"}),
}


@pytest.mark.parametrize("case", list(ADVANCED_QUERIES))
def test_advanced_query_as_json_selects_exactly_the_matching_devices(client, auth, fleet,
                                                                     fresh_app, case):
    query, expected = ADVANCED_QUERIES[case]
    assert list_names(client, auth, fresh_app, {"query": json.dumps(query)}) == expected


@pytest.mark.parametrize("case", [c for c in ADVANCED_QUERIES if c != "no tags"])
def test_advanced_query_in_bracket_form_selects_exactly_the_matching_devices(
        client, auth, fleet, fresh_app, case):
    query, expected = ADVANCED_QUERIES[case]
    assert list_names(client, auth, fresh_app, bracket_form(query, "query")) == expected


def test_bracket_query_string_is_read_as_sent(client, auth, fleet, fresh_app):
    url = f"{devices_url(fresh_app)}?query[$and][0][name][$startsWith]=Ch"
    body = client.get(url, headers=auth).json()
    assert [d["name"] for d in body["items"]] == ["Charlie"]
    assert body["query"] == {"$and": [{"name": {"$startsWith": "Ch"}}]}


def test_advanced_query_overrides_the_simple_filter(client, auth, fleet, fresh_app):
    names = list_names(client, auth, fresh_app, {"filterField": "name", "filter": "Alpha",
                                                 "query": json.dumps({"name": "Bravo"})})
    assert names == {"Bravo"}


def test_advanced_query_with_unknown_field_is_400_naming_it(client, auth, fleet, fresh_app):
    response = client.get(devices_url(fresh_app), headers=auth,
                          params={"query": json.dumps({"colour": "red"})})
    assert response.status_code == 400
    assert "colour" in response.json()["message"]


def test_advanced_query_that_is_not_json_is_400(client, auth, fresh_app):
    response = client.get(devices_url(fresh_app), headers=auth, params={"query": "{name:"})
    assert response.status_code == 400
    assert "query" in response.json()["message"]


# ---------------------------------------------------------------- soft delete / restore


def test_deleted_device_is_hidden_from_list_and_get(client, auth, fleet, fresh_app):
    assert client.delete(f"{devices_url(fresh_app)}/{fleet['Alpha']}",
                         headers=auth).json() == {"success": True}
    assert "Alpha" not in list_names(client, auth, fresh_app)
    assert client.get(f"{devices_url(fresh_app)}/{fleet['Alpha']}",
                      headers=auth).status_code == 404


def test_query_deleted_lists_only_deleted_devices(client, auth, fleet, fresh_app):
    client.delete(f"{devices_url(fresh_app)}/{fleet['Alpha']}", headers=auth)
    body = client.get(devices_url(fresh_app), headers=auth,
                      params={"queryDeleted": "true"}).json()
    assert [d["name"] for d in body["items"]] == ["Alpha"]
    assert ISO_UTC.match(body["items"][0]["deletedAt"])


def test_restore_brings_a_deleted_device_back(client, auth, fleet, fresh_app):
    client.delete(f"{devices_url(fresh_app)}/{fleet['Alpha']}", headers=auth)
    response = client.post(f"{devices_url(fresh_app)}/restore", headers=auth,
                           json={"query": {"name": "Alpha"}})
    assert response.status_code == 200
    assert response.json()["restored"] == 1
    restored = client.get(f"{devices_url(fresh_app)}/{fleet['Alpha']}", headers=auth)
    assert restored.status_code == 200
    assert "deletedAt" not in restored.json()


def test_bulk_delete_removes_exactly_the_matching_devices(client, auth, fleet, fresh_app):
    response = client.post(f"{devices_url(fresh_app)}/delete", headers=auth,
                           json={"query": {"deviceClass": "standalone"}})
    assert response.status_code == 200
    assert response.json()["removed"] == 3
    assert list_names(client, auth, fresh_app) == {"Bravo", "alpine"}


def test_bulk_patch_updates_exactly_the_matching_devices(client, auth, fleet, fresh_app):
    response = client.patch(devices_url(fresh_app), headers=auth, json={
        "query": {"tags": {"$tagKey": "zone", "$tagValue": "north"}},
        "updateOperations": [{"operation": "set", "target": "description",
                              "value": "north wing"}]})
    assert response.status_code == 200
    assert response.json()["updated"] == 2
    described = list_names(client, auth, fresh_app,
                           {"query": json.dumps({"$and": [{"tags": {"zone": "north"}}]})})
    assert described == {"Alpha", "Bravo"}
    for name in ALL_NAMES:
        device = client.get(f"{devices_url(fresh_app)}/{fleet[name]}", headers=auth).json()
        assert (device["description"] == "north wing") == (name in {"Alpha", "Bravo"})


# ---------------------------------------------------------------- name lists


def test_attribute_names_lists_every_attribute_once_sorted(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/attributeNames", headers=auth).json()
    assert body["attributeNames"] == ["firmware", "location", "rssi", "temperature"]


def test_attribute_names_filtered_by_data_type(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/attributeNames", headers=auth,
                      params={"dataType": "number"}).json()
    assert body["attributeNames"] == ["rssi", "temperature"]


def test_device_names_filtered_by_prefix_case_insensitively(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/deviceNames", headers=auth,
                      params={"startsWith": "al"}).json()
    assert [(d["name"], d["id"]) for d in body["deviceSummary"]] == [
        ("Alpha", fleet["Alpha"]), ("alpine", fleet["alpine"])]


def test_tag_keys_lists_distinct_keys(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/tagKeys", headers=auth).json()
    assert body["tagKeys"] == ["floor", "zone"]


def test_tag_values_lists_the_values_of_one_key(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/tagValues", headers=auth,
                      params={"key": "zone"}).json()
    assert body["tagValues"] == ["north", "south"]


def test_name_lists_honour_an_advanced_query(client, auth, fleet, fresh_app):
    body = client.get(f"{devices_url(fresh_app)}/tagValues", headers=auth,
                      params={"key": "floor",
                              "query": json.dumps({"deviceClass": "standalone"})}).json()
    assert body["tagValues"] == ["1", "3"]


def test_creation_dates_parse_as_utc_instants(client, auth, fleet, fresh_app):
    body = client.get(devices_url(fresh_app), headers=auth).json()
    for item in body["items"]:
        parsed = datetime.fromisoformat(item["creationDate"].replace("Z", "+00:00"))
        assert parsed.utcoffset().total_seconds() == 0
