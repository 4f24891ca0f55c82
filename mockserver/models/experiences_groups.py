"""Experience groups: the tenancy tree of an application's experience.

Groups form a tree through ``parentId`` (``ancestorIds`` is derived, root
first). A user listed in a group's ``experienceUserIds`` is a member of it
and, for access, of every group below it. A group's devices are the union of
its ``deviceIds``, the devices matching any of its ``deviceTags`` and the
devices matching its ``deviceQueryJson`` (the device list's advanced-query
evaluator); a user reaches the devices of every group it is a member of.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.models.base import (
    Record,
    apply_changes,
    collection,
    flag,
    public,
    stamp_new,
    touch,
)
from losant_kit.mockserver.query import compile_device_query, compile_experience_group_query

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "experienceGroups"
FIELDS = (
    "name",
    "description",
    "experienceUserIds",
    "experienceEndpointIds",
    "groupTags",
    "deviceIds",
    "deviceTags",
    "deviceQueryJson",
    "parentId",
)
Predicate = Callable[[Record], bool]


class ExperienceGroups:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ the tree

    def of_application(self, application_id: str) -> list[Record]:
        return list(self.store.children(KIND, application_id))

    def ancestor_ids(self, group: Record) -> list[str]:
        """Ids from the root down to the group's parent."""
        chain: list[str] = []
        parent_id = group.get("parentId")
        while parent_id and parent_id not in chain:
            parent = self.store.get(KIND, parent_id)
            if parent is None or parent["applicationId"] != group["applicationId"]:
                break
            chain.append(parent_id)
            parent_id = parent.get("parentId")
        return list(reversed(chain))

    def descendant_ids(self, application_id: str, group_ids: Iterable[str]) -> set[str]:
        """The groups given and every group below them (same application)."""
        children: dict[str, list[str]] = {}
        for group in self.store.children(KIND, application_id):
            if group.get("parentId"):
                children.setdefault(group["parentId"], []).append(group["id"])
        found: set[str] = set()
        pending = [g for g in group_ids if self._in_app(g, application_id)]
        while pending:
            ident = pending.pop()
            if ident in found:
                continue
            found.add(ident)
            pending.extend(children.get(ident, ()))
        return found

    def _in_app(self, group_id: str, application_id: str) -> bool:
        group = self.store.get(KIND, group_id)
        return group is not None and group["applicationId"] == application_id

    def direct_group_ids(self, application_id: str, user_id: str) -> list[str]:
        """Groups listing the user in ``experienceUserIds``."""
        return [g["id"] for g in self.groups_listing(application_id, "experienceUserIds", user_id)]

    def access_group_ids(self, application_id: str, user_id: str) -> set[str]:
        """Groups the user is a member of for access: its groups and their descendants."""
        return self.descendant_ids(application_id, self.direct_group_ids(application_id, user_id))

    # ------------------------------------------------------------ devices

    def device_predicate(self, group: Record) -> Predicate:
        ids = {i.lower() for i in group.get("deviceIds") or ()}
        tags = [(t.get("key"), t.get("value")) for t in group.get("deviceTags") or ()]
        query = _parse_device_query(group.get("deviceQueryJson"))
        matches = compile_device_query(query) if query is not None else None

        def has_tag(device: Record) -> bool:
            return any(
                (key is None or t.get("key") == key) and (value is None or t.get("value") == value)
                for key, value in tags
                for t in device.get("tags", ())
            )

        return lambda device: (
            device["id"].lower() in ids
            or has_tag(device)
            or (matches is not None and matches(device))
        )

    def devices_of_groups(self, application_id: str, group_ids: Iterable[str]) -> list[Record]:
        """Live devices of the application in any of the groups."""
        predicates = [
            self.device_predicate(group)
            for group in (self.store.get(KIND, g) for g in set(group_ids))
            if group is not None and group["applicationId"] == application_id
        ]
        if not predicates:
            return []
        return [
            d
            for d in self.store.children("devices", application_id)
            if not d.get("deletedAt") and any(p(d) for p in predicates)
        ]

    def user_reaches(self, application_id: str, user_id: str, device: Record) -> bool:
        """Whether the user reaches this one device (without listing all of them)."""
        if device["applicationId"] != application_id or device.get("deletedAt"):
            return False
        return any(
            self.device_predicate(group)(device)
            for group in (
                self.store.get(KIND, g) for g in self.access_group_ids(application_id, user_id)
            )
            if group is not None
        )

    def user_devices(self, application_id: str, user_id: str) -> list[Record]:
        return self.devices_of_groups(
            application_id, self.access_group_ids(application_id, user_id)
        )

    # ------------------------------------------------------------ rendering

    def render(self, group: Record, params: dict[str, Any] | None = None) -> Record:
        params = params or {}
        out = public(group)
        out["ancestorIds"] = self.ancestor_ids(group)
        out.setdefault("parentId", None)
        if flag(params.get("includeDirectDeviceCount", False)):
            out["directDeviceCount"] = len(
                self.devices_of_groups(group["applicationId"], [group["id"]])
            )
        if flag(params.get("includeTotalDeviceCount", False)):
            below = self.descendant_ids(group["applicationId"], [group["id"]])
            out["totalDeviceCount"] = len(self.devices_of_groups(group["applicationId"], below))
        return out

    # ------------------------------------------------------------ actions

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        rendered = [self.render(g) for g in self.store.children(KIND, app["id"])]
        matches = compile_experience_group_query(params.get("query"))
        return collection(
            rendered,
            params,
            render=lambda g: g,
            predicate=matches,
            extra={"applicationId": app["id"]},
        )

    def create(
        self,
        principal: Principal,
        application_id: str,
        body: dict[str, Any],
        *,
        ident: str | None = None,
    ) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        ident = ident or self.backend.ids.new()
        group: Record = {
            "id": ident,
            "experienceGroupId": ident,
            "applicationId": app["id"],
            "description": "",
            "experienceUserIds": [],
            "experienceEndpointIds": [],
            "groupTags": {},
            "deviceIds": [],
            "deviceTags": [],
            "deviceQueryJson": None,
            "parentId": None,
        }
        group.update({k: v for k, v in body.items() if k in FIELDS and v is not None})
        self._check(group)
        stamp_new(group, self.backend.clock)
        self.store.put(KIND, group)
        return self.render(group)

    def find(self, principal: Principal, application_id: str, group_id: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        group = self.store.get(KIND, group_id)
        if group is None or group["applicationId"] != app["id"]:
            raise NotFound.resource("Experience group", group_id)
        return group

    def get(
        self, principal: Principal, application_id: str, group_id: str, params: dict[str, Any]
    ) -> Record:
        return self.render(self.find(principal, application_id, group_id), params)

    def patch(
        self, principal: Principal, application_id: str, group_id: str, changes: dict[str, Any]
    ) -> Record:
        group = dict(self.find(principal, application_id, group_id))
        apply_changes(group, changes, FIELDS)
        self._check(group)
        touch(group, self.backend.clock)
        self.store.put(KIND, group)
        return self.render(group)

    def delete(self, principal: Principal, application_id: str, group_id: str) -> dict:
        group = self.find(principal, application_id, group_id)
        self.remove(group)
        return {"success": True}

    def remove(self, group: Record) -> None:
        """Delete one group; its child groups move up to its parent."""
        for child in list(self.store.children(KIND, group["applicationId"])):
            if child.get("parentId") == group["id"]:
                child["parentId"] = group.get("parentId")
                touch(child, self.backend.clock)
                self.store.put(KIND, child)
        self.store.delete(KIND, group["id"])

    # ------------------------------------------------------------ memberships

    def groups_listing(self, application_id: str, field: str, member_id: str) -> list[Record]:
        """Groups whose ``field`` (experienceUserIds or experienceEndpointIds) lists the member."""
        return [
            g for g in self.store.children(KIND, application_id) if member_id in g.get(field, ())
        ]

    def set_memberships(
        self, application_id: str, field: str, member_id: str, group_ids: list[str]
    ) -> None:
        """Make exactly ``group_ids`` list the member in ``field``.

        The group is the one place a membership is stored; a user's or an
        endpoint's ``experienceGroupIds`` is read from (and written to) there.
        """
        wanted = set(self.check_ids(application_id, group_ids, "experienceGroupIds"))
        for group in list(self.store.children(KIND, application_id)):
            members = list(group.get(field, []))
            if (group["id"] in wanted) == (member_id in members):
                continue
            if group["id"] in wanted:
                members.append(member_id)
            else:
                members.remove(member_id)
            group[field] = members
            touch(group, self.backend.clock)
            self.store.put(KIND, group)

    def check_ids(self, application_id: str, group_ids: Iterable[str], field: str) -> list[str]:
        ids = list(dict.fromkeys(group_ids))
        for ident in ids:
            if not self._in_app(ident, application_id):
                raise ValidationError(f"body.{field}: no experience group {ident} here")
        return ids

    @staticmethod
    def summary(group: Record) -> Record:
        return {"id": group["id"], "name": group["name"], "parentId": group.get("parentId")}

    # ------------------------------------------------------------ checks

    def _check(self, group: Record) -> None:
        if not group.get("name"):
            raise ValidationError("body.name: an experience group needs a name")
        app_id = group["applicationId"]
        parent_id = group.get("parentId")
        if parent_id:
            if not self._in_app(parent_id, app_id):
                raise ValidationError(f"body.parentId: no experience group {parent_id} here")
            if parent_id in self.descendant_ids(app_id, [group["id"]]) or parent_id == group["id"]:
                raise ValidationError("body.parentId: a group cannot sit below itself")
        _parse_device_query(group.get("deviceQueryJson"), check=True)
        users = group.get("experienceUserIds") or []
        for user_id in users:
            user = self.store.get("experienceUsers", user_id)
            if user is None or user["applicationId"] != app_id:
                raise ValidationError(f"body.experienceUserIds: no experience user {user_id} here")
        group["experienceUserIds"] = list(dict.fromkeys(users))
        endpoints = group.get("experienceEndpointIds") or []
        group["experienceEndpointIds"] = list(dict.fromkeys(endpoints))
        for endpoint_id in endpoints:
            endpoint = self.store.get("experienceEndpoints", endpoint_id)
            if endpoint is None or endpoint["applicationId"] != app_id:
                raise ValidationError(
                    f"body.experienceEndpointIds: no experience endpoint {endpoint_id} here"
                )
        for index, tag in enumerate(group.get("deviceTags") or ()):
            if "key" not in tag and "value" not in tag:
                raise ValidationError(f"body.deviceTags[{index}]: needs a key, a value or both")


def _parse_device_query(text: Any, *, check: bool = False) -> Any:
    """A group's ``deviceQueryJson`` as a query object (None: no query)."""
    if text in (None, ""):
        return None
    try:
        query = json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError("body.deviceQueryJson: not valid JSON") from None
    if check:
        try:
            compile_device_query(query)
        except ValidationError as exc:
            raise ValidationError(f"body.deviceQueryJson: {exc.message}") from None
    return query
