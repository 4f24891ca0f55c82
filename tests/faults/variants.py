"""The broken mocks, one defect each (and the unbroken one to compare with).

Every factory returns an ASGI app built exactly as the suites build their
in-process mock (contracts.target.default_mock), then breaks one thing.
"""

from __future__ import annotations

import re
from typing import Any

from losant_kit.contracts.target import default_mock
from tests.faults.middleware import RewriteResponses

DEVICES = r"/applications/[0-9a-f]{24}/devices"
DEVICE = DEVICES + r"/[0-9a-f]{24}"


def unbroken() -> Any:
    return default_mock()


# ---------------------------------------------------------------- conformance


def wrong_status_code() -> Any:
    """Creating a device answers 200 instead of the documented 201."""
    return RewriteResponses(default_mock(), "POST", DEVICES,
                            lambda status, body, _: (200 if status == 201 else status, body))


def mistyped_field() -> Any:
    """A device reads back with a number where its name (a string) belongs."""
    def rewrite(status: int, body: Any, _: bytes) -> tuple[int, Any]:
        if status == 200 and isinstance(body, dict) and "name" in body:
            body["name"] = 12345
        return status, body

    return RewriteResponses(default_mock(), "GET", DEVICE, rewrite)


# ---------------------------------------------------------------- behaviour


def missing_field() -> Any:
    """A device reads back without its description."""
    def rewrite(status: int, body: Any, _: bytes) -> tuple[int, Any]:
        if status == 200 and isinstance(body, dict):
            body.pop("description", None)
        return status, body

    return RewriteResponses(default_mock(), "GET", DEVICE, rewrite)


def overlapping_pages() -> Any:
    """Every page after the first starts one item early (pages overlap)."""
    mock = default_mock()
    devices = mock.backend.devices
    original = devices.list

    def list_overlapping(principal: Any, application_id: str, params: dict) -> dict:
        page, per_page = int(params.get("page") or 0), int(params.get("perPage") or 100)
        if page == 0:
            return original(principal, application_id, params)
        wide = original(principal, application_id,
                        {**params, "page": 0, "perPage": (page + 1) * per_page})
        start = page * per_page - 1
        items = wide["items"][start:start + per_page]
        return {**wide, "items": items, "count": len(items), "page": page, "perPage": per_page}

    devices.list = list_overlapping
    return mock


def ignored_filter() -> Any:
    """filterField/filter are accepted and ignored."""
    mock = default_mock()
    devices = mock.backend.devices
    original = devices.list
    devices.list = lambda principal, app_id, params: original(
        principal, app_id, {k: v for k, v in params.items() if k not in ("filter", "filterField")})
    return mock


def wrong_aggregate() -> Any:
    """Every aggregated time-series value is off by one."""
    def rewrite(status: int, body: Any, _: bytes) -> tuple[int, Any]:
        for device in (body.get("devices") or {}).values() if isinstance(body, dict) else ():
            for point in device.get("points", []):
                for name, value in point.get("data", {}).items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        point["data"][name] = value + 1
        return status, body

    return RewriteResponses(default_mock(), "POST",
                            r"/applications/[0-9a-f]{24}/data/time-series-query", rewrite)


def patch_not_persisted() -> Any:
    """PATCH answers with the change but the store keeps the old device."""
    mock = default_mock()
    devices = mock.backend.devices
    original = devices.patch

    def patch_and_forget(principal: Any, app_id: str, device_id: str, changes: dict,
                         params: dict) -> Any:
        record = devices.find(principal, app_id, device_id)
        kept = {**record, "tags": list(record.get("tags", []))}
        answer = original(principal, app_id, device_id, changes, params)
        record.clear()
        record.update(kept)
        mock.backend.store.put("devices", record)
        return answer

    devices.patch = patch_and_forget
    return mock


def case_sensitive_filter() -> Any:
    """Glob filters compare case-sensitively (the platform ignores case)."""
    mock = default_mock()
    devices = mock.backend.devices
    original = devices.list

    def list_case_sensitive(principal: Any, app_id: str, params: dict) -> dict:
        pattern, field = params.get("filter"), params.get("filterField") or "name"
        if not pattern:
            return original(principal, app_id, params)
        regex = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
        rest = {k: v for k, v in params.items()
                if k not in ("filter", "filterField", "page", "perPage")}
        everything = original(principal, app_id, {**rest, "page": 0, "perPage": 1000})
        items = [d for d in everything["items"] if regex.fullmatch(str(d.get(field, "")))]
        page, per_page = int(params.get("page") or 0), int(params.get("perPage") or 100)
        chunk = items[page * per_page:(page + 1) * per_page]
        return {**everything, "items": chunk, "count": len(chunk), "totalCount": len(items),
                "page": page, "perPage": per_page}

    devices.list = list_case_sensitive
    return mock


# ---------------------------------------------------------------- stateful


def create_not_persisted() -> Any:
    """POST .../devices answers 201 but the device is never stored."""
    mock = default_mock()
    devices = mock.backend.devices
    original = devices.create

    def create_and_drop(*args: Any, **kwargs: Any) -> Any:
        created = original(*args, **kwargs)
        mock.backend.store.get("devices", created["id"])["deletedAt"] = created["creationDate"]
        return created

    devices.create = create_and_drop
    return mock


# ---------------------------------------------------------------- auth


def leaky_device_token() -> Any:
    """A device token reaches every device of its application, whatever its key says."""
    mock = default_mock()
    keys = mock.backend.keys
    keys.reach = lambda principal: (lambda device: True)
    return mock


def expired_token_accepted() -> Any:
    """Signed tokens are accepted after their expiry (exp is never compared)."""
    mock = default_mock()
    signer = mock.backend.signer
    original = signer.decode
    signer.decode = lambda token, now: original(token, now=0)
    return mock


def subresource_leak() -> Any:
    """A device's composite state is readable with any device token of its application,
    whatever the token's access key allows (the device itself stays guarded)."""
    mock = default_mock()
    telemetry, keys = mock.backend.telemetry, mock.backend.keys
    original = telemetry.composite

    def composite_ignoring_the_key(*args: Any, **kwargs: Any) -> Any:
        keys.reach = lambda principal: (lambda device: True)
        try:
            return original(*args, **kwargs)
        finally:
            del keys.reach  # back to the class's own method

    telemetry.composite = composite_ignoring_the_key
    return mock


# ---------------------------------------------------------------- throttle


def missing_throttle() -> Any:
    """No window or concurrency limit is enforced."""
    mock = default_mock()
    mock.throttles.enabled = False
    return mock


# ---------------------------------------------------------------- experiences


def leaky_experience_tenancy() -> Any:
    """Every experience user reaches every device of the application (no tenancy)."""
    mock = default_mock()
    groups = mock.backend.experience_groups
    store = mock.backend.store
    groups.user_devices = lambda application_id, user_id: [
        d for d in store.children("devices", application_id) if not d.get("deletedAt")
    ]
    groups.user_reaches = lambda application_id, user_id, device: (
        device["applicationId"] == application_id
    )
    return mock


def flat_group_tree() -> Any:
    """Experience groups forget their ancestors (ancestorIds always empty)."""
    mock = default_mock()
    mock.backend.experience_groups.ancestor_ids = lambda group: []
    return mock


# ---------------------------------------------------------------- not faults


def single_login() -> Any:
    """The unbroken mock with one login only (as ``losant-mock serve --user E:P``)."""
    from losant_kit.contracts.target import MOCK_LOGIN
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    return create_app(Settings(seed=1, users=(MOCK_LOGIN,)))
