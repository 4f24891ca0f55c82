"""What the hand-written suites share: failure messages that name the defect,
and small builders for sandbox resources."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from losant_kit.contracts.client import describe


def defect(message: str, response: httpx.Response | None = None) -> None:
    """Fail the test with a message naming the defect (and how to reproduce it)."""
    text = message
    if response is not None:
        text += "\n  " + describe(response)
    pytest.fail(text, pytrace=False)


def expect_status(response: httpx.Response, status: int | tuple[int, ...], what: str) -> Any:
    """The JSON body, if ``response`` has the expected status; otherwise fail naming ``what``."""
    wanted = status if isinstance(status, tuple) else (status,)
    if response.status_code not in wanted:
        request = response.request
        defect(f"{request.method} {request.url.path} returned {response.status_code}, expected "
               f"{' or '.join(map(str, wanted))} ({what})", response)
    try:
        return response.json() if response.content else None
    except ValueError:
        defect(f"{response.request.method} {response.request.url.path} returned a body that "
               f"is not JSON ({what})", response)


def unique(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_device(api: Any, app_path: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("device"), **fields}
    return expect_status(api.post(f"{app_path}/devices", body), 201, "creating a device")


def create_key(api: Any, app_path: str, **fields: Any) -> dict[str, Any]:
    body = {"description": unique("key"), **fields}
    return expect_status(api.post(f"{app_path}/keys", body), 201, "creating an access key")


def device_token(api: Any, device_id: str, key: dict[str, Any]) -> str:
    response = api.post("/auth/device", {"deviceId": device_id, "key": key["key"],
                                         "secret": key["secret"]}, token=None)
    return expect_status(response, 200, "authenticating a device with its access key")["token"]


def list_all(api: Any, path: str, params: dict[str, Any] | None = None,
             per_page: int = 1000) -> list[dict[str, Any]]:
    """Every item of a collection, page by page."""
    items: list[dict[str, Any]] = []
    page = 0
    while True:
        body = expect_status(api.get(path, params={**(params or {}), "page": page,
                                                    "perPage": per_page}), 200, f"listing {path}")
        items.extend(body["items"])
        if not body["items"] or len(items) >= body["totalCount"]:
            return items
        page += 1
