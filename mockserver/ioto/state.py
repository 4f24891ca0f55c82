"""The device cloud's state: accounts, users, devices, items, metrics and the rest.

Records are plain dicts in the API's JSON shape; keys starting with ``_`` are
the mock's bookkeeping and never leave it. ``load(world)`` replaces everything
with a world document (mockserver/ioto/world.py describes its shape) and
returns its summary, which ``GET /_mock/world`` serves.
"""

from __future__ import annotations

import copy
from typing import Any

from losant_kit.mockserver.auth import TokenSigner
from losant_kit.mockserver.clock import Clock, iso
from losant_kit.mockserver.errors import NotFound, Unauthorized, ValidationError
from losant_kit.mockserver.ioto.ids import Ids
from losant_kit.mockserver.ioto.principals import LOGIN_TOKEN_TTL_S, Caller

Record = dict[str, Any]


class IotoState:
    def __init__(self, clock: Clock, *, seed: int | None, secret: str | None) -> None:
        self.clock = clock
        self.seed = seed
        self.signer = TokenSigner(secret)
        self.world: dict[str, Any] = {}
        self.clear()

    def clear(self) -> None:
        self.ids = Ids(self.seed)
        self.cloud: Record = {}
        self.products: dict[str, Record] = {}
        self.cloud_tokens: dict[str, Record] = {}
        self.accounts: dict[str, Record] = {}
        self.users: dict[str, Record] = {}
        self.devices: dict[str, Record] = {}
        self.device_tokens: dict[str, str] = {}  # token -> device id
        # (type, item key) -> item; Store, Log and Command items (Device items are views).
        self.items: dict[tuple[str, tuple], Record] = {}
        self.metrics: dict[tuple, list[tuple[float, float]]] = {}
        self.alerts: dict[str, Record] = {}
        self.dashboards: dict[str, Record] = {}
        self.actions: dict[str, Record] = {}
        self.invocations: list[Record] = []
        self.updates: list[Record] = []
        self.update_reports: list[Record] = []

    # ------------------------------------------------------------ world

    def load(self, world: dict[str, Any]) -> dict[str, Any]:
        """Replace the state with ``world``; a malformed world is a WorldFileError
        (and leaves an empty cloud, never a half-loaded one)."""
        from losant_kit.fixtures.errors import Problem, WorldFileError
        from losant_kit.mockserver.errors import PlatformError

        try:
            return self._load(world)
        except PlatformError as exc:
            self.clear()
            raise WorldFileError("world", [Problem("$", exc.message)]) from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            self.clear()
            problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise WorldFileError("world", [Problem("$", problem)]) from None

    def _load(self, world: dict[str, Any]) -> dict[str, Any]:
        from losant_kit.mockserver.ioto import metrics

        self.clear()
        self.world = copy.deepcopy(world)
        world = copy.deepcopy(world)
        self.cloud = world.get("cloud") or {"id": "cloud", "name": "cloud"}
        self.products = {p["id"]: p for p in world.get("products", [])}
        self.cloud_tokens = {t["token"]: t for t in world.get("cloudApiTokens", [])}
        self.accounts = {a["id"]: {"cloudId": self.cloud["id"], "closed": False, **a}
                         for a in world.get("accounts", [])}
        for user in world.get("users", []):
            self.users[user["id"]] = {"cloudId": self.cloud["id"], **user}
        for device in world.get("devices", []):
            token = device.pop("apiToken", None)
            self.devices[device["id"]] = device
            if token:
                self.device_tokens[token] = device["id"]
                device["_apiToken"] = token
        from losant_kit.mockserver.ioto.generic import MODELS

        for item in world.get("items", []):
            if item.get("_type") not in MODELS:
                raise ValidationError(f"items: _type must be one of {', '.join(MODELS)}")
            model = MODELS[item["_type"]]
            needed = ("accountId", "deviceId", *model.key_fields)
            missing = [k for k in needed if item.get(k) is None]
            if missing:
                raise ValidationError(f"items: a {model.name} item needs {', '.join(missing)}")
            owner = self.devices.get(item["deviceId"])
            if owner is None or owner.get("accountId") != item["accountId"]:
                raise ValidationError(f"items: {item['deviceId']} is not a device of "
                                      f"account {item['accountId']}")
            self.items[(item["_type"], model.identity(item))] = model.stored(item)
        now = self.clock.now()
        for series in world.get("metrics", []):
            metrics.feed(self, series, now=now)
        self.alerts = {a["id"]: {"cloudId": self.cloud["id"], **a} for a in world.get("alerts", [])}
        self.dashboards = {d["id"]: d for d in world.get("dashboards", [])}
        self.actions = {a["id"]: {"cloudId": self.cloud["id"], **a}
                        for a in world.get("actions", [])}
        self.updates = list(world.get("updates", []))
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {
            "platform": "ioto",
            "cloud": {k: v for k, v in self.cloud.items() if not k.startswith("_")},
            "cloudApiTokens": [{"token": t["token"], **({"description": t["description"]}
                                                        if "description" in t else {})}
                               for t in self.cloud_tokens.values()],
            "logins": [{"email": u["email"], "password": u["password"], "role": u["role"],
                        "accountId": u["accountId"], "token": self.login_token(u)}
                       for u in self.users.values() if u.get("password")],
            "accounts": [{"id": a["id"], "name": a["name"],
                          "deviceIds": [d["id"] for d in self.devices.values()
                                        if d.get("accountId") == a["id"]]}
                         for a in self.accounts.values()],
            "unclaimedDevices": [d["id"] for d in self.devices.values()
                                 if not d.get("accountId")],
            "deviceTokens": [{"deviceId": d, "token": t} for t, d in self.device_tokens.items()],
        }

    # ------------------------------------------------------------ tokens

    def login_token(self, user: Record) -> str:
        return self.signer.sign({"sub": user["id"], "typ": "login"}, now=self.clock.now(),
                                ttl_s=LOGIN_TOKEN_TTL_S)

    def login(self, email: str, password: str) -> str:
        """What the Cognito login would hand out: a fresh access token."""
        for user in self.users.values():
            if user["email"].lower() == email.lower() and user.get("password") == password:
                return self.login_token(user)
        raise Unauthorized("Incorrect username or password")

    def tok_caller(self, token: str) -> Caller | None:
        found = self.cloud_tokens.get(token)
        if found is not None and found.get("enable", True):
            return Caller("cloud", token[:8], "owner", None)
        device_id = self.device_tokens.get(token)
        device = self.devices.get(device_id or "")
        if device is not None and device.get("accountId"):
            return Caller("device", device["id"], "device", device["accountId"])
        return None

    def login_caller(self, token: str) -> Caller:
        claims = self.signer.decode(token, now=self.clock.now())
        user = self.users.get(claims.get("sub", "")) if claims.get("typ") == "login" else None
        if user is None or user["accountId"] not in self.accounts:
            raise Unauthorized("Authentication failed")
        return Caller("login", user["id"], user["role"], user["accountId"])

    # ------------------------------------------------------------ scoping

    def account_for(self, caller: Caller, body: dict[str, Any] | None,
                    *, required: bool = False) -> str | None:
        """The account a call acts on: the caller's own, or (cloud-wide callers
        only) the ``accountId`` named in the body; None: the whole cloud."""
        if not caller.cloud_wide:
            return caller.account_id
        named = (body or {}).get("accountId")
        if named is None:
            if required:
                raise ValidationError("accountId is required with a CloudAPI token")
            return None
        if named not in self.accounts:
            raise NotFound("Cannot find account")
        return named

    def device_of(self, caller: Caller, device_id: str, account_id: str | None) -> Record:
        """A claimed device the caller reaches (400 Cannot find device otherwise)."""
        device = self.devices.get(device_id)
        if (device is None or not device.get("accountId")
                or (account_id is not None and device["accountId"] != account_id)
                or (caller.kind == "device" and caller.subject != device_id)):
            raise NotFound("Cannot find device")
        return device

    def now_iso(self) -> str:
        return iso(self.clock.now())
