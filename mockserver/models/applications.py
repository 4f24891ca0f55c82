"""Applications: the tenant boundary everything else lives under."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal, require_application
from losant_kit.mockserver.errors import Forbidden, ValidationError
from losant_kit.mockserver.models.base import (
    Record,
    apply_changes,
    collection,
    public,
    stamp_new,
    touch,
)

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "applications"
PATCHABLE = (
    "name",
    "description",
    "endpointSlug",
    "expUserTokenCutoff",
    "endpointDefaultCors",
    "globals",
    "blobUrlTTL",
    "ftueTracking",
    "archiveConfig",
)
# Kinds of record that live under an application and go when it goes.
CHILD_KINDS = ("devices", "applicationKeys", "deviceRecipes", "events", "jobs")
# The experience's records go too (mockserver/models/experiences.py).
CHILD_KINDS += (
    "experienceUsers",
    "experienceGroups",
    "experienceEndpoints",
    "experienceSlugs",
    "experienceDomains",
    "experienceRequests",
)


class Applications:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ lookups

    def visible(self, principal: Principal, application_id: str) -> Record:
        """The application record, or the 403/404 this principal deserves."""
        return require_application(principal, self.store.get(KIND, application_id), application_id)

    def render(self, app: Record) -> Record:
        out = public(app)
        store = self.store
        out["summary"] = {
            "deviceCount": sum(
                1 for d in store.children("devices", app["id"]) if not d.get("deletedAt")
            ),
            "deviceRecipeCount": store.count("deviceRecipes", app["id"]),
            "keyCount": store.count("applicationKeys", app["id"]),
            "apiTokenCount": store.count("apiTokens", app["id"]),
            "eventCount": store.count("events", app["id"]),
        }
        return out

    # ------------------------------------------------------------ collection

    def list(self, principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        if principal.application_id:
            # An application token sees exactly its own application.
            records = [a for a in [self.store.get(KIND, principal.application_id)] if a]
        else:
            records = self.store.children(KIND, principal.user_id)
        return collection(records, params, render=self.render)

    def create(
        self, principal: Principal, body: dict[str, Any], *, ident: str | None = None
    ) -> Record:
        if principal.kind != "user" and not principal.user_id:
            raise Forbidden("Only users can create applications")
        if body.get("orgId"):
            raise ValidationError("body.orgId: the mock has no organizations; omit orgId")
        ident = ident or self.backend.ids.new()
        app: Record = {
            "id": ident,
            "applicationId": ident,
            "ownerId": principal.user_id,
            "ownerType": "user",
            "name": body.get("name", "Untitled application"),
            "description": body.get("description", ""),
            "globals": body.get("globals", []),
            "appliedTemplateIds": body.get("appliedTemplateIds", []),
            "_readme": "",
        }
        for field in (
            "endpointSlug",
            "expUserTokenCutoff",
            "endpointDefaultCors",
            "blobUrlTTL",
            "archiveConfig",
            "ftueTracking",
        ):
            if body.get(field) is not None:
                app[field] = body[field]
        self._check_globals(app["globals"])
        stamp_new(app, self.backend.clock)
        self.store.put(KIND, app)
        return self.render(app)

    # ------------------------------------------------------------ one application

    def get(self, principal: Principal, application_id: str) -> Record:
        return self.render(self.visible(principal, application_id))

    def patch(self, principal: Principal, application_id: str, changes: dict[str, Any]) -> Record:
        app = self.visible(principal, application_id)
        if "globals" in changes:
            self._check_globals(changes["globals"])
        apply_changes(app, changes, PATCHABLE)
        touch(app, self.backend.clock)
        self.store.put(KIND, app)
        return self.render(app)

    def patch_globals(
        self, principal: Principal, application_id: str, updates: list[dict[str, Any]]
    ) -> Record:
        """Upsert globals by key; a null ``json`` removes that key."""
        app = self.visible(principal, application_id)
        by_key = {g["key"]: g for g in app.get("globals", [])}
        for update in updates:
            key = update["key"]
            if update.get("json", "") is None:
                by_key.pop(key, None)
                continue
            merged = {**by_key.get(key, {}), **update}
            if "json" not in merged:
                raise ValidationError(
                    f"body: global {key} does not exist yet and needs a json value"
                )
            by_key[key] = merged
        app["globals"] = list(by_key.values())
        touch(app, self.backend.clock)
        self.store.put(KIND, app)
        return self.render(app)

    def delete(self, principal: Principal, application_id: str) -> dict[str, bool]:
        app = self.visible(principal, application_id)
        self.remove_everything_under(app["id"])
        self.store.delete(KIND, app["id"])
        return {"success": True}

    def remove_everything_under(self, application_id: str) -> None:
        for kind in CHILD_KINDS:
            for record in list(self.store.children(kind, application_id)):
                if kind == "devices":
                    self.backend.devices.forget(record)
                self.store.delete(kind, record["id"])
        for token in list(self.store.children("apiTokens", application_id)):
            self.store.delete("apiTokens", token["id"])

    # ------------------------------------------------------------ readme, search

    def readme(self, principal: Principal, application_id: str) -> Record:
        app = self.visible(principal, application_id)
        return self._readme(app)

    def patch_readme(
        self, principal: Principal, application_id: str, body: dict[str, Any]
    ) -> Record:
        app = self.visible(principal, application_id)
        if "content" in body:
            app["_readme"] = body["content"]
        app["_readmeUpdated"] = self.backend.clock.now()
        app["_readmeUpdatedById"] = principal.subject
        app["_readmeUpdatedByType"] = "apiToken" if principal.kind == "apiToken" else "user"
        self.store.put(KIND, app)
        return self._readme(app)

    def _readme(self, app: Record) -> Record:
        from losant_kit.mockserver.clock import iso

        out: Record = {"applicationId": app["id"], "content": app.get("_readme", "")}
        if "_readmeUpdated" in app:
            out["lastUpdated"] = iso(app["_readmeUpdated"])
            out["lastUpdatedById"] = app["_readmeUpdatedById"]
            out["lastUpdatedByType"] = app["_readmeUpdatedByType"]
        return out

    def search(self, principal: Principal, application_id: str, filter_text: str) -> list[Record]:
        """Case-insensitive substring search over the names of the app's resources."""
        app = self.visible(principal, application_id)
        needle = (filter_text or "").lower()
        results = []
        searchable = (
            ("devices", "device"),
            ("deviceRecipes", "deviceRecipe"),
            ("apiTokens", "applicationApiToken"),
        )
        for kind, type_name in searchable:
            for record in self.store.children(kind, app["id"]):
                if record.get("deletedAt") or needle not in record.get("name", "").lower():
                    continue
                results.append({"id": record["id"], "name": record["name"], "_type": type_name})
        return sorted(results, key=lambda r: (r["name"].lower(), r["id"]))

    @staticmethod
    def _check_globals(globals_: list[dict[str, Any]]) -> None:
        keys = [g["key"] for g in globals_]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValidationError(f"body.globals: duplicate keys {duplicates}")
