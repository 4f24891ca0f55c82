"""Device recipes: device templates, and bulk creation of devices from them."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.models.base import Record, apply_changes, collection, stamp_new, touch
from losant_kit.mockserver.models.devices import DEVICE_FIELDS

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "deviceRecipes"
# A recipe names itself and the devices it makes; the rest is a device template.
FIELDS = (
    "name",
    "deviceName",
    "description",
    "deviceDescription",
    *(f for f in DEVICE_FIELDS if f not in ("name", "description")),
)
MAX_BULK_DEVICES = 10_000


class DeviceRecipes:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    def render(self, recipe: Record, params: dict[str, Any] | None = None) -> Record:
        # Tags and attributes render exactly as a device's do.
        return self.backend.devices.render(recipe, params)

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        return collection(
            self.store.children(KIND, app["id"]),
            params,
            render=lambda r: self.render(r, params),
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
        recipe: Record = {
            "id": ident,
            "deviceRecipeId": ident,
            "applicationId": app["id"],
            "name": "Untitled recipe",
            "deviceClass": "standalone",
            "tags": [],
            "attributes": [],
        }
        recipe.update({k: v for k, v in body.items() if k in FIELDS and v is not None})
        stamp_new(recipe, self.backend.clock)
        self.store.put(KIND, recipe)
        return self.render(recipe)

    def _find(self, principal: Principal, application_id: str, recipe_id: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        recipe = self.store.get(KIND, recipe_id)
        if recipe is None or recipe["applicationId"] != app["id"]:
            raise NotFound.resource("Device recipe", recipe_id)
        return recipe

    def get(
        self, principal: Principal, application_id: str, recipe_id: str, params: dict[str, Any]
    ) -> Record:
        return self.render(self._find(principal, application_id, recipe_id), params)

    def patch(
        self,
        principal: Principal,
        application_id: str,
        recipe_id: str,
        changes: dict[str, Any],
        params: dict[str, Any],
    ) -> Record:
        recipe = self._find(principal, application_id, recipe_id)
        apply_changes(recipe, changes, FIELDS)
        touch(recipe, self.backend.clock)
        self.store.put(KIND, recipe)
        return self.render(recipe, params)

    def delete(self, principal: Principal, application_id: str, recipe_id: str) -> dict:
        recipe = self._find(principal, application_id, recipe_id)
        self.store.delete(KIND, recipe["id"])
        return {"success": True}

    # ------------------------------------------------------------ bulk create

    def bulk_create(
        self, principal: Principal, application_id: str, recipe_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Create one device per CSV row (or ``count`` devices) from the recipe.

        The CSV result lists every row with the created device's id, or the
        error that stopped it; with ``makeUniqueKeySecret`` each device also
        gets its own access key restricted to it (shown once, here).
        """
        recipe = self._find(principal, application_id, recipe_id)
        rows = self._rows(recipe, body)
        created = failed = 0
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = ["name", "id", "error"] + (
            ["key", "secret"] if body.get("makeUniqueKeySecret") else []
        )
        writer.writerow(header)
        for row in rows:
            device_body = {
                k: recipe[k]
                for k in ("tags", "attributes", "deviceClass", "systemInterval", "keepDuplicates")
                if k in recipe
            }
            device_body["name"] = row["name"]
            device_body["description"] = row.get("description") or recipe.get(
                "deviceDescription", ""
            )
            for field in ("gatewayId", "parentId"):
                value = row.get(field) or body.get(field) or recipe.get(field)
                if value:
                    device_body[field] = value
            try:
                device = self.backend.devices.create(principal, application_id, device_body)
            except ValidationError as exc:
                failed += 1
                writer.writerow(
                    [row["name"], "", exc.message] + (["", ""] if len(header) > 3 else [])
                )
                continue
            created += 1
            extra = []
            if body.get("makeUniqueKeySecret"):
                key = self.backend.keys.create(
                    principal,
                    application_id,
                    {
                        "filterType": "whitelist",
                        "deviceIds": [device["id"]],
                        "description": f"Key for {device['name']}",
                    },
                )
                extra = [key["key"], key["secret"]]
            writer.writerow([device["name"], device["id"], "", *extra])
        return {"created": created, "failed": failed, "csvResult": out.getvalue()}

    def _rows(self, recipe: Record, body: dict[str, Any]) -> list[dict[str, str]]:
        if body.get("csv"):
            reader = csv.DictReader(io.StringIO(body["csv"]))
            columns = {
                "name": body.get("nameColumn") or "name",
                "description": body.get("descriptionColumn") or "description",
                "gatewayId": body.get("gatewayIdColumn") or "gatewayId",
                "parentId": body.get("parentIdColumn") or "parentId",
            }
            if columns["name"] not in (reader.fieldnames or []):
                raise ValidationError(f"body.csv: no '{columns['name']}' column in the CSV header")
            rows = [
                {field: (row.get(col) or "").strip() for field, col in columns.items()}
                for row in reader
            ]
        elif body.get("count"):
            base = recipe.get("deviceName") or recipe["name"]
            rows = [{"name": f"{base} {i + 1}"} for i in range(body["count"])]
        else:
            raise ValidationError("body: give either csv or count")
        if not 0 < len(rows) <= MAX_BULK_DEVICES:
            raise ValidationError(f"body: between 1 and {MAX_BULK_DEVICES} devices per bulk create")
        return rows
