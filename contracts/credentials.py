"""Credentials of every kind, minted in every state, against any target.

``Minter(target, grants)`` makes, for a credential kind of ``reach.KINDS`` and
a state of ``reach.STATES``, a bearer token (or ``None`` for *absent*) the way
a client would come by it:

* *valid*: freshly issued (login, device authentication, API token creation);
* *expired*: issued with the shortest lifetime, then the target's clock moved
  past it (the mock's ``/_mock/clock``); elsewhere issued to expire in two
  seconds and waited out (only with real time allowed);
* *revoked*: the API token deleted, the device's access key deleted, the user's
  ``tokenCutoff`` moved past the token (on the second account, so the run's own
  session survives);
* *deactivated*: the API token or the access key set to ``status: inactive``;
* *narrowed*: issued with read-only requested scopes;
* *tampered*: claims changed, signature kept; *garbage*: the signature cut off;
* *absent*: no Authorization header.

A state the target cannot provide (no login to re-issue a user token, live-safe
mode forbidding user API tokens) raises :class:`Unavailable` with the reason.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from losant_kit.contracts.suites._support import (
    create_device,
    create_key,
    device_token,
    expect_status,
    unique,
)

SHORT_TTL_S = 2  # off the mock: a token that expires soon, then waited out
MOCK_TTL_S = 60  # on the mock: a minute, then the clock moves past it


class Unavailable(Exception):
    """This target cannot present the credential state (the message says why)."""


def tampered(token: str) -> str:
    """The same token with its claims changed (a different subject), signature kept."""
    if token.count(".") != 2:
        return token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "000000000000000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def garbage(token: str) -> str:
    """The token's header and claims with its signature cut off: well-formed, unsigned."""
    return token.rsplit(".", 1)[0] + "." if token.count(".") == 2 else token[: len(token) // 2]


@dataclass
class Grants:
    """What the credentials are granted: the sandbox, one device, a key for it alone."""

    application_id: str
    device: dict[str, Any]
    key: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Minter:
    def __init__(self, target: Any, grants: Grants, other: Any = None) -> None:
        self.target = target
        self.api = target.api
        self.grants = grants
        self.other = other  # contracts.accounts.Account: the second account, if any

    # ------------------------------------------------------------ time

    def _now(self) -> datetime:
        if self.target.is_mock:
            epoch = self.target.mock_control("GET", "/clock").json()["epochMs"] / 1000
            return datetime.fromtimestamp(epoch, UTC)
        return datetime.now(UTC)

    def _ttl(self) -> int:
        if self.target.is_mock:
            return MOCK_TTL_S
        if not self.target.options.real_time:
            raise Unavailable("an expired credential off the mock needs real waiting; "
                              "pass --real-time")
        return SHORT_TTL_S

    def _let_expire(self, ttl: int) -> None:
        if self.target.is_mock:
            self.target.advance_clock(ttl + 1)
        else:
            time.sleep(ttl + 1)  # no clock to move on a real target

    # ------------------------------------------------------------ kinds

    def mint(self, kind: str, state: str) -> str | None:
        if state == "absent":
            return None
        if state in ("tampered", "garbage"):
            token = self.mint(kind, "valid")
            assert token is not None
            return tampered(token) if state == "tampered" else garbage(token)
        maker = {"user token": self._user, "device token": self._device,
                 "application API token": self._app_token,
                 "user API token": self._user_token}[kind]
        return maker(state)

    def _login(self, account: Any, **extra: Any) -> str:
        if account is None or account.login is None:
            raise Unavailable("needs a login (email and password) to issue user tokens")
        email, password = account.login
        response = self.api.post("/auth/user", {"email": email, "password": password, **extra},
                                 token=None)
        return expect_status(response, 200, "logging in")["token"]

    def _user(self, state: str) -> str:
        main = self.target  # has .login like an Account
        if state == "valid":
            return self._login(main) if main.login else self.target.token
        if state == "narrowed":
            return self._login(main, requestedScopes=["all.User.read"])
        if state == "expired":
            ttl = self._ttl()
            token = self._login(main, tokenTTL=ttl)
            self._let_expire(ttl)
            return token
        if state == "revoked":
            return self._revoked_user_token()
        raise Unavailable(f"a user token has no '{state}' state")

    def _revoked_user_token(self) -> str:
        """A token of the second account issued before its ``tokenCutoff``.

        The cutoff logs that account out everywhere; it logs in again after,
        and the run's own account is never touched.
        """
        other = self.other
        if other is None or other.login is None:
            raise Unavailable("revoking a user token needs a second account with a login "
                              "(--other-email/--other-password; on the mock, made by the suite)")
        if self.target.live_safe:
            raise Unavailable("moves the second account's token cutoff (not live-safe)")
        token = self._login(other)
        if self.target.is_mock:
            self.target.advance_clock(2)
        elif not self.target.options.real_time:
            raise Unavailable("a token cutoff off the mock needs real waiting; pass --real-time")
        else:
            time.sleep(1.1)  # token times have whole-second resolution
        cutoff = self._now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
        expect_status(self.api.patch("/me", {"tokenCutoff": cutoff}, token=token), 200,
                      "moving the second account's tokenCutoff")
        if self.target.is_mock:
            self.target.advance_clock(1)
        other.token = self._login(other)
        return token

    def _device(self, state: str) -> str:
        api, app = self.api, self.target.app_path()
        device = self.grants.device
        if state == "valid":
            return device_token(api, device["id"], self.grants.key)
        if state == "narrowed":
            response = api.post("/auth/device", {
                "deviceId": device["id"], "key": self.grants.key["key"],
                "secret": self.grants.key["secret"], "requestedScopes": ["all.Device.read"]},
                token=None)
            return expect_status(response, 200, "a device token with requested scopes")["token"]
        if state == "expired":
            ttl = self._ttl()
            response = api.post("/auth/device", {
                "deviceId": device["id"], "key": self.grants.key["key"],
                "secret": self.grants.key["secret"], "tokenTTL": ttl}, token=None)
            token = expect_status(response, 200, "a short-lived device token")["token"]
            self._let_expire(ttl)
            return token
        # Revoked and deactivated spoil the key: each gets a key of its own.
        key = create_key(api, app, filterType="whitelist", deviceIds=[device["id"]])
        token = device_token(api, device["id"], key)
        if state == "revoked":
            expect_status(api.delete(f"{app}/keys/{key['id']}"), 200, "deleting an access key")
        elif state == "deactivated":
            expect_status(api.patch(f"{app}/keys/{key['id']}", {"status": "inactive"}), 200,
                          "deactivating an access key")
        else:
            raise Unavailable(f"a device token has no '{state}' state")
        return token

    def _api_token(self, collection: str, whole: str, narrow: str, state: str) -> str:
        api = self.api
        body: dict[str, Any] = {"name": unique("auth"), "scope": [whole]}
        if state == "narrowed":
            body["scope"] = [narrow]
        ttl = None
        if state == "expired":
            ttl = self._ttl()
            expires = self._now() + timedelta(seconds=ttl)
            body["expirationDate"] = expires.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z")
        created = expect_status(api.post(collection, body), 201, f"creating a token at "
                                                                  f"{collection}")
        path = f"{collection}/{created['id']}"
        if state == "expired":
            assert ttl is not None
            self._let_expire(ttl)
        elif state == "revoked":
            expect_status(api.delete(path), 200, "deleting an API token")
        elif state == "deactivated":
            expect_status(api.patch(path, {"status": "inactive"}), 200,
                          "deactivating an API token")
        elif state not in ("valid", "narrowed"):
            raise Unavailable(f"an API token has no '{state}' state")
        return created["token"]

    def _app_token(self, state: str) -> str:
        return self._api_token(self.target.app_path("/tokens"), "all.Application",
                               "all.Application.read", state)

    def _user_token(self, state: str) -> str:
        if self.target.live_safe:
            raise Unavailable("user API tokens act outside the sandbox (not live-safe)")
        return self._api_token("/me/tokens", "all.User", "all.User.read", state)


def make_grants(target: Any) -> Grants:
    """The granted world: a device with an attribute, a second device, a key for the first."""
    api, app = target.api, target.app_path()
    device = create_device(api, app, attributes=[{"name": "temp", "dataType": "number"}])
    key = create_key(api, app, filterType="whitelist", deviceIds=[device["id"]])
    return Grants(target.application_id, device, key)
