"""Experience files bound to applications: ``losant-mock serve --experience FILE``.

A file's operations become the application's experience endpoints in the
world document (so ``POST /_mock/reset`` brings them back, and the platform
API lists them as ordinary endpoints); the runtime then holds requests and
replies of those endpoints to the file (``contracts_for``). Without
``--experience-app`` a file goes to the world's first application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from losant_kit.mockserver.experience.apifile import (
    GROUPS_KEY,
    REPLY_KEY,
    ApiOperation,
    ExperienceApi,
    load_api_file,
)
from losant_kit.mockserver.experience.file_errors import ApiFileError, BindingError


@dataclass(frozen=True)
class BoundApi:
    """An application's API file, with its operations by (method, route)."""

    application_id: str
    api: ExperienceApi

    def operation_for(self, method: str, route: str) -> ApiOperation | None:
        for operation in self.api.operations.values():
            if operation.method == method and operation.route == route:
                return operation
        return None


def apply_experience_files(world: dict[str, Any],
                           files: tuple[tuple[str, str | None], ...]) -> dict[str, Any]:
    """Replace the chosen applications' experience endpoints with their files' operations."""
    for app, api in _pairs(world, files):
        groups = app.get("experienceGroups", [])
        app["experienceEndpoints"] = [_endpoint(op, groups, api.source)
                                      for op in api.operations.values()]
    return world


def contracts_for(world: dict[str, Any] | None,
                  files: tuple[tuple[str, str | None], ...]) -> dict[str, BoundApi]:
    """Application id -> its bound API file, for the runtime."""
    if not world or not files:
        return {}
    return {app["id"]: BoundApi(app["id"], api) for app, api in _pairs(world, files)}


def _pairs(world: dict[str, Any], files: tuple[tuple[str, str | None], ...]):
    apps = world.get("applications", [])
    seen: dict[str, str] = {}
    for path, application_id in files:
        api = load_api_file(path)
        if application_id is None:
            if not apps:
                raise BindingError(f"--experience {path}: the world has no application")
            app = apps[0]
        else:
            app = next((a for a in apps if a.get("id") == application_id), None)
            if app is None:
                known = ", ".join(a.get("id", "?") for a in apps[:5])
                raise BindingError(f"--experience-app {application_id}: no application with "
                                   f"that id in the world (its applications: {known})")
        if app["id"] in seen:
            raise BindingError(f"--experience {path}: application {app['id']} already serves "
                               f"{seen[app['id']]}; give each file its own --experience-app")
        seen[app["id"]] = path
        yield app, api


def _endpoint(op: ApiOperation, groups: list[dict[str, Any]], source: str) -> dict[str, Any]:
    if op.reply is None:
        raise ApiFileError(source, f"{op.pointer}/{REPLY_KEY}",
                           "the mock needs a reply for every operation: a built-in reply's name "
                           "or a static reply {status, body}")
    group_ids = []
    for index, ref in enumerate(op.groups):
        found = next((g for g in groups if ref in (g.get("id"), g.get("name"))), None)
        if found is None:
            names = ", ".join(repr(g.get("name")) for g in groups) or "none"
            raise ApiFileError(source, f"{op.pointer}/{GROUPS_KEY}/{index}",
                               f"names no experience group of the application ({names})")
        group_ids.append(found["id"])
    tags = {"mockReply": op.reply} if isinstance(op.reply, str) else {}
    return {
        "method": op.method,
        "route": op.route,
        "description": op.summary,
        "enabled": True,
        "access": op.access,
        "endpointTags": tags,
        "experienceGroupIds": group_ids,
    }
