"""Generic data access: create/find/get/update/remove over the device-synced models.

``_type`` names the model (Device, Store, Log, Command, as in the cloud schema).
Each model knows which attributes identify an item (Store: account, device and
key; Log and Command: their generated id; Device: its id) and how items sort
for paging. Device items are a view of the cloud's claimed devices: devices join
and leave a cloud by claim and release, so Generic may update a Device's
writable fields but not create or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.ioto import paging

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.principals import Caller
    from losant_kit.mockserver.ioto.state import IotoState

Record = dict[str, Any]
# Attributes the caller never filters or sets: they select the account/model.
CONTROL_FIELDS = ("_type", "accountId")
DEVICE_WRITABLE = ("name", "description", "model", "state", "connection", "test")


@dataclass(frozen=True)
class Model:
    name: str
    key_fields: tuple[str, ...]  # identify an item within (accountId, deviceId)
    generated: str | None = None  # a ulid field filled on create
    defaults: tuple[tuple[str, Any], ...] = ()
    readonly: tuple[str, ...] = ("accountId", "deviceId", "created", "updated")

    def identity(self, item: Record) -> tuple:
        return (item.get("accountId"), item.get("deviceId"),
                *(item.get(k) for k in self.key_fields))

    def sort_key(self, item: Record) -> Any:
        return [item.get("accountId") or "", item.get("deviceId") or "",
                *(str(item.get(k)) for k in self.key_fields)]

    def stored(self, item: Record) -> Record:
        return {"_type": self.name, **dict(self.defaults), **item}


MODELS: dict[str, Model] = {
    "Store": Model("Store", ("key",)),
    "Log": Model("Log", ("id",), generated="id", defaults=(("context", {}),)),
    "Command": Model("Command", ("id",), generated="id", defaults=(("args", {}),)),
}


class Generic:
    def __init__(self, state: IotoState, item_schemas: dict[str, Any]) -> None:
        self.state = state
        # The spec's item schemas (<Type>Item): the fields and which are required.
        self.item_schemas = item_schemas

    # ------------------------------------------------------------ scoping

    def _scope(self, caller: Caller, body: Record) -> tuple[str | None, str | None]:
        """(account, device) a call acts on; the device must be reachable."""
        account = self.state.account_for(caller, body)
        device_id = body.get("deviceId")
        if caller.kind == "device":
            device_id = device_id or caller.subject
        if device_id is not None:
            device = self.state.device_of(caller, device_id, account)
            account = device["accountId"]
        return account, device_id

    def _items(self, type_: str, account: str | None, device: str | None) -> list[Record]:
        if type_ == "Device":
            return [self._device_item(d) for d in self.state.devices.values()
                    if d.get("accountId") and (account is None or d["accountId"] == account)
                    and (device is None or d["id"] == device)]
        return [item for (t, _), item in self.state.items.items() if t == type_
                and (account is None or item["accountId"] == account)
                and (device is None or item["deviceId"] == device)]

    @staticmethod
    def _device_item(device: Record) -> Record:
        item = {"_type": "Device", "id": device["id"], "accountId": device["accountId"]}
        for name in ("connection", "created", "description", "model", "name", "product",
                     "state", "test", "updated"):
            if device.get(name) is not None:
                item[name] = device[name]
        return item

    @staticmethod
    def _filters(body: Record) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in CONTROL_FIELDS}

    # ------------------------------------------------------------ operations

    def find(self, caller: Caller, body: Record, params: Record) -> dict[str, Any]:
        type_ = body["_type"]
        account, device = self._scope(caller, body)
        filters = self._filters(body)
        if type_ == "Device" and "deviceId" in filters:
            filters["id"] = filters.pop("deviceId")  # the docs select a Device by deviceId
        matches = [i for i in self._items(type_, account, None if type_ == "Device" else device)
                   if all(i.get(k) == v for k, v in filters.items())]
        key = MODELS[type_].sort_key if type_ in MODELS else (lambda i: [i["id"]])
        return paging.page(matches, key, params)

    def get(self, caller: Caller, body: Record) -> Record:
        return self._one(caller, body)

    def create(self, caller: Caller, body: Record) -> Record:
        type_ = body["_type"]
        if type_ == "Device":
            raise ValidationError("Devices join a cloud by /device/claim, not /generic/create")
        model = MODELS[type_]
        account, device = self._scope(caller, body)
        if device is None:
            raise ValidationError("deviceId is required to create a " + type_)
        now = self.state.now_iso()
        item = model.stored({k: v for k, v in body.items() if k != "accountId"})
        item.update(accountId=account, deviceId=device, created=now, updated=now)
        if model.generated:
            item[model.generated] = self.state.ids.ulid(self.state.clock.now_ms())
        self._check(type_, item)
        key = (type_, model.identity(item))
        if key in self.state.items:
            raise ValidationError(f"{type_} item already exists")
        self.state.items[key] = item
        return dict(item)

    def update(self, caller: Caller, body: Record, *, must_exist: bool) -> Record:
        type_ = body["_type"]
        if type_ == "Device":
            device = self._device_record(caller, body)
            for name in DEVICE_WRITABLE:
                if name in body:
                    device[name] = body[name]
            device["updated"] = self.state.now_iso()
            return self._device_item(device)
        model = MODELS[type_]
        try:
            item = self._one(caller, body, raw=True)
        except NotFound:
            if must_exist or model.generated:
                raise
            return self.create(caller, body)  # no ?exists: an update of a new key upserts
        changes = {k: v for k, v in body.items()
                   if k not in CONTROL_FIELDS and k not in model.readonly
                   and k not in model.key_fields}
        candidate = {**item, **changes, "updated": self.state.now_iso()}
        self._check(type_, candidate)
        item.update(candidate)
        return dict(item)

    def remove(self, caller: Caller, body: Record) -> bool:
        type_ = body["_type"]
        if type_ == "Device":
            raise ValidationError("Devices leave a cloud by /device/release")
        item = self._one(caller, body, raw=True)
        del self.state.items[(type_, MODELS[type_].identity(item))]
        return True

    # ------------------------------------------------------------ helpers

    def _device_record(self, caller: Caller, body: Record) -> Record:
        account = self.state.account_for(caller, body)
        device_id = body.get("id") or body.get("deviceId")
        if device_id is None:
            raise ValidationError("id (or deviceId) names the Device item")
        return self.state.device_of(caller, device_id, account)

    def _one(self, caller: Caller, body: Record, *, raw: bool = False) -> Record:
        type_ = body["_type"]
        if type_ == "Device":
            return self._device_item(self._device_record(caller, body))
        model = MODELS[type_]
        account, device = self._scope(caller, body)
        missing = [k for k in model.key_fields if k not in body]
        if missing:
            # Without its key, the first item of the device (samples/api/get-item.sh).
            if device is None:
                raise ValidationError(f"{type_}: give deviceId and {', '.join(missing)}")
            candidates = sorted(self._items(type_, account, device), key=model.sort_key)
            if not candidates:
                raise NotFound(f"Cannot find {type_} item")
            item = candidates[0]
        else:
            matches = [i for i in self._items(type_, account, device)
                       if all(i.get(k) == body[k] for k in model.key_fields)]
            if not matches:
                raise NotFound(f"Cannot find {type_} item")
            item = matches[0]
        return item if raw else dict(item)

    def _check(self, type_: str, item: Record) -> None:
        schema = self.item_schemas[f"{type_}Item"]
        missing = [k for k in schema.get("required", []) if k not in item]
        if missing:
            raise ValidationError(f"{type_}: missing {', '.join(missing)}")
        for name, value in item.items():
            expected = schema["properties"].get(name, {}).get("type")
            if expected and not _is(value, expected):
                raise ValidationError(f"{type_}.{name}: expected {expected}")


def _is(value: Any, expected: str) -> bool:
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "object": dict, "array": list}
    return isinstance(value, kinds.get(expected, object))
