"""Collection semantics: globbing, sorting and paging, bracket parsing, queries."""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.list_filters import (
    compile_device_filters,
    compile_field_filter,
    glob_matcher,
)
from losant_kit.mockserver.paging import sort_and_page
from losant_kit.mockserver.query import (
    APPLICATION_KEY_FIELDS,
    DEVICE_FIELDS,
    EVENT_FIELDS,
    TAGS,
    compile_application_key_query,
    compile_device_query,
    compile_event_query,
    device_value,
)
from losant_kit.mockserver.query_params import normalize_bracket_value, parse_object_param

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "losant-api" / "schemas"

ID_A, ID_B, ID_C = "a" * 24, "b" * 24, "c" * 24
ID_POOL = [ID_A, ID_B, ID_C]
CLASSES = ["standalone", "gateway", "peripheral", "system"]


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)
JAN_2 = datetime(2024, 1, 2, tzinfo=UTC)
JAN_3 = datetime(2024, 1, 3, tzinfo=UTC)


def device(**fields: Any) -> dict[str, Any]:
    """A device in the API's shape; tests override what they are about."""
    base: dict[str, Any] = {
        "id": ID_A,
        "name": "Boiler Room Sensor",
        "deviceClass": "standalone",
        "creationDate": iso(JAN_2),
        "lastUpdated": iso(JAN_2),
        "tags": [{"key": "floor", "value": "2"}, {"key": "room", "value": "boiler"}],
        "attributes": [{"name": "temperature", "dataType": "number"}],
        "parentId": None,
        "connectionInfo": {"connected": 1, "time": iso(JAN_3)},
    }
    base.update(fields)
    return base


def matches(query: Any, item: Mapping[str, Any] | None = None) -> bool:
    return compile_device_query(query)(item if item is not None else device())


# -- strategies -----------------------------------------------------------------

# Properties over whole devices and nested queries are costlier to generate;
# fewer examples keep this file within its few-seconds budget.
HEAVY = settings(max_examples=40)

# Millisecond precision: the API's timestamps carry no finer detail.
instants = st.integers(
    epoch_ms(datetime(2000, 1, 1, tzinfo=UTC)), epoch_ms(datetime(2040, 1, 1, tzinfo=UTC))
).map(lambda ms: EPOCH + timedelta(milliseconds=ms))
short_names = st.text(alphabet="abAB 1", max_size=3)
tag_keys = st.sampled_from(["floor", "room", "Floor"])
tag_values = st.sampled_from(["1", "2", "boiler"])
tags = st.lists(st.fixed_dictionaries({"key": tag_keys, "value": tag_values}), max_size=3)
devices = st.fixed_dictionaries(
    {
        "id": st.sampled_from(ID_POOL),
        "name": short_names,
        "deviceClass": st.sampled_from(CLASSES),
        "creationDate": instants.map(iso),
        "tags": tags,
    },
    optional={
        "parentId": st.one_of(st.none(), st.sampled_from(ID_POOL)),
        "deletedAt": instants.map(iso),
        "attributes": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["temp", "Temp", "humidity"])}),
            max_size=2,
        ),
        "connectionInfo": st.fixed_dictionaries(
            {"connected": st.sampled_from([0, 1, None]), "time": instants.map(iso)}
        ),
    },
)
string_ops = st.sampled_from(["$startsWith", "$endsWith", "$contains"])
order_ops = st.sampled_from(["$gt", "$gte", "$lt", "$lte"])
leaf_queries = st.one_of(
    short_names.map(lambda v: {"name": v}),
    st.sampled_from(CLASSES).map(lambda v: {"deviceClass": v}),
    st.builds(
        lambda op, v, ci: {"name": {op: v, "$ci": ci}},
        string_ops,
        short_names.filter(bool),
        st.booleans(),
    ),
    st.builds(lambda op, v: {"creationDate": {op: iso(v)}}, order_ops, instants),
    st.builds(lambda k, v: {"tags": {k: v}}, tag_keys, tag_values),
    st.one_of(st.none(), st.sampled_from(ID_POOL)).map(lambda v: {"parentId": v}),
    st.sampled_from(["temp", "humidity"]).map(lambda v: {"attributeName": v}),
)
queries = st.recursive(
    leaf_queries,
    lambda children: st.builds(
        lambda op, parts: {op: parts},
        st.sampled_from(["$and", "$or", "$nor"]),
        st.lists(children, max_size=3),
    ),
    max_leaves=6,
)
# (field, strategy of values to compare it with) for the equality properties.
EQUALITY_FIELDS = [
    ("name", short_names),
    ("deviceClass", st.sampled_from(CLASSES)),
    ("id", st.sampled_from([*ID_POOL, ID_A.upper()])),
    ("creationDate", instants.map(iso)),
    ("attributeName", st.sampled_from(["temp", "TEMP", "humidity"])),
]
equality_field = st.sampled_from(EQUALITY_FIELDS)


