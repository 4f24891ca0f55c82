"""Throttle: the published limits, exactly.

For every window throttle the spec publishes (``x-throttle``, e.g. "30 calls
per 15 s per device"): the first ``limit`` calls in a window are accepted, the
next one gets 429 with a Retry-After, another key (device, application) is not
affected, and after the window the calls are accepted again. For concurrency
limits ("1 running export per application"): a second call while one runs gets
429, and once the job is done calls are accepted again.

Against the mock the window passes by moving its clock (``POST /_mock/clock``)
and counters start from zero (``POST /_mock/throttles/reset``). Elsewhere the
tests wait real time and need ``--losant-real-time``; they are skipped in
live-safe runs unless that flag is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from losant_kit.contracts.spec_view import operations
from losant_kit.contracts.suites._support import create_device, defect, expect_status, unique

pytestmark = [pytest.mark.losant_suite("throttle"), pytest.mark.losant_real_time]


def _device_call(suffix: str, body: Callable[[int], Any]) -> Callable[[Any, Any, str, int], Any]:
    return lambda api, target, device_id, i: api.post(
        target.app_path(f"/devices/{device_id}/{suffix}"), body(i))


# How to make one call of each window-throttled operation the suites exercise.
WINDOW_CALLS = {
    "device.sendState": _device_call("state", lambda i: {"data": {"n": i}}),
    "device.sendCommand": _device_call("command", lambda i: {"name": "ping", "payload": i}),
    "device.setConnectionStatus": _device_call("setConnectionStatus",
                                               lambda i: {"status": "connected"}),
    "events.post": lambda api, target, device_id, i: api.post(
        target.app_path("/events"), {"level": "info", "subject": f"throttle {i}"}),
    "application.mqttPublishMessage": lambda api, target, device_id, i: api.post(
        target.app_path("/mqttPublishMessage"), {"topic": f"contracts/{i}", "message": str(i)}),
}


def COVERAGE() -> dict[str, list[str]]:
    """Every window and concurrency limit the spec publishes (``x-throttle``)."""
    limited = sorted(operations().values(), key=lambda o: o.id)
    return {kind: [o.id for o in limited if o.throttle and o.throttle["kind"] == key]
            for kind, key in (("window throttle", "window"),
                              ("concurrency limit", "concurrent"))}


def _raw(target: Any) -> Any:
    """A client that shows 429s as they are (no retry, no client-side limiter)."""
    return target.api.with_token(target.token, retry_throttled=False, limiter=None)


def _effective_limit(target: Any, bucket: str, published: int) -> int:
    """The limit in force: the mock may run with scaled limits (and says so)."""
    if not target.is_mock:
        return published
    snapshot = target.mock_control("GET", "/throttles").json()
    for window in snapshot.get("windows", []):
        if window.get("bucket") == bucket:
            return int(window["limit"])
    return published


def _let_window_pass(target: Any, seconds: float) -> None:
    if target.is_mock:
        target.advance_clock(seconds)
    else:
        time.sleep(seconds + 1)


@pytest.mark.parametrize("operation_id", sorted(WINDOW_CALLS))
def test_window_limit_accepts_exactly_the_limit_then_429_then_recovers(
        operation_id: str, losant_target: Any, losant_coverage: Any) -> None:
    throttle = operations()[operation_id].throttle
    assert throttle and throttle["kind"] == "window", f"{operation_id} has no window throttle"
    api, call = _raw(losant_target), WINDOW_CALLS[operation_id]
    device = create_device(losant_target.api, losant_target.app_path())["id"]
    other = create_device(losant_target.api, losant_target.app_path())["id"]
    if losant_target.is_mock:
        losant_target.reset_throttles()
    bucket = throttle.get("bucket") or operation_id
    first = call(api, losant_target, device, 0)
    expect_status(first, (200, 201), f"the first {operation_id} call in a fresh window")
    limit = _effective_limit(losant_target, bucket, int(throttle["limit"]))
    window_s = float(throttle["window_s"])
    rule = f"{limit} calls per {window_s:g} s per {throttle.get('per')}"
    for i in range(1, limit):
        response = call(api, losant_target, device, i)
        if response.status_code == 429:
            defect(f"{operation_id} refused call {i + 1} of {limit} with 429 (limit is {rule}: "
                   f"throttled too early)", response)
        expect_status(response, (200, 201), f"call {i + 1} of {limit} within the window")
    over = call(api, losant_target, device, limit)
    if over.status_code != 429:
        defect(f"{operation_id} accepted call {limit + 1} within {window_s:g} s with "
               f"{over.status_code}; the published limit is {rule} (missing throttle)", over)
    retry_after = over.headers.get("Retry-After", "")
    if not retry_after.isdigit() or int(retry_after) < 1:
        defect(f"{operation_id}'s 429 has Retry-After {retry_after!r} (want whole seconds >= 1)",
               over)
    losant_coverage.hit("window throttle", operation_id, limit + 1)
    if throttle.get("per") == "device" and "{deviceId}" in operations()[operation_id].path:
        elsewhere = call(api, losant_target, other, 0)
        if elsewhere.status_code == 429:
            defect(f"{operation_id} for another device was refused while one device was "
                   f"throttled (limit is {rule}: counted per {throttle.get('per')})", elsewhere)
    _let_window_pass(losant_target, window_s)
    recovered = call(api, losant_target, device, limit + 1)
    if recovered.status_code == 429:
        defect(f"{operation_id} still refused after {window_s:g} s (throttle does not recover "
               f"after its window)", recovered)


def test_shared_bucket_counts_both_operations(losant_target: Any) -> None:
    """sendState and setConnectionStatus share the device's incoming-message budget."""
    state, status = operations()["device.sendState"], operations()["device.setConnectionStatus"]
    if not (state.throttle and status.throttle
            and state.throttle.get("bucket") == status.throttle.get("bucket")):
        pytest.skip("the spec does not put these operations in one bucket")
    api = _raw(losant_target)
    device = create_device(losant_target.api, losant_target.app_path())["id"]
    if losant_target.is_mock:
        losant_target.reset_throttles()
    expect_status(WINDOW_CALLS["device.sendState"](api, losant_target, device, 0), 200,
                  "the first state report")
    limit = _effective_limit(losant_target, state.throttle["bucket"], state.throttle["limit"])
    for i in range(1, limit):
        expect_status(WINDOW_CALLS["device.sendState"](api, losant_target, device, i), 200,
                      "state reports within the limit")
    over = WINDOW_CALLS["device.setConnectionStatus"](api, losant_target, device, 0)
    if over.status_code != 429:
        defect(f"setConnectionStatus was accepted ({over.status_code}) after {limit} state "
               f"reports in one window; both count against the bucket "
               f"'{state.throttle['bucket']}' (shared throttle not enforced)", over)
    _let_window_pass(losant_target, float(state.throttle["window_s"]))


