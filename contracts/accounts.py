"""The second account the cross-tenant checks act as.

Where it comes from, in order:

1. ``--other-token`` or ``--other-email/--other-password`` (any target);
2. against the kit's mock, a login of its world other than the run's own
   (``GET /_mock/world``);
3. against a mock whose world has a single login: the suite makes one through
   the control API, by importing a snapshot (``GET``/``PUT /_mock/snapshot``)
   that adds a copy of the run's own user record under a new id and email.
   The copy keeps the password hash, so the run's password logs it in; it
   owns nothing, so everything the run creates is foreign to it.

Off the mock and without the options there is no second account, and the
cross-tenant checks say so (skip) instead of passing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from losant_kit.contracts.suites._support import expect_status


@dataclass
class Account:
    token: str
    user_id: str
    login: tuple[str, str] | None = None
    origin: str = ""
    created: list[str] = field(default_factory=list)  # what the suites made as this account


class NoSecondAccount(Exception):
    """No second account is available (the message says how to give one)."""


def _logged_in(target: Any, email: str, password: str, origin: str) -> Account:
    response = target.api.post("/auth/user", {"email": email, "password": password},
                               token=None)
    token = expect_status(response, 200, f"logging in as the second account ({origin})")["token"]
    me = expect_status(target.api.get("/me", token=token), 200, "reading the second account")
    return Account(token, me["id"], (email, password), origin)


def second_account(target: Any) -> Account:
    options = target.options
    if options.other_token:
        me = expect_status(target.api.get("/me", token=options.other_token), 200,
                           "reading the account of --other-token")
        account = Account(options.other_token, me["id"], None, "--other-token")
    elif options.other_email and options.other_password:
        account = _logged_in(target, options.other_email, options.other_password,
                             "--other-email")
    elif target.is_mock:
        account = _from_mock(target)
    else:
        raise NoSecondAccount("no second account: give --other-token or "
                              "--other-email/--other-password")
    if account.user_id == target.user_id:
        raise NoSecondAccount("the second account is the run's own account")
    return account


def _from_mock(target: Any) -> Account:
    world = target.mock_control("GET", "/world").json()
    own_email = target.login[0].lower() if target.login else None
    for login in world.get("logins", []):
        if login.get("userId") != target.user_id and login["email"].lower() != own_email:
            return _logged_in(target, login["email"], login["password"], "the mock's world")
    if target.login is None:
        raise NoSecondAccount("the mock's world has a single login and the run has no password "
                              "to give a copy of it; pass --other-token or --other-email")
    email = f"contracts-{secrets.token_hex(4)}@example.com"
    snapshot = target.mock_control("GET", "/snapshot").json()
    users = snapshot["records"]["users"]
    own = next(u for u in users if u["id"] == target.user_id)
    ident = f"{secrets.randbits(96):024x}"
    users.append({**own, "id": ident, "userId": ident, "email": email,
                  "firstName": "Second", "lastName": "Account", "fullName": "Second Account"})
    imported = target.mock_control("PUT", "/snapshot", snapshot)
    if imported.status_code != 200:
        raise NoSecondAccount(f"PUT /_mock/snapshot refused the second login: "
                              f"{imported.status_code} {imported.text[:200]}")
    return _logged_in(target, email, target.login[1], "made by the suite (/_mock/snapshot)")
