"""Device state history: ingest, getState, composite state, last values, time series.

The property tests check the store against deliberately naive reference code:
plain Python over the raw list of reports (filter, group, ``statistics``),
sharing nothing with the numpy implementation but the rules in the module doc.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.aggregation import AGGREGATIONS, NUMERIC_AGGREGATIONS, parse_aggregation
from losant_kit.mockserver.errors import PayloadTooLarge, ValidationError
from losant_kit.mockserver.spec import PlatformSpec
from losant_kit.mockserver.times import (
    EARLIEST_MS,
    LATEST_MS,
    iso_from_ms,
    parse_state_time,
    resolve_window,
)
from losant_kit.mockserver.timeseries import TimeSeriesStore

DEVICE = "575ecf887ae143cd83dc4aa2"
OTHER = "575ef5c97ae143cd83dc4aac"
NOW = 1_465_790_400_000  # 2016-06-13T04:00:00.000Z
HOUR = 3_600_000
ATTRS = ("a", "b")

Report = tuple[int, dict[str, Any]]


@cache
def platform_spec() -> PlatformSpec:
    return PlatformSpec()


def store_with(reports: list[Report], device: str = DEVICE) -> TimeSeriesStore:
    store = TimeSeriesStore()
    for time_ms, data in reports:
        store.record(device, time_ms, data)
    return store


def query(store: TimeSeriesStore, aggregation: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The points of DEVICE for a time series query."""
    kwargs.setdefault("start_ms", 0)
    kwargs.setdefault("end_ms", 10 * HOUR)
    kwargs.setdefault("resolution_ms", HOUR)
    body = store.time_series([DEVICE], aggregation=aggregation, **kwargs)
    return body["devices"][DEVICE]["points"]


# -- reference implementation ----------------------------------------------------


def in_time_order(reports: list[Report]) -> list[Report]:
    """Time order; equal times in arrival order (sorted() is stable)."""
    return sorted(reports, key=lambda report: report[0])


def in_window(reports: list[Report], start: int | None, end: int | None) -> list[Report]:
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [r for r in in_time_order(reports) if lo <= r[0] <= hi]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_value(value: Any, target: Any) -> bool:
    """Equality that keeps booleans, numbers and strings apart (True is not 1)."""
    if isinstance(target, bool) or isinstance(value, bool):
        return isinstance(target, bool) and isinstance(value, bool) and value == target
    if is_number(target):
        return is_number(value) and float(value) == float(target)
    return isinstance(value, str) and value == target


def reference_statistic(kind: str, values: list[Any]) -> Any:
    if kind == "COUNT":
        return len(values)
    if kind == "FIRST":
        return values[0]
    if kind == "LAST":
        return values[-1]
    numbers = [float(v) for v in values if not isinstance(v, str)]  # bool -> 1.0 / 0.0
    if not numbers:
        return None
    return {
        "SUM": math.fsum,
        "MEAN": statistics.fmean,
        "MAX": max,
        "MIN": min,
        "MEDIAN": statistics.median,
        "STD_DEV": statistics.pstdev,
    }[kind](numbers)


