"""Experience slugs and domains: the names an application's experience is served under.

Every application answers at its own id as a slug (``{applicationId}.localhost``)
and at its ``endpointSlug`` if it has one; an experience slug adds another
subdomain, an experience domain a whole host name. Both are unique across
the mock, as on the platform (a name reaches one experience).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.models.base import Record, public, stamp_new, touch

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

DEFAULT_VERSION = "develop"


class _Names:
    """What slugs and domains share: one unique name field, a version, CRUD."""

    kind = ""
    field = ""
    label = ""
    fields: tuple[str, ...] = ()

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    def render(self, record: Record) -> Record:
        return public(record)

    def list(self, principal: Principal, application_id: str) -> dict[str, Any]:
        app = self.backend.applications.visible(principal, application_id)
        items = sorted(
            self.store.children(self.kind, app["id"]), key=lambda r: (r[self.field], r["id"])
        )
        return {
            "items": [self.render(r) for r in items],
            "count": len(items),
            "totalCount": len(items),
            "applicationId": app["id"],
        }

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
        record: Record = {
            "id": ident,
            f"{self.kind[:-1]}Id": ident,
            "applicationId": app["id"],
            "version": DEFAULT_VERSION,
        }
        record.update({k: v for k, v in body.items() if k in self.fields and v is not None})
        self._check(record)
        stamp_new(record, self.backend.clock)
        self.store.put(self.kind, record)
        return self.render(record)

    def find(self, principal: Principal, application_id: str, ident: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        record = self.store.get(self.kind, ident)
        if record is None or record["applicationId"] != app["id"]:
            raise NotFound.resource(self.label, ident)
        return record

    def get(self, principal: Principal, application_id: str, ident: str) -> Record:
        return self.render(self.find(principal, application_id, ident))

    def patch(
        self, principal: Principal, application_id: str, ident: str, changes: dict[str, Any]
    ) -> Record:
        record = dict(self.find(principal, application_id, ident))
        for field in self.fields:
            if field not in changes:
                continue
            if changes[field] is not None:
                record[field] = changes[field]
            elif field == "version":  # a null version means the default, as on create
                record[field] = DEFAULT_VERSION
            else:  # null removes (a domain's certificate and key)
                record.pop(field, None)
        self._check(record)
        touch(record, self.backend.clock)
        self.store.put(self.kind, record)
        return self.render(record)

    def delete(self, principal: Principal, application_id: str, ident: str) -> dict:
        record = self.find(principal, application_id, ident)
        self.store.delete(self.kind, record["id"])
        return {"success": True}

    def by_name(self, name: str) -> Record | None:
        name = name.lower()
        return next((r for r in self.store.all(self.kind) if r[self.field] == name), None)

    def _check(self, record: Record) -> None:
        name = record.get(self.field)
        if not isinstance(name, str) or not name:
            raise ValidationError(f"body.{self.field}: required")
        record[self.field] = name = name.lower()
        other = self.by_name(name)
        if other is not None and other["id"] != record["id"]:
            raise ValidationError(f"body.{self.field}: {name} is already in use")


class ExperienceSlugs(_Names):
    kind = "experienceSlugs"
    field = "slug"
    label = "Experience slug"
    fields = ("slug", "version")

    def _check(self, record: Record) -> None:
        super()._check(record)
        slug = record["slug"]
        for app in self.store.all("applications"):
            if app["id"] != record["applicationId"] and slug in (
                app["id"],
                app.get("endpointSlug"),
            ):
                raise ValidationError(f"body.slug: {slug} is already in use")


class ExperienceDomains(_Names):
    kind = "experienceDomains"
    field = "domainName"
    label = "Experience domain"
    fields = ("domainName", "version", "sslKey", "sslCert", "sslBundle")

    def render(self, record: Record) -> Record:
        out = public(record)
        out.pop("sslKey", None)  # a private key is written, never read back
        return out
