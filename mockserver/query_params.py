"""Object-valued query parameters: bracket form or JSON, decoded to the JSON the client meant.

Client mistakes raise :class:`~losant_kit.mockserver.errors.ValidationError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from losant_kit.mockserver.errors import ValidationError

# Deeper input is refused rather than recursed into: a hostile query string
# must end in a 400, never in RecursionError. MongoDB, which the platform's
# queries are modelled on, caps document nesting at the same depth.
MAX_NESTING = 100


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
