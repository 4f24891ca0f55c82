"""An application's experience as a whole: bootstrap, delete, and where it is served.

The parts live in their own modules (users, groups, endpoints, slugs and
domains: ``experiences_*.py``); this one holds what spans them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.models.base import Record, flag
from losant_kit.mockserver.models.experiences_domains import DEFAULT_VERSION

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

# The starting point bootstrap lays down (and the default world uses): the
# seed's API, answered by the runtime's built-in replies (endpoint tag mockReply).
STARTER_ENDPOINTS: tuple[dict[str, Any], ...] = (
    {
        "method": "post",
        "route": "/api/auth",
        "access": "public",
        "description": "Log in: email and password in, a bearer token out.",
        "endpointTags": {"mockReply": "auth.login"},
    },
    {
        "method": "get",
        "route": "/api/devices",
        "access": "authenticated",
        "description": "The devices the user reaches through its groups.",
        "endpointTags": {"mockReply": "devices.list"},
    },
    {
        "method": "get",
        "route": "/api/devices/{deviceId}",
        "access": "authenticated",
        "description": "A device's metadata, if the user reaches it.",
        "endpointTags": {"mockReply": "device.get"},
    },
    {
        "method": "get",
        "route": "/api/devices/{deviceId}/data",
        "access": "authenticated",
        "description": "A device's time series (attribute, start, end, duration, resolution).",
        "endpointTags": {"mockReply": "device.data"},
    },
    {
        "method": "get",
        "route": "/api/me",
        "access": "authenticated",
        "description": "The logged-in experience user.",
        "endpointTags": {"mockReply": "user.me"},
    },
)


@dataclass(frozen=True)
class Site:
    """Where a request for an experience landed."""

    application_id: str
    version: str
    name: str  # the slug or domain it came in by


class Experiences:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ serving

    def site_for_slug(self, slug: str) -> Site | None:
        slug = slug.lower()
        app = self.store.get("applications", slug)
        if app is not None:
            return Site(app["id"], DEFAULT_VERSION, slug)
        for app in self.store.all("applications"):
            if (app.get("endpointSlug") or "").lower() == slug:
                return Site(app["id"], DEFAULT_VERSION, slug)
        record = self.backend.experience_slugs.by_name(slug)
        if record is not None:
            return Site(record["applicationId"], record.get("version", DEFAULT_VERSION), slug)
        return None

    def site_for_domain(self, host: str) -> Site | None:
        record = self.backend.experience_domains.by_name(host)
        if record is None:
            return None
        return Site(record["applicationId"], record.get("version", DEFAULT_VERSION), host)

    # ------------------------------------------------------------ bootstrap

    def bootstrap(
        self, principal: Principal, application_id: str, options: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Lay down the starter experience: endpoints, a group with every device, a user."""
        options = options or {}
        app = self.backend.applications.visible(principal, application_id)
        endpoints = self.backend.experience_endpoints
        routes = {(s["method"], s["route"]) for s in STARTER_ENDPOINTS}
        existing = [
            e
            for e in self.store.children("experienceEndpoints", app["id"])
            if (e["method"], e["route"]) in routes
        ]
        if existing and not options.get("replaceExisting", False):
            raise ValidationError(
                "The experience already has the starter endpoints; "
                "pass replaceExisting: true to replace them"
            )
        if options.get("slug"):
            # Checked before anything is written, so a taken slug changes nothing.
            self.backend.experience_slugs.create(principal, app["id"], {"slug": options["slug"]})
        for endpoint in existing:
            endpoints.remove(endpoint)
        suffix = self.backend.ids.secret(3)
        result: dict[str, Any] = {"resourceSuffix": suffix}
        group_ids: list[str] = []
        if options.get("createGroups", True):
            group = self.backend.experience_groups.create(
                principal,
                app["id"],
                {
                    "name": f"Example Group {suffix}",
                    "description": "Created by experience bootstrap: reaches every device.",
                    "deviceQueryJson": "{}",
                },
            )
            group_ids.append(group["id"])
        created = [endpoints.create(principal, app["id"], dict(spec)) for spec in STARTER_ENDPOINTS]
        if group_ids:
            self.backend.experience_groups.patch(
                principal,
                app["id"],
                group_ids[0],
                {"experienceEndpointIds": [e["id"] for e in created]},
            )
        if options.get("createUsers", True):
            email = f"example.user.{suffix}@example.com"
            password = self.backend.ids.secret(8)
            self.backend.experience_users.create(
                principal,
                app["id"],
                {
                    "email": email,
                    "password": password,
                    "firstName": "Example",
                    "lastName": "User",
                    "experienceGroupIds": group_ids,
                },
            )
            result.update(email=email, password=password)
        return result

    # ------------------------------------------------------------ delete

    def delete(
        self, principal: Principal, application_id: str, params: dict[str, Any]
    ) -> dict[str, bool]:
        """Remove the experience's resources, except those the keep* flags keep.

        The mock has no views, versions or workflows, so keepViews,
        removeVersions and removeWorkflows change nothing.
        """
        app = self.backend.applications.visible(principal, application_id)
        backend = self.backend
        parts = (
            ("keepEndpoints", "experienceEndpoints", backend.experience_endpoints.remove),
            ("keepUsers", "experienceUsers", backend.experience_users.remove),
            ("keepGroups", "experienceGroups", self._remove_group),
            ("keepSlugs", "experienceSlugs", self._remove_plain("experienceSlugs")),
            ("keepDomains", "experienceDomains", self._remove_plain("experienceDomains")),
        )
        for keep, kind, remove in parts:
            if flag(params.get(keep, False)):
                continue
            for record in list(self.store.children(kind, app["id"])):
                remove(record)
        return {"success": True}

    def _remove_group(self, group: Record) -> None:
        if self.store.get("experienceGroups", group["id"]) is not None:
            self.store.delete("experienceGroups", group["id"])

    def _remove_plain(self, kind: str):
        return lambda record: self.store.delete(kind, record["id"])
