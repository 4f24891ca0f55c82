"""The simple list filters: ``filterField``/``filter`` globs, the device-only
``deviceClass``, ``tagFilter`` and ``parentId`` parameters, and the device
selection of request bodies (data queries, multi-device commands).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.query import Predicate, all_of, compile_device_query, match_all
from losant_kit.mockserver.query_params import parse_object_param
from losant_kit.mockserver.query_values import as_text


def glob_matcher(pattern: str | None) -> Callable[[str], bool]:
    """Compile the platform's ``filter`` glob into a whole-string matcher.

    ``*`` matches any run of characters, including none; every other character
    is literal (``?``, ``[``, ``.`` included). An empty or missing pattern
    matches everything, as the platform documents ("Blank or not provided
    means no filtering").

    Matching is case-insensitive (both sides case-folded): ``filter`` is what
    the platform's own search boxes send, and they find "My Device" when the
    user types "my*". Erring towards matching also keeps a test written
    against the mock from passing only because of case.
    """
    if not pattern:
        return lambda _value: True
    if not isinstance(pattern, str):
        raise ValidationError("filter must be a string")
    parts = (re.escape(part) for part in pattern.casefold().split("*"))
    regex = re.compile(".*".join(parts), re.DOTALL)

    def matches(value: str) -> bool:
        return regex.fullmatch(as_text(value).casefold()) is not None

    return matches


def compile_field_filter(filter_field: str | None, filter: str | None) -> Predicate:
    """The ``filterField``/``filter`` pair every list endpoint accepts.

    Both blank means no filtering. A missing field value is treated as the
    empty string, so ``*`` still matches every item.
    """
    if not filter_field or not filter:
        return match_all
    matches = glob_matcher(filter)
    return lambda item: matches(as_text(item.get(filter_field)))


def compile_device_filters(
    *,
    filter_field: str | None = None,
    filter: str | None = None,
    device_class: Any = None,
    tag_filter: Any = None,
    parent_id: str | None = None,
) -> Predicate:
    """The simple filters of ``devices.get``, combined with AND.

    * ``device_class``: one class or a list (``deviceClassFilter``), exact match.
    * ``tag_filter``: list of ``{key?, value?}`` (``deviceTagFilter``). Every
      entry must be met by some tag of the device; an entry without ``key``
      (or ``value``) leaves that side free. Same rules as the ``$tagKey`` /
      ``$tagValue`` form of an advanced query, which is what it is turned into.
    * ``parent_id``: direct children of that system; the string ``"null"``
      selects devices without a parent.

    Each may arrive raw (JSON string or bracket dict); blank means no filter.
    """
    predicates = [compile_field_filter(filter_field, filter)]
    classes = _device_classes(parse_object_param(device_class, name="deviceClass"))
    if classes is not None:
        predicates.append(lambda device: device.get("deviceClass") in classes)
    tags = tag_filter_query(tag_filter)
    if tags:
        predicates.append(compile_device_query(tags))
    if parent_id:
        wanted = None if parent_id == "null" else parent_id
        predicates.append(compile_device_query({"parentId": wanted}))
    return all_of(predicates)


def _device_classes(value: Any) -> frozenset[str] | None:
    if value in (None, "", []):
        return None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise ValidationError("deviceClass must be a device class or a list of them")
    return frozenset(values)


def _tag_filter_query(value: Any) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if isinstance(value, Mapping):
        value = [value]  # a single pair sent without an index
    if not isinstance(value, list):
        raise ValidationError("tagFilter must be an array of {key, value} pairs")
    queries = []
    for entry in value:
        if not isinstance(entry, Mapping) or set(entry) - {"key", "value"}:
            raise ValidationError("tagFilter entries may only have 'key' and 'value'")
        queries.append({"$tagKey": entry.get("key"), "$tagValue": entry.get("value")})
    return queries


def device_selector(body: Mapping[str, Any]) -> Predicate:
    """The union of ``deviceIds``, ``deviceTags`` and ``deviceQuery`` as a predicate."""
    ids = {ident.lower() for ident in body.get("deviceIds") or ()}
    tags = []
    for index, tag in enumerate(body.get("deviceTags") or ()):
        if "key" not in tag and "value" not in tag:
            raise ValidationError(f"body.deviceTags[{index}]: needs a key, a value or both")
        tags.append((tag.get("key"), tag.get("value")))
    query = body.get("deviceQuery")
    matches = compile_device_query(query) if query is not None else None

    def has_tag(device: Mapping[str, Any]) -> bool:
        return any(
            (key is None or t.get("key") == key) and (value is None or t.get("value") == value)
            for key, value in tags
            for t in device.get("tags", ())
        )

    return lambda device: (
        device["id"].lower() in ids or has_tag(device) or (matches is not None and matches(device))
    )


def tag_filter_query(tag_filter: Any) -> dict[str, Any] | None:
    """The advanced query a ``tagFilter`` amounts to (what compile_device_filters runs)."""
    tags = _tag_filter_query(parse_object_param(tag_filter, name="tagFilter"))
    return {"$and": [{"tags": tag} for tag in tags]} if tags else None