CONCURRENT = sorted(o.id for o in operations().values()
                    if o.throttle and o.throttle["kind"] == "concurrent")


@pytest.mark.losant_not_live_safe
@pytest.mark.parametrize("operation_id", CONCURRENT)
def test_concurrency_limited_job_refuses_a_second_call_while_one_runs(
        operation_id: str, losant_target: Any, losant_coverage: Any) -> None:
    import re

    from losant_kit.contracts.fuzz import example_request

    op = operations()[operation_id]
    throttle = op.throttle
    assert throttle and throttle["kind"] == "concurrent"
    api = _raw(losant_target)
    device = create_device(losant_target.api, losant_target.app_path())["id"]
    ids = {"applicationId": losant_target.application_id, "deviceId": device}
    path = re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), ""), op.path)
    if losant_target.is_mock:
        losant_target.reset_throttles()
    example = example_request(losant_target, operation_id)
    body = example["body"]
    if isinstance(body, dict) and any(isinstance(v, bytes) for v in body.values()):
        pytest.skip(f"{operation_id} takes a multipart upload: a generated file is no import "
                    f"bundle, so no job starts and its limit is not exercised")
    if isinstance(body, dict) and "email" in body:
        body = {**body, "email": f"{unique('export')}@example.com"}

    def start() -> Any:
        return api.request(op.method, path, json_body=body, params=example["query"] or None)

    first = start()
    if first.status_code != 202:
        pytest.skip(f"{operation_id} did not start a job with a schema-valid example "
                    f"({first.status_code}: {first.text[:120]}); its limit is not exercised")
    second = start()
    if second.status_code != 429:
        defect(f"{op.method} {path} started a second job ({second.status_code}) while one was "
               f"running; the limit is {throttle['limit']} concurrent per {throttle['per']} "
               f"(missing concurrency limit)", second)
    losant_coverage.hit("concurrency limit", operation_id, 2)
    deadline = time.monotonic() + 120
    while True:
        if losant_target.is_mock:
            losant_target.advance_clock(60)
        else:
            time.sleep(5)
        again = start()
        if again.status_code == 202:
            break
        if time.monotonic() > deadline:
            defect(f"{op.method} {path} still refused {again.status_code} long after the first "
                   f"job should have finished (concurrency slot never released)", again)
