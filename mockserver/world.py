"""The world a mock starts with: generated from the seed, or read from a file.

``initial_world`` decides which (settings in, completed world document out);
``import_world`` seeds a backend from it through the same model methods the
API uses, so a seeded resource is indistinguishable from a created one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.experience.seeding import import_experience
from losant_kit.mockserver.models.devices import DEVICE_FIELDS
from losant_kit.mockserver.models.keys import PATCHABLE as KEY_FIELDS
from losant_kit.mockserver.models.recipes import FIELDS as RECIPE_FIELDS
from losant_kit.mockserver.world_records import seed_recorded

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.settings import Settings


def initial_world(settings: Settings) -> dict[str, Any]:
    from losant_kit.mockserver.experience.binding import apply_experience_files

    return apply_experience_files(_world(settings), settings.experiences)


def _world(settings: Settings) -> dict[str, Any]:
    if settings.empty:
        return {"users": [], "applications": []}
    from losant_kit import fixtures

    if settings.fixtures is not None:
        return fixtures.complete_world(
            fixtures.load_world_file(settings.fixtures),
            settings.seed,
            source=str(settings.fixtures),
        )
    from losant_kit.fixtures.defaults import DEFAULT_LOGINS

    users = list(settings.users or DEFAULT_LOGINS)
    return fixtures.build_world(settings.seed, users=users)


def _owner(user: dict[str, Any]) -> Principal:
    return Principal("user", user["id"], frozenset(["all.User"]), user_id=user["id"])


def import_world(backend: Backend, world: dict[str, Any]) -> dict[str, Any]:
    """Seed ``backend``; return a summary (logins, applications, keys) for banners."""
    users = {}
    logins = []
    for spec in world.get("users", []):
        user = backend.users.create(
            email=spec["email"],
            password=spec["password"],
            first_name=spec.get("firstName", ""),
            last_name=spec.get("lastName", ""),
            ident=spec.get("id"),
        )
        for field in ("companyName", "title", "phoneNumber", "location", "url"):
            if field in spec:
                user[field] = spec[field]
        users[spec["email"].lower()] = user
        logins.append({"email": spec["email"], "password": spec["password"], "userId": user["id"]})

    by_id = {user["id"]: user for user in users.values()}
    summaries = []
    experience_users: list[dict[str, Any]] = []
    for spec in world.get("applications", []):
        owner_user = by_id[spec["ownerId"]] if spec.get("ownerId") else users[spec["owner"].lower()]
        owner_email = owner_user["email"]
        owner = _owner(owner_user)
        app = _create_application(backend, owner, spec)
        devices = _create_devices(backend, owner, app["id"], spec.get("devices", []))
        keys = []
        for key_spec in spec.get("keys", []):
            body = {k: key_spec[k] for k in KEY_FIELDS if k in key_spec}
            key = backend.keys.create(
                owner,
                app["id"],
                body,
                key=key_spec.get("key"),
                secret=key_spec.get("secret"),
                ident=key_spec.get("id"),
            )
            keys.append(
                {
                    "id": key["id"],
                    "key": key["key"],
                    "secret": key["secret"],
                    "filterType": key.get("filterType"),
                }
            )
        tokens = []
        for token_spec in spec.get("tokens", []):
            body = {
                k: token_spec[k]
                for k in ("name", "description", "scope", "status", "expirationDate")
                if k in token_spec
            }
            token = backend.tokens.create(
                owner,
                "application",
                app["id"],
                body,
                ident=token_spec.get("id"),
                token=token_spec.get("token"),
            )
            tokens.append(
                {
                    "id": token["id"],
                    "name": token["name"],
                    "scope": token["scope"],
                    "token": token["token"],
                }
            )
        for recipe_spec in spec.get("recipes", []):
            body = {k: recipe_spec[k] for k in RECIPE_FIELDS if k in recipe_spec}
            backend.recipes.create(owner, app["id"], body, ident=recipe_spec.get("id"))
        experience_users += import_experience(backend, owner, app["id"], spec)
        seed_recorded(backend, app["id"], spec)  # history, connection info, events
        summaries.append(
            {
                "id": app["id"],
                "name": app["name"],
                "owner": owner_email,
                "deviceCount": len(devices),
                "sampleDeviceId": next(iter(devices), None),
                "keys": keys,
                "tokens": tokens,
            }
        )
    _backdate(backend, world)
    return {"logins": logins, "applications": summaries, "experienceUsers": experience_users}


def _backdate(backend: Backend, world: dict[str, Any]) -> None:
    """Give seeded records the creation dates the world states (ids encode them too)."""

    def apply(kind: str, spec: dict[str, Any]) -> None:
        record = backend.store.get(kind, spec.get("id", ""))
        if record is not None and spec.get("creationDate"):
            record["creationDate"] = spec["creationDate"]
            record["lastUpdated"] = max(record.get("lastUpdated", ""), spec["creationDate"])

    for user in world.get("users", []):
        apply("users", user)
    for app in world.get("applications", []):
        apply("applications", app)
        for kind, field in (
            ("devices", "devices"),
            ("applicationKeys", "keys"),
            ("apiTokens", "tokens"),
            ("deviceRecipes", "recipes"),
            ("experienceGroups", "experienceGroups"),
            ("experienceUsers", "experienceUsers"),
            ("experienceEndpoints", "experienceEndpoints"),
            ("experienceSlugs", "experienceSlugs"),
            ("experienceDomains", "experienceDomains"),
        ):
            for spec in app.get(field, []):
                apply(kind, spec)


def _create_application(backend: Backend, owner: Principal, spec: dict[str, Any]) -> dict:
    body = {k: spec[k] for k in ("name", "description", "globals") if k in spec}
    return backend.applications.create(owner, body, ident=spec.get("id"))


def _create_devices(
    backend: Backend, owner: Principal, application_id: str, specs: list[dict[str, Any]]
) -> list[str]:
    """Create devices so that every gateway and parent exists before its children."""
    pending = list(specs)
    created: dict[str, str] = {}
    ordered_ids: list[str] = []
    while pending:
        progressed = False
        for spec in list(pending):
            refs = [spec.get("gatewayId"), spec.get("parentId")]
            if any(
                ref and ref not in created.values() and not _exists(backend, ref) for ref in refs
            ):
                continue
            body = {k: spec[k] for k in DEVICE_FIELDS if k in spec}
            device = backend.devices.create(owner, application_id, body, ident=spec.get("id"))
            created[spec.get("name", device["id"])] = device["id"]
            ordered_ids.append(device["id"])
            pending.remove(spec)
            progressed = True
        if not progressed:
            names = [s.get("name") for s in pending]
            raise ValueError(f"devices with unresolvable gatewayId/parentId: {names}")
    return ordered_ids


def _exists(backend: Backend, device_id: str) -> bool:
    return backend.store.get("devices", device_id) is not None
