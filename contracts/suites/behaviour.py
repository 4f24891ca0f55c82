"""Behaviour: the platform's semantics as rules for all inputs, checked through HTTP.

Each test is a Hypothesis property whose expected answer the test computes
itself, independently of the implementation (a glob or an advanced query is
evaluated here over the full listing; an aggregate is computed here from the
values sent). Everything is created inside the sandbox application.

Readings of the platform the properties rely on (the kit's documented
assumptions where the platform's docs are silent):

* list sorting compares names case-insensitively; the names used here are
  lower case, so no property depends on how case ties break;
* ``filter`` globs match the whole value, ``*`` matching any run of characters;
* a time-series query without ``resolution`` answers one point for the window.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from losant_kit.contracts.plugin import examples

# The experience's tenancy model (groups, memberships) as properties.
from losant_kit.contracts.suites._experience_behaviour import (  # noqa: F401
    test_experience_resource_reads_back_and_deletes,
    test_experience_user_patch_changes_exactly_the_patched_fields,
    test_group_members_listing_with_and_without_ancestors,
    test_group_tree_ancestors_and_total_device_counts,
)
from losant_kit.contracts.suites._support import (
    create_device,
    defect,
    expect_status,
    list_all,
    unique,
)

pytestmark = pytest.mark.losant_suite("behaviour")

DEFAULT_EXAMPLES = 8
WORDS = ("alpha", "beta", "gamma", "delta", "omega", "sensor", "pump", "valve", "meter", "probe")
CLASSES = ("standalone", "gateway", "floating", "edgeCompute")

names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map("-".join)
tag_keys = st.sampled_from(("color", "floor", "zone"))
tag_values = st.sampled_from(("red", "green", "blue", "1", "2"))
tags = st.lists(st.fixed_dictionaries({"key": tag_keys, "value": tag_values}), max_size=3)
attr_names = st.sampled_from(("temp", "humidity", "mode", "on", "level"))
attributes = st.lists(
    st.fixed_dictionaries({"name": attr_names,
                           "dataType": st.sampled_from(("number", "string", "boolean"))}),
    max_size=3, unique_by=lambda a: a["name"])


def _settings(config: pytest.Config, default: int = DEFAULT_EXAMPLES) -> settings:
    return settings(max_examples=examples(config, default), deadline=None, database=None,
                    derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def population(losant_target: Any) -> list[dict[str, Any]]:
    """A dozen devices with varied names, classes and tags in the sandbox."""
    api, app = losant_target.api, losant_target.app_path()
    made = []
    for i in range(12):
        name = f"{WORDS[i % len(WORDS)]}-{WORDS[(i * 7 + 3) % len(WORDS)]}"
        made.append(create_device(
            api, app, name=name, deviceClass=CLASSES[i % len(CLASSES)],
            tags=[{"key": "color", "value": ("red", "green", "blue")[i % 3]},
                  {"key": "floor", "value": str(i % 2 + 1)}]))
    return made


def _devices(target: Any) -> list[dict[str, Any]]:
    return list_all(target.api, target.app_path("/devices"))


# ---------------------------------------------------------------- records


def test_created_device_reads_back_as_sent(losant_target: Any,
                                           request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

    @_settings(request.config)
    @given(name=names, description=st.text(max_size=40), tags=tags, attributes=attributes,
           device_class=st.sampled_from(CLASSES))
    def prop(name: str, description: str, tags: list, attributes: list, device_class: str) -> None:
        sent = {"name": name, "description": description, "tags": tags,
                "attributes": attributes, "deviceClass": device_class}
        created = create_device(api, app, **sent)
        read = expect_status(api.get(f"{app}/devices/{created['id']}"), 200,
                             "reading a device just created")
        for field, value in sent.items():
            if read.get(field) != value:
                defect(f"GET {app}/devices/{{id}} returned {field}={read.get(field)!r} for a "
                       f"device created with {field}={value!r} (created resource does not read "
                       f"back equal)", api.history[-1])
        api.delete(f"{app}/devices/{created['id']}")

    prop()


def test_patch_changes_exactly_the_patched_fields(losant_target: Any,
                                                  request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()
    device = create_device(api, app, description="before", tags=[{"key": "zone", "value": "1"}])
    path = f"{app}/devices/{device['id']}"

    @_settings(request.config)
    @given(changes=st.fixed_dictionaries({}, optional={
        "name": names, "description": st.text(max_size=30), "tags": tags}))
    def prop(changes: dict[str, Any]) -> None:
        assume(changes)
        before = expect_status(api.get(path), 200, "reading the device before a patch")
        patched = expect_status(api.patch(path, changes), 200, "patching a device")
        after = expect_status(api.get(path), 200, "reading the device after a patch")
        for body, label in ((patched, "PATCH response"), (after, "GET after PATCH")):
            for field, value in changes.items():
                if body.get(field) != value:
                    defect(f"{label} has {field}={body.get(field)!r}, patched to {value!r} "
                           f"(patch not applied)", api.history[-1])
        for field, value in before.items():
            if field in changes or field == "lastUpdated":
                continue
            if after.get(field) != value:
                defect(f"PATCH {path} with {sorted(changes)} also changed {field}: "
                       f"{value!r} -> {after.get(field)!r} (patch touched an unpatched field)",
                       api.history[-2])
        if not after.get("lastUpdated", "") > before.get("lastUpdated", ""):
            defect(f"PATCH {path} left lastUpdated at {after.get('lastUpdated')!r} "
                   f"(was {before.get('lastUpdated')!r}; lastUpdated must advance)",
                   api.history[-2])

    prop()


RESOURCES = {
    "device": lambda api, app: (f"{app}/devices", {"name": unique("gone")}),
    "key": lambda api, app: (f"{app}/keys", {"description": unique("gone")}),
    "recipe": lambda api, app: (f"{app}/device-recipes", {"name": unique("gone")}),
    "token": lambda api, app: (f"{app}/tokens", {"name": unique("gone"),
                                                 "scope": ["all.Application"]}),
}


@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_deleted_resource_is_gone(kind: str, losant_target: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    collection, body = RESOURCES[kind](api, app)
    created = expect_status(api.post(collection, body), 201, f"creating a {kind}")
    path = f"{collection}/{created['id']}"
    expect_status(api.delete(path), 200, f"deleting a {kind}")
    gone = api.get(path)
    if gone.status_code != 404:
        defect(f"GET {collection}/{{id}} returned {gone.status_code} for a {kind} deleted a "
               f"moment ago (deleted resources must answer 404)", gone)
    listed = list_all(api, collection)
    if any(item.get("id") == created["id"] for item in listed):
        defect(f"GET {collection} still lists the deleted {kind} {created['id']} "
               f"(deleted resources must leave the collection)", api.history[-1])


# ---------------------------------------------------------------- collections


def test_pages_partition_the_collection(losant_target: Any, population: list,
                                        request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")

    @_settings(request.config)
    @given(per_page=st.integers(1, 7),
           sort_field=st.sampled_from(("name", "id", "creationDate", "lastUpdated")),
           direction=st.sampled_from(("asc", "desc")))
    def prop(per_page: int, sort_field: str, direction: str) -> None:
        everything = {d["id"] for d in _devices(losant_target)}
        seen: dict[str, int] = {}
        totals = set()
        page = 0
        while True:
            params = {"page": page, "perPage": per_page, "sortField": sort_field,
                      "sortDirection": direction}
            body = expect_status(api.get(path, params=params), 200, "listing devices")
            totals.add(body["totalCount"])
            if body["count"] != len(body["items"]):
                defect(f"GET {path}?page={page}&perPage={per_page} says count={body['count']} "
                       f"but holds {len(body['items'])} items", api.history[-1])
            if len(body["items"]) > per_page:
                defect(f"GET {path}?page={page}&perPage={per_page} returned "
                       f"{len(body['items'])} items (more than perPage)", api.history[-1])
            for item in body["items"]:
                if item["id"] in seen:
                    defect(f"GET {path}?page={page}&perPage={per_page}&sortField={sort_field} "
                           f"returned items already on page {seen[item['id']]} (paging broken: "
                           f"pages overlap)", api.history[-1])
                seen[item["id"]] = page
            if not body["items"] or page > len(everything):
                break
            page += 1
        if len(totals) != 1 or totals != {len(everything)}:
            defect(f"GET {path} pages report totalCount {sorted(totals)} for a collection of "
                   f"{len(everything)} devices (inconsistent totalCount)", api.history[-1])
        if set(seen) != everything:
            missing = sorted(everything - set(seen))[:3]
            defect(f"GET {path} with perPage={per_page} sorted by {sort_field} never returned "
                   f"{missing} (paging broken: pages skip items)", api.history[-1])

    prop()


def test_sorting_orders_every_page(losant_target: Any, population: list,
                                   request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")

    @_settings(request.config)
    @given(sort_field=st.sampled_from(("name", "id", "creationDate", "lastUpdated")),
           direction=st.sampled_from(("asc", "desc")))
    def prop(sort_field: str, direction: str) -> None:
        body = expect_status(api.get(path, params={"sortField": sort_field, "perPage": 1000,
                                                   "sortDirection": direction}), 200,
                             "listing devices sorted")
        values = [str(item.get(sort_field, "")).casefold() for item in body["items"]]
        ordered = sorted(values, reverse=direction == "desc")
        if values != ordered:
            at = next(i for i, (a, b) in enumerate(zip(values, ordered, strict=True)) if a != b)
            defect(f"GET {path}?sortField={sort_field}&sortDirection={direction} is out of "
                   f"order at item {at}: {values[max(0, at - 1):at + 2]} (sort ignored)",
                   api.history[-1])

    prop()


def glob_matches(pattern: str, value: str) -> bool:
    """The platform's filter glob, evaluated here: whole value, ``*`` = any run."""
    regex = ".*".join(re.escape(part) for part in pattern.casefold().split("*"))
    return re.fullmatch(regex, value.casefold(), re.DOTALL) is not None


