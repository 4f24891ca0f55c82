"""Collection semantics shared by every list endpoint of the mock.

Pure functions: nothing here knows HTTP or the store. Four concerns, in the
order a list request meets them:

1. Query-string parsing: bracket-form values (``query[$and][0][name]=x``) as
   the web framework hands them over, or JSON-encoded objects.
2. Simple filters: ``filterField``/``filter`` globbing and the device-only
   ``deviceClass``, ``tagFilter`` and ``parentId`` parameters.
3. Advanced queries (``advancedDeviceQuery``, ``advancedEventQuery``,
   ``advancedApplicationKeyQuery``): one generic field-operator engine driven by
   a small field table per resource.
4. Sorting and paging.

Client mistakes raise :class:`losant_kit.mockserver.errors.ValidationError` naming the
offending field or operator; no other exception escapes for odd input.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from losant_kit.mockserver.errors import ValidationError

Predicate = Callable[[Mapping[str, Any]], bool]

# Deeper input is refused rather than recursed into: a hostile query string
# must end in a 400, never in RecursionError. MongoDB, which the platform's
# queries are modelled on, caps document nesting at the same depth.
MAX_NESTING = 100


def _match_all(_item: Mapping[str, Any]) -> bool:
    return True


def _all_of(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return _match_all
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda item: first(item) and second(item)

    def every(item: Mapping[str, Any]) -> bool:
        # A plain loop: all() over a generator doubles the cost on list hot paths.
        for predicate in predicates:  # noqa: SIM110
            if not predicate(item):
                return False
        return True

    return every


# --------------------------------------------------------------------------
# Query-string parsing


def normalize_bracket_value(value: Any) -> Any:
    """Turn bracket-form containers back into the JSON the client meant.

    The official client flattens lists into indexed keys (``a[0]=x&a[1]=y``)
    and the framework's deepObject parser returns them as dicts keyed
    ``"0".."n-1"``. Such dicts (keys exactly ``"0"`` to ``"n-1"``, n >= 1) become
    lists, recursively; any other dict stays a dict. Leaf values are returned
    untouched: a query string has no types, so ``"5"`` stays ``"5"`` and the
    comparison rules coerce later.
    """
    return _normalize(value, 0)


def _normalize(value: Any, depth: int) -> Any:
    if depth > MAX_NESTING:
        raise ValidationError(f"Query parameter is nested more than {MAX_NESTING} levels deep")
    if isinstance(value, Mapping):
        normalized = {key: _normalize(item, depth + 1) for key, item in value.items()}
        if normalized and set(normalized) == {str(i) for i in range(len(normalized))}:
            return [normalized[str(i)] for i in range(len(normalized))]
        return normalized
    if isinstance(value, list | tuple):
        return [_normalize(item, depth + 1) for item in value]
    return value


def parse_object_param(raw: Any, *, name: str = "query") -> Any:
    """Decode an object-valued query parameter in whichever form it arrived.

    * ``None`` stays ``None`` (parameter absent).
    * A string starting with ``{`` or ``[`` is JSON: the official client sends
      ``query`` JSON-encoded. JSON objects are *not* bracket-normalized, since
      there ``{"0": ...}`` is unambiguous (a tag may be called ``0``).
    * A string in double quotes is JSON too (``deviceClass="gateway"``).
    * Any other string is returned as is (``deviceClass=gateway``).
    * Dicts and lists come from bracket form and go through
      :func:`normalize_bracket_value`.
    """
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        text = raw.strip()
        # A quoted string is the JSON form of a string value (`deviceClass="gateway"`,
        # as the OpenAPI 3.1 twin describes these parameters); no valid plain value
        # starts with a quote.
        if text[:1] in ("{", "[") or (text[:1] == '"' and text[-1:] == '"' and len(text) > 1):
            try:
                return json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise ValidationError(f"{name} is not valid JSON: {exc}") from None
        return raw
    return normalize_bracket_value(raw)


# --------------------------------------------------------------------------
# Globbing and the simple filters


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
        return regex.fullmatch(_as_text(value).casefold()) is not None

    return matches


def compile_field_filter(filter_field: str | None, filter: str | None) -> Predicate:
    """The ``filterField``/``filter`` pair every list endpoint accepts.

    Both blank means no filtering. A missing field value is treated as the
    empty string, so ``*`` still matches every item.
    """
    if not filter_field or not filter:
        return _match_all
    matches = glob_matcher(filter)
    return lambda item: matches(_as_text(item.get(filter_field)))


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
    return _all_of(predicates)


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


# --------------------------------------------------------------------------
# Value kinds: how a field's values are compared


class _Invalid:
    """Marks a stored value that cannot be read as its kind (never matches)."""

    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()

_EQUALITY_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin"})
_ORDER_OPERATORS = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_STRING_OPERATORS = {
    "$startsWith": str.startswith,
    "$endsWith": str.endswith,
    "$contains": operator.contains,
}
# Negative operators are the exact complement of a positive one, so they
# match items where the field is missing (as in MongoDB).
_NEGATIONS = {"$ne": "$eq", "$nin": "$in"}
_ID_OPERATORS = _EQUALITY_OPERATORS | set(_ORDER_OPERATORS)
_VALUE_OPERATORS = _ID_OPERATORS | set(_STRING_OPERATORS) | {"$ci"}
_LOGICAL_OPERATORS = ("$and", "$or", "$nor")


@dataclass(frozen=True)
class ValueKind:
    """How one kind of field is compared.

    ``key`` turns a scalar (stored or queried) into the value compared by
    ``$eq``/``$gt``...: ``None`` for "no value", ``_INVALID`` if unreadable.
    ``text`` gives the string the ``$startsWith``-style operators look at.
    ``ignore_case`` makes every comparison behave as if ``$ci`` were set.
    """

    name: str
    operators: frozenset[str]
    key: Callable[[Any], Any]
    text: Callable[[Any], str | None]
    ignore_case: bool = False


def _as_text(value: Any) -> str:
    """Scalar to string, JSON-style: ``True`` -> ``"true"``, ``5.0`` -> ``"5"``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text_key(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping | list | tuple):
        return _INVALID
    return _as_text(value)


def _id_key(value: Any) -> Any:
    # The string "null" can never be an id, so in a query string it can only
    # mean null.
    key = _text_key(value)
    return None if key == "null" else key


_EPOCH_MS = re.compile(r"-?\d+(\.\d+)?")


def _date_key(value: Any) -> Any:
    """Instant in epoch milliseconds, from ISO-8601 text or epoch-ms numbers.

    A string of digits is epoch milliseconds (that is how the platform's query
    strings carry times), never a bare ISO year. Naive ISO times are UTC.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int | float):
        try:
            ms = float(value)
        except OverflowError:  # an integer beyond any float
            return _INVALID
        return ms if math.isfinite(ms) else _INVALID
    if isinstance(value, datetime):
        return _datetime_ms(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "null":
            return None
        if _EPOCH_MS.fullmatch(text):
            ms = float(text)
            return ms if math.isfinite(ms) else _INVALID
        try:
            return _datetime_ms(datetime.fromisoformat(text))
        except ValueError:
            return _INVALID
    return _INVALID


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _datetime_ms(when: datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Integer microseconds first: timestamp() * 1000 can land a hair off the
    # millisecond and make "2024-...351Z" differ from 1078530750351.
    return ((when - _EPOCH) // timedelta(microseconds=1)) / 1000


def _date_text(value: Any) -> str | None:
    # String operators on a date look at the ISO text the API returns.
    if isinstance(value, str):
        return value
    ms = _date_key(value)
    if not isinstance(ms, float):
        return None
    try:
        when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None  # a stored number outside datetime's range
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_or_none(value: Any) -> str | None:
    key = _text_key(value)
    return key if isinstance(key, str) else None


TEXT = ValueKind("text", frozenset(_VALUE_OPERATORS), _text_key, _text_or_none)
# ObjectIds are hex: "ABC" and "abc" name the same id, so ids ignore case.
ID = ValueKind("id", frozenset(_ID_OPERATORS), _id_key, _text_or_none, ignore_case=True)
# Some schemas (events) let ids be searched like text too.
SEARCHABLE_ID = ValueKind(
    "id", frozenset(_VALUE_OPERATORS), _id_key, _text_or_none, ignore_case=True
)
DATE = ValueKind("date", frozenset(_VALUE_OPERATORS), _date_key, _date_text)
# Inside a tag query a key or value is a string, a list ($in/$nin), or null.
TAG_TEXT = ValueKind("tag", frozenset({"$eq", "$in", "$nin"}), _text_key, _text_or_none)


def _fold(value: Any, ci: bool) -> Any:
    return value.casefold() if ci and isinstance(value, str) else value


def _values(raw: Any) -> tuple[Any, ...] | list[Any]:
    """A field's values: arrays are multi-valued (MongoDB semantics)."""
    if type(raw) is str:  # the common case, first: list endpoints call this per item
        return (raw,)
    values = raw if isinstance(raw, list | tuple) else [raw]
    return [value for value in values if value is not None]


def compile_operand(label: str, kind: ValueKind, spec: Any) -> Callable[[Any], bool]:
    """Predicate over one field's raw value, for a plain value or operator object.

    A plain value means ``$eq``. An operator object is the AND of its
    operators; ``$ci: true`` makes every string comparison in that object
    case-insensitive. Array-valued fields match a positive operator if any
    element does; ``$ne``/``$nin`` are the complement of ``$eq``/``$in``. Null,
    a missing field and an empty array all count as "no value".
    """
    if not isinstance(spec, Mapping):
        return _compile_operator(label, kind, "$eq", spec, ci=kind.ignore_case)
    operators = dict(spec)
    ci = kind.ignore_case
    if "$ci" in operators and "$ci" in kind.operators:
        ci = _flag(label, operators.pop("$ci")) or ci
    checks = [
        _compile_operator(label, kind, op, argument, ci=ci) for op, argument in operators.items()
    ]
    if len(checks) == 1:
        return checks[0]
    return lambda raw: all(check(raw) for check in checks)


def _flag(label: str, value: Any) -> bool:
    # From a query string the flag arrives as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"$ci for '{label}' must be a boolean")


def _query_key(label: str, kind: ValueKind, op: str, value: Any) -> Any:
    key = kind.key(value)
    if key is _INVALID:
        raise ValidationError(
            f"{op} for '{label}' does not accept {value!r} (expects a {kind.name})"
        )
    return key


def _compile_operator(
    label: str, kind: ValueKind, op: str, argument: Any, *, ci: bool
) -> Callable[[Any], bool]:
    if op not in kind.operators:
        if op.startswith("$"):
            raise ValidationError(f"Operator {op} is not supported for '{label}'")
        raise ValidationError(f"Unexpected key '{op}' in the operator object for '{label}'")
    if op in _NEGATIONS:
        positive = _compile_operator(label, kind, _NEGATIONS[op], argument, ci=ci)
        return lambda raw: not positive(raw)
    if op in ("$eq", "$in"):
        return _compile_membership(label, kind, op, argument, ci)
    if op in _ORDER_OPERATORS:
        return _compile_order(label, kind, op, argument, ci)
    return _compile_string(label, kind, op, argument, ci)


def _compile_membership(
    label: str, kind: ValueKind, op: str, argument: Any, ci: bool
) -> Callable[[Any], bool]:
    if op == "$in":
        if not isinstance(argument, list):
            raise ValidationError(f"$in for '{label}' must be an array")
        arguments = argument
    else:
        arguments = [argument]
    wanted = [_fold(_query_key(label, kind, op, value), ci) for value in arguments]
    wants_none = None in wanted
    present = [value for value in wanted if value is not None]
    try:
        present_set: frozenset | list = frozenset(present)
    except TypeError:  # unhashable keys (never for the built-in kinds, but stay general)
        present_set = present
    key = kind.key

    def check(raw: Any) -> bool:
        values = _values(raw)
        if not values:
            return wants_none
        for value in values:
            folded = _fold(key(value), ci)
            try:
                if folded in present_set:
                    return True
            except TypeError:
                if folded in present:
                    return True
        return False

    return check


def _compile_order(
    label: str, kind: ValueKind, op: str, argument: Any, ci: bool
) -> Callable[[Any], bool]:
    bound = _fold(_query_key(label, kind, op, argument), ci)
    if bound is None:
        # As in MongoDB: $gte/$lte null select the missing values, $gt/$lt none.
        if op in ("$gte", "$lte"):
            return _compile_membership(label, kind, "$eq", None, ci)
        return lambda raw: False
    compare = _ORDER_OPERATORS[op]

    def check(raw: Any) -> bool:
        for value in _values(raw):
            key = _fold(kind.key(value), ci)
            if type(key) is type(bound) and compare(key, bound):
                return True
        return False

    return check


def _compile_string(
    label: str, kind: ValueKind, op: str, argument: Any, ci: bool
) -> Callable[[Any], bool]:
    if argument is None or isinstance(argument, Mapping | list):
        raise ValidationError(f"{op} for '{label}' must be a string")
    needle = _fold(_as_text(argument), ci)
    test = _STRING_OPERATORS[op]

    def check(raw: Any) -> bool:
        for value in _values(raw):
            text = kind.text(value)
            if text is not None and test(_fold(text, ci), needle):
                return True
        return False

    return check


# --------------------------------------------------------------------------
# Tag queries: {"$tagKey": k, "$tagValue": v} or {key: value, ...}


def _tag_pairs(raw: Any) -> list[tuple[Any, Any]]:
    """Tags as (key, value) pairs, from the array or the object-map shape."""
    if isinstance(raw, Mapping):
        return list(raw.items())
    if isinstance(raw, list):
        return [(tag.get("key"), tag.get("value")) for tag in raw if isinstance(tag, Mapping)]
    return []


def _compile_tags(label: str, spec: Any) -> Callable[[Any], bool]:
    """Predicate over a tags value (see :func:`compile_device_query`)."""
    if isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in ("$eq", "$ne"):
        op, inner = next(iter(spec.items()))
        test = _compile_tag_query(label, inner)
        if op == "$ne":
            return lambda raw: not test(raw)
        return test
    return _compile_tag_query(label, spec)


def _compile_tag_query(label: str, spec: Any) -> Callable[[Any], bool]:
    if spec is None:
        return lambda raw: not _tag_pairs(raw)
    if not isinstance(spec, Mapping):
        raise ValidationError(f"'{label}' must be null or an object")
    if any(str(key).startswith("$") for key in spec):
        unknown = sorted(map(str, set(spec) - {"$tagKey", "$tagValue"}))
        if unknown:
            raise ValidationError(f"Unexpected key '{unknown[0]}' in the tag query for '{label}'")
        return _tag_exists(label, spec.get("$tagKey"), spec.get("$tagValue"))
    checks = [_tag_exists(label, key, value) for key, value in spec.items()]
    return lambda raw: all(check(raw) for check in checks)


def _tag_exists(label: str, key_spec: Any, value_spec: Any) -> Callable[[Any], bool]:
    key_test = _compile_tag_part(f"{label}.$tagKey", key_spec)
    value_test = _compile_tag_part(f"{label}.$tagValue", value_spec)
    return lambda raw: any(key_test(key) and value_test(value) for key, value in _tag_pairs(raw))


def _compile_tag_part(label: str, spec: Any) -> Callable[[Any], bool]:
    # null leaves that side of the tag free: tag keys always exist, so
    # reading it as "missing" would select nothing and be useless.
    if spec is None:
        return lambda _value: True
    if isinstance(spec, Mapping) and set(spec) not in ({"$in"}, {"$nin"}):
        raise ValidationError(
            f"'{label}' must be a string, null, {{$in: [...]}} or {{$nin: [...]}}"
        )
    return compile_operand(label, TAG_TEXT, spec)


# --------------------------------------------------------------------------
# Field tables and the generic compiler


# Tag fields are not compared value by value: they have their own grammar
# (see compile_device_query), so their kind is this marker, not a ValueKind.
TAGS = "tags"


@dataclass(frozen=True)
class QueryField:
    """One queryable field: how to read it off an item and how to compare it."""

    kind: ValueKind | str
    read: Callable[[Mapping[str, Any]], Any]


def _key(*names: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(item: Mapping[str, Any]) -> Any:
        for name in names:
            value = item.get(name)
            if value is not None:
                return value
        return None

    return read


def _unresolved(_item: Mapping[str, Any]) -> None:
    # Relations the item does not carry (which experience users can see a
    # device): the caller supplies a resolver; without one, nothing is linked.
    return None


def _attribute_names(device: Mapping[str, Any]) -> list[Any]:
    attributes = device.get("attributes")
    if isinstance(attributes, Mapping):  # attributesAsObject shape
        return list(attributes)
    if isinstance(attributes, list):
        return [a.get("name") for a in attributes if isinstance(a, Mapping)]
    return []


def _ancestor_ids(device: Mapping[str, Any]) -> list[Any]:
    ancestors = device.get("ancestorIds")
    if isinstance(ancestors, list):
        return ancestors
    parent = device.get("parentId")
    return [parent] if parent else []


def _connection_info(device: Mapping[str, Any]) -> Mapping[str, Any]:
    info = device.get("connectionInfo")
    return info if isinstance(info, Mapping) else {}


def _connection_status(device: Mapping[str, Any]) -> str:
    explicit = device.get("connectionStatus")
    if isinstance(explicit, str):
        return explicit
    connected = _connection_info(device).get("connected")
    if connected == 1:
        return "connected"
    if connected == 0:
        return "disconnected"
    return "neverConnected"


def _connection_time(state: int, field: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(device: Mapping[str, Any]) -> Any:
        info = _connection_info(device)
        if info.get(field) is not None:
            return info[field]
        return info.get("time") if info.get("connected") == state else None

    return read


DEVICE_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "deviceId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "deletedAt": QueryField(DATE, _key("deletedAt")),
    "name": QueryField(TEXT, _key("name")),
    "deviceClass": QueryField(TEXT, _key("deviceClass")),
    "gatewayId": QueryField(ID, _key("gatewayId")),
    "parentId": QueryField(ID, _key("parentId")),
    "ancestorId": QueryField(ID, _ancestor_ids),
    "attributeName": QueryField(TEXT, _attribute_names),
    "experienceUserId": QueryField(ID, _unresolved),
    "experienceGroupId": QueryField(ID, _unresolved),
    "tags": QueryField(TAGS, _key("tags")),
    "disconnectedAt": QueryField(DATE, _connection_time(0, "disconnectedAt")),
    "connectedAt": QueryField(DATE, _connection_time(1, "connectedAt")),
    "connectionStatus": QueryField(TEXT, _connection_status),
}

EVENT_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(SEARCHABLE_ID, _key("id", "eventId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "sourceId": QueryField(SEARCHABLE_ID, _key("sourceId")),
    "sourceType": QueryField(TEXT, _key("sourceType")),
    "level": QueryField(TEXT, _key("level")),
    "state": QueryField(TEXT, _key("state")),
    "subject": QueryField(TEXT, _key("subject")),
    "deviceId": QueryField(SEARCHABLE_ID, _key("deviceId")),
    "experienceUserId": QueryField(ID, _unresolved),
    "experienceGroupId": QueryField(ID, _unresolved),
    "eventTags": QueryField(TAGS, _key("eventTags")),
}

APPLICATION_KEY_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "applicationKeyId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "status": QueryField(TEXT, _key("status")),
    "deviceIds": QueryField(ID, _key("deviceIds")),
    "deviceTags": QueryField(TAGS, _key("deviceTags")),
    "key": QueryField(TEXT, _key("key")),
    "name": QueryField(TEXT, _key("name")),
    "description": QueryField(TEXT, _key("description")),
    "filterType": QueryField(TEXT, _key("filterType")),
    "pubTopics": QueryField(TEXT, _key("pubTopics")),
    "subTopics": QueryField(TEXT, _key("subTopics")),
    "addressFilterType": QueryField(TEXT, _key("addressFilterType")),
    "addresses": QueryField(TEXT, _key("addresses")),
}

# Experience users and groups are queried with their memberships precomputed
# on the item (``experienceGroupIds``, ``experienceUserIds``...): the models
# know the tree, the query engine does not.
EXPERIENCE_USER_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "experienceUserId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "lastLogin": QueryField(DATE, _key("lastLogin")),
    "passwordLastUpdated": QueryField(DATE, _key("passwordLastUpdated")),
    "firstName": QueryField(TEXT, _key("firstName")),
    "lastName": QueryField(TEXT, _key("lastName")),
    "email": QueryField(TEXT, _key("email")),
    "userTags": QueryField(TAGS, _key("userTags")),
    "experienceGroupId": QueryField(ID, _key("experienceGroupIds")),
}

EXPERIENCE_GROUP_FIELDS: Mapping[str, QueryField] = {
    "id": QueryField(ID, _key("id", "experienceGroupId")),
    "creationDate": QueryField(DATE, _key("creationDate")),
    "lastUpdated": QueryField(DATE, _key("lastUpdated")),
    "name": QueryField(TEXT, _key("name")),
    "parentId": QueryField(ID, _key("parentId")),
    "ancestorId": QueryField(ID, _key("ancestorIds")),
    "groupTags": QueryField(TAGS, _key("groupTags")),
    "experienceUserId": QueryField(ID, _key("experienceUserIds")),
    "experienceEndpointId": QueryField(ID, _key("experienceEndpointIds")),
}

Resolvers = Mapping[str, Callable[[Mapping[str, Any]], Any]]


def device_value(device: Mapping[str, Any], field: str) -> Any:
    """The value an advanced query (or a sort) sees for a device field.

    Handy as a sort key for derived fields: ``connectionStatus`` is read from
    ``connectionInfo``, not stored on the device.
    """
    spec = DEVICE_FIELDS.get(field)
    return spec.read(device) if spec else device.get(field)


def compile_device_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedDeviceQuery`` into a predicate over API-shaped devices.

    Logical: ``$and``/``$or``/``$nor`` take arrays of sub-queries; keys of one
    object are ANDed. As the platform documents, an empty ``$and`` or ``$or``
    matches everything and an empty ``$nor`` matches nothing.

    Fields: ``id``, ``gatewayId``, ``parentId``, ``ancestorId`` (any of
    ``ancestorIds``), ``experienceUserId``/``experienceGroupId`` compare as ids
    (case-insensitive hex). ``name``, ``deviceClass``, ``attributeName`` (any
    attribute's name) and ``connectionStatus`` (``connected``/``disconnected``/
    ``neverConnected``, from ``connectionInfo.connected``) compare as text.
    ``creationDate``, ``lastUpdated``, ``deletedAt``, ``connectedAt`` and
    ``disconnectedAt`` (``connectionInfo.time`` of the matching state) compare
    as instants. See :func:`compile_operand` for the operators.

    ``tags``: ``null`` (no tags); ``{"$tagKey": k, "$tagValue": v}`` (some one
    tag matches both; each side a string, ``{"$in": [...]}``, ``{"$nin": [...]}``
    or null for "any"); ``{key: value, ...}`` (for every pair some tag matches,
    same value forms); any of those wrapped in ``{"$eq": ...}`` or negated by
    ``{"$ne": ...}``. Tag keys and values are case-sensitive.

    ``resolvers`` maps a field name to a function reading it off a device, for
    relations the device dict does not carry (``experienceUserId``...).
    """
    return _compile_resource_query(query, "device", DEVICE_FIELDS, resolvers)


def compile_event_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedEventQuery``; same engine and rules as devices.

    ``eventTags`` is stored as an object map and queried like device ``tags``.
    """
    return _compile_resource_query(query, "event", EVENT_FIELDS, resolvers)


def compile_application_key_query(query: Any, *, resolvers: Resolvers | None = None) -> Predicate:
    """Compile an ``advancedApplicationKeyQuery``; same engine and rules.

    ``deviceIds``, ``pubTopics``, ``subTopics`` and ``addresses`` are arrays:
    an operator matches if any element does. Unknown fields are refused even
    though this schema leaves ``additionalProperties`` open: a typo should fail
    loudly, not silently select nothing.
    """
    return _compile_resource_query(query, "application key", APPLICATION_KEY_FIELDS, resolvers)


def compile_experience_user_query(query: Any) -> Predicate:
    """Compile an ``advancedExperienceUserQuery`` over users carrying ``experienceGroupIds``."""
    return _compile_resource_query(query, "experience user", EXPERIENCE_USER_FIELDS, None)


def compile_experience_group_query(query: Any) -> Predicate:
    """Compile an ``advancedExperienceGroupQuery`` over rendered groups (``ancestorIds``...)."""
    return _compile_resource_query(query, "experience group", EXPERIENCE_GROUP_FIELDS, None)


def _compile_resource_query(
    query: Any, resource: str, fields: Mapping[str, QueryField], resolvers: Resolvers | None
) -> Predicate:
    if resolvers:
        unknown = set(resolvers) - set(fields)
        if unknown:
            raise ValueError(f"no {resource} query fields named {sorted(unknown)}")
        overrides = {name: QueryField(fields[name].kind, read) for name, read in resolvers.items()}
        fields = {**fields, **overrides}
    if query is None or query == "":
        return _match_all
    return _QueryCompiler(resource, fields).compile(query, depth=0)


@dataclass(frozen=True)
class _QueryCompiler:
    resource: str
    fields: Mapping[str, QueryField]

    def compile(self, query: Any, *, depth: int) -> Predicate:
        if depth > MAX_NESTING:
            raise ValidationError(f"Advanced {self.resource} query is nested too deeply")
        if not isinstance(query, Mapping):
            raise ValidationError(f"Advanced {self.resource} query must be an object")
        predicates = []
        for name, spec in query.items():
            if name in _LOGICAL_OPERATORS:
                predicates.append(self._logical(name, spec, depth))
            elif name in self.fields:
                predicates.append(self._field(name, self.fields[name], spec))
            elif str(name).startswith("$"):
                raise ValidationError(f"Unknown operator {name} in advanced {self.resource} query")
            else:
                raise ValidationError(f"Unknown field '{name}' in advanced {self.resource} query")
        return _all_of(predicates)

    def _logical(self, name: str, spec: Any, depth: int) -> Predicate:
        if not isinstance(spec, list):
            raise ValidationError(f"{name} must be an array of queries")
        parts = [self.compile(sub, depth=depth + 1) for sub in spec]
        if name == "$and":
            return _all_of(parts)
        if not parts:  # documented: no filters = all for $or, none for $nor
            return (lambda _item: True) if name == "$or" else (lambda _item: False)
        if name == "$or":
            return lambda item: any(p(item) for p in parts)
        return lambda item: not any(p(item) for p in parts)

    def _field(self, name: str, field: QueryField, spec: Any) -> Predicate:
        if field.kind == TAGS:
            test = _compile_tags(name, spec)
        else:
            test = compile_operand(name, field.kind, spec)
        read = field.read
        return lambda item: test(read(item))


# --------------------------------------------------------------------------
# Sorting and paging


def _order_key(value: Any) -> tuple[Any, ...]:
    """A total order over JSON-ish values.

    Type ranks follow MongoDB's: null < numbers < strings < objects/arrays <
    booleans (dates, if a raw datetime sneaks in, sort with numbers as epoch
    ms). Strings compare case-folded first, then exactly, so "a" and "A" sit
    together but still in a fixed order.
    """
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, int | float):
        return (1, value if not math.isnan(value) else -math.inf)
    if isinstance(value, datetime):
        return (1, _datetime_ms(value))
    if isinstance(value, str):
        return (2, value.casefold(), value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def _integer_param(name: str, value: Any, minimum: int) -> int:
    # Paging parameters are strings on the wire ("type": "string" in the spec).
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer >= {minimum}")
    # Fifteen digits are plenty and keep int() clear of its digit limit.
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,15}\s*", value):
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}")
    return value


