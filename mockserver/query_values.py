"""How an advanced query compares a field's values: value kinds, operators, tag queries.

The leaves of :mod:`losant_kit.mockserver.query`: each compiles one operand
(``{"$gt": 5}``, ``"abc"``, ``{"$tagKey": k}``) into a test over a stored value.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from losant_kit.mockserver.errors import ValidationError


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
LOGICAL_OPERATORS = ("$and", "$or", "$nor")


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


def as_text(value: Any) -> str:
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
    return as_text(value)


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
        return datetime_ms(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "null":
            return None
        if _EPOCH_MS.fullmatch(text):
            ms = float(text)
            return ms if math.isfinite(ms) else _INVALID
        try:
            return datetime_ms(datetime.fromisoformat(text))
        except ValueError:
            return _INVALID
    return _INVALID


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_ms(when: datetime) -> float:
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


def values_of(raw: Any) -> tuple[Any, ...] | list[Any]:
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
        values = values_of(raw)
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
        for value in values_of(raw):
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
    needle = _fold(as_text(argument), ci)
    test = _STRING_OPERATORS[op]

    def check(raw: Any) -> bool:
        for value in values_of(raw):
            text = kind.text(value)
            if text is not None and test(_fold(text, ci), needle):
                return True
        return False

    return check


# --------------------------------------------------------------------------
# Tag queries: {"$tagKey": k, "$tagValue": v} or {key: value, ...}


def tag_pairs(raw: Any) -> list[tuple[Any, Any]]:
    """Tags as (key, value) pairs, from the array or the object-map shape."""
    if isinstance(raw, Mapping):
        return list(raw.items())
    if isinstance(raw, list):
        return [(tag.get("key"), tag.get("value")) for tag in raw if isinstance(tag, Mapping)]
    return []


def compile_tags(label: str, spec: Any) -> Callable[[Any], bool]:
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
        return lambda raw: not tag_pairs(raw)
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
    return lambda raw: any(key_test(key) and value_test(value) for key, value in tag_pairs(raw))


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
