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
from losant_kit.mockserver.list_filters import compile_device_filters, tag_filter_query
from losant_kit.mockserver.models.devices import Ordering
from losant_kit.mockserver.query import compile_device_query
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
    found = narrow(query, DeviceIndex(devices))
    if found is not None:
        assert set(selected(predicate, devices)) <= found.positions


@given(devices=DEVICES, query=QUERIES)
def test_an_exact_narrowing_is_exactly_the_query_selection(devices, query):
    try:
        predicate = compile_device_query(query)
    except ValidationError:
        return
    found = narrow(query, DeviceIndex(devices))
    if found is not None and found.exact:
        assert found.positions == set(selected(predicate, devices))


@given(devices=DEVICES, query=QUERIES)
def test_narrowed_list_then_predicate_selects_exactly_the_reference(devices, query):
    try:
        predicate = compile_device_query(query)
    except ValidationError:
        return
    ordering = Ordering(version=1, live=devices, deleted=[])
    narrowed = ordering.narrowed(query, False)
    candidates = devices if narrowed is None else narrowed[0]
    assert [d for d in candidates if predicate(d)] == [d for d in devices if predicate(d)]


TAG_FILTERS = st.one_of(
    st.fixed_dictionaries({}, optional={"key": TEXTS, "value": TEXTS}),
    st.lists(st.fixed_dictionaries({}, optional={"key": SCALARS, "value": SCALARS}), max_size=2),
)


@given(devices=DEVICES, tag_filter=TAG_FILTERS)
def test_a_tag_filter_narrowing_never_drops_a_match_and_exact_means_exact(devices, tag_filter):
    try:
        predicate = compile_device_filters(tag_filter=tag_filter)
    except ValidationError:
        return
    query = tag_filter_query(tag_filter)
    found = narrow(query, DeviceIndex(devices)) if query else None
    if found is not None:
        matches = set(selected(predicate, devices))
        assert matches <= found.positions
        if found.exact:
            assert matches == found.positions


def test_a_class_and_prefix_query_reads_only_the_indexed_candidates():
    devices = [{"id": str(i), "name": f"sensor-{i:03d}", "deviceClass": c, "tags": []}
               for i, c in enumerate(["gateway", "standalone"] * 50)]
    query = {"$and": [{"deviceClass": "gateway"}, {"name": {"$startsWith": "sensor-01"}}]}
    found = narrow(query, DeviceIndex(devices))
    assert found.positions == {10, 12, 14, 16, 18}
    assert found.exact
