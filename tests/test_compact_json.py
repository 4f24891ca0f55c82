"""The shared compact-JSON encoders (usage byte counts, SSE events) write exactly
what ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` writes."""

from __future__ import annotations

import json
import threading

from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.models.usage import json_size
from losant_kit.mockserver.sse import encode_event

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@given(JSON)
def test_json_size_is_the_byte_length_of_the_compact_json(value: object) -> None:
    assert json_size(value) == len(_compact(value).encode())


@given(st.text(alphabet=st.characters(categories=("L", "N")), min_size=1), JSON)
def test_sse_event_carries_the_compact_json_on_one_data_line(event: str, value: object) -> None:
    assert encode_event(event, value) == f"event: {event}\ndata: {_compact(value)}\n\n".encode()


def test_json_size_is_the_same_from_many_threads_at_once() -> None:
    # The encoder is shared by every request thread and the broker's loop.
    values = [{"data": {"n": i, "s": "é" * (i % 7)}} for i in range(200)]
    expected = [len(_compact(v).encode()) for v in values]
    results: list[list[int]] = []

    def count() -> None:
        results.append([json_size(v) for v in values])

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 8
