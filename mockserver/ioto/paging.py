"""Pages of a find: ``limit`` items after a ``next`` (or before a ``prev``) cursor.

Cursors are keyset positions, not offsets: a cursor names the sort key of the
item at a page's edge, so walking ``next`` from the first page visits every
item exactly once even while items are added or removed elsewhere in the list.
The cursor is that key as JSON in URL-safe base64: opaque to a client, and a
string as the response tables type it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

from losant_kit.mockserver.errors import ValidationError

DEFAULT_LIMIT = 100


def encode(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, name: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(f"{name}: not a cursor this service issued") from None


def page(items: Iterable[dict[str, Any]], sort_key: Callable[[dict[str, Any]], Any],
         params: dict[str, Any]) -> dict[str, Any]:
    """The envelope fields of one page: data, next/prev when there is more, paged."""
    ordered = sorted(items, key=sort_key)
    limit = params.get("limit") or DEFAULT_LIMIT
    after, before = params.get("next"), params.get("prev")
    if after is not None and before is not None:
        raise ValidationError("give next or prev, not both")
    if after is not None:
        edge = _key(decode(after, "next"))
        ordered_keys = [_key(sort_key(item)) for item in ordered]
        start = next((i for i, k in enumerate(ordered_keys) if k > edge), len(ordered))
        window = ordered[start:start + limit]
    elif before is not None:
        edge = _key(decode(before, "prev"))
        ordered_keys = [_key(sort_key(item)) for item in ordered]
        end = next((i for i, k in enumerate(ordered_keys) if k >= edge), len(ordered))
        start = max(0, end - limit)
        window = ordered[start:end]
    else:
        start, window = 0, ordered[:limit]
    result: dict[str, Any] = {"data": window}
    if window and start + len(window) < len(ordered):
        result["next"] = encode(sort_key(window[-1]))
    if window and start > 0:
        result["prev"] = encode(sort_key(window[0]))
    result["paged"] = "next" in result or "prev" in result
    return result


def _key(value: Any) -> tuple:
    """Sort keys compared as tuples (a cursor's JSON list is a tuple again)."""
    return tuple(value) if isinstance(value, list | tuple) else (value,)
