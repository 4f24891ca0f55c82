"""Auth: who may call what.

* Every protected operation of the spec refuses a request with no token, a
  garbage token and a tampered one with 401 (a public operation is left out).
* A revoked credential (a deleted API token, the deleted access key behind a
  device token) is refused with 401 on the very next request.
* A device token reaches its own device and what its key allows, nothing else.
* An application API token stays inside its application and its scopes.
* A user cannot see another user's application (needs a second login: the
  mock's world or ``/_mock/world`` provides it).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from losant_kit.contracts.spec_view import operations

# Experience tenancy through the runtime, and experience vs platform tokens.
from losant_kit.contracts.suites._experience_auth import (  # noqa: F401
    tenants,
    test_experience_endpoint_without_token_is_401,
    test_experience_token_is_refused_by_the_platform_api,
    test_experience_user_reaches_only_its_tenants_devices,
    test_platform_token_is_not_an_experience_user,
)
from losant_kit.contracts.suites._support import (
    create_device,
    create_key,
    defect,
    device_token,
    expect_status,
    unique,
)

pytestmark = pytest.mark.losant_suite("auth")

REFUSED = (401, 403, 404)


def _concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "5f0c0c0c0c0c0c0c0c0c0c0c"), path)


@pytest.fixture(scope="module")
def world(losant_target: Any) -> dict[str, Any]:
    """Two devices and a key that allows only the first, in the sandbox."""
    api, app = losant_target.api, losant_target.app_path()
    first = create_device(api, app)
    second = create_device(api, app)
    key = create_key(api, app, filterType="whitelist", deviceIds=[first["id"]])
    return {"first": first, "second": second, "key": key,
            "ids": {"applicationId": losant_target.application_id, "deviceId": first["id"],
                    "name": "none", "applicationKeyId": key["id"]}}


def _tampered(token: str) -> str:
    """The same token with its claims changed (a different subject), signature kept."""
    head, payload, signature = token.split(".") if token.count(".") == 2 else (token, "", "")
    if not payload:
        return token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "000000000000000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


PROTECTED = sorted(op.id for op in operations().values() if not op.public and not op.sse)


@pytest.mark.parametrize("credential", ["none", "garbage", "tampered"])
def test_protected_operations_refuse_bad_credentials_with_401(
        credential: str, losant_target: Any, world: dict) -> None:
    api = losant_target.api
    token = {"none": None, "garbage": "not-a-token", "tampered": _tampered(losant_target.token)}
    wrong = []
    for operation_id in PROTECTED:
        op = operations()[operation_id]
        path = _concrete(op.path, world["ids"])
        body = {} if op.method in ("POST", "PATCH", "PUT") else None
        response = api.request(op.method, path, json_body=body, token=token[credential])
        if response.status_code != 401:
            wrong.append((operation_id, response))
    if wrong:
        first = wrong[0][1]
        defect(f"{len(wrong)} protected operation(s) did not answer 401 to a request with "
               f"{'no' if credential == 'none' else 'a ' + credential} token: "
               + ", ".join(f"{o} -> {r.status_code}" for o, r in wrong[:6]), first)


def test_deleted_api_token_is_refused(losant_target: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    created = expect_status(api.post(f"{app}/tokens", {"name": unique("revoke"),
                                                       "scope": ["all.Application"]}), 201,
                            "creating an application API token")
    expect_status(api.get(app, token=created["token"]), 200,
                  "reading the application with a fresh application token")
    expect_status(api.delete(f"{app}/tokens/{created['id']}"), 200, "deleting the API token")
    after = api.get(app, token=created["token"])
    if after.status_code != 401:
        defect(f"GET {app} with a deleted API token answered {after.status_code} "
               f"(revoked tokens must be refused with 401)", after)


def test_device_token_of_a_deleted_key_is_refused(losant_target: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    device = create_device(api, app)
    key = create_key(api, app, filterType="all")
    token = device_token(api, device["id"], key)
    path = f"{app}/devices/{device['id']}"
    expect_status(api.get(path, token=token), 200, "reading a device with its own token")
    expect_status(api.delete(f"{app}/keys/{key['id']}"), 200, "deleting the access key")
    after = api.get(path, token=token)
    if after.status_code != 401:
        defect(f"GET {path} with a device token whose access key was deleted answered "
               f"{after.status_code} (revoked credentials must be refused with 401)", after)


def test_device_token_reads_its_own_device(losant_target: Any, world: dict) -> None:
    api, app = losant_target.api, losant_target.app_path()
    token = device_token(api, world["first"]["id"], world["key"])
    expect_status(api.get(f"{app}/devices/{world['first']['id']}", token=token), 200,
                  "a device reading itself with its own token")


def test_device_token_cannot_read_another_device(losant_target: Any, world: dict) -> None:
    api, app = losant_target.api, losant_target.app_path()
    token = device_token(api, world["first"]["id"], world["key"])
    other = api.get(f"{app}/devices/{world['second']['id']}", token=token)
    if other.status_code not in REFUSED:
        defect(f"GET {app}/devices/{{other}} with a device token whose key allows only "
               f"{world['first']['id']} answered {other.status_code} (leaky authorisation: a "
               f"device token read another device)", other)
    listed = api.get(f"{app}/devices", token=token, params={"perPage": 1000})
    if listed.status_code == 200 and any(d["id"] == world["second"]["id"]
                                         for d in listed.json()["items"]):
        defect(f"GET {app}/devices with a device token lists a device its key does not allow "
               f"(leaky authorisation)", listed)


def test_device_token_cannot_act_as_the_application(losant_target: Any, world: dict) -> None:
    api, app = losant_target.api, losant_target.app_path()
    token = device_token(api, world["first"]["id"], world["key"])
    response = api.post(f"{app}/keys", {"description": unique("escalate")}, token=token)
    if response.status_code not in REFUSED:
        defect(f"POST {app}/keys with a device token answered {response.status_code} "
               f"(a device token must not manage access keys)", response)


def test_application_token_stays_inside_its_application(losant_target: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    created = expect_status(api.post(f"{app}/tokens", {"name": unique("scoped"),
                                                       "scope": ["all.Application"]}), 201,
                            "creating an application API token")
    elsewhere = "/applications/5f0c0c0c0c0c0c0c0c0c0c0c"
    response = api.get(elsewhere, token=created["token"])
    if response.status_code not in REFUSED:
        defect(f"GET {elsewhere} with another application's token answered "
               f"{response.status_code} (application tokens must stay in their application)",
               response)
    listed = expect_status(api.get("/applications", token=created["token"]), (200, 403),
                           "listing applications with an application token")
    if listed and any(a["id"] != losant_target.application_id for a in listed.get("items", [])):
        defect("GET /applications with an application token lists other applications "
               "(application tokens must stay in their application)", api.history[-1])


def test_read_only_token_cannot_write(losant_target: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    created = expect_status(api.post(f"{app}/tokens", {"name": unique("reader"),
                                                       "scope": ["all.Application.read"]}), 201,
                            "creating a read-only application API token")
    expect_status(api.get(f"{app}/devices", token=created["token"]), 200,
                  "listing devices with a read-only token")
    response = api.post(f"{app}/devices", {"name": unique("write")}, token=created["token"])
    if response.status_code != 403:
        defect(f"POST {app}/devices with an all.Application.read token answered "
               f"{response.status_code} (scopes must be enforced: 403)", response)


@pytest.mark.losant_mock_only
def test_user_cannot_see_another_users_application(losant_target: Any) -> None:
    api = losant_target.api
    world = losant_target.mock_control("GET", "/world").json()
    others = [login for login in world.get("logins", [])
              if login.get("userId") != losant_target.user_id
              and (losant_target.login is None or login["email"] != losant_target.login[0])]
    if not others:
        pytest.skip("the mock's world has a single login")
    other = others[0]
    token = expect_status(api.post("/auth/user", {"email": other["email"],
                                                  "password": other["password"]}, token=None),
                          200, "logging in as a second user")["token"]
    response = api.get(losant_target.app_path(), token=token)
    if response.status_code not in (403, 404):
        defect(f"GET /applications/{{id}} as another user answered {response.status_code} "
               f"(a user must not see another user's application)", response)
    listed = expect_status(api.get("/applications", token=token, params={"perPage": 1000}),
                           200, "listing the second user's applications")
    if any(a["id"] == losant_target.application_id for a in listed["items"]):
        defect("GET /applications as another user lists the sandbox application "
               "(tenant isolation broken)", api.history[-1])