# -- globbing -------------------------------------------------------------------


def test_glob_star_matches_any_run_including_empty() -> None:
    match = glob_matcher("my*device")
    assert match("my device") and match("mydevice") and match("my big old device")


def test_glob_is_case_insensitive() -> None:
    assert glob_matcher("my*")("My Device")


def test_glob_takes_regex_and_fnmatch_metacharacters_literally() -> None:
    assert not glob_matcher("a.c")("abc")
    assert not glob_matcher("a?c")("abc")
    assert glob_matcher("[x]")("[X]") and not glob_matcher("[x]")("x")


def test_glob_must_match_the_whole_string() -> None:
    assert not glob_matcher("device")("my device")


@pytest.mark.parametrize("pattern", ["", None])
def test_blank_glob_matches_everything(pattern: str | None) -> None:
    assert glob_matcher(pattern)("anything")


GLOB_ALPHABET = "aAbB*?[]\\.ß"


def reference_glob(pattern: str, value: str) -> bool:
    # fnmatch with its own wildcards escaped, so only "*" is special.
    escaped = "".join({"?": "[?]", "[": "[[]"}.get(c, c) for c in pattern.casefold())
    return fnmatch.fnmatchcase(value.casefold(), escaped)


@given(pattern=st.text(GLOB_ALPHABET, max_size=6), value=st.text(GLOB_ALPHABET, max_size=8))
def test_glob_agrees_with_fnmatch_reference(pattern: str, value: str) -> None:
    assert glob_matcher(pattern)(value) == (reference_glob(pattern, value) or not pattern)


@given(pattern=st.text(GLOB_ALPHABET, max_size=6), data=st.data())
def test_glob_matches_its_pattern_with_stars_filled_in(pattern: str, data: st.DataObject) -> None:
    parts = pattern.split("*")
    fillers = [data.draw(st.text(GLOB_ALPHABET, max_size=3)) for _ in parts[1:]]
    value = parts[0] + "".join(f + p for f, p in zip(fillers, parts[1:], strict=True))
    assert glob_matcher(pattern)(value)


def test_field_filter_globs_the_named_field_only_when_both_are_given() -> None:
    assert compile_field_filter("name", "boiler*")(device())
    assert not compile_field_filter("name", "kitchen*")(device())
    assert compile_field_filter(None, "kitchen*")(device())
    assert compile_field_filter("name", "")(device())


# -- sorting and paging ----------------------------------------------------------


def test_ties_on_the_sort_field_are_broken_by_id() -> None:
    items = [{"id": ID_C, "n": "x"}, {"id": ID_A, "n": "x"}, {"id": ID_B, "n": "x"}]
    page, _ = sort_and_page(items, sort_field="n", sort_direction="asc", page=0, per_page=10)
    assert [i["id"] for i in page] == [ID_A, ID_B, ID_C]


def test_missing_values_sort_first_ascending_and_last_descending() -> None:
    items = [{"id": ID_A, "n": "b"}, {"id": ID_B}, {"id": ID_C, "n": None}]
    asc, _ = sort_and_page(items, sort_field="n", sort_direction="asc", page=0, per_page=10)
    desc, _ = sort_and_page(items, sort_field="n", sort_direction="desc", page=0, per_page=10)
    assert [i["id"] for i in asc] == [ID_B, ID_C, ID_A]
    assert [i["id"] for i in desc] == [ID_A, ID_C, ID_B]


