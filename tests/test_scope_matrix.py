"""Who may do what: every kind of credential against a representative operation of each
part-1 resource.

The table below says, per operation and credential, either ``BY_SCOPE`` (the
spec decides: 2xx when the token's scopes intersect the operation's
``x-scopes``, else 403 - computed from ``mock.spec.operations``, never
written down here), or the status a *reach* rule imposes even though the
scopes allow the call (a device key that does not cover a device, a token
of another application), or the outcome that needs no token at all.

The matrix runs in one application built for it:

* ``own``: the device every device token logs in as (tag ``crew=matrix``);
* ``peer``: also tagged ``crew=matrix``, but not in the id whitelist;
* ``stranger``: untagged, so only a key for "all" devices covers it;
* ``other app``: a second application of the same user;
* ``foreign``: an application of another user (a user gets 404, as for an
  application that does not exist).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, bearer, with_settings

BY_SCOPE = "by scope"  # 2xx if the token's scopes meet the operation's x-scopes, else 403
OK = "2xx"

CREDENTIALS = ("user", "device key=all", "device key=ids", "device key=tag",
               "app token narrow", "revoked token", "no token")
NARROW_SCOPE = ["devices.get"]
FOREIGN_USER = ("someone-else@example.com", "password-else1")


@dataclass(frozen=True)
class Op:
    id: str  # operationId in the spec
    method: str
    path: str  # formatted with the matrix world's ids
    body: Any = None


OPERATIONS: dict[str, Op] = {
    "me.get": Op("me.get", "GET", "/me"),
    "userApiTokens.get": Op("userApiTokens.get", "GET", "/me/tokens"),
    "userApiTokens.post": Op("userApiTokens.post", "POST", "/me/tokens", {"name": "m"}),
    "applications.get": Op("applications.get", "GET", "/applications"),
    "application.get": Op("application.get", "GET", "/applications/{app}"),
    "application.patch": Op("application.patch", "PATCH", "/applications/{app}",
                            {"description": "matrix"}),
    "application.search": Op("application.search", "GET",
                             "/applications/{app}/search?filter=own"),
    "applicationApiTokens.get": Op("applicationApiTokens.get", "GET",
                                   "/applications/{app}/tokens"),
    "applicationKeys.get": Op("applicationKeys.get", "GET", "/applications/{app}/keys"),
    "applicationKeys.post": Op("applicationKeys.post", "POST", "/applications/{app}/keys",
                               {"name": "matrix key"}),
    "deviceRecipes.get": Op("deviceRecipes.get", "GET", "/applications/{app}/device-recipes"),
    "devices.get": Op("devices.get", "GET", "/applications/{app}/devices"),
    "devices.post": Op("devices.post", "POST", "/applications/{app}/devices", {"name": "new"}),
    "devices.tagKeys": Op("devices.tagKeys", "GET", "/applications/{app}/devices/tagKeys"),
    "device.get own": Op("device.get", "GET", "/applications/{app}/devices/{own}"),
    "device.get peer": Op("device.get", "GET", "/applications/{app}/devices/{peer}"),
    "device.get stranger": Op("device.get", "GET", "/applications/{app}/devices/{stranger}"),
    "device.patch own": Op("device.patch", "PATCH", "/applications/{app}/devices/{own}",
                           {"description": "patched by the matrix"}),
    "deviceAttributes.get own": Op("deviceAttributes.get", "GET",
                                   "/applications/{app}/devices/{own}/attributes"),
    "devices.get other app": Op("devices.get", "GET", "/applications/{other_app}/devices"),
    "application.get other app": Op("application.get", "GET", "/applications/{other_app}"),
    "devices.get foreign": Op("devices.get", "GET", "/applications/{foreign_app}/devices"),
    "application.get foreign": Op("application.get", "GET", "/applications/{foreign_app}"),
    "auth.ssoDomain (public)": Op("auth.ssoDomain", "GET",
                                  "/auth/ssoDomain?email=someone%40example.com"),
}

S, D = BY_SCOPE, 401  # short forms keep the table one row per operation
EXPECTED: dict[str, tuple[Any, ...]] = {
    # operation                   user  dev:all dev:ids dev:tag app:narrow revoked none
    "me.get":                    (S,    S,      S,      S,      S,         D,      D),
    "userApiTokens.get":         (S,    S,      S,      S,      S,         D,      D),
    "userApiTokens.post":        (S,    S,      S,      S,      S,         D,      D),
    "applications.get":          (S,    S,      S,      S,      S,         D,      D),
    "application.get":           (S,    S,      S,      S,      S,         D,      D),
    "application.patch":         (S,    S,      S,      S,      S,         D,      D),
    "application.search":        (S,    S,      S,      S,      S,         D,      D),
    "applicationApiTokens.get":  (S,    S,      S,      S,      S,         D,      D),
    "applicationKeys.get":       (S,    S,      S,      S,      S,         D,      D),
    "applicationKeys.post":      (S,    S,      S,      S,      S,         D,      D),
    "deviceRecipes.get":         (S,    S,      S,      S,      S,         D,      D),
    "devices.get":               (S,    S,      S,      S,      S,         D,      D),
    "devices.post":              (S,    S,      S,      S,      S,         D,      D),
    "devices.tagKeys":           (S,    S,      S,      S,      S,         D,      D),
    "device.get own":            (S,    S,      S,      S,      S,         D,      D),
    "device.get peer":           (S,    S,      403,    S,      S,         D,      D),
    "device.get stranger":       (S,    S,      403,    403,    S,         D,      D),
    "device.patch own":          (S,    S,      S,      S,      S,         D,      D),
    "deviceAttributes.get own":  (S,    S,      S,      S,      S,         D,      D),
    "devices.get other app":     (S,    403,    403,    403,    403,       D,      D),
    "application.get other app": (S,    S,      S,      S,      S,         D,      D),
    "devices.get foreign":       (404,  403,    403,    403,    403,       D,      D),
    "application.get foreign":   (404,  S,      S,      S,      S,         D,      D),
    "auth.ssoDomain (public)":   (OK,   OK,     OK,     OK,     OK,        OK,     OK),
}


@dataclass
class MatrixWorld:
    client: TestClient
    ids: dict[str, str]
    headers: dict[str, dict[str, str]]
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def mock() -> MockApp:
    """One mock for the module: the matrix world is built once and only grows."""
    return create_app(with_settings(users=((LOGIN["email"], LOGIN["password"]), FOREIGN_USER)))


@pytest.fixture(scope="module")
def world(mock) -> Iterator[MatrixWorld]:
    with TestClient(mock, raise_server_exceptions=False) as client:
        user = bearer(client.post("/auth/user", json=LOGIN).json()["token"])

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, headers=user, json=body)
            assert response.status_code == 201, response.text
            return response.json()

        app = post("/applications", {"name": "Matrix"})["id"]
        other_app = post("/applications", {"name": "Matrix other"})["id"]
        devices = f"/applications/{app}/devices"
        crew = [{"key": "crew", "value": "matrix"}]
        foreign_app = next(summary["id"] for summary in mock.world_summary["applications"]
                           if summary["owner"] == FOREIGN_USER[0])
        ids = {
            "app": app, "other_app": other_app, "foreign_app": foreign_app,
            "own": post(devices, {"name": "own", "tags": crew,
                                  "attributes": [{"name": "t", "dataType": "number"}]})["id"],
            "peer": post(devices, {"name": "peer", "tags": crew})["id"],
            "stranger": post(devices, {"name": "stranger"})["id"],
        }
        post(f"/applications/{other_app}/devices", {"name": "elsewhere"})

        def device_login(**key_body: Any) -> dict[str, str]:
            key = post(f"/applications/{app}/keys", key_body)
            response = client.post("/auth/device", json={
                "deviceId": ids["own"], "key": key["key"], "secret": key["secret"]})
            assert response.status_code == 200, response.text
            return bearer(response.json()["token"])

        narrow = post(f"/applications/{app}/tokens", {"name": "narrow", "scope": NARROW_SCOPE})
        revoked = post(f"/applications/{app}/tokens", {"name": "revoked"})
        client.delete(f"/applications/{app}/tokens/{revoked['id']}", headers=user)
        headers = {
            "user": user,
            "device key=all": device_login(filterType="all"),
            "device key=ids": device_login(filterType="whitelist", deviceIds=[ids["own"]]),
            "device key=tag": device_login(filterType="whitelist", deviceTags=crew),
            "app token narrow": bearer(narrow["token"]),
            "revoked token": bearer(revoked["token"]),
            "no token": {},
        }
        # What each token may do is read off the token itself, as the mock reads it.
        scopes = {
            name: frozenset(jwt.decode(h["Authorization"].removeprefix("Bearer "),
                                       options={"verify_signature": False})["scope"])
            for name, h in headers.items() if h
        }
        yield MatrixWorld(client, ids, headers, scopes)


def expected_status(mock: MockApp, world: MatrixWorld, label: str, credential: str) -> Any:
    cell = EXPECTED[label][CREDENTIALS.index(credential)]
    if cell != BY_SCOPE:
        return cell
    operation = mock.spec.operations[OPERATIONS[label].id]
    return OK if world.scopes[credential] & operation.scopes else 403


def call(world: MatrixWorld, label: str, credential: str):
    op = OPERATIONS[label]
    return world.client.request(op.method, op.path.format(**world.ids),
                                headers=world.headers[credential], json=op.body)


@pytest.mark.parametrize(("label", "credential"),
                         list(itertools.product(OPERATIONS, CREDENTIALS)))
def test_credential_gets_the_expected_answer(mock, world, label, credential):
    want = expected_status(mock, world, label, credential)
    response = call(world, label, credential)
    if want == OK:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == want, response.text
        assert set(response.json()) == {"type", "message"}


def test_table_covers_every_operation_and_credential():
    assert set(EXPECTED) == set(OPERATIONS)
    assert all(len(row) == len(CREDENTIALS) for row in EXPECTED.values())


def test_reach_cells_are_only_written_where_the_scopes_allow_the_call(mock, world):
    # A 403 written into the table must be a reach rule, not a restated scope refusal.
    for label, row in EXPECTED.items():
        operation = mock.spec.operations[OPERATIONS[label].id]
        for credential, cell in zip(CREDENTIALS, row, strict=True):
            if cell == 403:
                assert world.scopes[credential] & operation.scopes, (label, credential)


def test_every_credential_is_both_allowed_and_refused_somewhere(mock, world):
    for credential in CREDENTIALS:
        outcomes = {expected_status(mock, world, label, credential) == OK
                    for label in OPERATIONS}
        assert outcomes == {True, False}, credential


def test_operations_cover_every_part_one_resource(mock):
    resources = {OPERATIONS[label].id.split(".")[0] for label in OPERATIONS}
    assert resources >= {"auth", "me", "userApiTokens", "applications", "application",
                         "applicationApiTokens", "applicationKeys", "devices", "device",
                         "deviceAttributes", "deviceRecipes"}
