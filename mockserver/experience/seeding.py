"""Seeding an application's experience from a completed world document.

Through the same model methods the API uses, so a seeded user, group or
endpoint is indistinguishable from a created one. Returns the experience
users' logins for the start-up banner and ``GET /_mock/world``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

GROUP_FIELDS = ("name", "description", "deviceIds", "deviceTags", "deviceQueryJson", "groupTags")
USER_FIELDS = ("email", "password", "firstName", "lastName", "userTags", "experienceGroupIds")
ENDPOINT_FIELDS = (
    "method",
    "route",
    "description",
    "enabled",
    "access",
    "endpointTags",
    "deviceIdTemplate",
    "staticReply",
    "unauthorizedReply",
    "experienceGroupIds",
)


def import_experience(
    backend: Backend, owner: Principal, application_id: str, spec: dict[str, Any]
) -> list[dict[str, Any]]:
    groups = backend.experience_groups
    pending = list(spec.get("experienceGroups", []))
    # Parents before children: a group's parentId must exist when it is created.
    while pending:
        ready = [
            g
            for g in pending
            if not g.get("parentId") or backend.store.get("experienceGroups", g["parentId"])
        ]
        if not ready:
            raise ValueError(f"experience groups with unresolvable parents: {pending}")
        for group in ready:
            body = {k: group[k] for k in GROUP_FIELDS if k in group}
            body["parentId"] = group.get("parentId")
            groups.create(owner, application_id, body, ident=group.get("id"))
            pending.remove(group)
    for user in spec.get("experienceUsers", []):
        body = {k: user[k] for k in USER_FIELDS if k in user}
        backend.experience_users.create(owner, application_id, body, ident=user.get("id"))
    for endpoint in spec.get("experienceEndpoints", []):
        body = {k: endpoint[k] for k in ENDPOINT_FIELDS if k in endpoint}
        backend.experience_endpoints.create(owner, application_id, body, ident=endpoint.get("id"))
    for slug in spec.get("experienceSlugs", []):
        body = {k: slug[k] for k in ("slug", "version") if k in slug}
        backend.experience_slugs.create(owner, application_id, body, ident=slug.get("id"))
    for domain in spec.get("experienceDomains", []):
        body = {k: domain[k] for k in ("domainName", "version") if k in domain}
        backend.experience_domains.create(owner, application_id, body, ident=domain.get("id"))
    slugs = [s["slug"] for s in spec.get("experienceSlugs", [])]
    return [
        {
            "email": user["email"].lower(),
            "password": user["password"],
            "applicationId": application_id,
            "slug": slugs[0] if slugs else application_id,
            "groupIds": list(user.get("experienceGroupIds", [])),
            "deviceIds": sorted(
                d["id"]
                for d in groups.user_devices(
                    application_id,
                    backend.experience_users.by_email(application_id, user["email"])["id"],
                )
            ),
        }
        for user in spec.get("experienceUsers", [])
    ]