def test_string_sort_ignores_case() -> None:
    items = [{"id": ID_A, "n": "beta"}, {"id": ID_B, "n": "Alpha"}, {"id": ID_C, "n": "alpha2"}]
    page, _ = sort_and_page(items, sort_field="n", sort_direction="asc", page=0, per_page=10)
    assert [i["n"] for i in page] == ["Alpha", "alpha2", "beta"]


def test_pages_are_zero_based_and_string_numbers_are_accepted() -> None:
    items = [{"id": f"{i:024x}"} for i in range(5)]
    page, total = sort_and_page(
        items, sort_field="id", sort_direction="asc", page="1", per_page="2"
    )
    assert [i["id"] for i in page] == [f"{2:024x}", f"{3:024x}"] and total == 5


def test_page_past_the_end_is_empty_but_keeps_the_total() -> None:
    page, total = sort_and_page(
        [{"id": ID_A}], sort_field="id", sort_direction="asc", page=3, per_page=10
    )
    assert page == [] and total == 1


def test_sort_key_function_overrides_the_field_lookup() -> None:
    items = [device(id=ID_A), device(id=ID_B, connectionInfo={"connected": 0})]
    page, _ = sort_and_page(
        items,
        sort_field="connectionStatus",
        sort_direction="asc",
        page=0,
        per_page=10,
        key=lambda d: device_value(d, "connectionStatus"),
    )
    assert [i["id"] for i in page] == [ID_A, ID_B]  # "connected" < "disconnected"


@pytest.mark.parametrize(
    ("direction", "page", "per_page"),
    [
        ("up", 0, 10),
        ("asc", -1, 10),
        ("asc", "x", 10),
        ("asc", 0, 0),
        ("asc", True, 10),
        ("asc", "9" * 5000, 10),
    ],
)
def test_bad_paging_parameters_are_validation_errors(
    direction: str, page: Any, per_page: Any
) -> None:
    with pytest.raises(ValidationError):
        sort_and_page([], sort_field="id", sort_direction=direction, page=page, per_page=per_page)


sortable = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.text("aAbB", max_size=2),
    st.booleans(),
)
collections = st.lists(
    st.builds(lambda i, v: {"id": f"{i:024x}", "v": v}, st.integers(0, 10_000), sortable),
    max_size=12,
    unique_by=lambda item: item["id"],
)


@HEAVY
@given(items=collections, per_page=st.integers(1, 5), direction=st.sampled_from(["asc", "desc"]))
def test_pages_partition_the_collection(items: list[dict], per_page: int, direction: str) -> None:
    whole, total = sort_and_page(
        items, sort_field="v", sort_direction=direction, page=0, per_page=100
    )
    stitched = []
    for page in range(math.ceil(len(items) / per_page) + 1):
        chunk, chunk_total = sort_and_page(
            items, sort_field="v", sort_direction=direction, page=page, per_page=per_page
        )
        assert chunk_total == total == len(items) and len(chunk) <= per_page
        stitched.extend(chunk)
    assert stitched == whole
    assert sorted(i["id"] for i in stitched) == sorted(i["id"] for i in items)


@HEAVY
@given(items=collections)
def test_descending_is_exactly_ascending_reversed(items: list[dict]) -> None:
    asc, _ = sort_and_page(items, sort_field="v", sort_direction="asc", page=0, per_page=100)
    desc, _ = sort_and_page(items, sort_field="v", sort_direction="desc", page=0, per_page=100)
    assert desc == asc[::-1]


@HEAVY
@given(items=collections, data=st.data())
def test_sort_order_does_not_depend_on_input_order(items: list[dict], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(items))
    assert sort_and_page(shuffled, sort_field="v", sort_direction="asc", page=0, per_page=100) == (
        sort_and_page(items, sort_field="v", sort_direction="asc", page=0, per_page=100)
    )


