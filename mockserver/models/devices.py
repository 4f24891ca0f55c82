"""Devices and their attributes: create, read, update, soft delete, restore, query.

Listing is built for large applications: each (application, sort field,
direction) keeps a cached ordering that is rebuilt only after a write to that
application's devices, so a filtered page over 100,000 devices costs one pass
of the predicate and no sort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mockserver.auth import Principal
from mockserver.clock import iso
from mockserver.errors import Forbidden, NotFound, ValidationError
from mockserver.models.base import (
    MAX_PER_PAGE,
    Record,
    check_object_id,
    flag,
    int_param,
    public,
    stamp_new,
    touch,
)
from mockserver.query import (
    compile_device_filters,
    compile_device_query,
    compile_field_filter,
    device_value,
    sort_and_page,
)

if TYPE_CHECKING:
    from mockserver.models.backend import Backend

KIND = "devices"
DEVICE_FIELDS = ("name", "description", "tags", "attributes", "deviceClass", "gatewayId",
                 "parentId", "systemInterval", "keepDuplicates")
NAMES_LIMIT = 1000  # attributeNames / deviceNames / tagKeys / tagValues answer at most this many


class Devices:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        # (applicationId, sortField, direction) -> (store version, ordered records)
        self._orderings: dict[tuple[str, str, str], tuple[int, list[Record]]] = {}

    # ------------------------------------------------------------ rendering

    @staticmethod
    def render(device: Record, params: dict[str, Any] | None = None) -> Record:
        params = params or {}
        out = public(device)
        if flag(params.get("excludeConnectionInfo", False)):
            out.pop("connectionInfo", None)
        if flag(params.get("tagsAsObject", False)):
            # Repeated keys: the last value wins in the object form.
            out["tags"] = {t["key"]: t["value"] for t in device.get("tags", [])}
        if flag(params.get("attributesAsObject", False)):
            out["attributes"] = {
                a["name"]: {k: v for k, v in a.items() if k != "name"}
                for a in device.get("attributes", [])
            }
        return out

    # ------------------------------------------------------------ lookups

    def find(self, principal: Principal, application_id: str, device_id: str,
             *, include_deleted: bool = False) -> Record:
        """A device the principal may read, or 403/404."""
        app = self.backend.applications.visible(principal, application_id)
        device = self.store.get(KIND, device_id)
        if (device is None or device["applicationId"] != app["id"]
                or (device.get("deletedAt") and not include_deleted)):
            raise NotFound.resource("Device", device_id)
        if not self.backend.keys.reach(principal)(device):
            raise Forbidden(f"Token may not access device {device_id}")
        return device

    def selection(self, principal: Principal, application_id: str,
                  query: dict[str, Any] | None = None, *, deleted: bool = False) -> list[Record]:
        """Devices of an application matching an advanced query, within reach."""
        app = self.backend.applications.visible(principal, application_id)
        matches = compile_device_query(query) if query else None
        reach = self.backend.keys.reach(principal)
        return [
            d for d in self.store.children(KIND, app["id"])
            if bool(d.get("deletedAt")) == deleted and reach(d) and (matches is None or matches(d))
        ]

    def _ordered(self, application_id: str, sort_field: str, direction: str) -> list[Record]:
        key = (application_id, sort_field, direction)
        version = self.store.version(KIND, application_id)
        cached = self._orderings.get(key)
        if cached is None or cached[0] != version:
            records = list(self.store.children(KIND, application_id))
            ordered, _ = sort_and_page(records, sort_field=sort_field, sort_direction=direction,
                                       page=0, per_page=max(1, len(records)),
                                       key=lambda d: device_value(d, sort_field))
            cached = (version, ordered)
            self._orderings[key] = cached
        return cached[1]

    # ------------------------------------------------------------ collection

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        sort_field = params.get("sortField") or "name"
        direction = params.get("sortDirection") or "asc"
        page = int_param(params.get("page"), "page", default=0)
        per_page = int_param(params.get("perPage"), "perPage", default=100, minimum=1,
                             maximum=MAX_PER_PAGE)
        if params.get("parentId") not in (None, "", "null"):
            check_object_id(params["parentId"], "query parameter parentId")
        predicate = self._list_predicate(principal, params)
        start, stop = page * per_page, (page + 1) * per_page
        items, total = [], 0
        for device in self._ordered(app["id"], sort_field, direction):
            if predicate(device):
                if start <= total < stop:
                    items.append(device)
                total += 1
        body: dict[str, Any] = {
            "items": [self.render(d, params) for d in items],
            "count": len(items),
            "totalCount": total,
            "perPage": per_page,
            "page": page,
            "sortField": sort_field,
            "sortDirection": direction,
            "applicationId": app["id"],
        }
        for name in ("filterField", "filter", "query"):
            if params.get(name):
                body[name] = params[name]
        # Echoed only in the shapes the response schema allows: the filters
        # also accept a list of classes, a lone tag pair and parentId=null.
        if params.get("parentId"):
            body["parentId"] = None if params["parentId"] == "null" else params["parentId"]
        if isinstance(params.get("deviceClass"), str):
            body["deviceClass"] = params["deviceClass"]
        if isinstance(params.get("tagFilter"), list) and params["tagFilter"]:
            body["tagFilter"] = params["tagFilter"]
        return body

    def _list_predicate(self, principal: Principal, params: dict[str, Any]) -> Callable[[Record], bool]:
        deleted = flag(params.get("queryDeleted", False))
        reach = self.backend.keys.reach(principal)
        if params.get("query"):
            # An advanced query overrides the simple filters (as documented).
            matches = compile_device_query(params["query"])
        else:
            matches = compile_device_filters(
                filter_field=params.get("filterField"),
                filter=params.get("filter"),
                device_class=params.get("deviceClass") or None,
                tag_filter=params.get("tagFilter") or None,
                parent_id=params.get("parentId"),
            )
        return lambda d: bool(d.get("deletedAt")) == deleted and reach(d) and matches(d)

    # ------------------------------------------------------------ create / read / update

    def create(self, principal: Principal, application_id: str, body: dict[str, Any],
               params: dict[str, Any] | None = None, *, ident: str | None = None) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        ident = ident or self.backend.ids.new()
        device: Record = {
            "id": ident,
            "deviceId": ident,
            "applicationId": app["id"],
            "name": body.get("name", "Untitled device"),
            "description": body.get("description", ""),
            "tags": list(body.get("tags", [])),
            "attributes": list(body.get("attributes", [])),
            "deviceClass": body.get("deviceClass", "standalone"),
            "connectionInfo": {"connected": 0},
            "keepDuplicates": body.get("keepDuplicates", False),
        }
        for field in ("gatewayId", "parentId", "systemInterval"):
            if body.get(field) is not None:
                device[field] = body[field]
        self._check(app["id"], device)
        stamp_new(device, self.backend.clock)
        device["connectionInfo"]["time"] = device["creationDate"]
        self.store.put(KIND, device)
        return self.render(device, params)

    def get(self, principal: Principal, application_id: str, device_id: str,
            params: dict[str, Any]) -> Record:
        return self.render(self.find(principal, application_id, device_id), params)

    def patch(self, principal: Principal, application_id: str, device_id: str,
              changes: dict[str, Any], params: dict[str, Any]) -> Record:
        device = self.find(principal, application_id, device_id)
        updated = dict(device)
        for field in DEVICE_FIELDS:
            if field in changes:
                if changes[field] is None:
                    updated.pop(field, None)
                else:
                    updated[field] = changes[field]
        self._check(device["applicationId"], updated)
        device.clear()
        device.update(updated)
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render(device, params)

    def _check(self, application_id: str, device: Record) -> None:
        """Rules the schema cannot express: references and unique attribute names."""
        names = [a["name"] for a in device.get("attributes", [])]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(f"body.attributes: duplicate attribute names {duplicates}")
        for field in ("gatewayId", "parentId"):
            ref = device.get(field)
            if not ref:
                continue
            other = self.store.get(KIND, ref)
            if other is None or other["applicationId"] != application_id or other.get("deletedAt"):
                raise ValidationError(f"body.{field}: device {ref} does not exist in this application")
            if ref == device["id"]:
                raise ValidationError(f"body.{field}: a device cannot reference itself")
            if field == "gatewayId" and other.get("deviceClass") not in ("gateway", "edgeCompute"):
                raise ValidationError(f"body.gatewayId: device {ref} is not a gateway")
            if field == "parentId" and other.get("deviceClass") != "system":
                raise ValidationError(f"body.parentId: device {ref} is not a system device")

    # ------------------------------------------------------------ delete / restore

    def delete(self, principal: Principal, application_id: str, device_id: str) -> dict:
        device = self.find(principal, application_id, device_id)
        self._soft_delete(device)
        return {"success": True}

    def _soft_delete(self, device: Record) -> None:
        device["deletedAt"] = iso(self.backend.clock.now())
        touch(device, self.backend.clock)
        self.store.put(KIND, device)

    def bulk_delete(self, principal: Principal, application_id: str, body: dict[str, Any]) -> dict:
        devices = self.selection(principal, application_id, body.get("query") or {})
        for device in devices:
            self._soft_delete(device)
        return {"removed": len(devices), "failed": 0}

    def bulk_restore(self, principal: Principal, application_id: str, body: dict[str, Any]) -> dict:
        devices = self.selection(principal, application_id, body.get("query") or {}, deleted=True)
        for device in devices:
            device.pop("deletedAt", None)
            touch(device, self.backend.clock)
            self.store.put(KIND, device)
        return {"restored": len(devices), "failed": 0}

    def bulk_patch(self, principal: Principal, application_id: str, body: dict[str, Any]) -> dict:
        devices = self.selection(principal, application_id, body.get("query") or {})
        fields = body.get("updateFields") or {}
        operations = body.get("updateOperations") or []
        updated = failed = 0
        for device in devices:
            try:
                candidate = apply_update_operations({**device, **fields}, operations)
                self._check(device["applicationId"], candidate)
            except ValidationError:
                failed += 1
                continue
            device.clear()
            device.update(candidate)
            touch(device, self.backend.clock)
            self.store.put(KIND, device)
            updated += 1
        return {"updated": updated, "failed": failed, "skipped": 0}

    def forget(self, device: Record) -> None:
        """Drop everything kept about a device outside its record (state, commands)."""
        hook = getattr(self.backend, "on_device_removed", None)
        if hook is not None:
            hook(device)

    # ------------------------------------------------------------ name lists

    def attribute_names(self, principal: Principal, application_id: str,
                        params: dict[str, Any]) -> dict:
        wanted_types = _as_set(params.get("dataType"))
        names: set[str] = set()
        for device in self._matching(principal, application_id, params):
            for attr in device.get("attributes", []):
                if wanted_types is None or attr.get("dataType") in wanted_types:
                    names.add(attr["name"])
        return {"attributeNames": _limited(names, params.get("startsWith"))}

    def device_names(self, principal: Principal, application_id: str, params: dict) -> dict:
        prefix = (params.get("startsWith") or "").lower()
        found = sorted(
            (d for d in self._matching(principal, application_id, params)
             if d["name"].lower().startswith(prefix)),
            key=lambda d: (d["name"].lower(), d["id"]),
        )[:NAMES_LIMIT]
        return {"deviceSummary": [
            {"id": d["id"], "name": d["name"], "deviceClass": d.get("deviceClass", "standalone")}
            for d in found
        ]}

    def tag_keys(self, principal: Principal, application_id: str, params: dict) -> dict:
        keys = {t["key"] for d in self._matching(principal, application_id, params)
                for t in d.get("tags", [])}
        return {"tagKeys": _limited(keys, params.get("startsWith"))}

    def tag_values(self, principal: Principal, application_id: str, params: dict) -> dict:
        key = params.get("key")
        values = {t["value"] for d in self._matching(principal, application_id, params)
                  for t in d.get("tags", []) if key is None or t["key"] == key}
        body: dict[str, Any] = {"tagValues": _limited(values, params.get("startsWith"))}
        if key:
            body["tagKey"] = key
        return body

    def _matching(self, principal: Principal, application_id: str,
                  params: dict[str, Any]) -> Iterable[Record]:
        return self.selection(principal, application_id, params.get("query") or None)

    # ------------------------------------------------------------ attributes

    def _attribute(self, device: Record, name: str) -> Record:
        for attr in device.get("attributes", []):
            if attr["name"] == name:
                return attr
        raise NotFound.resource("Attribute", name)

    @staticmethod
    def render_attribute(device: Record, attr: Record) -> Record:
        return {**attr, "applicationId": device["applicationId"], "deviceId": device["id"]}

    def list_attributes(self, principal: Principal, application_id: str, device_id: str,
                        params: dict[str, Any]) -> dict:
        device = self.find(principal, application_id, device_id)
        field, pattern = params.get("filterField"), params.get("filter")
        matches = compile_field_filter(field, pattern)
        attrs = [a for a in device.get("attributes", []) if matches(a)]
        ordered, _ = sort_and_page(
            [{**a, "id": a["name"]} for a in attrs],
            sort_field=params.get("sortField") or "name",
            sort_direction=params.get("sortDirection") or "asc",
            page=0, per_page=max(1, len(attrs)),
        )
        items = [self.render_attribute(device, {k: v for k, v in a.items() if k != "id"})
                 for a in ordered]
        body: dict[str, Any] = {
            "items": items, "count": len(items), "totalCount": len(items),
            "sortField": params.get("sortField") or "name",
            "sortDirection": params.get("sortDirection") or "asc",
            "applicationId": device["applicationId"], "deviceId": device["id"],
        }
        if field and pattern:
            body.update(filterField=field, filter=pattern)
        return body

    def create_attribute(self, principal: Principal, application_id: str, device_id: str,
                         body: dict[str, Any]) -> Record:
        device = self.find(principal, application_id, device_id)
        if any(a["name"] == body["name"] for a in device.get("attributes", [])):
            raise ValidationError(f"body.name: attribute {body['name']} already exists")
        device.setdefault("attributes", []).append(dict(body))
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render_attribute(device, body)

    def get_attribute(self, principal: Principal, application_id: str, device_id: str,
                      name: str) -> Record:
        device = self.find(principal, application_id, device_id)
        return self.render_attribute(device, self._attribute(device, name))

    def patch_attribute(self, principal: Principal, application_id: str, device_id: str,
                        name: str, changes: dict[str, Any]) -> Record:
        device = self.find(principal, application_id, device_id)
        attr = self._attribute(device, name)
        new_name = changes.get("name", name)
        if new_name != name and any(a["name"] == new_name for a in device["attributes"]):
            raise ValidationError(f"body.name: attribute {new_name} already exists")
        attr.update(changes)
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render_attribute(device, attr)

    def delete_attribute(self, principal: Principal, application_id: str, device_id: str,
                         name: str) -> dict:
        device = self.find(principal, application_id, device_id)
        attr = self._attribute(device, name)
        device["attributes"].remove(attr)
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return {"success": True}


def apply_update_operations(device: Record, operations: list[dict[str, Any]]) -> Record:
    """Apply devicesPatch ``updateOperations`` (set / remove / add) to a copy."""
    out = {**device, "tags": [dict(t) for t in device.get("tags", [])],
           "attributes": [dict(a) for a in device.get("attributes", [])]}
    for op in operations:
        kind, target = op["operation"], op["target"]
        attrs = {a["name"]: a for a in out["attributes"]}
        if kind == "set" and target in ("name", "deviceClass", "description", "gatewayId",
                                        "parentId", "systemInterval", "keepDuplicates"):
            out[target] = op["value"]
        elif kind == "set" and target == "tag":
            out["tags"] = [t for t in out["tags"] if t["key"] != op["value"]["key"]]
            out["tags"].append(dict(op["value"]))
        elif kind == "set" and target.startswith("attribute"):
            attr = attrs.get(op["attributeName"])
            if attr is None:
                raise ValidationError(f"attribute {op['attributeName']} does not exist")
            if target == "attributeTag":
                attr.setdefault("attributeTags", {})[op["value"]["key"]] = op["value"]["value"]
            elif target == "attributeDescription":
                attr["description"] = op["value"]
            elif target == "attributeContentType":
                attr["contentType"] = op["value"]
            elif target == "attributeName":
                attr["name"] = op["value"]
        elif kind == "remove" and target in ("description", "parentId"):
            out.pop(target, None)
        elif kind == "remove" and target == "tag":
            out["tags"] = [t for t in out["tags"] if t["key"] != op["tagKey"]]
        elif kind == "remove" and target == "attribute":
            out["attributes"] = [a for a in out["attributes"] if a["name"] != op["attributeName"]]
        elif kind == "remove" and target in ("attributeTag", "attributeDescription"):
            attr = attrs.get(op["attributeName"])
            if attr is not None:
                if target == "attributeTag":
                    attr.get("attributeTags", {}).pop(op["tagKey"], None)
                else:
                    attr.pop("description", None)
        elif kind == "add" and target in ("attribute", "attributeSystem"):
            if op["value"]["name"] in attrs:
                raise ValidationError(f"attribute {op['value']['name']} already exists")
            out["attributes"].append(dict(op["value"]))
    return out


def _as_set(value: Any) -> set[str] | None:
    if not value:
        return None
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value.values())
    return set(value)


def _limited(values: Iterable[str], starts_with: str | None) -> list[str]:
    prefix = (starts_with or "").lower()
    return sorted(v for v in values if v.lower().startswith(prefix))[:NAMES_LIMIT]
