"""Every window throttle the spec declares behaves as a sliding window, for any schedule.

The rules come from the operations' ``x-throttle`` (never from a table in this
file); the reference model below is deliberately naive.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.errors import Throttled
from losant_kit.mockserver.spec import PlatformSpec
from losant_kit.mockserver.throttle import Throttles

SPEC = PlatformSpec()
WINDOW_OPERATIONS = sorted(
    op.id for op in SPEC.operations.values()
    if op.throttle and op.throttle["kind"] == "window"
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_spec_declares_the_published_window_throttles():
    assert set(WINDOW_OPERATIONS) == {
        "device.sendState", "device.setConnectionStatus", "device.sendCommand",
        "application.mqttPublishMessage", "events.post",
    }


# (seconds to wait before the call, which of three keys it targets)
schedules = st.lists(
    st.tuples(st.sampled_from([0, 0, 0, 0.25, 0.5, 1, 2, 5, 7.5, 15]), st.integers(0, 2)),
    max_size=120,
)


@pytest.mark.parametrize("operation_id", WINDOW_OPERATIONS)
@settings(max_examples=40)
@given(schedule=schedules)
def test_window_accepts_exactly_what_a_naive_sliding_window_accepts(operation_id, schedule):
    ext = SPEC.operations[operation_id].throttle
    time = FakeTime()
    throttles = Throttles(Clock(source=time))
    rule = throttles.rule_for(operation_id, ext)
    accepted: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for wait, key in schedule:
        time.now += wait
        recent = [t for t in accepted[key] if t > time.now - ext["window_s"]]
        expect_ok = len(recent) < ext["limit"]
        try:
            throttles.acquire_window(rule, f"key-{key}")
            ok = True
        except Throttled:
            ok = False
        assert ok == expect_ok, (operation_id, time.now, key)
        if ok:
            accepted[key].append(time.now)