def reference_buckets(
    reports: list[Report], kind: str, start: int, end: int, resolution: int | None
) -> dict[int, dict[str, Any]]:
    """bucket start ms -> {attr: aggregate}, for every aggregation but NONE/TIMEATVALUE."""
    grouped: dict[int, dict[str, list[Any]]] = {}
    for time_ms, data in in_window(reports, start, end):
        bucket = start if resolution is None else (time_ms // resolution) * resolution
        for name in ATTRS:
            if name in data:
                grouped.setdefault(bucket, {}).setdefault(name, []).append(data[name])
    out: dict[int, dict[str, Any]] = {}
    for bucket, per_attr in grouped.items():
        for name, values in per_attr.items():
            value = reference_statistic(kind, values)
            if value is not None:
                out.setdefault(bucket, {})[name] = value
    return out


def reference_time_at_value(
    reports: list[Report], target: Any, start: int, end: int, resolution: int | None
) -> dict[int, dict[str, Any]]:
    """Each value holds until the attribute's next report; sum overlaps per bucket."""
    out: dict[int, dict[str, Any]] = {}
    for name in ATTRS:
        history = [(t, d[name]) for t, d in in_time_order(reports) if name in d]
        before = [(t, v) for t, v in history if t < start]
        chain = ([(start, before[-1][1])] if before else []) + [
            (t, v) for t, v in history if start <= t <= end
        ]
        if not chain or chain[0][0] >= end:
            continue
        segments = [
            (t, chain[i + 1][0] if i + 1 < len(chain) else end, v) for i, (t, v) in enumerate(chain)
        ]
        if resolution is None:
            spans = [(start, start, end)]
        else:
            first, last = chain[0][0] // resolution, (end - 1) // resolution
            spans = [
                (k * resolution, max(k * resolution, start), min((k + 1) * resolution, end))
                for k in range(first, last + 1)
            ]
        for label, lo, hi in spans:
            out.setdefault(label, {})[name] = sum(
                max(0, min(hi, seg_end) - max(lo, seg_start))
                for seg_start, seg_end, value in segments
                if same_value(value, target)
            )
    return out


def assert_same_value(kind: str, got: Any, expected: Any, inputs: list[Any]) -> None:
    if kind in NUMERIC_AGGREGATIONS:
        scale = 1 + math.fsum(abs(float(v)) for v in inputs if not isinstance(v, str))
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9 * scale), (got, expected)
    else:
        assert type(got) is type(expected) and got == expected, (got, expected)


# -- strategies ------------------------------------------------------------------

values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["on", "off", "37.33,-122.03"]),
)
small_values = st.one_of(st.integers(0, 3), st.booleans(), st.sampled_from(["on", "off"]))
times = st.integers(-3_000, 12_000)


def reports_of(vals: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Report]]:
    # Dense enough that buckets usually hold several values; order is random,
    # so most examples also exercise out-of-order ingest.
    data = st.dictionaries(st.sampled_from(ATTRS), vals, min_size=1, max_size=2)
    return st.lists(st.tuples(times, data), max_size=60)


windows = st.one_of(st.just([-3_000, 12_000]), st.tuples(times, times).map(sorted))
resolutions = st.one_of(st.none(), st.integers(1, 300), st.integers(300, 8_000))


# -- ingest and getState ---------------------------------------------------------


def test_history_defaults_to_the_single_newest_report() -> None:
    store = store_with([(1, {"a": 1}), (3, {"a": 3}), (2, {"a": 2})])
    assert store.history(DEVICE) == [{"time": 3, "data": {"a": 3}}]


def test_out_of_order_reports_read_back_in_time_order() -> None:
    store = store_with([(30, {"a": 3}), (10, {"a": 1}), (20, {"a": 2})])
    got = store.history(DEVICE, limit=10, direction="asc")
    assert [r["time"] for r in got] == [10, 20, 30]


def test_many_late_reports_with_equal_times_keep_arrival_order() -> None:
    # Large enough that an unstable sort would visibly reorder equal times.
    arrivals = [((i * 7919) % 13, {"seq": i}) for i in range(2000)]
    store = store_with([(100, {"seq": -1}), *arrivals])
    got = store.history(DEVICE, limit=5000, direction="asc")
    assert [(r["time"], r["data"]["seq"]) for r in got] == sorted(
        [(t, d["seq"]) for t, d in arrivals] + [(100, -1)]
    )


def test_reports_with_equal_times_keep_arrival_order() -> None:
    store = store_with([(5, {"a": "first"}), (1, {"a": "early"}), (5, {"a": "second"})])
    asc = store.history(DEVICE, limit=10, direction="asc")
    assert [r["data"]["a"] for r in asc] == ["early", "first", "second"]
    assert store.composite(DEVICE)["a"]["value"] == "second"


def test_history_window_is_inclusive_at_both_ends() -> None:
    store = store_with([(t, {"a": t}) for t in range(10)])
    got = store.history(DEVICE, start_ms=3, end_ms=6, limit=100, direction="asc")
    assert [r["time"] for r in got] == [3, 4, 5, 6]


def test_history_keeps_value_types_and_only_the_attributes_reported() -> None:
    data = {"n": 2, "f": 2.5, "yes": True, "gps": "37.33,-122.03", "big": 2**60}
    store = store_with([(1, data), (2, {"n": 3})])
    first = store.history(DEVICE, direction="asc")[0]["data"]
    assert first == data
    assert [type(first[k]) for k in data] == [int, float, bool, str, int]
    assert store.history(DEVICE)[0]["data"] == {"n": 3}


