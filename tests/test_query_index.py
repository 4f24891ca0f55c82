"""The device query indexes never lose a match.

Index, then predicate, selects exactly what the predicate alone selects
(the reference evaluator in mockserver/query.py), for generated devices -
odd stored values included - and generated queries.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.models.devices import Ordering
from losant_kit.mockserver.query import (
    compile_device_filters,
    compile_device_query,
    device_filters_query,
)
from losant_kit.mockserver.query_index import DeviceIndex, narrow

TEXTS = st.sampled_from(["", "a", "ab", "abc", "B", "b", "sensor-1", "sensor-10", "é", "5"])
SCALARS = st.one_of(TEXTS, st.integers(-1, 6), st.booleans(), st.none(), st.just(5.0))
STORED = st.one_of(SCALARS, st.lists(SCALARS, max_size=2), st.just({"x": 1}))
TAGS = st.one_of(
    st.lists(st.fixed_dictionaries({"key": STORED, "value": STORED}), max_size=3),
    st.dictionaries(TEXTS, SCALARS, max_size=2),
    st.none(),
)
DEVICES = st.lists(
    st.fixed_dictionaries(
        {"id": st.just(""), "name": STORED, "deviceClass": STORED, "tags": TAGS},
    ),
    max_size=12,
)
# The store only ever holds a string class (the body schema says so); the simple
# filter compares it raw.
STRING_CLASS_DEVICES = st.lists(
    st.fixed_dictionaries({"id": st.just(""), "name": STORED, "deviceClass": TEXTS, "tags": TAGS}),
    max_size=12,
)


def text_operand() -> st.SearchStrategy[Any]:
    operators = st.dictionaries(
        st.sampled_from(["$eq", "$ne", "$in", "$nin", "$startsWith", "$endsWith", "$ci", "$gt"]),
        st.one_of(SCALARS, st.lists(SCALARS, max_size=3)),
        min_size=1,
        max_size=3,
    )
    return st.one_of(SCALARS, operators)


def tag_operand() -> st.SearchStrategy[Any]:
    part = st.one_of(SCALARS, st.fixed_dictionaries({"$in": st.lists(SCALARS, max_size=2)}))
    pair = st.fixed_dictionaries({}, optional={"$tagKey": part, "$tagValue": part})
    plain = st.dictionaries(TEXTS, part, max_size=2)
    inner = st.one_of(pair, plain, st.none())
    return st.one_of(inner, st.fixed_dictionaries({"$eq": inner}),
                     st.fixed_dictionaries({"$ne": inner}))


FIELDS = st.one_of(
    st.fixed_dictionaries({"deviceClass": text_operand()}),
    st.fixed_dictionaries({"name": text_operand()}),
    st.fixed_dictionaries({"tags": tag_operand()}),
    st.fixed_dictionaries({"id": text_operand()}),
)
QUERIES = st.recursive(
    st.lists(FIELDS, max_size=3).map(lambda parts: {k: v for p in parts for k, v in p.items()}),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"$and": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"$or": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"$nor": st.lists(inner, max_size=2)}),
    ),
    max_leaves=6,
)


def selected(predicate, records) -> list[int]:
    return [i for i, record in enumerate(records) if predicate(record)]


@given(devices=DEVICES, query=QUERIES)
def test_index_narrowing_never_drops_a_device_the_query_selects(devices, query):
    try:
        predicate = compile_device_query(query)
    except ValidationError:
        return
    candidates = narrow(query, DeviceIndex(devices))
    if candidates is not None:
        assert set(selected(predicate, devices)) <= candidates


@given(devices=DEVICES, query=QUERIES)
def test_narrowed_list_then_predicate_selects_exactly_the_reference(devices, query):
    try:
        predicate = compile_device_query(query)
    except ValidationError:
        return
    ordering = Ordering(version=1, live=devices, deleted=[])
    narrowed = ordering.narrowed(query, False)
    candidates = devices if narrowed is None else narrowed
    assert [d for d in candidates if predicate(d)] == [d for d in devices if predicate(d)]


@given(
    devices=STRING_CLASS_DEVICES,
    device_class=st.one_of(st.none(), TEXTS, st.lists(TEXTS, max_size=2)),
    tag_filter=st.one_of(st.none(), st.lists(
        st.fixed_dictionaries({}, optional={"key": TEXTS, "value": TEXTS}), max_size=2)),
)
def test_simple_filters_narrow_to_a_superset_of_their_matches(devices, device_class, tag_filter):
    try:
        predicate = compile_device_filters(device_class=device_class, tag_filter=tag_filter)
    except ValidationError:
        return
    query = device_filters_query(device_class, tag_filter)
    candidates = narrow(query, DeviceIndex(devices)) if query else None
    if candidates is not None:
        assert set(selected(predicate, devices)) <= candidates


def test_a_class_and_prefix_query_reads_only_the_indexed_candidates():
    devices = [{"id": str(i), "name": f"sensor-{i:03d}", "deviceClass": c, "tags": []}
               for i, c in enumerate(["gateway", "standalone"] * 50)]
    query = {"$and": [{"deviceClass": "gateway"}, {"name": {"$startsWith": "sensor-01"}}]}
    found = narrow(query, DeviceIndex(devices))
    assert found == {10, 12, 14, 16, 18}
