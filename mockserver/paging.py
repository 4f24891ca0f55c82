"""Sorting and paging, as every list endpoint does them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.query_values import datetime_ms


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
        return (1, datetime_ms(value))
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