@pytest.mark.parametrize("bad", [math.nan, math.inf, None, [1], {"x": 1}])
def test_a_rejected_report_leaves_no_trace(bad: Any) -> None:
    store = store_with([(1, {"a": 1})])
    with pytest.raises(ValidationError, match=r"data\.z"):
        store.record(DEVICE, 2, {"a": 2, "z": bad})
    store.record(DEVICE, 3, {"b": 3})
    assert store.history(DEVICE, limit=10, direction="asc") == [
        {"time": 1, "data": {"a": 1}},
        {"time": 3, "data": {"b": 3}},
    ]
    assert set(store.composite(DEVICE)) == {"a", "b"}


def test_history_rejects_a_bad_limit_or_direction() -> None:
    store = store_with([(1, {"a": 1})])
    with pytest.raises(ValidationError, match="limit"):
        store.history(DEVICE, limit=0)
    with pytest.raises(ValidationError, match="sortDirection"):
        store.history(DEVICE, direction="up")


def test_unknown_devices_have_no_history() -> None:
    store = TimeSeriesStore()
    assert store.history(DEVICE) == []
    assert store.composite(DEVICE) == {}
    assert store.count(DEVICE) == 0
    assert store.last_values([DEVICE], "a") == {}


@settings(max_examples=75)
@given(
    reports=reports_of(values),
    window=st.tuples(st.none() | times, st.none() | times),
    limit=st.integers(1, 50),
    split=st.integers(0, 40),
)
def test_history_is_the_sorted_window_cut_to_limit(
    reports: list[Report], window: tuple[int | None, int | None], limit: int, split: int
) -> None:
    store = store_with(reports[:split])
    store.history(DEVICE)  # a read between writes must not disturb later ones
    for time_ms, data in reports[split:]:
        store.record(DEVICE, time_ms, data)
    start, end = window
    expected = [{"time": t, "data": d} for t, d in in_window(reports, start, end)]
    asc = store.history(DEVICE, start_ms=start, end_ms=end, limit=limit, direction="asc")
    desc = store.history(DEVICE, start_ms=start, end_ms=end, limit=limit, direction="desc")
    assert asc == expected[:limit]
    assert desc == expected[::-1][:limit]
    assert store.count(DEVICE, start, end) == len(expected)


# -- composite state and last values ------------------------------------------------


def test_composite_is_the_last_value_of_each_attribute_with_its_time() -> None:
    store = store_with([(1, {"a": 1, "b": "x"}), (2, {"a": 2}), (3, {"c": False})])
    assert store.composite(DEVICE) == {
        "a": {"value": 2, "time": 2},
        "b": {"value": "x", "time": 1},
        "c": {"value": False, "time": 3},
    }


def test_composite_honours_the_window_and_the_attribute_list() -> None:
    store = store_with([(1, {"a": 1, "b": "x"}), (2, {"a": 2}), (3, {"a": 3})])
    got = store.composite(DEVICE, start_ms=2, end_ms=2, attributes=["a", "b", "nope"])
    assert got == {"a": {"value": 2, "time": 2}}
    assert store.composite(DEVICE, attributes="b,nope") == {"b": {"value": "x", "time": 1}}


@settings(max_examples=75)
@given(reports=reports_of(values), window=st.tuples(st.none() | times, st.none() | times))
def test_composite_matches_the_last_report_of_each_attribute(
    reports: list[Report], window: tuple[int | None, int | None]
) -> None:
    expected: dict[str, dict[str, Any]] = {}
    for time_ms, data in in_window(reports, *window):
        for name, value in data.items():
            expected[name] = {"value": value, "time": time_ms}
    got = store_with(reports).composite(DEVICE, start_ms=window[0], end_ms=window[1])
    assert got == expected
    for name in got:
        assert type(got[name]["value"]) is type(expected[name]["value"])


