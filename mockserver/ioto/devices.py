"""Devices: registered in a product, claimed into an account, released again;
and what a claimed device asks of the cloud (provisioning, credentials, updates).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.ioto import paging
from losant_kit.mockserver.ioto.accounts import release

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.principals import Caller
    from losant_kit.mockserver.ioto.state import IotoState

Record = dict[str, Any]
API_FIELDS = ("accessed", "accountId", "created", "id", "product", "productId", "test",
              "version", "checked")
CREDS_TTL_S = 3600


def device_view(device: Record) -> Record:
    return {k: device[k] for k in API_FIELDS if device.get(k) is not None}


class Devices:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        # The docs want accountId with a CloudAPI token; without one the mock lists the
        # claimed devices of every account (see the README's Fidelity notes).
        account = self.state.account_for(caller, body)
        found = [device_view(d) for d in self.state.devices.values()
                 if d.get("accountId") and (account is None or d["accountId"] == account)
                 and all(d.get(k) == body[k] for k in ("id", "productId") if k in body)]
        return paging.page(found, lambda d: [d["id"]], params)

    def get(self, caller: Caller, body: Record) -> Record:
        account = self.state.account_for(caller, body)
        return device_view(self.state.device_of(caller, body["id"], account))

    def claim(self, caller: Caller, body: Record) -> Record:
        account = self.state.account_for(caller, body, required=True)
        device = self.state.devices.get(body["id"])
        if device is None:
            raise NotFound("Cannot find device")
        if device.get("accountId") == account:
            return device_view(device)  # claiming one's own device again changes nothing
        if device.get("accountId"):
            raise ValidationError("Device is already claimed")
        device.update(accountId=account, created=self.state.now_iso())
        if not device.get("_apiToken"):
            token = self.state.ids.token()
            device["_apiToken"] = token
            self.state.device_tokens[token] = device["id"]
        return device_view(device)

    def release(self, caller: Caller, body: Record) -> Record:
        account = self.state.account_for(caller, body, required=True)
        device = self.state.device_of(caller, body["id"], account)
        view = device_view(device)
        release(self.state, device)
        token = device.pop("_apiToken", None)
        self.state.device_tokens.pop(token or "", None)
        device.pop("_provision", None)
        return view

    # ------------------------------------------------------------ device calls

    def provision(self, caller: Caller, body: Record) -> Record:
        device = self.state.device_of(caller, body["id"], None)
        kept = device.get("_provision")
        if kept is None:
            # Stable per claim: a device provisioning again gets the same identity.
            ids = self.state.ids
            kept = {"certificate": _pem("CERTIFICATE", ids.secret(512)),
                    "key": _pem("PRIVATE KEY", ids.secret(256)),
                    "thing": f"{self.state.cloud['id']}-{device['id']}"}
            device["_provision"] = kept
        cloud = self.state.cloud
        return {"id": device["id"], "accountId": device["accountId"], **kept,
                "endpoint": cloud.get("mqttEndpoint", "127.0.0.1"),
                "port": cloud.get("mqttPort", 8883)}

    def creds(self, caller: Caller, body: Record | None) -> Record:
        ids, now = self.state.ids, self.state.clock.now()
        from losant_kit.mockserver.clock import iso

        return {"accessKeyId": "ASIA" + ids.token(16), "secretAccessKey": ids.secret(40),
                "sessionToken": ids.secret(120), "expires": iso(now + CREDS_TTL_S),
                "region": self.state.cloud.get("region", "us-east-1")}

    def signed_url(self, caller: Caller, body: Record) -> str:
        device_id = body.get("id") or (caller.subject if caller.kind == "device" else None)
        if device_id is None:
            raise ValidationError("id names the device")
        device = self.state.device_of(caller, device_id, None)
        command = body.get("command", "get")
        digest = hashlib.sha256(f"{device['id']}:{command}:{body.get('filename')}".encode())
        return (f"https://{self.state.cloud['id']}.files.ioto.invalid/{device['id']}/"
                f"{body.get('filename', '')}?op={command}&signature={digest.hexdigest()[:32]}")

    def update(self, caller: Caller, body: Record) -> Record:
        device = self.state.device_of(caller, body["id"], None)
        if body["product"] != device.get("product"):
            raise NotFound("Cannot find device")
        current = _version(body["version"])
        newer = [u for u in self.state.updates if u["product"] == body["product"]
                 and _version(u["version"]) > current]
        if not newer:
            return {"message": "No update available"}
        best = max(newer, key=lambda u: _version(u["version"]))
        return {"url": best["url"], "version": best["version"], "checksum": best["checksum"],
                "update": best["id"]}

    def update_report(self, caller: Caller, body: Record) -> bool:
        self.state.device_of(caller, body["id"], None)
        if not any(u["id"] == body["update"] for u in self.state.updates):
            raise NotFound("Cannot find update")
        self.state.update_reports.append({**body, "time": self.state.now_iso()})
        return True


def _version(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in str(text).split("."))


def _pem(label: str, body: str) -> str:
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
