"""The input spaces the behaviour suite draws from, read from the spec where it knows them.

A rule checked on a narrow slice of its domain certifies defects in the rest,
so each strategy here spans what the platform's rule is defined over: names
in any letter case and outside ASCII, every sort field and direction of the
spec's enums, every aggregation and attribute data type, window edges. Each
rule's input classes are listed in ``RULES`` (the coverage table counts them,
``contracts/README.md`` has the table).
"""

from __future__ import annotations

import string
from functools import cache
from typing import Any

from hypothesis import strategies as st

from losant_kit.contracts.spec_view import platform_document

# Letters whose lower case and case fold agree (so "ignores case" has one meaning
# whatever the implementation's language folds with), ASCII and beyond.
NON_ASCII_LETTERS = "éèüöøåçñłžšαβγδωжщяÉÜÖØÅÇÑŁŽŠΑΒΓΔΩЖЩЯ"
NAME_LETTERS = string.ascii_letters + string.digits + NON_ASCII_LETTERS
NAME_ALPHABET = NAME_LETTERS + " -_."


def _devices_get_param(name: str) -> list[str]:
    item = platform_document()["paths"]["/applications/{applicationId}/devices"]["get"]
    for param in item["parameters"]:
        if param.get("name") == name:
            return list(param.get("schema", {}).get("enum", []))
    return []


@cache
def sort_fields() -> list[str]:
    return _devices_get_param("sortField")


@cache
def sort_directions() -> list[str]:
    return _devices_get_param("sortDirection")


def _exact(name: str) -> dict[str, Any]:
    return platform_document()["components"]["x-jsonschema"][name]


@cache
def device_classes() -> list[str]:
    return list(_exact("devicePost")["properties"]["deviceClass"]["enum"])


@cache
def data_types() -> list[str]:
    return list(_exact("devicePost")["properties"]["attributes"]["items"]["properties"]
                ["dataType"]["enum"])


@cache
def aggregations() -> list[str]:
    """The plain aggregations of a time-series query (``NONE`` and ``TIMEATVALUE`` aside:
    one returns raw points, the other needs a value option)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" in node:
                found.extend(v for v in node["enum"] if v not in found)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_exact("timeSeriesQuery")["properties"]["aggregation"])
    return [a for a in found if a not in ("NONE", "TIMEATVALUE")]


@cache
def event_levels() -> list[str]:
    return list(_exact("eventPost")["properties"]["level"]["enum"])


# ---------------------------------------------------------------- strategies

def _device_property(*path: str) -> dict[str, Any]:
    node = _exact("devicePost")["properties"]
    for part in path:
        node = node[part]
    return node


def _key_text() -> st.SearchStrategy:
    """Text matching the spec's pattern for keys (tag keys, attribute names), short."""
    pattern = _device_property("tags", "items", "properties", "key")["pattern"]
    return st.from_regex(pattern.replace("{1,255}", "{1,12}"), fullmatch=True)


names = st.text(NAME_ALPHABET, min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)
descriptions = st.text(max_size=60)
tag_values = st.text(NAME_LETTERS, min_size=1, max_size=12)
tags = st.lists(st.fixed_dictionaries({"key": _key_text(), "value": tag_values}), max_size=4)


def value_of(data_type: str) -> st.SearchStrategy:
    """Values an attribute of ``data_type`` holds as sent (and reads back unchanged)."""
    return {
        "number": st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False,
                                                          allow_infinity=False).map(
            lambda f: round(f, 3)),
        "string": st.text(NAME_ALPHABET, max_size=20),
        "boolean": st.booleans(),
        "gps": st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(
            lambda p: f"{p[0]:.5f},{p[1]:.5f}"),
        "blob": st.binary(min_size=1, max_size=12).map(
            lambda b: __import__("base64").b64encode(b).decode()),
    }[data_type]


def attributes() -> st.SearchStrategy:
    return st.lists(st.fixed_dictionaries({
        "name": _key_text(),
        "dataType": st.sampled_from(data_types())}), max_size=len(data_types()),
        unique_by=lambda a: a["name"])


def recase(text: str, data: Any) -> str:
    """``text`` with the case of some letters swapped (chosen by ``data``)."""
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


# ---------------------------------------------------------------- the rules' input classes

def rules() -> dict[str, list[str]]:
    """Per rule, the input classes the behaviour suite must present (coverage table)."""
    sort = [f"{f} {d}" for f in sort_fields() for d in sort_directions()]
    return {
        "read-back": ["non-ASCII name", "mixed-case name", "empty description",
                      *(f"attribute {t}" for t in data_types()),
                      *(f"class {c}" for c in device_classes())],
        "patch": ["name", "description", "tags", "several fields"],
        "delete": ["device", "key", "recipe", "token"],
        "paging": ["perPage 1", "perPage = total", "perPage > total", "partial last page",
                   "page past the end", *sort],
        "sorting": [*sort, "mixed case", "non-ASCII", "equal values"],
        "glob filter": ["case differs", "non-ASCII", "no wildcard", "leading *", "trailing *",
                        "inner *", "only *", "matches nothing"],
        "advanced query": ["$eq", "$ne", "$in", "$nin", "$startsWith", "$endsWith",
                           "$contains", "$and", "$or", "$nor", "deviceClass", "non-ASCII"],
        "composite state": [*(f"attribute {t}" for t in data_types()), "out of order"],
        "aggregate": [*aggregations(), "single value", "equal values", "window edges",
                      "equal timestamps", "floats"],
        "commands": ["read back"],
        "events": event_levels(),
    }