def sort_and_page(
    items: Iterable[Mapping[str, Any]],
    *,
    sort_field: str | None,
    sort_direction: str,
    page: int | str,
    per_page: int | str,
    key: Callable[[Mapping[str, Any]], Any] | None = None,
) -> tuple[list[Any], int]:
    """Sort, then cut out one page. Returns ``(page items, totalCount)``.

    The order is total: ties on the sort value are broken by ``id``, so pages
    never overlap or skip items however the store iterates. Missing values sort
    first ascending (last descending); strings compare case-insensitively.
    ``desc`` is exactly the reverse of ``asc``, tie-breaks included. ``page`` is
    0-based; a page past the end is empty but ``totalCount`` still counts
    everything. ``key`` reads the sort value when it is not a plain item key.
    """
    direction = str(sort_direction).lower()
    if direction not in ("asc", "desc"):
        raise ValidationError("sortDirection must be 'asc' or 'desc'")
    page = _integer_param("page", page, 0)
    per_page = _integer_param("perPage", per_page, 1)
    read = key or (lambda item: item.get(sort_field) if sort_field else None)

    def sort_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
        return (_order_key(read(item)), _order_key(item.get("id")))

    ordered = sorted(items, key=sort_key, reverse=direction == "desc")
    start = page * per_page
    return ordered[start : start + per_page], len(ordered)


# --------------------------------------------------------------------------
# Device selection in request bodies (data queries, multi-device commands)


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


# The readers the evaluator itself uses, for indexes that must agree with it
# (query_index.py).
values_of = _values
tag_pairs = _tag_pairs


def tag_filter_query(tag_filter: Any) -> dict[str, Any] | None:
    """The advanced query a ``tagFilter`` amounts to (what compile_device_filters runs)."""
    tags = _tag_filter_query(parse_object_param(tag_filter, name="tagFilter"))
    return {"$and": [{"tags": tag} for tag in tags]} if tags else None
