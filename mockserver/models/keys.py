"""Application access keys, device authentication and what a device may reach."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import DEVICE_TOKEN_TTL_S, Principal
from losant_kit.mockserver.errors import NotFound, Unauthorized
from losant_kit.mockserver.models.base import (
    Record,
    apply_changes,
    collection,
    public,
    stamp_new,
    touch,
)
from losant_kit.mockserver.query import compile_application_key_query

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "applicationKeys"
PATCHABLE = (
    "status",
    "name",
    "description",
    "filterType",
    "pubTopics",
    "subTopics",
    "addressFilterType",
    "addresses",
    "deviceIds",
    "deviceTags",
)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_covers(key: Record, device: Record) -> bool:
    """Whether an access key's device filter lets ``device`` in."""
    filter_type = key.get("filterType", "all")
    if filter_type == "all":
        return True
    if filter_type == "none":
        return False
    tags = {(t["key"], t["value"]) for t in device.get("tags", [])}
    listed = device["id"] in key.get("deviceIds", []) or any(
        (t["key"], t["value"]) in tags for t in key.get("deviceTags", [])
    )
    return listed if filter_type == "whitelist" else not listed


class ApplicationKeys:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ collection

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        query = params.get("query")
        predicate = compile_application_key_query(query) if query else None
        return collection(
            self.store.children(KIND, app["id"]),
            params,
            default_sort="creationDate",
            render=public,
            predicate=predicate,
            extra={"applicationId": app["id"]},
        )

    def create(
        self,
        principal: Principal,
        application_id: str,
        body: dict[str, Any],
        *,
        key: str | None = None,
        secret: str | None = None,
        ident: str | None = None,
    ) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        ids = self.backend.ids
        ident = ident or ids.new()
        key = key or _uuid_like(ids.secret(16))
        secret = secret or ids.secret(32)
        record: Record = {
            "id": ident,
            "applicationKeyId": ident,
            "applicationId": app["id"],
            "key": key,
            "status": "active",
            "filterType": "all",
            "deviceIds": [],
            "deviceTags": [],
            "description": "",
            "createdById": principal.subject,
            "createdByType": "apiToken" if principal.kind == "apiToken" else "user",
            "_secretHash": _secret_hash(secret),
        }
        record.update({k: v for k, v in body.items() if k in PATCHABLE})
        stamp_new(record, self.backend.clock)
        self.store.put(KIND, record)
        # The secret is shown in this response and never again.
        return {**public(record), "secret": secret}

    # ------------------------------------------------------------ one key

    def _find(self, principal: Principal, application_id: str, key_id: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        record = self.store.get(KIND, key_id)
        if record is None or record["applicationId"] != app["id"]:
            raise NotFound.resource("Application key", key_id)
        return record

    def get(self, principal: Principal, application_id: str, key_id: str) -> Record:
        return public(self._find(principal, application_id, key_id))

    def patch(
        self, principal: Principal, application_id: str, key_id: str, changes: dict[str, Any]
    ) -> Record:
        record = self._find(principal, application_id, key_id)
        apply_changes(record, changes, PATCHABLE)
        record["lastUpdatedById"] = principal.subject
        record["lastUpdatedByType"] = "apiToken" if principal.kind == "apiToken" else "user"
        touch(record, self.backend.clock)
        self.store.put(KIND, record)
        return public(record)

    def delete(self, principal: Principal, application_id: str, key_id: str) -> dict[str, bool]:
        record = self._find(principal, application_id, key_id)
        self.store.delete(KIND, record["id"])
        return {"success": True}

    # ------------------------------------------------------------ device auth

    def verify_device_login(
        self, key_string: str | None, secret: str | None, device_id: str | None
    ) -> tuple[Record, Record]:
        """The (key, device) of a device login, the one rule REST auth and MQTT share.

        Raises :class:`BadCredentials` for a missing or wrong key or secret and
        :class:`DeviceNotAuthorized` for an inactive key or a device the key does
        not let in (both 401 over REST; MQTT answers CONNACK 4 and 5).
        """
        if not key_string or not secret:
            raise BadCredentials("Device authentication needs an access key and secret")
        key = next((k for k in self.store.all(KIND) if k["key"] == key_string), None)
        if key is None or not hmac.compare_digest(key["_secretHash"], _secret_hash(secret)):
            raise BadCredentials("Invalid access key or secret")
        if key["status"] != "active":
            raise DeviceNotAuthorized("Access key is inactive")
        device = self.store.get("devices", device_id or "")
        if (
            device is None
            or device.get("deletedAt")
            or device["applicationId"] != key["applicationId"]
            or not key_covers(key, device)
        ):
            raise DeviceNotAuthorized(f"Access key does not allow device {device_id}")
        return key, device

    def device_principal(self, key: Record, device: Record) -> Principal:
        """The principal of a device logged in with ``key`` (a token's, or an MQTT client's)."""
        return Principal(
            "device",
            device["id"],
            frozenset(["all.Device"]),
            application_id=key["applicationId"],
            key_id=key["id"],
        )

    def authenticate_device(self, credentials: dict[str, Any]) -> dict[str, Any]:
        key, device = self.verify_device_login(
            credentials.get("key"), credentials.get("secret"), credentials.get("deviceId")
        )
        scopes = credentials.get("requestedScopes") or ["all.Device"]
        ttl = credentials.get("tokenTTL") or DEVICE_TOKEN_TTL_S
        token = self.backend.signer.sign(
            {
                "sub": device["id"],
                "typ": "device",
                "app": key["applicationId"],
                "key": key["id"],
                "scope": scopes,
            },
            now=self.backend.clock.now(),
            ttl_s=ttl,
        )
        app = self.store.get("applications", key["applicationId"])
        return {
            "applicationId": key["applicationId"],
            "deviceId": device["id"],
            "deviceClass": device.get("deviceClass", "standalone"),
            "token": token,
            "ownerType": (app or {}).get("ownerType", "user"),
            "filterType": key.get("filterType", "all"),
            "pubTopics": key.get("pubTopics", []),
            "subTopics": key.get("subTopics", []),
        }

    def principal_for_device_token(self, claims: dict[str, Any]) -> Principal:
        key = self.store.get(KIND, claims.get("key", ""))
        if key is None:
            raise Unauthorized("The access key behind this token was deleted")
        if key["status"] != "active":
            raise Unauthorized("The access key behind this token is inactive")
        device = self.store.get("devices", claims["sub"])
        if device is None or device.get("deletedAt"):
            raise Unauthorized("The device behind this token no longer exists")
        return Principal(
            "device",
            device["id"],
            frozenset(claims.get("scope", ["all.Device"])),
            application_id=key["applicationId"],
            key_id=key["id"],
        )

    # ------------------------------------------------------------ device reach

    def reach(self, principal: Principal) -> Callable[[Record], bool]:
        """Devices a principal may read and command (everything, for non-devices)."""
        if principal.kind != "device":
            return lambda device: True
        key = self.store.get(KIND, principal.key_id or "") or {"filterType": "none"}
        me = principal.subject
        return lambda device: device["id"] == me or key_covers(key, device)

    def may_report_for(self, principal: Principal, device: Record) -> bool:
        """Devices report their own state; a gateway also for its peripherals."""
        if principal.kind != "device":
            return True
        return device["id"] == principal.subject or device.get("gatewayId") == principal.subject


class BadCredentials(Unauthorized):
    """A device login whose access key or secret is wrong or missing."""


class DeviceNotAuthorized(Unauthorized):
    """A device login with good credentials that may not log in this device."""


def _uuid_like(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"
