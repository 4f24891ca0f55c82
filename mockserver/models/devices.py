"""Devices and their attributes: create, read, update, soft delete, restore, query.

Listing is built for large applications: each (application, sort field,
direction) keeps a cached ordering that is rebuilt only after a write to that
application's devices, so a filtered page over 100,000 devices costs one pass
of the predicate and no sort.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import Forbidden, NotFound, ValidationError
from losant_kit.mockserver.list_filters import (
    compile_device_filters,
    compile_field_filter,
    tag_filter_query,
)
from losant_kit.mockserver.models.base import (
    MAX_PER_PAGE,
    Record,
    apply_changes,
    check_object_id,
    flag,
    int_param,
    public,
    stamp_new,
    touch,
)
from losant_kit.mockserver.paging import sort_and_page
from losant_kit.mockserver.query import compile_device_query, device_value
from losant_kit.mockserver.query_index import DeviceIndex, narrow

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "devices"
DEVICE_FIELDS = (
    "name",
    "description",
    "tags",
    "attributes",
    "deviceClass",
    "gatewayId",
    "parentId",
    "systemInterval",
    "keepDuplicates",
)
NAMES_LIMIT = 1000  # attributeNames / deviceNames / tagKeys / tagValues answer at most this many


_SEP = "\x00"


@dataclass
class Ordering:
    """One application's devices in one sort order, live and deleted apart.

    Rebuilt only after a write to the application's devices. The name glob
    filter (what list UIs send) runs as one regex scan over all names joined
    into a single string, instead of one Python call per device.
    """

    version: int
    live: list[Record]
    deleted: list[Record]
    _blobs: dict[bool, tuple[str, list[int]]] = dataclasses.field(default_factory=dict)
    _indexes: dict[bool, DeviceIndex] = dataclasses.field(default_factory=dict)

    def narrowed(self, query: Any, deleted: bool) -> tuple[list[Record], bool] | None:
        """The devices the indexes leave for ``query``, in order, and whether exactly.

        None when no index narrows it (see query_index.py).
        """
        records = self.deleted if deleted else self.live
        if deleted not in self._indexes:
            self._indexes[deleted] = DeviceIndex(records)
        found = narrow(query, self._indexes[deleted])
        if found is None:
            return None
        return [records[i] for i in sorted(found.positions)], found.exact

    def glob_names(self, pattern: str, deleted: bool) -> Sequence[Record] | None:
        """Devices whose name matches the glob, in order; None if the fast path cannot apply."""
        records = self.deleted if deleted else self.live
        if deleted not in self._blobs:
            names = [str(d.get("name", "")).casefold() for d in records]
            if any(_SEP in n for n in names):
                return None
            starts, offset = [], 1
            for name in names:
                starts.append(offset)
                offset += len(name) + 1
            self._blobs[deleted] = (_SEP + _SEP.join(names) + _SEP, starts)
        blob, starts = self._blobs[deleted]
        # Same semantics as query.glob_matcher: '*' spans anything, the rest is
        # literal, case-folded, whole name. [^\x00] keeps a match inside one
        # name; starting the pattern with the separator itself gives the regex
        # engine a literal prefix to scan for, instead of trying every offset.
        body = "[^\x00]*".join(re.escape(part) for part in pattern.casefold().split("*"))
        regex = re.compile(f"\x00{body}(?=\x00)", re.DOTALL)
        return _Matches(records, starts, [m.start() + 1 for m in regex.finditer(blob)])


class _Matches(Sequence):
    """Matched devices by name offset; a record is looked up only when it is read."""

    def __init__(self, records: list[Record], starts: list[int], offsets: list[int]) -> None:
        self._records, self._starts, self._offsets = records, starts, offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._records[bisect.bisect_left(self._starts, self._offsets[index])]


class Devices:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self._orderings: dict[tuple[str, str, str], Ordering] = {}

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

    def find(
        self,
        principal: Principal,
        application_id: str,
        device_id: str,
        *,
        include_deleted: bool = False,
    ) -> Record:
        """A device the principal may read, or 403/404."""
        app = self.backend.applications.visible(principal, application_id)
        device = self.store.get(KIND, device_id)
        if (
            device is None
            or device["applicationId"] != app["id"]
            or (device.get("deletedAt") and not include_deleted)
        ):
            raise NotFound.resource("Device", device_id)
        if not self.backend.keys.reach(principal)(device):
            raise Forbidden(f"Token may not access device {device_id}")
        return device

    def selection(
        self,
        principal: Principal,
        application_id: str,
        query: dict[str, Any] | None = None,
        *,
        deleted: bool = False,
    ) -> list[Record]:
        """Devices of an application matching an advanced query, within reach."""
        app = self.backend.applications.visible(principal, application_id)
        matches = compile_device_query(query) if query else None
        reach = self.backend.keys.reach(principal)
        return [
            d
            for d in self.store.children(KIND, app["id"])
            if bool(d.get("deletedAt")) == deleted and reach(d) and (matches is None or matches(d))
        ]

    def _ordering(self, application_id: str, sort_field: str, direction: str) -> Ordering:
        key = (application_id, sort_field, direction)
        version = self.store.version(KIND, application_id)
        cached = self._orderings.get(key)
        if cached is None or cached.version != version:
            records = list(self.store.children(KIND, application_id))
            ordered, _ = sort_and_page(
                records,
                sort_field=sort_field,
                sort_direction=direction,
                page=0,
                per_page=max(1, len(records)),
                key=lambda d: device_value(d, sort_field),
            )
            cached = Ordering(
                version,
                live=[d for d in ordered if not d.get("deletedAt")],
                deleted=[d for d in ordered if d.get("deletedAt")],
            )
            self._orderings[key] = cached
        return cached

    # ------------------------------------------------------------ collection

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        sort_field = params.get("sortField") or "name"
        direction = params.get("sortDirection") or "asc"
        page = int_param(params.get("page"), "page", default=0)
        per_page = int_param(
            params.get("perPage"), "perPage", default=100, minimum=1, maximum=MAX_PER_PAGE
        )
        if params.get("parentId") not in (None, "", "null"):
            check_object_id(params["parentId"], "query parameter parentId")
        candidates, predicate = self._candidates(
            principal, app["id"], sort_field, direction, params
        )
        start, stop = page * per_page, (page + 1) * per_page
        if predicate is None:
            items, total = candidates[start:stop], len(candidates)
        else:
            items, total = [], 0
            for device in candidates:
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

    def _candidates(
        self,
        principal: Principal,
        application_id: str,
        sort_field: str,
        direction: str,
        params: dict[str, Any],
    ) -> tuple[Sequence[Record], Callable[[Record], bool] | None]:
        """Devices in order, narrowed as far as indexes allow, plus what is left to check."""
        ordering = self._ordering(application_id, sort_field, direction)
        deleted = flag(params.get("queryDeleted", False))
        candidates = ordering.deleted if deleted else ordering.live
        checks: list[Callable[[Record], bool]] = []
        if params.get("query"):
            # An advanced query overrides the simple filters (as documented).
            predicate = compile_device_query(params["query"])
            narrowed = ordering.narrowed(params["query"], deleted)
            if narrowed is not None:
                candidates, exact = narrowed
                if not exact:
                    checks.append(predicate)
            else:
                checks.append(predicate)
        else:
            filter_field, pattern = params.get("filterField"), params.get("filter")
            name_indexed = False
            if filter_field == "name" and pattern:
                narrowed = ordering.glob_names(pattern, deleted)
                if narrowed is not None:
                    candidates, filter_field, name_indexed = narrowed, None, True
            simple = (
                (filter_field and pattern)
                or params.get("deviceClass")
                or (params.get("tagFilter") or params.get("parentId"))
            )
            if simple:
                tag_filter = params.get("tagFilter") or None
                checks.append(
                    compile_device_filters(
                        filter_field=filter_field,
                        filter=pattern,
                        device_class=params.get("deviceClass") or None,
                        tag_filter=tag_filter,
                        parent_id=params.get("parentId"),
                    )
                )
                # The tag index, unless the name index narrowed already (its glob
                # is then not rechecked). Answered exactly, the tag part of the
                # filters need not run again on the candidates.
                tags = tag_filter_query(tag_filter) if tag_filter and not name_indexed else None
                narrowed = ordering.narrowed(tags, deleted) if tags else None
                if narrowed is not None:
                    candidates, exact = narrowed
                    if exact:
                        checks[-1] = compile_device_filters(
                            filter_field=filter_field,
                            filter=pattern,
                            device_class=params.get("deviceClass") or None,
                            parent_id=params.get("parentId"),
                        )
        if principal.kind == "device":
            checks.append(self.backend.keys.reach(principal))
        if not checks:
            return candidates, None
        if len(checks) == 1:
            return candidates, checks[0]
        return candidates, lambda d: all(check(d) for check in checks)

    # ------------------------------------------------------------ create / read / update

    def create(
        self,
        principal: Principal,
        application_id: str,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        *,
        ident: str | None = None,
    ) -> Record:
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
            # null: never connected (the schema's third state, besides 1 and 0).
            "connectionInfo": {"connected": None},
            "keepDuplicates": body.get("keepDuplicates", False),
        }
        for field in ("gatewayId", "parentId", "systemInterval"):
            if body.get(field) is not None:
                device[field] = body[field]
        self._check(app["id"], device)
        stamp_new(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render(device, params)

    def get(
        self, principal: Principal, application_id: str, device_id: str, params: dict[str, Any]
    ) -> Record:
        return self.render(self.find(principal, application_id, device_id), params)

    def patch(
        self,
        principal: Principal,
        application_id: str,
        device_id: str,
        changes: dict[str, Any],
        params: dict[str, Any],
    ) -> Record:
        device = self.find(principal, application_id, device_id)
        updated = dict(device)
        apply_changes(updated, changes, DEVICE_FIELDS)
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
                raise ValidationError(
                    f"body.{field}: device {ref} does not exist in this application"
                )
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

    def attribute_names(
        self, principal: Principal, application_id: str, params: dict[str, Any]
    ) -> dict:
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
            (
                d
                for d in self._matching(principal, application_id, params)
                if d["name"].lower().startswith(prefix)
            ),
            key=lambda d: (d["name"].lower(), d["id"]),
        )[:NAMES_LIMIT]
        return {
            "deviceSummary": [
                {
                    "id": d["id"],
                    "name": d["name"],
                    "deviceClass": d.get("deviceClass", "standalone"),
                }
                for d in found
            ]
        }

    def tag_keys(self, principal: Principal, application_id: str, params: dict) -> dict:
        keys = {
            t["key"]
            for d in self._matching(principal, application_id, params)
            for t in d.get("tags", [])
        }
        return {"tagKeys": _limited(keys, params.get("startsWith"))}

    def tag_values(self, principal: Principal, application_id: str, params: dict) -> dict:
        key = params.get("key")
        values = set()
        key_seen = False
        for device in self._matching(principal, application_id, params):
            for tag in device.get("tags", []):
                if key is None or tag["key"] == key:
                    values.add(tag["value"])
                    key_seen = True
        body: dict[str, Any] = {"tagValues": _limited(values, params.get("startsWith"))}
        if key and key_seen:
            # Echoed only when some device has it: a key no tag can have (say, with
            # spaces) simply has no values, rather than an invalid tagKey.
            body["tagKey"] = key
        return body

    def _matching(
        self, principal: Principal, application_id: str, params: dict[str, Any]
    ) -> Iterable[Record]:
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

    def list_attributes(
        self, principal: Principal, application_id: str, device_id: str, params: dict[str, Any]
    ) -> dict:
        device = self.find(principal, application_id, device_id)
        field, pattern = params.get("filterField"), params.get("filter")
        matches = compile_field_filter(field, pattern)
        attrs = [a for a in device.get("attributes", []) if matches(a)]
        ordered, _ = sort_and_page(
            [{**a, "id": a["name"]} for a in attrs],
            sort_field=params.get("sortField") or "name",
            sort_direction=params.get("sortDirection") or "asc",
            page=0,
            per_page=max(1, len(attrs)),
        )
        items = [
            self.render_attribute(device, {k: v for k, v in a.items() if k != "id"})
            for a in ordered
        ]
        body: dict[str, Any] = {
            "items": items,
            "count": len(items),
            "totalCount": len(items),
            "sortField": params.get("sortField") or "name",
            "sortDirection": params.get("sortDirection") or "asc",
            "applicationId": device["applicationId"],
            "deviceId": device["id"],
        }
        if field and pattern:
            body.update(filterField=field, filter=pattern)
        return body

    def create_attribute(
        self, principal: Principal, application_id: str, device_id: str, body: dict[str, Any]
    ) -> Record:
        device = self.find(principal, application_id, device_id)
        if any(a["name"] == body["name"] for a in device.get("attributes", [])):
            raise ValidationError(f"body.name: attribute {body['name']} already exists")
        device.setdefault("attributes", []).append(dict(body))
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render_attribute(device, body)

    def get_attribute(
        self, principal: Principal, application_id: str, device_id: str, name: str
    ) -> Record:
        device = self.find(principal, application_id, device_id)
        return self.render_attribute(device, self._attribute(device, name))

    def patch_attribute(
        self,
        principal: Principal,
        application_id: str,
        device_id: str,
        name: str,
        changes: dict[str, Any],
    ) -> Record:
        device = self.find(principal, application_id, device_id)
        attr = self._attribute(device, name)
        new_name = changes.get("name", name)
        if new_name != name and any(a["name"] == new_name for a in device["attributes"]):
            raise ValidationError(f"body.name: attribute {new_name} already exists")
        attr.update(changes)
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return self.render_attribute(device, attr)

    def delete_attribute(
        self, principal: Principal, application_id: str, device_id: str, name: str
    ) -> dict:
        device = self.find(principal, application_id, device_id)
        attr = self._attribute(device, name)
        device["attributes"].remove(attr)
        touch(device, self.backend.clock)
        self.store.put(KIND, device)
        return {"success": True}


def apply_update_operations(device: Record, operations: list[dict[str, Any]]) -> Record:
    """Apply devicesPatch ``updateOperations`` (set / remove / add) to a copy."""
    out = {
        **device,
        "tags": [dict(t) for t in device.get("tags", [])],
        "attributes": [dict(a) for a in device.get("attributes", [])],
    }
    for op in operations:
        kind, target = op["operation"], op["target"]
        attrs = {a["name"]: a for a in out["attributes"]}
        if kind == "set" and target in (
            "name",
            "deviceClass",
            "description",
            "gatewayId",
            "parentId",
            "systemInterval",
            "keepDuplicates",
        ):
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
