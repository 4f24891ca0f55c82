"""Behaviour: the platform's semantics as rules for all inputs, checked through HTTP.

Each test is a Hypothesis property whose expected answer the test computes
itself, independently of the implementation (a glob or an advanced query is
evaluated here over the full listing; an aggregate is computed here from the
values sent). Everything is created inside the sandbox application.

Inputs span each rule's whole domain (``contracts.domains``: names in any
case and outside ASCII, every sort field and direction, every aggregation and
data type, window edges), each input class is presented by an explicit example
at least once, and every test records the classes it presented for the coverage
table (the per-rule table is in ``contracts/README.md``).

Readings of the platform the properties rely on (the kit's documented
assumptions where the platform's docs are silent):

* list sorting compares strings case-insensitively; equal keys may come in
  any order;
* ``filter`` globs match the whole value ignoring case, ``*`` matching any run;
* a time-series query without ``resolution`` answers one point for the window,
  both window ends inclusive.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from losant_kit.contracts import domains
from losant_kit.contracts.plugin import examples
from losant_kit.contracts.readings import (
    AGGREGATES,
    ORDER_FREE,
    QUERY_EXAMPLES,
    evaluate,
    glob_classes,
    glob_matches,
    glob_pattern,
    queries,
    query_classes,
)

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
# The population's names: mixed case, non-ASCII, and names equal but for case.
POPULATION_NAMES = ("alpha-beta", "Alpha-Gamma", "ÉCLAIR-pump", "éclair-valve", "Ωmega-meter",
                    "ωmega-probe", "sensor", "Sensor", "жук-1", "zeta-Delta", "beta-alpha",
                    "delta", "Øresund-7", "probe-ÜBER")
CLASSES = tuple(domains.device_classes())

names = domains.names
tags = domains.tags
attributes = domains.attributes()


def COVERAGE() -> dict[str, list[str]]:
    """Every behaviour rule with the input classes it must be presented."""
    return {"rule": [f"{rule}: {cls}" for rule, classes in domains.rules().items()
                     for cls in classes]}


def _settings(config: pytest.Config, default: int = DEFAULT_EXAMPLES) -> settings:
    return settings(max_examples=examples(config, default), deadline=None, database=None,
                    derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def population(losant_target: Any) -> list[dict[str, Any]]:
    """Devices with names in mixed case and outside ASCII (two equal but for case),
    every device class, tags, every connection status, and two deleted ones."""
    api, app = losant_target.api, losant_target.app_path()
    made = []
    for i, name in enumerate(POPULATION_NAMES):
        made.append(create_device(
            api, app, name=name, deviceClass=CLASSES[i % len(CLASSES)],
            tags=[{"key": "color", "value": ("red", "green", "blue")[i % 3]},
                  {"key": "floor", "value": str(i % 2 + 1)}]))
    for device, status in zip(made[:4], ("connected", "disconnected", "connected",
                                         "disconnected"), strict=True):
        expect_status(api.post(f"{app}/devices/{device['id']}/setConnectionStatus",
                               {"status": status}), 200, "setting a connection status")
    deleted = losant_target.cache.setdefault("behaviour-deleted", [])
    for name in ("deleted-Δ", "deleted-b"):
        gone = create_device(api, app, name=name)
        expect_status(api.delete(f"{app}/devices/{gone['id']}"), 200, "deleting a device")
        deleted.append(gone["id"])
    return [expect_status(api.get(f"{app}/devices/{d['id']}"), 200, "reading a device")
            for d in made]


def _devices(target: Any) -> list[dict[str, Any]]:
    return list_all(target.api, target.app_path("/devices"))


# ---------------------------------------------------------------- records


def _read_back_examples() -> list[dict[str, Any]]:
    """One device per class, with an attribute of every data type, names outside ASCII
    and in mixed case, one empty description."""
    every_type = [{"name": f"a{i}", "dataType": t} for i, t in enumerate(domains.data_types())]
    return [{"name": ("Ωmega Sensor", "éclair-PUMP", "Mixed-Case")[i % 3],
             "description": "" if i == 0 else f"example {i} ü", "tags": [],
             "attributes": every_type, "device_class": c} for i, c in enumerate(CLASSES)]


def _name_classes(name: str) -> list[str]:
    found = []
    if any(ord(c) > 127 for c in name):
        found.append("non-ASCII name")
    if name != name.lower() and name != name.upper():
        found.append("mixed-case name")
    return found


def test_created_device_reads_back_as_sent(losant_target: Any, losant_coverage: Any,
                                           request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

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
        for cls in [*_name_classes(name), f"class {device_class}",
                    *(f"attribute {a['dataType']}" for a in attributes),
                    *(["empty description"] if description == "" else [])]:
            losant_coverage.hit("rule", f"read-back: {cls}")

    for explicit in _read_back_examples():
        prop = example(**explicit)(prop)
    _settings(request.config)(given(
        name=names, description=domains.descriptions, tags=tags, attributes=attributes,
        device_class=st.sampled_from(CLASSES))(prop))()


def test_patch_changes_exactly_the_patched_fields(losant_target: Any, losant_coverage: Any,
                                                  request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()
    device = create_device(api, app, description="before", tags=[{"key": "zone", "value": "1"}])
    path = f"{app}/devices/{device['id']}"

    @_settings(request.config)
    @given(changes=st.fixed_dictionaries({}, optional={
        "name": names, "description": domains.descriptions, "tags": tags}))
    @example(changes={"name": "Ünïcode-Name"})
    @example(changes={"description": ""})
    @example(changes={"tags": [{"key": "Zone", "value": "é"}]})
    @example(changes={"name": "both", "description": "Both ω", "tags": []})
    def prop(changes: dict[str, Any]) -> None:
        assume(changes)
        for field in changes:
            losant_coverage.hit("rule", f"patch: {field}")
        if len(changes) > 1:
            losant_coverage.hit("rule", "patch: several fields")
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
def test_deleted_resource_is_gone(kind: str, losant_target: Any, losant_coverage: Any) -> None:
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
    losant_coverage.hit("rule", f"delete: {kind}")


# ---------------------------------------------------------------- collections


SORTS = [(f, d) for f in domains.sort_fields() for d in domains.sort_directions()]


def test_pages_partition_the_collection(losant_target: Any, population: list,
                                        losant_coverage: Any,
                                        request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")
    # The collection paged is the population (an advanced query scopes it): the
    # sandbox holds whatever other suites made, and paging all of it costs without
    # finding more.
    scope = {"id": {"$in": [d["id"] for d in population]}}
    total = len(population)
    # Every sort field and direction once, with the page-size boundaries among them.
    sizes = [1, total, total + 1, max(2, total // 3 + 1), 2, 3]
    explicit = [(sizes[i % len(sizes)], f, d) for i, (f, d) in enumerate(SORTS)]

    def prop(per_page: int, sort_field: str, direction: str) -> None:
        everything = {d["id"] for d in population}
        seen: dict[str, int] = {}
        totals = set()
        page = 0
        while True:
            params = {"page": page, "perPage": per_page, "sortField": sort_field,
                      "sortDirection": direction, "query": scope}
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
        n = len(everything)
        for cls, present in (("perPage 1", per_page == 1), ("perPage = total", per_page == n),
                             ("perPage > total", per_page > n),
                             ("partial last page", n % per_page != 0),
                             ("page past the end", True)):
            if present:
                losant_coverage.hit("rule", f"paging: {cls}")
        losant_coverage.hit("rule", f"paging: {sort_field} {direction}")

    for per_page, field, direction in explicit:
        prop = example(per_page=per_page, sort_field=field, direction=direction)(prop)
    _settings(request.config)(given(
        per_page=st.integers(1, total + 2), sort_field=st.sampled_from(domains.sort_fields()),
        direction=st.sampled_from(domains.sort_directions()))(prop))()


def _sort_key(item: dict[str, Any], field: str) -> str:
    """The value a list is sorted by, as the test reads it (strings ignore case)."""
    if field == "connectionStatus":
        connected = (item.get("connectionInfo") or {}).get("connected")
        value: Any = {True: "connected", False: "disconnected"}.get(connected, "neverConnected")
    else:
        value = item.get(field)
    return "" if value is None else str(value).casefold()


def test_sorting_orders_every_page(losant_target: Any, population: list,
                                   losant_coverage: Any) -> None:
    """Every sort field and direction of the spec, exhaustively (a dozen requests)."""
    api, path = losant_target.api, losant_target.app_path("/devices")
    for sort_field, direction in SORTS:
        ids = [d["id"] for d in population]
        if sort_field == "deletedAt":
            ids = losant_target.cache.get("behaviour-deleted", [])  # only they have one
        params = {"sortField": sort_field, "perPage": 1000, "sortDirection": direction,
                  "query": {"id": {"$in": ids}}}
        if sort_field == "deletedAt":
            params["queryDeleted"] = "true"
        body = expect_status(api.get(path, params=params), 200, "listing devices sorted")
        values = [_sort_key(item, sort_field) for item in body["items"]]
        ordered = sorted(values, reverse=direction == "desc")
        if values != ordered:
            at = next(i for i, (a, b) in enumerate(zip(values, ordered, strict=True)) if a != b)
            defect(f"GET {path}?sortField={sort_field}&sortDirection={direction} is out of "
                   f"order at item {at}: {values[max(0, at - 1):at + 2]} (sort ignored or "
                   f"case-sensitive)", api.history[-1])
        losant_coverage.hit("rule", f"sorting: {sort_field} {direction}")
        if sort_field == "name":
            raw = [item["name"] for item in body["items"]]
            for cls, present in (
                    ("mixed case", any(n != n.lower() for n in raw)),
                    ("non-ASCII", any(ord(c) > 127 for n in raw for c in n)),
                    ("equal values", len(set(values)) < len(values))):
                if present:
                    losant_coverage.hit("rule", f"sorting: {cls}")


def test_glob_filter_selects_exactly_the_matching_names(losant_target: Any, population: list,
                                                        losant_coverage: Any,
                                                        request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")
    names_of = [d["name"] for d in population]

    def prop(source: str, stars: list[int], flips: int, nothing: bool) -> None:
        pattern = glob_pattern(source, stars, flips, nothing)
        everything = _devices(losant_target)
        expected = {d["id"] for d in everything if glob_matches(pattern, d["name"])}
        got = {d["id"] for d in list_all(api, path, {"filterField": "name", "filter": pattern})}
        if got != expected:
            extra = sorted(d["name"] for d in everything if d["id"] in got - expected)[:3]
            missed = sorted(d["name"] for d in everything if d["id"] in expected - got)[:3]
            lost = [d["name"] for d in everything if d["id"] in expected - got]
            why = ""
            if lost and got <= expected and not any(glob_matches(pattern, n, fold=False)
                                                    for n in lost):
                why = " - the filter compares case-sensitively; the platform ignores case"
            defect(f"GET {path}?filterField=name&filter={pattern} selected {len(got)} devices, "
                   f"{len(expected)} match (filter ignored or wrong{why}): wrongly included "
                   f"{extra}, missed {missed}", api.history[-1])
        for cls in glob_classes(pattern, source, flips, nothing):
            losant_coverage.hit("rule", f"glob filter: {cls}")

    for explicit in (("ÉCLAIR-pump", [], 0b1, False),  # case differs, non-ASCII, exact
                     ("Ωmega-meter", [0], 0b10, False),  # leading *
                     ("alpha-beta", [10], 0b1, False),  # trailing *
                     ("zeta-Delta", [4], 0b100001, False),  # inner *
                     ("", [0], 0, False),  # only *
                     ("sensor", [], 0, True)):  # matches nothing
        prop = example(*explicit)(prop)
    _settings(request.config, 10)(given(
        source=st.sampled_from(names_of), stars=st.lists(st.integers(0, 12), max_size=2),
        flips=st.integers(0, 2**12), nothing=st.booleans())(prop))()


def test_advanced_query_selects_exactly_the_matching_devices(
        losant_target: Any, population: list, losant_coverage: Any,
        request: pytest.FixtureRequest) -> None:
    api, path = losant_target.api, losant_target.app_path("/devices")
    ids = [d["id"] for d in population]

    def prop(query: dict[str, Any]) -> None:
        for cls in query_classes(query):
            losant_coverage.hit("rule", f"advanced query: {cls}")
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

    for explicit in QUERY_EXAMPLES:
        prop = example(query=explicit)(prop)
    _settings(request.config, 12)(given(query=queries(population))(prop))()


# ---------------------------------------------------------------- device data


# One attribute per data type of the spec, named for it.
values_for = {f"v_{t}": domains.value_of(t) for t in domains.data_types()}
STATE_ATTRIBUTES = [{"name": f"v_{t}", "dataType": t} for t in domains.data_types()]


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
        losant_target: Any, losant_coverage: Any, request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

    reports = st.lists(st.fixed_dictionaries({}, optional=dict(values_for)).filter(bool),
                       min_size=1, max_size=6)
    every_type = {"v_string": "Ünï", "v_number": -1.5, "v_gps": "45.00000,-93.00000",
                  "v_boolean": False, "v_blob": "aGk="}

    @_settings(request.config)
    @given(reports=reports, order=st.randoms(use_true_random=False))
    @example(reports=[{k: v for k, v in every_type.items() if k in values_for},
                      {"v_number": 7}], order=__import__("random").Random(2))
    def prop(reports: list[dict[str, Any]], order: Any) -> None:
        # A fresh device per example: earlier examples' reports must not count.
        device = create_device(api, app, attributes=STATE_ATTRIBUTES)
        path = f"{app}/devices/{device['id']}"
        base = _now_ms(losant_target) - 60_000
        # Distinct, increasing times; sent shuffled: "last" means latest time.
        timed = [{"time": base + 1000 * i, "data": data} for i, data in enumerate(reports)]
        sent = list(timed)
        order.shuffle(sent)
        if len(sent) > 1 and sent == timed:
            sent.reverse()  # never in time order: "last" must mean latest, not last sent
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
            losant_coverage.hit("rule", f"composite state: attribute {name[2:]}")
        if sent != timed:
            losant_coverage.hit("rule", "composite state: out of order")

    prop()


OUTLIER = 10**6  # reported just outside the window: counted only if the edges are wrong
numbers = st.integers(-1000, 1000) | st.floats(-1000, 1000, allow_nan=False).map(
    lambda f: round(f, 3))


def test_time_series_aggregates_equal_a_reference_computation(
        losant_target: Any, losant_coverage: Any, request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()
    device = create_device(api, app, attributes=[{"name": "level", "dataType": "number"}])
    path = f"{app}/devices/{device['id']}"
    unknown = sorted(set(domains.aggregations()) - set(AGGREGATES))
    if unknown:
        defect(f"the spec lists aggregations {unknown} this suite has no reference for")

    def prop(values: list[float], aggregation: str, same_time: bool) -> None:
        same_time = same_time and aggregation in ORDER_FREE and len(values) > 1
        # Each example reports into its own fresh window, far from the others; the
        # window's first and last points sit on its edges, outliers 1 ms outside.
        base = _now_ms(losant_target) - 3_600_000 - 10_000 * prop.calls
        prop.calls += 1
        step = 0 if same_time else 100
        end = base + step * (len(values) - 1)
        reports = [{"time": base + step * i, "data": {"level": v}} for i, v in enumerate(values)]
        reports += [{"time": base - 1, "data": {"level": OUTLIER}},
                    {"time": end + 1, "data": {"level": -OUTLIER}}]
        expect_status(api.post(f"{path}/state", reports), 200, "sending device state")
        query = {"start": base, "end": end, "aggregation": aggregation,
                 "attributes": ["level"], "deviceIds": [device["id"]]}
        body = expect_status(api.post(f"{app}/data/time-series-query", query), 200,
                             "a time-series query")
        points = body.get("devices", {}).get(device["id"], {}).get("points", [])
        got = [p["data"].get("level") for p in points if "level" in p.get("data", {})]
        expected = AGGREGATES[aggregation](values)
        if len(got) != 1 or not math.isclose(float(got[0]), float(expected), rel_tol=1e-9,
                                             abs_tol=1e-9):
            defect(f"POST {app}/data/time-series-query {aggregation} over {values} "
                   f"(window {base}..{end}{', one timestamp' if same_time else ''}) returned "
                   f"{got}, expected [{expected}] (wrong aggregate)", api.history[-1])
        for cls, present in ((aggregation, True), ("window edges", True),
                             ("single value", len(values) == 1),
                             ("equal values", len(values) > 1 and len(set(values)) == 1),
                             ("equal timestamps", same_time),
                             ("floats", any(isinstance(v, float) for v in values))):
            if present:
                losant_coverage.hit("rule", f"aggregate: {cls}")

    for i, aggregation in enumerate(domains.aggregations()):
        prop = example(values=[3, -7.25, 12, 0, 5][: 2 + i % 4], aggregation=aggregation,
                       same_time=False)(prop)
    prop = example(values=[42], aggregation="MEAN", same_time=False)(prop)
    prop = example(values=[4, 4, 4], aggregation="STD_DEV", same_time=False)(prop)
    prop = example(values=[1, 9, 5], aggregation="MEDIAN", same_time=True)(prop)
    prop.calls = 0
    wrapped = _settings(request.config)(given(
        values=st.lists(numbers, min_size=1, max_size=12),
        aggregation=st.sampled_from(domains.aggregations()), same_time=st.booleans())(prop))
    wrapped()


def test_sent_commands_read_back(losant_target: Any, data_device: dict, losant_coverage: Any,
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
        losant_coverage.hit("rule", "commands: read back")

    prop()


def test_created_events_read_back(losant_target: Any, losant_coverage: Any,
                                  request: pytest.FixtureRequest) -> None:
    api, app = losant_target.api, losant_target.app_path()

    def prop(level: str, subject: str, message: str) -> None:
        losant_coverage.hit("rule", f"events: {level}")
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

    for level in domains.event_levels():
        prop = example(level=level, subject=f"Évent {level}", message="")(prop)
    _settings(request.config)(given(
        level=st.sampled_from(domains.event_levels()), subject=names,
        message=st.text(max_size=40))(prop))()
