"""A device's history stored as a block (raw arrays) loads back as the same history."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.models.backend import Backend
from losant_kit.mockserver.persistence import _load_usage
from losant_kit.mockserver.state_series import StateSeries

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond float64's exact range too
    st.booleans(),
    st.text(max_size=8),
)
reports = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**13),
              st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3)),
    max_size=40,
)


def everything(series: StateSeries) -> list[dict]:
    return series.reports(np.arange(len(series)))


@given(reports)
def test_a_series_loaded_from_its_block_holds_the_same_reports(rows):
    series = StateSeries()
    for time_ms, data in rows:
        series.append(time_ms, data)
    loaded = StateSeries.from_block(*series.to_block())
    assert everything(loaded) == everything(series)
    assert loaded.attribute_names() == series.attribute_names()


@given(reports, reports)
def test_reports_appended_after_loading_a_block_extend_it(before, after):
    series = StateSeries()
    for time_ms, data in before:
        series.append(time_ms, data)
    loaded = StateSeries.from_block(*series.to_block())
    for time_ms, data in after:
        series.append(time_ms, data)
        loaded.append(time_ms, data)
    assert everything(loaded) == everything(series)


@given(st.lists(st.tuples(st.sampled_from(["d1", "d2", ""]), st.integers(0, 10**13),
                          st.integers(0, 500), st.integers(1, 3)), max_size=30))
def test_usage_rows_and_raw_tallies_load_the_same_counts(messages):
    via_rows, via_blocks = Backend(), Backend()
    _load_usage([("app", device, "deviceState", "user.rest", time_ms, nbytes, n)
                 for device, time_ms, nbytes, n in messages], via_rows.usage.load_tally)
    for tally in via_rows.usage.tallies():
        via_blocks.usage.load_tally(*tally)
    loaded = via_rows.usage.snapshot()
    assert via_blocks.usage.snapshot() == loaded
    for device in ("d1", "d2", ""):
        mine = [m for m in messages if m[0] == device]
        tallies = [t for t in loaded.get("app", []) if (t["deviceId"] or "") == device]
        assert sorted(t for tally in tallies for t in tally["times"]) == sorted(
            t for _, t, _, n in mine for _ in range(n))
        assert sum(b for tally in tallies for b in tally["bytes"]) == sum(
            b * n for _, _, b, n in mine)