def test_glob_filter_selects_exactly_the_matching_names(losant_target: Any, population: list,
                                                        request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")

    @_settings(request.config, 10)
    @given(source=st.sampled_from([d["name"] for d in population]), data=st.data())
    def prop(source: str, data: Any) -> None:
        cut = data.draw(st.lists(st.integers(0, len(source)), max_size=2).map(sorted))
        pattern = source
        for i in reversed(cut):
            pattern = pattern[:i] + "*" + pattern[i + 1:]
        everything = _devices(losant_target)
        expected = {d["id"] for d in everything if glob_matches(pattern, d["name"])}
        got = {d["id"] for d in list_all(api, path, {"filterField": "name", "filter": pattern})}
        if got != expected:
            extra = sorted(d["name"] for d in everything if d["id"] in got - expected)[:3]
            missed = sorted(d["name"] for d in everything if d["id"] in expected - got)[:3]
            defect(f"GET {path}?filterField=name&filter={pattern} selected {len(got)} devices, "
                   f"{len(expected)} match (filter ignored or wrong): wrongly included {extra}, "
                   f"missed {missed}", api.history[-1])

    prop()


# Advanced queries: a small grammar over fields whose meaning is unambiguous.
_name_ops = st.sampled_from(("$eq", "$ne", "$startsWith", "$endsWith", "$contains", "$in",
                             "$nin"))


def _leaf(population: list[dict[str, Any]]) -> st.SearchStrategy:
    known_names = sorted({d["name"] for d in population})
    name_clause = st.tuples(_name_ops, st.sampled_from(known_names), st.data()).map(
        lambda t: _name_clause(*t))
    class_clause = st.one_of(
        st.sampled_from(CLASSES).map(lambda c: {"deviceClass": c}),
        st.lists(st.sampled_from(CLASSES), min_size=1, max_size=3, unique=True).map(
            lambda cs: {"deviceClass": {"$in": cs}}),
        st.sampled_from(CLASSES).map(lambda c: {"deviceClass": {"$ne": c}}),
    )
    return st.one_of(name_clause, class_clause)


def _name_clause(op: str, name: str, data: Any) -> dict[str, Any]:
    if op in ("$in", "$nin"):
        return {"name": {op: [name, name.split("-")[0]]}}
    if op in ("$startsWith", "$endsWith", "$contains"):
        part = name.split("-")[0] if op != "$endsWith" else name.split("-")[-1]
        return {"name": {op: part}}
    return {"name": {op: name}}


def queries(population: list[dict[str, Any]]) -> st.SearchStrategy:
    leaf = _leaf(population)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$and": qs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$or": qs}),
    ), max_leaves=4)


