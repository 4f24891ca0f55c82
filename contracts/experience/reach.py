"""Which device ids an experience user reaches, for the tenancy checks.

Against the kit's mock the world's record says so (``GET /_mock/world`` lists
each experience user's devices as the groups define them: the truth, whatever
the endpoints answer). Elsewhere the file's listing operations tell: a GET
without path parameters whose 200 body is ``{"items": [{"id": ...}]}`` (the
``devices.list`` shape), called with the user's token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.experience.apifile import ApiOperation

if TYPE_CHECKING:
    from losant_kit.contracts.experience.target import ExperienceTarget, Login


def listing_operations(target: ExperienceTarget) -> list[ApiOperation]:
    found = []
    for operation in target.api.operations.values():
        if operation.method != "get" or "{" in operation.route:
            continue
        schema = (operation.response_schema(200) or (None, None))[1] or {}
        items = (schema.get("properties") or {}).get("items") or {}
        if items.get("type") == "array" and "id" in ((items.get("items") or {})
                                                    .get("properties") or {}):
            found.append(operation)
    return found


def discover_reach(target: ExperienceTarget, login: Login) -> set[str]:
    if target.is_mock:
        recorded = recorded_reach(target, login.email)
        if recorded is not None:
            return recorded
    reached: set[str] = set()
    for operation in listing_operations(target):
        response = target.request("get", operation.route, token=login.token)
        if response.status_code == 200:
            reached |= {str(item["id"]) for item in listed_items(response) if "id" in item}
    return reached


def listed_items(response: Any) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    items = body.get("items") if isinstance(body, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def recorded_reach(target: ExperienceTarget, email: str) -> set[str] | None:
    response = target.control("GET", "/world")
    if response.status_code != 200:
        return None
    slug = _slug(target)
    for user in response.json().get("experienceUsers", []):
        if user.get("email", "").lower() != email.lower():
            continue
        if slug and slug not in (user.get("slug"), user.get("applicationId")):
            continue
        return set(user.get("deviceIds", []))
    return None


def _slug(target: ExperienceTarget) -> str | None:
    if target.base_path.startswith("/_experience/"):
        return target.base_path.split("/")[2]
    if target.host_header:
        return target.host_header.split(".")[0]
    return None
