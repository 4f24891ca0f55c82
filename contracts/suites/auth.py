"""Auth: who may call what.

* Every protected operation of the spec refuses a request with no token, a
  garbage token and a tampered one with 401 (a public operation is left out).
* A revoked credential (a deleted API token, the deleted access key behind a
  device token) is refused with 401 on the very next request.
* A device token reaches its own device and what its key allows, nothing else.
* An application API token stays inside its application and its scopes.
* Every credential kind (user token, device token, application and user API
  token) in every state (valid, expired, revoked, deactivated, narrowed,
  tampered, garbage, absent) on a representative operation of every resource
  group it reaches: accepted, 403 or 401 exactly as documented.
* Authorisation over every operation a credential could reach (read from the
  spec's scopes, ``contracts.reach``), tried with ids it was not granted: the
  other device, another application, the other account's everything. Never 2xx.
* Cross-tenant: a second account (``--other-token``/``--other-email``, or one
  the suite makes on the mock, ``contracts.accounts``) tries every id the run
  created. Never 2xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from losant_kit.contracts.credentials import tampered as _tampered
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


def test_user_cannot_see_another_users_application(losant_target: Any, other: Any) -> None:
    api = losant_target.api
    response = api.get(losant_target.app_path(), token=other.token)
    if response.status_code not in (403, 404):
        defect(f"GET /applications/{{id}} as another user answered {response.status_code} "
               f"(a user must not see another user's application)", response)
    listed = expect_status(api.get("/applications", token=other.token, params={"perPage": 1000}),
                           200, "listing the second user's applications")
    if any(a["id"] == losant_target.application_id for a in listed["items"]):
        defect("GET /applications as another user lists the sandbox application "
               "(tenant isolation broken)", api.history[-1])


# ---------------------------------------------------------------- every credential state

ACCEPTED_NOT = (401, 403)  # a valid credential on an operation it reaches is not refused
FOREIGN_APPLICATION = "5f0c0c0c0c0c0c0c0c0c0c0c"


def COVERAGE() -> dict[str, list[str]]:
    """What this suite sets out to exercise, from the spec's scopes (contracts.reach)."""
    from losant_kit.contracts import reach

    return {
        "credential state": [f"{kind}: {state}" for kind in reach.KINDS
                             for state in reach.states_of(kind)],
        "authorisation": [f"{kind}: {op.id}" for kind in reach.KINDS
                          for op in _matrix_operations(kind)],
    }


@pytest.fixture(scope="module")
def second(losant_target: Any) -> Iterator[Any]:
    """The second account, or the reason there is none (never against the mock: the
    suite makes one there)."""
    from losant_kit.contracts.accounts import NoSecondAccount, second_account

    try:
        account = second_account(losant_target)
    except NoSecondAccount as exc:
        yield str(exc)
        return
    yield account
    for path in account.created:
        losant_target.api.delete(path, token=account.token)


@pytest.fixture
def other(second: Any) -> Any:
    """The second account; the test skips, saying how to give one, when there is none."""
    if isinstance(second, str):
        pytest.skip(second)
    return second


@pytest.fixture(scope="module")
def estate(losant_target: Any) -> dict[str, Any]:
    """What the run's account owns and grants: ids for every path parameter of the spec.

    A device with an attribute and a key that allows only it (the device
    token's grant), a second device, a recipe, an event, an application API
    token, a user API token and, unless live-safe, a second application.
    """
    from losant_kit.contracts.credentials import make_grants

    api, app = losant_target.api, losant_target.app_path()
    grants = make_grants(losant_target)
    second = create_device(api, app)
    recipe = expect_status(api.post(f"{app}/device-recipes", {"name": unique("recipe")}), 201,
                           "creating a recipe")
    event = expect_status(api.post(f"{app}/events", {"level": "info",
                                                     "subject": unique("event")}), 201,
                          "creating an event")
    token = expect_status(api.post(f"{app}/tokens", {"name": unique("held"),
                                                     "scope": ["all.Application"]}), 201,
                          "creating an application API token")
    ids = {"applicationId": losant_target.application_id, "deviceId": grants.device["id"],
           "name": "temp", "applicationKeyId": grants.key["id"], "apiTokenId": token["id"],
           "deviceRecipeId": recipe["id"], "eventId": event["id"]}
    user_token_id = FOREIGN_APPLICATION
    other_app = FOREIGN_APPLICATION
    if not losant_target.live_safe:
        user_token_id = expect_status(api.post("/me/tokens", {"name": unique("held"),
                                                              "scope": ["all.User"]}), 201,
                                      "creating a user API token")["id"]
        other_app = expect_status(api.post("/applications", {"name": unique("other-app")}), 201,
                                  "creating a second application")["id"]
    return {"grants": grants, "ids": ids, "second_device": second["id"],
            "user_api_token_id": user_token_id, "other_application": other_app}