def test_last_values_give_each_devices_last_value_of_the_attribute() -> None:
    store = store_with([(NOW - 5, {"voltage": 12}), (NOW, {"other": 1})])
    store.record(OTHER, NOW - HOUR, {"voltage": 19.5})
    store.record("no-voltage", NOW, {"other": 1})
    got = store.last_values([DEVICE, OTHER, "no-voltage", "unknown"], "voltage")
    assert got == {
        DEVICE: {"time": iso_from_ms(NOW - 5), "data": {"voltage": 12}},
        OTHER: {"time": "2016-06-13T03:00:00.000Z", "data": {"voltage": 19.5}},
    }
    assert platform_spec().validator("lastValueData").is_valid(got)


def test_last_values_stop_at_end() -> None:
    store = store_with([(1, {"v": 1}), (5, {"v": 5})])
    assert store.last_values([DEVICE], "v", end_ms=4)[DEVICE]["data"] == {"v": 1}


# -- time series -------------------------------------------------------------------


def test_buckets_are_aligned_to_epoch_multiples_of_the_resolution() -> None:
    store = store_with([(HOUR + 10, {"a": 1}), (HOUR + 20, {"a": 3}), (2 * HOUR + 5, {"a": 10})])
    points = query(store, "MEAN", start_ms=HOUR + 15, end_ms=3 * HOUR)
    # The window starts mid-bucket: the first bucket is partial but keeps its aligned label.
    assert points == [
        {"time": iso_from_ms(HOUR), "data": {"a": 3.0}},
        {"time": iso_from_ms(2 * HOUR), "data": {"a": 10.0}},
    ]


def test_empty_buckets_are_omitted() -> None:
    store = store_with([(0, {"a": 1}), (5 * HOUR, {"a": 2})])
    assert [p["time"] for p in query(store, "COUNT")] == [iso_from_ms(0), iso_from_ms(5 * HOUR)]


def test_numeric_aggregations_skip_strings_and_count_booleans_as_numbers() -> None:
    store = store_with([(1, {"a": True}), (2, {"a": "37.33,-122.03"}), (3, {"a": 4})])
    assert query(store, "SUM") == [{"time": iso_from_ms(0), "data": {"a": 5.0}}]
    assert query(store, "COUNT")[0]["data"] == {"a": 3}
    assert query(store, "LAST")[0]["data"] == {"a": 4}


def test_a_bucket_of_only_strings_has_no_numeric_value() -> None:
    store = store_with([(1, {"a": "on"}), (2, {"b": 1})])
    assert query(store, "MAX") == [{"time": iso_from_ms(0), "data": {"b": 1.0}}]
    assert query(store, "FIRST") == [{"time": iso_from_ms(0), "data": {"a": "on", "b": 1}}]


def test_std_dev_is_the_population_standard_deviation() -> None:
    store = store_with([(1, {"a": 2}), (2, {"a": 4})])
    assert query(store, "STD_DEV")[0]["data"]["a"] == pytest.approx(1.0)  # sample would be 1.414


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    store = store_with([(1, {"a": 1}), (2, {"a": 10}), (3, {"a": 2}), (4, {"a": 7})])
    assert query(store, "MEDIAN")[0]["data"]["a"] == 4.5