@given(
    items=st.lists(
        st.builds(
            lambda i, v: {"id": f"{i:024x}", "v": v},
            st.integers(0, 10_000),
            st.one_of(st.none(), st.text("aAbBc", max_size=3)),
        ),
        max_size=12,
        unique_by=lambda item: item["id"],
    )
)
def test_ascending_strings_are_case_folded_order_with_missing_first(items: list[dict]) -> None:
    page, _ = sort_and_page(items, sort_field="v", sort_direction="asc", page=0, per_page=100)
    for before, after in itertools.pairwise(page):
        if after["v"] is None:
            assert before["v"] is None and before["id"] < after["id"]
        elif before["v"] is not None:
            assert before["v"].casefold() <= after["v"].casefold()
            if before["v"] == after["v"]:
                assert before["id"] < after["id"]


@given(
    items=st.lists(
        st.builds(lambda i, v: {"id": f"{i:024x}", "v": v}, st.integers(0, 99), st.integers(-9, 9)),
        unique_by=lambda item: item["id"],
    )
)
def test_ascending_numbers_are_non_decreasing(items: list[dict]) -> None:
    page, _ = sort_and_page(items, sort_field="v", sort_direction="asc", page=0, per_page=100)
    assert [i["v"] for i in page] == sorted(i["v"] for i in items)


# -- bracket-form parameters -------------------------------------------------------


def test_index_keyed_dicts_become_lists_recursively() -> None:
    raw = {"$and": {"0": {"name": "x"}, "1": {"id": {"$in": {"0": ID_A, "1": ID_B}}}}}
    assert normalize_bracket_value(raw) == {"$and": [{"name": "x"}, {"id": {"$in": [ID_A, ID_B]}}]}


def test_dicts_with_gaps_in_their_indices_stay_dicts() -> None:
    assert normalize_bracket_value({"0": "a", "2": "b"}) == {"0": "a", "2": "b"}


def test_bracket_leaf_values_stay_strings() -> None:
    assert normalize_bracket_value({"a": "5", "b": "true", "c": "null"}) == {
        "a": "5",
        "b": "true",
        "c": "null",
    }


def test_json_encoded_object_param_is_decoded_as_is() -> None:
    # In JSON a tag called "0" is unambiguous and must survive.
    assert parse_object_param('{"tags": {"0": "x"}}') == {"tags": {"0": "x"}}


def test_plain_string_param_is_returned_unchanged() -> None:
    assert parse_object_param("gateway") == "gateway"


def test_malformed_json_param_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="query"):
        parse_object_param('{"name": ')


def test_absurdly_nested_bracket_value_is_a_validation_error() -> None:
    value: Any = "x"
    for _ in range(500):
        value = {"a": value}
    with pytest.raises(ValidationError):
        normalize_bracket_value(value)


def flatten_like_official_client(data: Any, base_key: str | None = None) -> dict[str, Any]:
    """losant_rest.Client.flatten_params, restated."""
    result: dict[str, Any] = {}
    pairs = data.items() if isinstance(data, Mapping) else ((str(i), v) for i, v in enumerate(data))
    for key, value in pairs:
        if base_key is not None:
            key = f"{base_key}[{key}]"
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            result[key] = value
        else:
            result.update(flatten_like_official_client(value, key))
    return result


def unflatten_like_connexion(flat: Mapping[str, Any]) -> dict[str, Any]:
    """deepObject parsing: ``a[b][0]=x`` -> ``{"a": {"b": {"0": "x"}}}``."""
    result: dict[str, Any] = {}
    for flat_key, value in flat.items():
        root = flat_key.split("[", 1)[0]
        path = [root, *re.findall(r"\[([^\[\]]*)\]", flat_key)]
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return result


bracket_keys = st.text(string.ascii_letters + "$_-", min_size=1, max_size=5)
bracket_values = st.recursive(
    st.text(max_size=4),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.dictionaries(bracket_keys, children, min_size=1, max_size=3),
    ),
    max_leaves=10,
)


@HEAVY
@given(st.dictionaries(bracket_keys, bracket_values, min_size=1, max_size=3))
def test_bracket_form_round_trips_through_the_official_flattening(params: dict) -> None:
    flat = flatten_like_official_client(params)
    assert normalize_bracket_value(unflatten_like_connexion(flat)) == params