def _path(op: Any, ids: dict[str, str], estate: dict[str, Any]) -> str:
    if op.path.startswith("/me/tokens/"):
        ids = {**ids, "apiTokenId": estate["user_api_token_id"]}
    return _concrete(op.path, ids)


def _send(target: Any, op: Any, path: str, token: str | None) -> Any:
    """``op`` on ``path`` with a body validation lets through, so authorisation is asked.

    An empty object first (most bodies allow it); where the target refuses it
    as malformed, a schema-valid example from Schemathesis, kept for the run.
    """
    from losant_kit.contracts.fuzz import example_request

    if op.method == "GET":
        return target.api.request(op.method, path, token=token)
    needs_example = target.cache.setdefault("needs-example", set())
    if op.id not in needs_example:
        response = target.api.request(op.method, path, json_body={}, token=token)
        if response.status_code not in (400, 422):
            return response
        needs_example.add(op.id)
    example = example_request(target, op.id)
    return target.api.request(op.method, path, json_body=example["body"],
                              params=example["query"] or None, token=token)


@pytest.mark.parametrize("kind", ["user token", "device token", "application API token",
                                  "user API token"])
def test_every_credential_state_is_answered_as_documented(
        kind: str, losant_target: Any, estate: dict, second: Any, losant_coverage: Any) -> None:
    """valid: accepted; narrowed: reads accepted, writes 403; every other state: 401."""
    from losant_kit.contracts import reach
    from losant_kit.contracts.credentials import Minter, Unavailable

    minter = Minter(losant_target, estate["grants"], None if isinstance(second, str) else second)
    wrong, unavailable = [], []
    for state in reach.states_of(kind):
        try:
            token = minter.mint(kind, state)
        except Unavailable as exc:
            unavailable.append(f"{state} ({exc})")
            continue
        checks: list[tuple[Any, str]] = []  # (operation, expectation)
        if state == "narrowed":
            for kept, lost in reach.narrowed_pairs(kind).values():
                checks += [(kept, "accepted")] if kept else []
                checks += [(lost, "403")] if lost else []
        else:
            expectation = "accepted" if state == "valid" else "401"
            checks = [(op, expectation) for op in reach.representatives(kind).values()]
        for op, expectation in checks:
            response = _send(losant_target, op, _path(op, estate["ids"], estate), token)
            status = response.status_code
            ok = (status not in ACCEPTED_NOT and status < 500) if expectation == "accepted" \
                else status == int(expectation)
            if not ok:
                wrong.append((state, op, expectation, response))
        losant_coverage.hit("credential state", f"{kind}: {state}", len(checks))
    if wrong:
        state, op, expectation, response = wrong[0]
        named = {"expired": "an expired token accepted", "revoked": "a revoked credential "
                 "accepted", "deactivated": "a deactivated credential accepted",
                 "narrowed": "requested scopes not enforced", "valid": "a valid credential "
                 "refused"}.get(state, f"a {state} credential accepted")
        defect(f"{len(wrong)} answer(s) to a {kind} differ from the documented ones ({named}): "
               + "; ".join(f"{s} {o.id} -> {r.status_code} (expected {e})"
                           for s, o, e, r in wrong[:6]), response)
    if unavailable and len(unavailable) == len(reach.states_of(kind)):
        pytest.skip(f"no {kind} state can be presented here: {'; '.join(unavailable)}")