def evaluate(query: dict[str, Any], device: dict[str, Any]) -> bool:
    """The test's own reading of an advanced device query."""
    results = []
    for key, spec in query.items():
        if key == "$and":
            results.append(all(evaluate(q, device) for q in spec))
        elif key == "$or":
            results.append(any(evaluate(q, device) for q in spec))
        elif key == "$nor":
            results.append(not any(evaluate(q, device) for q in spec))
        else:
            value = device.get(key)
            if not isinstance(spec, dict):
                spec = {"$eq": spec}
            for op, operand in spec.items():
                results.append({
                    "$eq": lambda v, o: v == o, "$ne": lambda v, o: v != o,
                    "$in": lambda v, o: v in o, "$nin": lambda v, o: v not in o,
                    "$startsWith": lambda v, o: str(v).startswith(o),
                    "$endsWith": lambda v, o: str(v).endswith(o),
                    "$contains": lambda v, o: o in str(v),
                }[op](value, operand))
    return all(results)


def test_advanced_query_selects_exactly_the_matching_devices(
        losant_target: Any, population: list, request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")
    ids = [d["id"] for d in population]

    @_settings(request.config, 12)
    @given(query=queries(population))
    def prop(query: dict[str, Any]) -> None:
        scoped = {"$and": [{"id": {"$in": ids}}, query]}
        expected = {d["id"] for d in population if evaluate(query, d)}
        body = expect_status(api.get(path, params={"query": scoped, "perPage": 1000}), 200,
                             "listing devices with an advanced query")
        got = {d["id"] for d in body["items"]}
        if got != expected:
            names_of = {d["id"]: d["name"] for d in population}
            defect(f"GET {path}?query={scoped} selected {len(got)} devices where {len(expected)} "
                   f"match (advanced query wrong): wrongly included "
                   f"{sorted(names_of.get(i, i) for i in got - expected)[:3]}, missed "
                   f"{sorted(names_of[i] for i in expected - got)[:3]}", api.history[-1])

    prop()


# ---------------------------------------------------------------- device data


values_for = {
    "temp": st.integers(-40, 60) | st.floats(-40, 60, allow_nan=False).map(lambda f: round(f, 2)),
    "mode": st.sampled_from(("auto", "manual", "off")),
    "on": st.booleans(),
}


@pytest.fixture(scope="module")
def data_device(losant_target: Any) -> dict[str, Any]:
    return create_device(losant_target.api, losant_target.app_path(), attributes=[
        {"name": "temp", "dataType": "number"}, {"name": "mode", "dataType": "string"},
        {"name": "on", "dataType": "boolean"}])


def _now_ms(target: Any) -> int:
    if target.is_mock:
        return int(target.mock_control("GET", "/clock").json()["epochMs"])
    import time

    return int(time.time() * 1000)


def test_composite_state_is_the_last_value_per_attribute(
        losant_target: Any, request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

    reports = st.lists(st.fixed_dictionaries({}, optional={
        name: strategy for name, strategy in values_for.items()}).filter(bool),
        min_size=1, max_size=6)

    @_settings(request.config)
    @given(reports=reports, order=st.randoms(use_true_random=False))
    def prop(reports: list[dict[str, Any]], order: Any) -> None:
        # A fresh device per example: earlier examples' reports must not count.
        device = create_device(api, app, attributes=[
            {"name": "temp", "dataType": "number"}, {"name": "mode", "dataType": "string"},
            {"name": "on", "dataType": "boolean"}])
        path = f"{app}/devices/{device['id']}"
        base = _now_ms(losant_target) - 60_000
        # Distinct, increasing times; sent shuffled: "last" means latest time.
        timed = [{"time": base + 1000 * i, "data": data} for i, data in enumerate(reports)]
        sent = list(timed)
        order.shuffle(sent)
        expect_status(api.post(f"{path}/state", sent), 200, "sending device state")
        composite = expect_status(api.get(f"{path}/compositeState"), 200,
                                  "reading the composite state")
        for name in values_for:
            last = [r["data"][name] for r in timed if name in r["data"]]
            if not last:
                continue
            got = (composite or {}).get(name, {}).get("value")
            if got != last[-1]:
                defect(f"GET {path}/compositeState has {name}={got!r}; the report with the "
                       f"latest time sent {name}={last[-1]!r} (composite state is not the last "
                       f"value per attribute)", api.history[-1])

    prop()


AGGREGATES = {
    "SUM": sum, "MIN": min, "MAX": max, "COUNT": len, "MEAN": statistics.fmean,
    "FIRST": lambda xs: xs[0], "LAST": lambda xs: xs[-1],
    "MEDIAN": statistics.median, "STD_DEV": statistics.pstdev,
}


def test_time_series_aggregates_equal_a_reference_computation(
        losant_target: Any, request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()
    device = create_device(api, app, attributes=[{"name": "level", "dataType": "number"}])
    path = f"{app}/devices/{device['id']}"

    @_settings(request.config)
    @given(values=st.lists(st.integers(-1000, 1000), min_size=1, max_size=12),
           aggregation=st.sampled_from(sorted(AGGREGATES)))
    def prop(values: list[int], aggregation: str) -> None:
        # Each example reports into its own fresh window, far from the others.
        base = _now_ms(losant_target) - 3_600_000 - 10_000 * prop.calls
        prop.calls += 1
        reports = [{"time": base + 100 * i, "data": {"level": v}} for i, v in enumerate(values)]
        expect_status(api.post(f"{path}/state", reports), 200, "sending device state")
        query = {"start": base, "end": base + 100 * (len(values) - 1),
                 "aggregation": aggregation, "attributes": ["level"],
                 "deviceIds": [device["id"]]}
        body = expect_status(api.post(f"{app}/data/time-series-query", query), 200,
                             "a time-series query")
        points = body.get("devices", {}).get(device["id"], {}).get("points", [])
        got = [p["data"].get("level") for p in points if "level" in p.get("data", {})]
        expected = AGGREGATES[aggregation](values)
        if len(got) != 1 or not math.isclose(float(got[0]), float(expected), rel_tol=1e-9,
                                             abs_tol=1e-9):
            defect(f"POST {app}/data/time-series-query {aggregation} over {values} returned "
                   f"{got}, expected [{expected}] (wrong aggregate)", api.history[-1])

    prop.calls = 0
    prop()


def test_sent_commands_read_back(losant_target: Any, data_device: dict,
                                 request: pytest.FixtureRequest) -> None:
    api = losant_target.api
    path = losant_target.app_path(f"/devices/{data_device['id']}/command")

    @_settings(request.config)
    @given(name=names, payload=st.dictionaries(st.sampled_from(("speed", "mode", "n")),
                                               st.integers(0, 9) | st.text(max_size=5),
                                               max_size=2))
    def prop(name: str, payload: dict[str, Any]) -> None:
        expect_status(api.post(path, {"name": name, "payload": payload}), 200,
                      "sending a device command")
        body = expect_status(api.get(path, params={"limit": 1, "sortDirection": "desc"}), 200,
                             "reading device commands")
        newest = body[0] if body else {}
        if newest.get("name") != name or newest.get("payload") != payload:
            defect(f"GET {path}?limit=1 returned {newest!r}; the command just sent was "
                   f"{{'name': {name!r}, 'payload': {payload!r}}} (commands do not read back)",
                   api.history[-1])

    prop()


def test_created_events_read_back(losant_target: Any, request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

    @_settings(request.config)
    @given(level=st.sampled_from(("info", "warning", "error", "critical")),
           subject=names, message=st.text(max_size=40))
    def prop(level: str, subject: str, message: str) -> None:
        sent = {"level": level, "subject": subject, "message": message}
        created = expect_status(api.post(f"{app}/events", sent), 201, "creating an event")
        read = expect_status(api.get(f"{app}/events/{created['id']}"), 200, "reading an event")
        for field, value in sent.items():
            if read.get(field) != value:
                defect(f"GET {app}/events/{{id}} has {field}={read.get(field)!r} for an event "
                       f"created with {value!r} (events do not read back)", api.history[-1])
        if read.get("state", "new") != "new":
            defect(f"a new event reads back in state {read.get('state')!r}, not 'new'",
                   api.history[-1])

    prop()
