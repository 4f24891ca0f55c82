"""Client mistakes: 400 (or 413) in the platform's error shape, naming the field, store untouched.

Every case is checked three ways: the status, the ``{"type", "message"}``
body whose message names the offending field, and the whole state (``GET
/_mock/snapshot``) being identical before and after. Hypothesis then throws
garbage at ``devices.post``: never a 5xx, every 4xx in the error shape, and a
refused request never changes anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp, create_app
from losant_kit.mockserver.validation import MAX_BODY_BYTES
from tests.conftest import TEST_SETTINGS

JSON = {"content-type": "application/json"}
OVERSIZE = json.dumps({"name": "x", "description": "d" * (MAX_BODY_BYTES + 1)}).encode()

# id -> (method, path, request keyword arguments, status, text the message must contain).
# Paths are formatted with {app}, {device}, {recipe} from the seeded world.
BAD_REQUESTS: dict[str, tuple[str, str, dict[str, Any], int, str]] = {
    "malformed JSON": ("POST", "/applications/{app}/devices",
                       {"content": b'{"name": "x",', "headers": JSON}, 400, "body"),
    "NaN is not JSON": ("POST", "/applications/{app}/devices",
                        {"content": b'{"name": NaN}', "headers": JSON}, 400, "body"),
    "number beyond any float": ("POST", "/applications/{app}/devices",
                                {"content": b'{"systemInterval": 1e999}', "headers": JSON},
                                400, "body"),
    "JSON of the wrong kind": ("POST", "/applications/{app}/devices", {"json": ["x"]},
                               400, "body"),
    "missing body": ("POST", "/applications/{app}/devices", {"headers": JSON}, 400, "body"),
    "not JSON at all": ("POST", "/applications/{app}/devices",
                        {"content": b"name=x", "headers": {"content-type": "text/plain"}},
                        400, "Content-type"),
    "wrong type": ("POST", "/applications/{app}/devices", {"json": {"name": 7}},
                   400, "body.name"),
    "wrong nested type": ("PATCH", "/applications/{app}/devices/{device}",
                          {"json": {"tags": [{"key": "k", "value": 3}]}},
                          400, "body.tags.0.value"),
    "unknown field": ("POST", "/applications/{app}/devices",
                      {"json": {"name": "x", "colour": "red"}}, 400, "colour"),
    "bad enum in body": ("POST", "/applications/{app}/keys", {"json": {"filterType": "some"}},
                         400, "body.filterType"),
    "bad pattern in body": ("POST", "/applications/{app}/devices/{device}/attributes",
                            {"json": {"name": "two words", "dataType": "number"}},
                            400, "body.name"),
    "bad format in body": ("PATCH", "/me", {"json": {"email": "not-an-email"}},
                           400, "body.email"),
    "unknown scope": ("POST", "/applications/{app}/tokens",
                      {"json": {"name": "t", "scope": ["devices.fly"]}}, 400, "body.scope"),
    "globals not a list": ("PATCH", "/applications/{app}/globals",
                           {"json": {"key": "a", "json": "1"}}, 400, "body"),
    "bulk create count as text": ("POST", "/applications/{app}/device-recipes/{recipe}/bulkCreate",
                                  {"json": {"count": "3"}}, 400, "body.count"),
    "bad application id": ("GET", "/applications/not-an-id/devices", {}, 400, "applicationId"),
    "bad device id": ("GET", "/applications/{app}/devices/1234", {}, 400, "deviceId"),
    "bad key id": ("DELETE", "/applications/{app}/keys/xyz", {}, 400, "applicationKeyId"),
    "bad token id": ("PATCH", "/me/tokens/xyz", {"json": {"name": "x"}}, 400, "apiTokenId"),
    "bad recipe id": ("GET", "/applications/{app}/device-recipes/zz", {}, 400,
                      "deviceRecipeId"),
    "non-hex id": ("DELETE", f"/applications/{'g' * 24}", {}, 400, "applicationId"),
    "bad attribute name in path": ("GET", "/applications/{app}/devices/{device}/attributes/a b",
                                   {}, 400, "name"),
    "bad sort field": ("GET", "/applications/{app}/devices", {"params": {"sortField": "secret"}},
                       400, "sortField"),
    "bad sort direction": ("GET", "/applications", {"params": {"sortDirection": "up"}},
                           400, "sortDirection"),
    "bad filter field": ("GET", "/me/tokens", {"params": {"filterField": "token"}},
                         400, "filterField"),
    "bad device class": ("GET", "/applications/{app}/devices",
                         {"params": {"deviceClass": "toaster"}}, 400, "deviceClass"),
    "bad data type filter": ("GET", "/applications/{app}/devices/attributeNames",
                             {"params": {"dataType": "colour"}}, 400, "dataType"),
    "non-integer page": ("GET", "/applications/{app}/devices", {"params": {"page": "two"}},
                         400, "page"),
    "fractional perPage": ("GET", "/applications/{app}/keys", {"params": {"perPage": "2.5"}},
                           400, "perPage"),
    "zero perPage": ("GET", "/applications", {"params": {"perPage": "0"}}, 400, "perPage"),
    "negative page": ("GET", "/me/tokens", {"params": {"page": "-1"}}, 400, "page"),
    "unknown query operator": ("GET", "/applications/{app}/devices",
                               {"params": {"query[name][$regex]": "x"}}, 400, "$regex"),
    "query that is not JSON": ("GET", "/applications/{app}/devices",
                               {"params": {"query": "{oops"}}, 400, "query"),
    "bad parent id": ("GET", "/applications/{app}/devices", {"params": {"parentId": "nope"}},
                      400, "parentId"),
    "bulk delete with bad query": ("POST", "/applications/{app}/devices/delete",
                                   {"json": {"query": {"name": {"$regex": "x"}}}}, 400, "$regex"),
    "device login with bad id": ("POST", "/auth/device",
                                 {"json": {"deviceId": "xyz", "key": "k", "secret": "s"}},
                                 400, "deviceId"),
    "oversize device": ("POST", "/applications/{app}/devices",
                        {"content": OVERSIZE, "headers": JSON}, 413, "body"),
    "oversize readme": ("PATCH", "/applications/{app}/readme",
                        {"content": OVERSIZE, "headers": JSON}, 413, "body"),
}


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: no case here may change it (that is the point)."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def ids(mock) -> dict[str, str]:
    app = mock.world_summary["applications"][0]
    recipe = next(iter(mock.backend.store.children("deviceRecipes", app["id"])))
    return {"app": app["id"], "device": app["sampleDeviceId"], "recipe": recipe["id"]}


def send(client, auth, ids, case: str):
    method, path, kwargs, _, _ = BAD_REQUESTS[case]
    kwargs = dict(kwargs)
    kwargs["headers"] = {**kwargs.get("headers", {}), **auth}
    return client.request(method, path.format(**ids), **kwargs)


def snapshot(client) -> dict[str, Any]:
    response = client.get("/_mock/snapshot")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_refused_in_the_error_shape_naming_the_field(client, auth, ids, case):
    _, _, _, status, field = BAD_REQUESTS[case]
    response = send(client, auth, ids, case)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "message"}
    assert field in body["message"]


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_leaves_the_store_unchanged(client, auth, ids, case):
    before = snapshot(client)
    send(client, auth, ids, case)
    assert snapshot(client) == before


# ---------------------------------------------------------------- garbage bodies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
# Bodies shaped like a device, with each field possibly of the wrong kind.
device_like = st.fixed_dictionaries({}, optional={
    field: json_values | st.text(max_size=300)
    for field in ("name", "description", "tags", "attributes", "deviceClass", "gatewayId",
                  "parentId", "systemInterval", "keepDuplicates", "bogus")
})


@settings(max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | device_like)
def test_garbage_json_bodies_for_devices_post_never_fail_the_server(client, auth, ids, mock,
                                                                     body):
    before = snapshot(client)
    response = client.post(f"/applications/{ids['app']}/devices", headers=auth, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"type", "message"}
        assert snapshot(client) == before
    else:
        assert mock.spec.validator("devicePost").is_valid(body)


@settings(max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_garbage_bytes_for_devices_post_are_4xx_and_change_nothing(client, auth, ids, raw):
    before = snapshot(client)
    response = client.post(f"/applications/{ids['app']}/devices", headers={**auth, **JSON},
                           content=raw)
    if response.status_code < 400:  # the bytes happened to be a valid device
        assert response.status_code == 201
        return
    assert response.status_code < 500, response.text
    assert set(response.json()) == {"type", "message"}
    assert snapshot(client) == before


@settings(max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.text(min_size=1, max_size=6).filter(lambda s: not s.strip().isdigit()))
def test_any_non_integer_page_is_400_naming_page(client, auth, ids, page):
    response = client.get(f"/applications/{ids['app']}/devices", headers=auth,
                          params={"page": page})
    assert response.status_code == 400, response.text
    assert "page" in response.json()["message"]