def test_restated_flattener_matches_the_official_client() -> None:
    client_module = pytest.importorskip("losant_rest.client")
    params = {"query": {"$and": [{"name": "x"}, {"tags": {"$tagKey": {"$in": ["a", "b"]}}}]}}
    official = client_module.Client().flatten_params(params)
    assert official == flatten_like_official_client(params)
    assert official["query[$and][1][tags][$tagKey][$in][1]"] == "b"


# -- advanced queries: field operators ------------------------------------------------


def test_plain_value_means_equality() -> None:
    assert matches({"name": "Boiler Room Sensor"}) and not matches({"name": "boiler room sensor"})


def test_string_operators_match_prefix_suffix_and_substring() -> None:
    assert matches({"name": {"$startsWith": "Boiler", "$endsWith": "Sensor", "$contains": "Room"}})
    assert not matches({"name": {"$startsWith": "Room"}})


def test_ci_flag_makes_every_string_comparison_in_its_object_case_insensitive() -> None:
    assert matches({"name": {"$eq": "BOILER ROOM SENSOR", "$ci": True}})
    assert matches({"name": {"$contains": "room", "$ci": "true"}})
    assert matches({"name": {"$in": ["boiler room sensor"], "$ci": True}})
    assert not matches({"name": {"$contains": "room", "$ci": False}})


def test_query_string_numbers_compare_with_text_fields() -> None:
    assert matches({"name": 5}, device(name="5")) and matches({"name": "5"}, device(name="5"))


def test_dates_compare_as_instants_whether_iso_or_epoch_ms() -> None:
    for bound in (iso(JAN_1), epoch_ms(JAN_1), str(epoch_ms(JAN_1)), "2024-01-01"):
        assert matches({"creationDate": {"$gt": bound}})
        assert not matches({"creationDate": {"$lte": bound}})
    assert matches({"creationDate": epoch_ms(JAN_2)})


def test_string_operators_on_dates_read_the_iso_text() -> None:
    assert matches({"creationDate": {"$startsWith": "2024-01-02"}})


@pytest.mark.parametrize("bound", ["last tuesday", True, 10**400, [1]])
def test_unreadable_date_is_a_validation_error_naming_the_field(bound: Any) -> None:
    with pytest.raises(ValidationError, match="creationDate"):
        compile_device_query({"creationDate": {"$gt": bound}})


def test_null_matches_a_missing_or_null_field() -> None:
    assert matches({"parentId": None}) and matches({"deletedAt": None})
    assert matches({"parentId": "null"})  # an id can never be the text "null"
    assert not matches({"parentId": None}, device(parentId=ID_B))


def test_ne_and_nin_match_a_missing_field() -> None:
    assert matches({"deletedAt": {"$ne": iso(JAN_1)}})
    assert matches({"gatewayId": {"$nin": [ID_A]}})


def test_gte_null_selects_missing_values_and_gt_null_selects_nothing() -> None:
    assert matches({"deletedAt": {"$gte": None}}) and not matches({"deletedAt": {"$gt": None}})


def test_ids_compare_case_insensitively() -> None:
    assert matches({"id": ID_A.upper()})


def test_attribute_name_matches_any_attribute() -> None:
    item = device(attributes=[{"name": "temperature"}, {"name": "humidity"}])
    assert matches({"attributeName": "humidity"}, item)
    assert matches({"attributeName": {"$startsWith": "temp"}}, item)
    assert not matches({"attributeName": {"$ne": "humidity"}}, item)


def test_ancestor_id_matches_any_ancestor() -> None:
    assert matches({"ancestorId": ID_C}, device(parentId=ID_B, ancestorIds=[ID_B, ID_C]))


def test_connection_fields_are_derived_from_connection_info() -> None:
    assert matches({"connectionStatus": "connected", "connectedAt": {"$gte": iso(JAN_3)}})
    assert matches({"disconnectedAt": None})
    offline = device(connectionInfo={"connected": 0, "time": iso(JAN_3)})
    assert matches({"connectionStatus": "disconnected", "disconnectedAt": iso(JAN_3)}, offline)
    assert matches({"connectionStatus": "neverConnected"}, device(connectionInfo=None))


def test_experience_relations_come_from_resolvers() -> None:
    assert not matches({"experienceUserId": ID_B}) and matches({"experienceUserId": None})
    linked = compile_device_query(
        {"experienceUserId": ID_B}, resolvers={"experienceUserId": lambda d: [ID_B]}
    )
    assert linked(device())


