"""Experience endpoint routes: parsing, matching and which route wins.

The route syntax is the platform's: literal segments, ``{name}`` (one
segment), ``{name?}`` (an optional last segment) and ``{name*}`` (the rest of
the path, possibly empty; last segment only). When several routes match a
path, the most specific wins, compared segment by segment: a literal beats
``{name}``, which beats ``{name?}``, which beats ``{name*}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from losant_kit.mockserver.errors import ValidationError

LITERAL, PARAM, OPTIONAL, WILDCARD = 0, 1, 2, 3
_PARAM = re.compile(r"^\{(\w+)([?*]?)\}$")
_SEGMENT_TEXT = re.compile(r"^[^{}]*$")


@dataclass(frozen=True)
class Segment:
    rank: int
    text: str  # the literal, or the parameter's name


@dataclass(frozen=True)
class Route:
    text: str
    segments: tuple[Segment, ...]

    @property
    def specificity(self) -> tuple[int, ...]:
        """Smaller is more specific; compared lexicographically, then longer first."""
        return tuple(s.rank for s in self.segments)

    @property
    def shape(self) -> tuple[tuple[int, str], ...]:
        """The route with parameter names erased: two routes of one shape collide."""
        return tuple((s.rank, s.text if s.rank == LITERAL else "") for s in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Path parameters if the path (split into decoded segments) matches."""
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.rank == WILDCARD:
                params[segment.text] = "/".join(parts[index:])
                return params
            if index >= len(parts):
                if segment.rank == OPTIONAL:
                    return params
                return None
            part = parts[index]
            if segment.rank == LITERAL:
                if part != segment.text:
                    return None
            elif not part:
                return None
            else:
                params[segment.text] = part
        return params if len(parts) == len(self.segments) else None


def parse_route(text: str) -> Route:
    """A route, or ValidationError saying what is wrong with it."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise ValidationError(f"route: '{text}' must start with '/'")
    raw = text[1:].split("/") if text != "/" else []
    segments: list[Segment] = []
    names: set[str] = set()
    for index, part in enumerate(raw):
        found = _PARAM.match(part)
        if found:
            name, modifier = found.groups()
            rank = {"": PARAM, "?": OPTIONAL, "*": WILDCARD}[modifier]
            if rank != PARAM and index != len(raw) - 1:
                raise ValidationError(f"route: {part} is only allowed as the last segment")
            if name in names:
                raise ValidationError(f"route: parameter {name} appears twice")
            names.add(name)
            segments.append(Segment(rank, name))
        elif _SEGMENT_TEXT.match(part):
            if not part and index != len(raw) - 1:
                raise ValidationError(f"route: '{text}' has an empty segment")
            segments.append(Segment(LITERAL, part))
        else:
            raise ValidationError(
                f"route: segment '{part}' mixes text and a parameter, which the mock does not route"
            )
    return Route(text, tuple(segments))


def split_path(path: str) -> list[str]:
    """A request path as decoded segments ("/" is no segments)."""
    if path in ("", "/"):
        return []
    return [unquote(part) for part in path[1:].split("/")]
