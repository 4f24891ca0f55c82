"""Behaviour: what is created reads back, paging partitions a result set, and
find filters by the attributes given."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _my_device(ioto: Any) -> dict[str, Any]:
    devices = ioto.as_login("/device/find").json()["data"]
    if not devices:
        pytest.skip("the login's account has no claimed device")
    return devices[0]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_created_store_item_reads_back(ioto: Any) -> None:
    device = _my_device(ioto)
    key = _unique("contract")
    body = {"_type": "Store", "deviceId": device["id"], "key": key, "value": "on",
            "type": "string"}
    created = ioto.as_login("/generic/create", body)
    assert created.status_code == 200, created.text
    try:
        got = ioto.as_login("/generic/get", {"_type": "Store", "deviceId": device["id"],
                                             "key": key}).json()["data"]
        assert got == created.json()["data"]
        assert (got["key"], got["value"], got["type"]) == (key, "on", "string")
    finally:
        ioto.as_login("/generic/remove", {"_type": "Store", "deviceId": device["id"],
                                          "key": key})


def test_created_log_item_reads_back_by_its_id(ioto: Any) -> None:
    device = _my_device(ioto)
    created = ioto.as_login("/generic/create", {"_type": "Log", "deviceId": device["id"],
                                                "message": "contract check"}).json()["data"]
    try:
        got = ioto.as_login("/generic/get", {"_type": "Log", "deviceId": device["id"],
                                             "id": created["id"]}).json()["data"]
        assert got["message"] == "contract check" and got["id"] == created["id"]
    finally:
        ioto.as_login("/generic/remove", {"_type": "Log", "deviceId": device["id"],
                                          "id": created["id"]})


def test_updated_store_item_reads_back(ioto: Any) -> None:
    device = _my_device(ioto)
    key = _unique("contract")
    base = {"_type": "Store", "deviceId": device["id"], "key": key}
    ioto.as_login("/generic/create", {**base, "value": 1, "type": "number"})
    try:
        ioto.as_login("/generic/update", {**base, "value": 2}, exists="")
        assert ioto.as_login("/generic/get", base).json()["data"]["value"] == 2
    finally:
        ioto.as_login("/generic/remove", base)


def test_created_dashboard_reads_back(ioto: Any) -> None:
    name = _unique("contract")
    created = ioto.as_login("/dashboard/create", {"name": name}).json()["data"]
    try:
        got = ioto.as_login("/dashboard/get", {"id": created["id"]}).json()["data"]
        assert got["name"] == name and got == created
    finally:
        ioto.as_login("/dashboard/remove", {"id": created["id"]})


def _walk(ioto: Any, body: dict[str, Any], limit: int,
          total: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    # Bounded: a partition of `total` items has at most `total` pages, so a walk
    # longer than that (a cursor that does not advance) fails instead of hanging.
    for _ in range(total + 1):
        params = {"limit": limit, **({"next": cursor} if cursor else {})}
        response = ioto.tok("/generic/find", body, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["data"])
        cursor = page.get("next")
        if not cursor:
            return pages
    raise AssertionError(f"more than {total} pages for {total} items: a cursor did not advance")


def _identity(item: dict[str, Any]) -> tuple:
    return (item.get("deviceId"), item.get("id"), item.get("key"))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(limit=st.integers(min_value=1, max_value=12))
def test_paging_partitions_a_result_set(ioto_target: Any, limit: int) -> None:
    account = ioto_target.as_login("/account/get").json()["data"]["id"]
    body = {"_type": "Log", "accountId": account}
    everything = ioto_target.tok("/generic/find", body, limit=1000).json()["data"]
    pages = _walk(ioto_target, body, limit, len(everything))
    seen = [_identity(item) for page in pages for item in page]
    assert len(seen) == len(set(seen)), "an item appeared on two pages"
    assert set(seen) == {_identity(item) for item in everything}, "paging lost items"
    assert all(len(page) <= limit for page in pages)


def test_prev_cursor_returns_the_page_before(ioto: Any) -> None:
    account = ioto.as_login("/account/get").json()["data"]["id"]
    body = {"_type": "Log", "accountId": account}
    first = ioto.tok("/generic/find", body, limit=2).json()
    if not first.get("next"):
        pytest.skip("fewer than three Log items: no second page")
    second = ioto.tok("/generic/find", body, limit=2, next=first["next"]).json()
    assert second["paged"] is True and second.get("prev")
    back = ioto.tok("/generic/find", body, limit=2, prev=second["prev"]).json()
    assert back["data"] == first["data"]


def test_generic_find_filters_by_attribute(ioto: Any) -> None:
    device = _my_device(ioto)
    key = _unique("filter")
    base = {"_type": "Store", "deviceId": device["id"], "key": key}
    ioto.as_login("/generic/create", {**base, "value": "x", "type": "string"})
    try:
        found = ioto.as_login("/generic/find", {"_type": "Store", "key": key}).json()["data"]
        assert [item["key"] for item in found] == [key]
        assert found[0]["deviceId"] == device["id"]
    finally:
        ioto.as_login("/generic/remove", base)


def test_device_find_filters_by_id(ioto: Any) -> None:
    device = _my_device(ioto)
    found = ioto.as_login("/device/find", {"id": device["id"]}).json()["data"]
    assert [d["id"] for d in found] == [device["id"]]