# -- advanced queries: tags -------------------------------------------------------------


def test_tag_key_value_form_requires_every_pair() -> None:
    assert matches({"tags": {"floor": "2", "room": "boiler"}})
    assert not matches({"tags": {"floor": "2", "room": "kitchen"}})


def test_tag_key_and_value_must_match_the_same_tag() -> None:
    assert matches({"tags": {"$tagKey": "floor", "$tagValue": "2"}})
    assert not matches({"tags": {"$tagKey": "floor", "$tagValue": "boiler"}})


def test_tag_in_nin_and_null_value_forms() -> None:
    assert matches({"tags": {"floor": {"$in": ["1", "2"]}}})
    assert not matches({"tags": {"floor": {"$nin": ["2"]}}})
    assert matches({"tags": {"room": None}}) and not matches({"tags": {"attic": None}})
    assert matches({"tags": {"$tagKey": {"$nin": ["floor"]}}})


def test_tags_null_matches_untagged_devices() -> None:
    assert matches({"tags": None}, device(tags=[])) and not matches({"tags": None})


def test_tags_eq_wraps_and_ne_negates_a_tag_query() -> None:
    assert matches({"tags": {"$eq": {"floor": "2"}}})
    assert not matches({"tags": {"$ne": {"floor": "2"}}})


def test_tag_keys_are_case_sensitive() -> None:
    assert not matches({"tags": {"Floor": "2"}})


def test_tags_as_object_map_are_understood() -> None:
    assert matches({"tags": {"floor": "2"}}, device(tags={"floor": "2"}))


# -- advanced queries: logic and errors ----------------------------------------------------


def test_empty_and_or_match_everything_and_empty_nor_matches_nothing() -> None:
    assert matches({"$and": []}) and matches({"$or": []}) and not matches({"$nor": []})


def test_empty_query_matches_everything() -> None:
    assert matches({}) and matches(None)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"$not": [{"name": "x"}]}, r"\$not"),
        ({"name": {"$regex": "x"}}, r"\$regex"),
        ({"id": {"$startsWith": "a"}}, r"\$startsWith"),
        ({"name": {"first": "x"}}, "first"),
        ({"name": {"$in": "x"}}, r"\$in"),
        ({"name": {"$ci": "maybe"}}, r"\$ci"),
        ({"$or": {"name": "x"}}, r"\$or"),
        ({"$and": ["name"]}, "object"),
        ({"tags": {"$tagKey": "a", "floor": "2"}}, "floor"),
        ({"tags": {"$tagKey": {"$eq": "a"}}}, r"\$tagKey"),
        ({"tags": "floor"}, "tags"),
        ("name", "object"),
    ],
)
def test_invalid_queries_are_validation_errors_naming_the_culprit(query: Any, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        compile_device_query(query)


def test_excessive_nesting_is_a_validation_error() -> None:
    query: dict = {"name": "x"}
    for _ in range(200):
        query = {"$and": [query]}
    with pytest.raises(ValidationError):
        compile_device_query(query)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4))
query_keys = st.sampled_from(
    [
        *DEVICE_FIELDS,
        "$and",
        "$or",
        "$nor",
        "$eq",
        "$ne",
        "$gt",
        "$lte",
        "$in",
        "$nin",
        "$ci",
        "$startsWith",
        "$contains",
        "$tagKey",
        "$tagValue",
        "floor",
        "bogus",
    ]
)
json_soup = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(query_keys, children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100)
@given(query=json_soup, items=st.lists(devices, max_size=3))
def test_odd_queries_raise_only_validation_errors(query: Any, items: list[dict]) -> None:
    try:
        predicate = compile_device_query(query)
    except ValidationError:
        return
    for item in items:
        assert predicate(item) in (True, False)


@HEAVY
@given(parts=st.lists(queries, max_size=3), item=devices)
def test_logical_operators_obey_boolean_algebra(parts: list[dict], item: dict) -> None:
    results = [matches(part, item) for part in parts]
    assert matches({"$and": parts}, item) == all(results)
    assert matches({"$nor": parts}, item) == (not matches({"$or": parts}, item))
    if parts:
        assert matches({"$or": parts}, item) == any(results)


