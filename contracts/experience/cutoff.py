"""Setting an experience user's ``tokenCutoff`` through the mock's platform API."""

from __future__ import annotations

from typing import Any

from losant_kit.contracts.target import MOCK_LOGIN


def set_token_cutoff(target: Any, email: str) -> None:
    """tokenCutoff = now on the mock's clock, with the clock moved a second on either
    side, so tokens issued before are strictly before it and later ones strictly after."""
    import pytest

    options = target.options
    login = (options.platform_email or MOCK_LOGIN[0], options.platform_password or MOCK_LOGIN[1])
    response = target.platform("POST", "/auth/user", body={"email": login[0],
                                                            "password": login[1]})
    if response.status_code != 200:
        pytest.skip(f"cannot log in to the mock's platform API as {login[0]} "
                    "(--platform-email/--platform-password)")
    token = response.json()["token"]
    world = target.control("GET", "/world").json()
    user = next((u for u in world.get("experienceUsers", [])
                 if u["email"].lower() == email.lower()), None)
    if user is None:
        pytest.skip(f"the mock's world has no experience user {email}")
    app = user["applicationId"]
    found = target.platform("GET", f"/applications/{app}/experience/users?filterField=email"
                                   f"&filter={email}", token)
    items = found.json().get("items", []) if found.status_code == 200 else []
    if not items:
        pytest.skip(f"the platform API lists no experience user {email}")
    # A second on first, so the cutoff is strictly after the token being revoked.
    now = target.control("POST", "/clock", {"advance": 1}).json()
    stamp = now.get("iso") or now.get("now")
    patched = target.platform("PATCH", f"/applications/{app}/experience/users/{items[0]['id']}",
                              token, {"tokenCutoff": stamp})
    if patched.status_code != 200:
        raise AssertionError(f"setting tokenCutoff answered {patched.status_code}: "
                             f"{patched.text[:200]}")
    target.control("POST", "/clock", {"advance": 1})
