"""Auth suite, experience part: tenancy through the experience runtime, and token kinds.

Imported into ``auth.py`` (its tests run as part of the auth suite). The
tenancy tests build a two-tenant experience in the sandbox: a device per
tenant (by tag), a group per tenant, a user per group, and the seed's
endpoints. On the platform those endpoints are answered by workflows the
application's author writes; the kit's mock answers them with its built-in
replies (endpoint tag ``mockReply``), so these tests need the mock and its
``/_experience/{slug}`` path prefix.
"""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.contracts.suites._support import create_device, defect, expect_status, unique

PASSWORD = "contract-tenant-pw"


@pytest.fixture(scope="module")
def tenants(losant_target: Any) -> dict[str, Any]:
    """Two tenants of the sandbox's experience, each with its device, group and user."""
    api, app = losant_target.api, losant_target.app_path()
    found: dict[str, Any] = {"prefix": f"/_experience/{losant_target.application_id}"}
    for name in ("a", "b"):
        tag = unique(f"tenant-{name}")
        device = create_device(api, app, tags=[{"key": "tenant", "value": tag}])
        group = expect_status(
            api.post(f"{app}/experience/groups",
                     {"name": tag, "deviceTags": [{"key": "tenant", "value": tag}]}),
            201, "creating an experience group")
        email = f"{tag}@example.com"
        expect_status(
            api.post(f"{app}/experience/users", {"email": email, "password": PASSWORD,
                                                 "experienceGroupIds": [group["id"]]}),
            201, "creating an experience user")
        found[name] = {"device": device["id"], "email": email}
    # A route prefix of its own: other suites may create endpoints in the sandbox too.
    base = "/" + unique("api")
    for method, route, access, reply in (
        ("post", f"{base}/auth", "public", "auth.login"),
        ("get", f"{base}/devices/{{deviceId}}", "authenticated", "device.get"),
    ):
        expect_status(
            api.post(f"{app}/experience/endpoints",
                     {"method": method, "route": route, "access": access,
                      "endpointTags": {"mockReply": reply}}),
            201, "creating an experience endpoint")
    found["routes"] = f"{found['prefix']}{base}"
    return found


def _login(api: Any, tenants: dict[str, Any], who: str) -> str:
    response = api.post(f"{tenants['routes']}/auth",
                        {"email": tenants[who]["email"], "password": PASSWORD}, token=None)
    return expect_status(response, 200, "logging in as an experience user")["token"]


@pytest.mark.losant_mock_only
def test_experience_user_reaches_only_its_tenants_devices(losant_target: Any,
                                                          tenants: dict[str, Any]) -> None:
    api = losant_target.api
    for who, other in (("a", "b"), ("b", "a")):
        token = _login(api, tenants, who)
        own = api.get(f"{tenants['routes']}/devices/{tenants[who]['device']}", token=token)
        expect_status(own, 200, f"tenant {who} reading its own device")
        foreign = api.get(f"{tenants['routes']}/devices/{tenants[other]['device']}", token=token)
        if foreign.status_code not in (403, 404):
            defect(f"tenant {who}'s experience user read tenant {other}'s device: "
                   f"{foreign.status_code} (experience tenancy broken: 403 or 404 expected)",
                   foreign)


@pytest.mark.losant_mock_only
def test_experience_endpoint_without_token_is_401(losant_target: Any,
                                                  tenants: dict[str, Any]) -> None:
    response = losant_target.api.get(
        f"{tenants['routes']}/devices/{tenants['a']['device']}", token=None)
    if response.status_code != 401:
        defect(f"an authenticated experience endpoint without a token answered "
               f"{response.status_code} (401 expected)", response)


@pytest.mark.losant_mock_only
def test_platform_token_is_not_an_experience_user(losant_target: Any,
                                                  tenants: dict[str, Any]) -> None:
    response = losant_target.api.get(
        f"{tenants['routes']}/devices/{tenants['a']['device']}", token=losant_target.token)
    if response.status_code != 401:
        defect(f"an experience endpoint accepted a platform user token: "
               f"{response.status_code} (401 expected)", response)


@pytest.mark.losant_mock_only
def test_experience_token_is_refused_by_the_platform_api(losant_target: Any,
                                                         tenants: dict[str, Any]) -> None:
    token = _login(losant_target.api, tenants, "a")
    response = losant_target.api.get(losant_target.app_path("/devices"), token=token)
    if response.status_code != 401:
        defect(f"the platform API accepted an experience user's token: "
               f"{response.status_code} (401 expected)", response)