@HEAVY
@given(parts=st.lists(leaf_queries, max_size=3, unique_by=lambda q: next(iter(q))), item=devices)
def test_keys_of_one_object_are_anded(parts: list[dict], item: dict) -> None:
    merged = {key: value for part in parts for key, value in part.items()}
    assert matches(merged, item) == all(matches(part, item) for part in parts)


@HEAVY
@given(field=equality_field, data=st.data(), item=devices, ci=st.booleans())
def test_in_is_the_or_of_eq_and_nin_its_negation(
    field: tuple, data: st.DataObject, item: dict, ci: bool
) -> None:
    name, values = field
    wanted = data.draw(st.lists(values, max_size=3))
    flag = {"$ci": ci} if name != "id" else {}
    any_eq = any(matches({name: {"$eq": v, **flag}}, item) for v in wanted)
    assert matches({name: {"$in": wanted, **flag}}, item) == any_eq
    assert matches({name: {"$nin": wanted, **flag}}, item) == (not any_eq)


@HEAVY
@given(field=equality_field, data=st.data(), item=devices)
def test_ne_is_the_negation_of_eq_and_plain_values_mean_eq(
    field: tuple, data: st.DataObject, item: dict
) -> None:
    name, values = field
    value = data.draw(values)
    assert matches({name: value}, item) == matches({name: {"$eq": value}}, item)
    assert matches({name: {"$ne": value}}, item) == (not matches({name: value}, item))


@given(name=short_names, value=short_names, op=string_ops)
def test_ci_string_operators_equal_comparing_case_folded_text(
    name: str, value: str, op: str
) -> None:
    assume(value)
    reference = {
        "$startsWith": str.startswith,
        "$endsWith": str.endswith,
        "$contains": str.__contains__,
    }
    expected = reference[op](name.casefold(), value.casefold())
    assert matches({"name": {op: value, "$ci": True}}, device(name=name)) == expected


@given(when=instants, bound=instants, op=order_ops)
def test_date_bounds_mean_the_same_instant_in_every_encoding(
    when: datetime, bound: datetime, op: str
) -> None:
    item = device(creationDate=iso(when))
    results = {
        matches({"creationDate": {op: encoded}}, item)
        for encoded in (iso(bound), epoch_ms(bound), str(epoch_ms(bound)), bound.isoformat())
    }
    assert len(results) == 1


@given(when=instants, bound=instants, name=short_names, text_bound=short_names)
def test_gt_is_the_complement_of_lte_for_present_values(
    when: datetime, bound: datetime, name: str, text_bound: str
) -> None:
    item = device(creationDate=iso(when), name=name)
    for field, value in (("creationDate", iso(bound)), ("name", text_bound)):
        assert matches({field: {"$gt": value}}, item) != matches({field: {"$lte": value}}, item)
        assert matches({field: {"$lt": value}}, item) != matches({field: {"$gte": value}}, item)


@HEAVY
@given(key=tag_keys, value=tag_values, item=devices)
def test_tag_pair_form_equals_tag_key_value_form(key: str, value: str, item: dict) -> None:
    assert matches({"tags": {key: value}}, item) == matches(
        {"tags": {"$tagKey": key, "$tagValue": value}}, item
    )


# -- simple device filters ---------------------------------------------------------------


def test_device_class_filter_accepts_one_class_or_a_list() -> None:
    assert compile_device_filters(device_class="standalone")(device())
    assert compile_device_filters(device_class={"0": "gateway", "1": "standalone"})(device())
    assert not compile_device_filters(device_class=["gateway"])(device())


def test_tag_filter_entries_must_all_be_met_and_may_omit_key_or_value() -> None:
    both = {"0": {"key": "floor", "value": "2"}, "1": {"value": "boiler"}}
    assert compile_device_filters(tag_filter=both)(device())
    assert not compile_device_filters(tag_filter=[{"key": "floor", "value": "3"}])(device())
    assert compile_device_filters(tag_filter='[{"key": "room"}]')(device())


