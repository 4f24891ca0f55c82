"""Throttles: sliding windows, concurrent jobs, size caps, and the control view."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.errors import BadRequest, Throttled
from losant_kit.mockserver.throttle import ThrottleRule, Throttles

SEND_STATE = {
    "kind": "window",
    "limit": 30,
    "window_s": 15,
    "per": "device",
    "bucket": "device-incoming",
}
CONNECTION_STATUS = {**SEND_STATE}
SEND_COMMAND = {**SEND_STATE, "bucket": "device-outgoing"}
EXPORT = {"kind": "concurrent", "limit": 1, "per": "application"}
EMBEDDED_EXPORT = {"kind": "interval", "window_s": 300, "per": "application"}
TIME_SERIES = {"kind": "size", "max_bytes": 31457280}


def fake_clock() -> Clock:
    # A frozen source: time moves only when a test advances it.
    return Clock(source=lambda: 1_000_000.0)


@pytest.fixture
def clock() -> Clock:
    return fake_clock()


@pytest.fixture
def throttles(clock: Clock) -> Throttles:
    return Throttles(clock)


def accepted(throttles: Throttles, rule: ThrottleRule, key: str) -> bool:
    try:
        throttles.acquire_window(rule, key)
    except Throttled:
        return False
    return True


def fill(throttles: Throttles, rule: ThrottleRule, key: str) -> None:
    for _ in range(rule.limit or 0):
        throttles.acquire_window(rule, key)


# -- sliding windows -----------------------------------------------------------


def test_window_accepts_exactly_limit_then_refuses(throttles: Throttles) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    results = [accepted(throttles, rule, "dev1") for _ in range(31)]
    assert results == [True] * 30 + [False]


def test_refused_calls_do_not_consume_slots(throttles: Throttles, clock: Clock) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    for _ in range(100):
        assert not accepted(throttles, rule, "dev1")
    clock.advance(15)
    # Had the refusals been counted, the window would still be full.
    assert accepted(throttles, rule, "dev1")


def test_window_recovers_after_oldest_call_expires(throttles: Throttles, clock: Clock) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    throttles.acquire_window(rule, "dev1")
    clock.advance(5)
    for _ in range(29):
        throttles.acquire_window(rule, "dev1")
    clock.advance(9.9)
    assert not accepted(throttles, rule, "dev1")
    clock.advance(0.1)
    assert accepted(throttles, rule, "dev1")
    # Only the first call has left; the 29 from t=5 still fill the window.
    assert not accepted(throttles, rule, "dev1")


def test_call_exactly_window_seconds_old_no_longer_counts(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    clock.advance(15)
    assert accepted(throttles, rule, "dev1")


def test_window_slides_so_no_burst_of_twice_the_limit(throttles: Throttles, clock: Clock) -> None:
    # A fixed window would accept 30 at t=14.9 and 30 more at t=15.
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    clock.advance(14.9)
    fill(throttles, rule, "dev1")
    clock.advance(0.1)
    assert not accepted(throttles, rule, "dev1")


def test_retry_after_is_time_until_oldest_call_leaves_window(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    throttles.acquire_window(rule, "dev1")
    clock.advance(5)
    for _ in range(29):
        throttles.acquire_window(rule, "dev1")
    with pytest.raises(Throttled) as refused:
        throttles.acquire_window(rule, "dev1")
    assert refused.value.retry_after == 10
    assert refused.value.headers == {"Retry-After": "10"}


def test_refusal_message_names_the_limit(throttles: Throttles) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    with pytest.raises(Throttled) as refused:
        throttles.acquire_window(rule, "dev1")
    assert refused.value.status == 429
    assert refused.value.message == (
        "device sendState is limited to 30 calls per 15 seconds per device"
    )


def test_each_key_has_its_own_window(throttles: Throttles) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    assert accepted(throttles, rule, "dev2")


def test_shared_bucket_counts_both_operations(throttles: Throttles) -> None:
    state = throttles.rule_for("device.sendState", SEND_STATE)
    status = throttles.rule_for("device.setConnectionStatus", CONNECTION_STATUS)
    for _ in range(15):
        throttles.acquire_window(state, "dev1")
        throttles.acquire_window(status, "dev1")
    assert not accepted(throttles, state, "dev1")
    assert not accepted(throttles, status, "dev1")


def test_separate_buckets_are_counted_separately(throttles: Throttles) -> None:
    incoming = throttles.rule_for("device.sendState", SEND_STATE)
    outgoing = throttles.rule_for("device.sendCommand", SEND_COMMAND)
    fill(throttles, incoming, "dev1")
    assert accepted(throttles, outgoing, "dev1")


def test_operation_without_bucket_counts_under_its_own_id() -> None:
    rule = ThrottleRule.from_extension(
        "events.post", {"kind": "window", "limit": 15, "window_s": 15, "per": "application"}
    )
    assert rule.bucket == "events.post"


def test_interval_allows_one_call_per_interval(throttles: Throttles, clock: Clock) -> None:
    rule = throttles.rule_for("embeddedDeployments.export", EMBEDDED_EXPORT)
    assert accepted(throttles, rule, "app1")
    clock.advance(299)
    with pytest.raises(Throttled) as refused:
        throttles.acquire_window(rule, "app1")
    assert refused.value.message == (
        "embeddedDeployments export is limited to 1 call per 5 minutes per application"
    )
    clock.advance(1)
    assert accepted(throttles, rule, "app1")


def test_clock_set_backwards_forgets_calls_in_the_future(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    clock.advance(100)
    fill(throttles, rule, "dev1")
    clock.reset()
    assert accepted(throttles, rule, "dev1")


def test_fifty_threads_on_one_key_get_exactly_limit_acceptances(throttles: Throttles) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    start = threading.Barrier(50)
    wins: list[bool] = []
    record = threading.Lock()

    def client() -> None:
        start.wait()
        for _ in range(20):
            ok = accepted(throttles, rule, "dev1")
            with record:
                wins.append(ok)

    threads = [threading.Thread(target=client) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1000
    assert sum(wins) == 30


# -- concurrent jobs -----------------------------------------------------------


def test_second_job_refused_while_first_runs(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    with pytest.raises(Throttled) as refused:
        throttles.start_job(rule, "app1", "job2")
    assert refused.value.message == (
        "application export is limited to 1 concurrent call per application"
    )


def test_job_accepted_after_first_finishes(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    throttles.finish_job(rule, "app1", "job1")
    throttles.start_job(rule, "app1", "job2")


def test_jobs_for_different_keys_run_side_by_side(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    throttles.start_job(rule, "app2", "job2")


def test_import_and_clone_share_one_slot_per_owner(throttles: Throttles) -> None:
    ext = {"kind": "concurrent", "limit": 1, "per": "owner", "bucket": "import-or-clone"}
    clone = throttles.rule_for("application.clone", ext)
    imp = throttles.rule_for("applications.import", ext)
    throttles.start_job(clone, "org1", "job1")
    with pytest.raises(Throttled):
        throttles.start_job(imp, "org1", "job2")


def test_job_retry_after_is_running_jobs_expected_remaining_time(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1", expected_duration_s=30)
    clock.advance(10)
    with pytest.raises(Throttled) as refused:
        throttles.start_job(rule, "app1", "job2")
    assert refused.value.retry_after == 20


def test_job_retry_after_defaults_to_one_second(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    with pytest.raises(Throttled) as refused:
        throttles.start_job(rule, "app1", "job2")
    assert refused.value.retry_after == 1


def test_restarting_a_running_job_does_not_take_a_second_slot(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    throttles.start_job(rule, "app1", "job1")
    throttles.finish_job(rule, "app1", "job1")
    throttles.start_job(rule, "app1", "job2")


def test_finishing_an_unknown_job_is_harmless(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.finish_job(rule, "app1", "never-started")
    throttles.start_job(rule, "app1", "job1")


def test_fifty_threads_starting_jobs_get_exactly_one_slot(throttles: Throttles) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    start = threading.Barrier(50)
    wins: list[str] = []

    def client(n: int) -> None:
        start.wait()
        try:
            throttles.start_job(rule, "app1", f"job{n}")
        except Throttled:
            return
        wins.append(f"job{n}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


# -- size caps -----------------------------------------------------------------


def test_result_at_the_cap_is_allowed(throttles: Throttles) -> None:
    rule = throttles.rule_for("data.timeSeriesQuery", TIME_SERIES)
    throttles.check_size(rule, 31457280)


def test_result_over_the_cap_is_a_bad_request(throttles: Throttles) -> None:
    rule = throttles.rule_for("data.timeSeriesQuery", TIME_SERIES)
    with pytest.raises(BadRequest) as refused:
        throttles.check_size(rule, 31457281)
    assert refused.value.status == 400
    assert refused.value.message.startswith("data timeSeriesQuery is limited to 30MB per request")


# -- scale, disable, reset -----------------------------------------------------


def test_scale_reduces_limit(clock: Clock) -> None:
    throttles = Throttles(clock, scale=0.1)
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    results = [accepted(throttles, rule, "dev1") for _ in range(4)]
    assert results == [True, True, True, False]


def test_scale_keeps_the_window(clock: Clock) -> None:
    throttles = Throttles(clock, scale=0.1)
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    clock.advance(14.5)
    assert not accepted(throttles, rule, "dev1")
    clock.advance(0.5)
    assert accepted(throttles, rule, "dev1")


def test_scale_never_drops_a_limit_below_one(clock: Clock) -> None:
    throttles = Throttles(clock, scale=0.01)
    assert throttles.rule_for("device.sendState", SEND_STATE).limit == 1
    assert throttles.rule_for("application.export", EXPORT).limit == 1


def test_scale_leaves_size_caps_alone(clock: Clock) -> None:
    throttles = Throttles(clock, scale=0.1)
    assert throttles.rule_for("data.timeSeriesQuery", TIME_SERIES).max_bytes == 31457280


def test_scaled_refusal_mentions_the_published_limit(clock: Clock) -> None:
    throttles = Throttles(clock, scale=0.1)
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    fill(throttles, rule, "dev1")
    with pytest.raises(Throttled) as refused:
        throttles.acquire_window(rule, "dev1")
    assert refused.value.message == (
        "device sendState is limited to 3 calls per 15 seconds per device"
        " (published limit 30, scaled by 0.1)"
    )


def test_non_positive_scale_is_rejected(clock: Clock) -> None:
    with pytest.raises(ValueError):
        Throttles(clock, scale=0)


def test_disabled_throttles_accept_everything(clock: Clock) -> None:
    throttles = Throttles(clock, enabled=False)
    window = throttles.rule_for("device.sendState", SEND_STATE)
    jobs = throttles.rule_for("application.export", EXPORT)
    size = throttles.rule_for("data.timeSeriesQuery", TIME_SERIES)
    for n in range(100):
        throttles.acquire_window(window, "dev1")
        throttles.start_job(jobs, "app1", f"job{n}")
    throttles.check_size(size, 10**9)


def test_disabled_throttles_still_track_running_jobs(clock: Clock) -> None:
    throttles = Throttles(clock, enabled=False)
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1")
    [group] = throttles.snapshot()["jobs"]
    assert [job["jobId"] for job in group["running"]] == ["job1"]


def test_reset_forgets_calls_and_jobs(throttles: Throttles) -> None:
    window = throttles.rule_for("device.sendState", SEND_STATE)
    jobs = throttles.rule_for("application.export", EXPORT)
    fill(throttles, window, "dev1")
    throttles.start_job(jobs, "app1", "job1")
    throttles.reset()
    assert accepted(throttles, window, "dev1")
    throttles.start_job(jobs, "app1", "job2")


# -- snapshot ------------------------------------------------------------------


def test_snapshot_shows_calls_limit_and_next_free_slot(throttles: Throttles, clock: Clock) -> None:
    state = throttles.rule_for("device.sendState", SEND_STATE)
    throttles.rule_for("device.setConnectionStatus", CONNECTION_STATUS)
    fill(throttles, state, "dev1")
    clock.advance(4)
    [window] = throttles.snapshot()["windows"]
    assert window == {
        "bucket": "device-incoming",
        "key": "dev1",
        "per": "device",
        "operations": ["device.sendState", "device.setConnectionStatus"],
        "calls": 30,
        "limit": 30,
        "windowSeconds": 15.0,
        "nextSlotInSeconds": 11.0,
    }


def test_snapshot_shows_running_jobs_with_expected_remaining_time(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    throttles.start_job(rule, "app1", "job1", expected_duration_s=30)
    clock.advance(10)
    [group] = throttles.snapshot()["jobs"]
    assert group["key"] == "app1"
    assert group["limit"] == 1
    [job] = group["running"]
    assert job["jobId"] == "job1"
    assert job["expectedRemainingSeconds"] == 20


def test_snapshot_leaves_out_windows_whose_calls_expired(
    throttles: Throttles, clock: Clock
) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    throttles.acquire_window(rule, "dev1")
    clock.advance(15)
    assert throttles.snapshot()["windows"] == []


def test_snapshot_lists_configured_rules(throttles: Throttles) -> None:
    throttles.rule_for("device.sendState", SEND_STATE)
    assert throttles.snapshot()["rules"]["device.sendState"] == {
        "kind": "window",
        "bucket": "device-incoming",
        "limit": 30,
        "publishedLimit": 30,
        "per": "device",
        "windowSeconds": 15.0,
    }


def test_idle_keys_are_swept_from_memory(throttles: Throttles, clock: Clock) -> None:
    rule = throttles.rule_for("device.sendState", SEND_STATE)
    for n in range(5000):
        throttles.acquire_window(rule, f"dev{n}")
    clock.advance(15)
    for n in range(6000):
        throttles.acquire_window(rule, f"busy{n % 200}")
    # White-box: the sweep is otherwise invisible. Only the busy devices remain.
    assert len(throttles._windows) == 200


# -- configuration -------------------------------------------------------------


def test_load_spec_reads_x_throttle_from_every_operation(throttles: Throttles) -> None:
    spec = {
        "paths": {
            "/applications/{applicationId}/devices/{deviceId}/state": {
                "parameters": [],
                "post": {"operationId": "device.sendState", "x-throttle": SEND_STATE},
                "get": {"operationId": "device.getState"},
            },
            "/applications/{applicationId}/data/time-series-query": {
                "post": {"operationId": "data.timeSeriesQuery", "x-throttle": TIME_SERIES},
            },
        }
    }
    table = throttles.load_spec(spec)
    assert sorted(table) == ["data.timeSeriesQuery", "device.sendState"]
    assert table["device.sendState"].limit == 30


@pytest.mark.parametrize(
    "ext",
    [
        {"kind": "bogus"},
        {"kind": "window", "window_s": 15},
        {"kind": "window", "limit": 0, "window_s": 15},
        {"kind": "window", "limit": 30},
        {"kind": "size"},
    ],
)
def test_malformed_extension_is_rejected_at_start_up(ext: dict) -> None:
    with pytest.raises(ValueError):
        ThrottleRule.from_extension("device.sendState", ext)


def test_rule_used_with_the_wrong_kind_of_check_is_a_programming_error(
    throttles: Throttles,
) -> None:
    rule = throttles.rule_for("application.export", EXPORT)
    with pytest.raises(ValueError):
        throttles.acquire_window(rule, "app1")


# -- properties ----------------------------------------------------------------

# Advances are multiples of 1/4 s and windows are dyadic too, so every time in
# the test is exact in binary floating point and the model and the
# implementation cannot disagree through rounding alone.
advances = st.integers(min_value=0, max_value=24).map(lambda quarters: quarters / 4)
schedules = st.lists(
    st.tuples(advances, st.sampled_from(["dev1", "dev2", "dev3"]), st.sampled_from([0, 1, 2])),
    max_size=150,
)


@settings(max_examples=150)
@given(
    schedule=schedules,
    limit=st.integers(min_value=1, max_value=6),
    window_s=st.sampled_from([0.5, 1.0, 2.5, 4.0]),
)
def test_window_agrees_with_a_naive_sliding_window_model(
    schedule: list[tuple[float, str, int]], limit: int, window_s: float
) -> None:
    clock = fake_clock()
    throttles = Throttles(clock)
    ext = {"kind": "window", "limit": limit, "window_s": window_s, "per": "device"}
    # Operations 0 and 1 share a bucket; operation 2 has its own.
    rules = [
        throttles.rule_for("device.sendState", {**ext, "bucket": "incoming"}),
        throttles.rule_for("device.setConnectionStatus", {**ext, "bucket": "incoming"}),
        throttles.rule_for("device.sendCommand", ext),
    ]
    history: dict[tuple[str, str], list[float]] = defaultdict(list)

    for advance, key, op in schedule:
        now = clock.advance(advance)
        rule = rules[op]
        # The model: scan every accepted call for this bucket and key.
        in_window = [t for t in history[rule.bucket, key] if now - window_s < t <= now]
        expected = len(in_window) < limit
        try:
            throttles.acquire_window(rule, key)
        except Throttled as refused:
            assert not expected
            assert refused.retry_after == min(in_window) + window_s - now
        else:
            assert expected
            history[rule.bucket, key].append(now)


@given(
    limit=st.integers(min_value=1, max_value=1000),
    scale=st.floats(min_value=0.001, max_value=10, allow_nan=False),
)
def test_scaled_limit_is_at_least_one_and_never_above_the_proportional_rate(
    limit: int, scale: float
) -> None:
    rule = ThrottleRule.from_extension("x.y", {"kind": "window", "limit": limit, "window_s": 15})
    scaled = rule.scaled(scale)
    assert scaled.limit is not None
    assert scaled.limit >= 1
    assert scaled.limit <= max(1, limit * scale + 1e-6)
    assert scaled.window_s == rule.window_s