# ---------------------------------------------------------------- authorisation matrix

USER_KINDS = ("user token", "user API token")


def _matrix_operations(kind: str) -> list[Any]:
    """Every operation the kind could address by path, from the spec's scopes."""
    from losant_kit.contracts import reach

    ops = reach.reachable(reach.KINDS[kind].scopes)
    return sorted((op for op in ops if reach.path_params(op)), key=reach.preference)


def _not_granted(kind: str, op: Any, estate: dict[str, Any]) -> list[tuple[str, dict]]:
    """(what is not granted, ids) for ``op``: every way the kind's grant is exceeded."""
    from losant_kit.contracts import reach

    ids = estate["ids"]
    params = reach.path_params(op)
    variants = []
    if kind in USER_KINDS:
        # The second account's credential on everything the run's account owns.
        return [("the run's account's resources", ids)]
    if kind == "device token" and "deviceId" in params:
        variants.append(("a device its key does not allow",
                         {**ids, "deviceId": estate["second_device"]}))
    if "applicationId" in params:
        variants.append(("another application", {**ids,
                                                 "applicationId": estate["other_application"]}))
    return variants


def _credential_for(kind: str, target: Any, estate: dict, other: Any) -> str:
    from losant_kit.contracts.credentials import Minter

    api = target.api
    if kind == "user token":
        return other.token
    if kind == "user API token":
        if target.live_safe:
            pytest.skip("user API tokens act outside the sandbox (not live-safe)")
        made = api.post("/me/tokens", {"name": unique("other"), "scope": ["all.User"]},
                        token=other.token)
        body = expect_status(made, 201, "creating the second account's user API token")
        # The second account's own token: not one of the ids the run's account created,
        # and deleted with the second account's credential at the end of the module.
        path = f"/me/tokens/{body['id']}"
        target.sandbox.created.remove(path)
        other.created.append(path)
        return body["token"]
    return Minter(target, estate["grants"]).mint(kind, "valid")


@pytest.mark.parametrize("kind", ["device token", "application API token", "user token",
                                  "user API token"])
def test_no_credential_reaches_what_it_was_not_granted(
        kind: str, losant_target: Any, estate: dict, second: Any, losant_coverage: Any) -> None:
    """Every operation the kind's scopes reach, with ids it was not granted: never 2xx."""
    if kind in USER_KINDS and isinstance(second, str):
        pytest.skip(second)
    token = _credential_for(kind, losant_target, estate, second)
    leaks = []
    for op in _matrix_operations(kind):
        variants = _not_granted(kind, op, estate)
        for what, ids in variants:
            response = _send(losant_target, op, _path(op, ids, estate), token)
            if 200 <= response.status_code < 300:
                leaks.append((op, what, response))
        losant_coverage.hit("authorisation", f"{kind}: {op.id}", len(variants))
    if leaks:
        op, what, response = leaks[0]
        defect(f"a {kind} reached {len(leaks)} operation(s) with ids it was not granted "
               f"(leaky authorisation): " + "; ".join(
                   f"{o.id} on {w} -> {r.status_code}" for o, w, r in leaks[:6]),
               response)


def test_second_account_reaches_nothing_the_run_created(losant_target: Any, estate: dict,
                                                         other: Any,
                                                         losant_coverage: Any) -> None:
    """Every resource the run's account created so far, read with the other account."""
    from losant_kit.contracts.spec_view import router

    api = losant_target.api
    paths = [losant_target.app_path(), *losant_target.sandbox.created]
    leaks, tried = [], 0
    for path in dict.fromkeys(paths):
        if router().match("GET", path) is None:
            continue
        tried += 1
        response = api.get(path, token=other.token)
        if 200 <= response.status_code < 300:
            leaks.append(response)
    losant_coverage.hit("cross-tenant", "ids the run created", tried)
    if leaks:
        defect(f"the second account read {len(leaks)} of {tried} resources the run's account "
               f"created (tenant isolation broken): "
               + ", ".join(r.request.url.path for r in leaks[:5]), leaks[0])