def test_parent_id_filter_selects_direct_children_or_top_level_devices() -> None:
    assert compile_device_filters(parent_id=ID_B)(device(parentId=ID_B))
    assert not compile_device_filters(parent_id=ID_B)(device())
    assert compile_device_filters(parent_id="null")(device())


def test_malformed_tag_filter_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="tagFilter"):
        compile_device_filters(tag_filter=[{"name": "floor"}])


@HEAVY
@given(
    item=devices,
    pattern=st.sampled_from(["", "a*", "*b", "*"]),
    classes=st.one_of(st.none(), st.lists(st.sampled_from(CLASSES), min_size=1, max_size=2)),
    tag=st.one_of(
        st.none(), st.fixed_dictionaries({}, optional={"key": tag_keys, "value": tag_values})
    ),
    parent=st.one_of(st.none(), st.sampled_from(ID_POOL)),
)
def test_simple_device_filters_combine_with_and(
    item: dict, pattern: str, classes: list | None, tag: dict | None, parent: str | None
) -> None:
    tag_filter = [tag] if tag is not None else None
    combined = compile_device_filters(
        filter_field="name",
        filter=pattern,
        device_class=classes,
        tag_filter=tag_filter,
        parent_id=parent,
    )
    separate = [
        compile_device_filters(filter_field="name", filter=pattern),
        compile_device_filters(device_class=classes),
        compile_device_filters(tag_filter=tag_filter),
        compile_device_filters(parent_id=parent),
    ]
    assert combined(item) == all(p(item) for p in separate)


# -- events and application keys ------------------------------------------------------------


def test_event_query_reads_event_tags_from_their_object_map() -> None:
    event = {
        "id": ID_A,
        "level": "error",
        "state": "new",
        "subject": "Too hot",
        "eventTags": {"zone": "3"},
    }
    assert compile_event_query(
        {"level": {"$in": ["error", "critical"]}, "eventTags": {"zone": "3"}}
    )(event)
    assert not compile_event_query({"subject": {"$contains": "cold"}})(event)


def test_event_query_rejects_device_only_fields() -> None:
    with pytest.raises(ValidationError, match="attributeName"):
        compile_event_query({"attributeName": "x"})


def test_application_key_array_fields_match_any_element() -> None:
    key = {
        "id": ID_A,
        "key": "k-1",
        "status": "active",
        "deviceIds": [ID_B, ID_C],
        "deviceTags": [{"key": "floor", "value": "2"}],
        "pubTopics": ["plant/+/temp"],
    }
    query = compile_application_key_query
    assert query({"deviceIds": ID_C, "deviceTags": {"floor": "2"}, "status": "active"})(key)
    assert query({"pubTopics": {"$startsWith": "plant/"}})(key)
    assert not query({"deviceIds": {"$nin": [ID_B]}})(key)
    assert query({"subTopics": None})(key)


# -- the field tables follow the reference schemas ------------------------------------------------

TABLES = [
    ("advancedDeviceQuery.json", DEVICE_FIELDS),
    ("advancedEventQuery.json", EVENT_FIELDS),
    ("advancedApplicationKeyQuery.json", APPLICATION_KEY_FIELDS),
]


def schema_operators(field_schema: dict) -> set[str] | None:
    """The operator names of a field's object form, or None for tag fields."""
    if "$tagKey" in json.dumps(field_schema):
        return None
    for option in field_schema.get("oneOf", []):
        if option.get("type") == "object" and "properties" in option:
            return set(option["properties"])
    return None


@pytest.mark.parametrize(("schema_file", "table"), TABLES)
def test_field_tables_cover_exactly_the_schema_fields_and_operators(
    schema_file: str, table: Mapping
) -> None:
    path = SCHEMAS / schema_file
    if not path.exists():
        pytest.skip("reference schemas not checked out beside the repository")
    properties = json.loads(path.read_text())["properties"]
    fields = {name: spec for name, spec in properties.items() if not name.startswith("$")}
    assert set(fields) == set(table)
    for name, spec in fields.items():
        operators = schema_operators(spec)
        if operators is None:
            assert table[name].kind == TAGS, name
        else:
            assert operators == set(table[name].kind.operators), name