def test_time_at_value_carries_the_value_in_from_before_the_window() -> None:
    store = store_with([(-HOUR, {"s": "on"}), (HOUR // 2, {"s": "off"}), (2 * HOUR, {"s": "on"})])
    spec = {"type": "TIMEATVALUE", "options": {"value": "on"}}
    points = query(store, spec, start_ms=0, end_ms=3 * HOUR)
    assert [p["data"]["s"] for p in points] == [HOUR // 2, 0, HOUR]


def test_time_at_value_keeps_booleans_and_numbers_apart() -> None:
    store = store_with([(0, {"a": 1}), (HOUR, {"a": True})])
    spec = {"type": "TIMEATVALUE", "options": {"value": True}}
    points = query(store, spec, end_ms=2 * HOUR)
    assert [p["data"]["a"] for p in points] == [0, HOUR]


def test_none_returns_the_raw_reports_that_carry_a_requested_attribute() -> None:
    store = store_with([(1, {"a": 1, "b": 2}), (2, {"b": 3}), (3, {"a": "x"})])
    points = query(store, "NONE", attributes=["a"], resolution_ms=None)
    assert points == [
        {"time": iso_from_ms(1), "data": {"a": 1}},
        {"time": iso_from_ms(3), "data": {"a": "x"}},
    ]


def test_without_resolution_the_window_is_one_bucket_labelled_with_its_start() -> None:
    store = store_with([(5, {"a": 1}), (HOUR * 3, {"a": 3})])
    assert query(store, "MEAN", start_ms=2, resolution_ms=None) == [
        {"time": iso_from_ms(2), "data": {"a": 2.0}}
    ]


def test_resolution_may_be_any_json_number_of_whole_ms() -> None:
    store = store_with([(1, {"a": 1}), (HOUR + 1, {"a": 2})])
    assert len(query(store, "COUNT", resolution_ms=3.6e6)) == 2
    for bad in (0, -5, True, "3600000", math.inf):
        with pytest.raises(ValidationError, match="resolution"):
            query(store, "COUNT", resolution_ms=bad)


def test_order_desc_and_limit_give_the_newest_buckets_first() -> None:
    store = store_with([(h * HOUR, {"a": h}) for h in range(5)])
    points = query(store, "LAST", order="desc", limit=2)
    assert [p["data"]["a"] for p in points] == [4, 3]


def test_time_series_body_matches_the_schema() -> None:
    store = store_with([(NOW - HOUR, {"voltage": 10.3, "state": "on"}), (NOW, {"voltage": 12})])
    store.record(OTHER, NOW, {"voltage": 1})
    validator = platform_spec().validator("timeSeriesData")
    for aggregation in [*sorted(AGGREGATIONS - {"TIMEATVALUE"}), "COUNT"]:
        body = store.time_series(
            [DEVICE, OTHER],
            start_ms=NOW - 2 * HOUR,
            end_ms=NOW,
            resolution_ms=300_000,
            aggregation={"type": aggregation},
            devices_info={OTHER: {"name": "My Other Device", "tags": {"floor": ["8"]}}},
        )
        assert list(validator.iter_errors(body)) == [], aggregation
    body = store.time_series(
        [DEVICE],
        start_ms=NOW - 2 * HOUR,
        end_ms=NOW,
        resolution_ms=None,
        aggregation={"type": "TIMEATVALUE", "options": {"value": "on"}},
    )
    assert list(validator.iter_errors(body)) == []
    assert body["aggregation"] == {"type": "TIMEATVALUE", "options": {"value": "on"}}


@settings(max_examples=120)
@given(reports=reports_of(values), window=windows, resolution=resolutions)
def test_every_bucketed_aggregation_matches_the_reference(
    reports: list[Report], window: list[int], resolution: int | None
) -> None:
    start, end = window
    store = store_with(reports)
    for kind in sorted(AGGREGATIONS - {"NONE", "TIMEATVALUE"}):
        got = query(store, kind, start_ms=start, end_ms=end, resolution_ms=resolution)
        expected = reference_buckets(reports, kind, start, end, resolution)
        assert [p["time"] for p in got] == [iso_from_ms(b) for b in sorted(expected)], kind
        for point, bucket in zip(got, sorted(expected), strict=True):
            assert point["data"].keys() == expected[bucket].keys(), kind
            for name, value in point["data"].items():
                inputs = [
                    d[name]
                    for t, d in in_window(reports, start, end)
                    if name in d and (resolution is None or t // resolution * resolution == bucket)
                ]
                assert_same_value(kind, value, expected[bucket][name], inputs)


@settings(max_examples=120)
@given(
    reports=reports_of(small_values),
    window=windows,
    # From 50 ms: the reference visits every bucket of every segment.
    resolution=st.none() | st.integers(50, 8_000),
    target=small_values,
)
def test_time_at_value_matches_the_reference(
    reports: list[Report], window: list[int], resolution: int | None, target: Any
) -> None:
    start, end = window
    spec = {"type": "TIMEATVALUE", "options": {"value": target}}
    got = query(store_with(reports), spec, start_ms=start, end_ms=end, resolution_ms=resolution)
    expected = reference_time_at_value(reports, target, start, end, resolution)
    assert got == [{"time": iso_from_ms(b), "data": expected[b]} for b in sorted(expected)]


@settings(max_examples=75)
@given(
    reports=reports_of(values),
    window=windows,
    order=st.sampled_from(["asc", "desc"]),
    limit=st.none() | st.integers(1, 10),
)
def test_none_matches_the_raw_reports_in_order_and_limit(
    reports: list[Report], window: list[int], order: str, limit: int | None
) -> None:
    start, end = window
    got = query(store_with(reports), "NONE", start_ms=start, end_ms=end, order=order, limit=limit)
    expected = [
        {"time": iso_from_ms(t), "data": {k: v for k, v in d.items() if k in ATTRS}}
        for t, d in in_window(reports, start, end)
        if d
    ]
    expected = expected[::-1] if order == "desc" else expected
    assert got == expected[:limit]


# -- result size ---------------------------------------------------------------------

texts = st.text(max_size=12)


@settings(max_examples=75)
@given(
    reports=reports_of(st.one_of(values, texts, st.integers(2**60, 2**62))),
    window=windows,
    resolution=resolutions,
    kind=st.sampled_from(sorted(AGGREGATIONS - {"TIMEATVALUE"})),
    limit=st.none() | st.integers(1, 5),
)
def test_size_estimate_is_never_below_the_real_json_size(
    reports: list[Report],
    window: list[int],
    resolution: int | None,
    kind: str,
    limit: int | None,
) -> None:
    store = store_with(reports)
    args = {
        "start_ms": window[0],
        "end_ms": window[1],
        "resolution_ms": resolution,
        "aggregation": kind,
        "limit": limit,
    }
    body = store.time_series([DEVICE, OTHER], **args)
    assert store.estimated_result_bytes([DEVICE, OTHER], **args) >= len(json.dumps(body))


def test_size_estimate_is_close_for_dense_numeric_data() -> None:
    store = store_with([(m * 60_000, {"temperature": 20.0 + m / 7}) for m in range(24 * 60)])
    args = {"start_ms": 0, "end_ms": 24 * HOUR - 1, "resolution_ms": 60_000, "aggregation": "MEAN"}
    actual = len(json.dumps(store.time_series([DEVICE], **args)))
    assert actual <= store.estimated_result_bytes([DEVICE], **args) <= 2 * actual


def test_a_result_over_max_bytes_is_refused_before_it_is_built() -> None:
    store = store_with([(t, {"a": t}) for t in range(1000)])
    with pytest.raises(PayloadTooLarge):
        query(store, "NONE", max_bytes=10_000)
    assert len(query(store, "NONE", limit=10, max_bytes=10_000)) == 10


def test_time_at_value_with_an_absurd_bucket_count_is_refused() -> None:
    store = store_with([(0, {"a": 1})])
    spec = {"type": "TIMEATVALUE", "options": {"value": 1}}
    with pytest.raises(PayloadTooLarge):
        query(store, spec, end_ms=10**12, resolution_ms=1)


# -- removal -------------------------------------------------------------------------


def test_remove_deletes_only_the_window() -> None:
    store = store_with([(t, {"a": t}) for t in range(10)])
    assert store.remove(DEVICE, 3, 6) == 4
    got = store.history(DEVICE, limit=100, direction="asc")
    assert [r["time"] for r in got] == [0, 1, 2, 7, 8, 9]


def test_remove_with_attributes_keeps_other_values_and_drops_emptied_reports() -> None:
    store = store_with([(1, {"a": 1, "b": 1}), (2, {"a": 2}), (3, {"b": 3})])
    assert store.remove(DEVICE, attributes=["a"]) == 1
    assert store.history(DEVICE, limit=10, direction="asc") == [
        {"time": 1, "data": {"b": 1}},
        {"time": 3, "data": {"b": 3}},
    ]
    assert set(store.composite(DEVICE)) == {"b"}


def test_writes_after_a_removal_read_back_cleanly() -> None:
    store = store_with([(t, {"a": t, "s": str(t)}) for t in range(10)])
    store.remove(DEVICE)
    store.record(DEVICE, 50, {"b": 1})
    assert store.history(DEVICE, limit=10) == [{"time": 50, "data": {"b": 1}}]


@settings(max_examples=75)
@given(reports=reports_of(values), window=windows)
def test_remove_leaves_exactly_the_reports_outside_the_window(
    reports: list[Report], window: list[int]
) -> None:
    store = store_with(reports)
    start, end = window
    removed = store.remove(DEVICE, start, end)
    kept = [r for r in in_time_order(reports) if not start <= r[0] <= end]
    assert removed == len(reports) - len(kept)
    assert store.history(DEVICE, limit=100, direction="asc") == [
        {"time": t, "data": d} for t, d in kept
    ]


def test_drop_device_forgets_its_history() -> None:
    store = store_with([(1, {"a": 1})])
    assert store.drop_device(DEVICE) is True
    assert store.history(DEVICE) == []
    assert store.drop_device(DEVICE) is False


# -- parameters ----------------------------------------------------------------------


def test_end_zero_or_missing_means_now() -> None:
    assert resolve_window(NOW, end=0)[1] == NOW
    assert resolve_window(NOW)[1] == NOW


def test_negative_start_and_end_are_relative_to_now() -> None:
    assert resolve_window(NOW, start=-HOUR, end="-1000") == (NOW - HOUR, NOW - 1000)


def test_duration_counts_back_from_end_when_start_is_missing() -> None:
    assert resolve_window(NOW, end=0, duration=600_000) == (NOW - 600_000, NOW)
    assert resolve_window(NOW, start=5, duration=600_000) == (5, NOW)


def test_without_start_or_duration_there_is_no_lower_bound_unless_defaulted() -> None:
    assert resolve_window(NOW) == (EARLIEST_MS, NOW)
    assert resolve_window(NOW, default_duration_ms=HOUR) == (NOW - HOUR, NOW)


def test_window_bounds_are_clamped_to_writable_dates() -> None:
    assert resolve_window(NOW, start=-(10**18), end=10**18) == (EARLIEST_MS, LATEST_MS)


def test_a_vast_resolution_still_labels_buckets_with_writable_dates() -> None:
    store = store_with([(-5, {"a": 1})])
    points = query(store, "COUNT", start_ms=EARLIEST_MS, end_ms=0, resolution_ms=10**15)
    assert points == [{"time": iso_from_ms(EARLIEST_MS), "data": {"a": 1}}]


@pytest.mark.parametrize(("param", "value"), [("start", "soon"), ("end", "x"), ("duration", -1)])
def test_bad_window_parameters_are_named_in_the_error(param: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=param):
        resolve_window(NOW, **{param: value})


@pytest.mark.parametrize(
    "value",
    [
        "2016-06-13T04:00:00.000Z",
        "2016-06-13T04:00:00Z",
        "2016-06-13T06:00:00+02:00",
        "2016-06-13T04:00:00",  # no zone: UTC
        NOW,
        float(NOW) + 0.7,
        {"$date": "2016-06-13T04:00:00.000Z"},
    ],
)
def test_state_time_accepts_every_form_of_the_schema(value: Any) -> None:
    assert parse_state_time(value, now_ms=0) == NOW


def test_missing_state_time_is_now() -> None:
    assert parse_state_time(None, now_ms=NOW) == NOW


@pytest.mark.parametrize(
    "value", ["yesterday", "1465790400000", True, [NOW], {"$date": 1, "x": 2}, math.nan, 1e20]
)
def test_bad_state_time_is_a_validation_error_naming_the_field(value: Any) -> None:
    with pytest.raises(ValidationError, match=re.escape('"states[2].time')):
        parse_state_time(value, now_ms=NOW, field="states[2].time")


@given(st.integers(EARLIEST_MS, 253_402_300_799_999))
def test_iso_dates_round_trip_to_the_millisecond(ms: int) -> None:
    assert parse_state_time(iso_from_ms(ms), now_ms=0) == ms


def test_aggregation_accepts_every_schema_form() -> None:
    assert parse_aggregation("MEAN").type == "MEAN"
    assert parse_aggregation({"type": "SUM"}).type == "SUM"
    spec = parse_aggregation({"type": "TIMEATVALUE", "options": {"value": False}})
    assert (spec.type, spec.value) == ("TIMEATVALUE", False)


@pytest.mark.parametrize(
    "spec", ["mean", {"type": "TIMEATVALUE"}, {"type": "MAX", "options": {"value": 1}}, None]
)
def test_bad_aggregations_are_validation_errors(spec: Any) -> None:
    with pytest.raises(ValidationError, match=r"aggregation|TIMEATVALUE"):
        parse_aggregation(spec)
