"""Experience route syntax, matching and specificity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.experience.routing import parse_route, split_path

segments = st.lists(st.sampled_from(["a", "b", "devices", "data", "x-1"]), min_size=1, max_size=5)
# How each path segment is written in a route: itself, or a parameter.
shapes = st.lists(st.sampled_from(["literal", "param"]), min_size=5, max_size=5)


def route_for(parts: list[str], shape: list[str]) -> str:
    written = [p if kind == "literal" else f"{{p{i}}}" for i, (p, kind) in
               enumerate(zip(parts, shape, strict=False))]
    return "/" + "/".join(written)


@given(parts=segments, shape=shapes)
def test_a_route_written_from_a_path_matches_it_with_its_params(parts, shape):
    route = parse_route(route_for(parts, shape))
    params = route.match(parts)
    assert params == {f"p{i}": p for i, (p, kind) in enumerate(zip(parts, shape, strict=False))
                      if kind == "param"}


@given(parts=segments, first=shapes, second=shapes)
def test_the_route_with_the_earlier_literal_is_more_specific(parts, first, second):
    """Of two routes matching a path, the one with a literal where the other first
    has a parameter sorts first (lower specificity)."""
    a, b = parse_route(route_for(parts, first)), parse_route(route_for(parts, second))
    difference = next(
        (i for i in range(len(parts)) if first[i] != second[i]), None
    )
    if difference is None:
        assert a.specificity == b.specificity
    elif first[difference] == "literal":
        assert a.specificity < b.specificity
    else:
        assert b.specificity < a.specificity


@given(parts=segments)
def test_wildcard_matches_any_rest_and_loses_to_every_exact_route(parts):
    wildcard = parse_route("/{rest*}")
    exact = parse_route("/" + "/".join(parts))
    assert wildcard.match(parts) == {"rest": "/".join(parts)}
    assert exact.specificity < wildcard.specificity


def test_optional_parameter_matches_with_and_without_its_segment():
    route = parse_route("/a/{id?}")
    assert route.match(["a"]) == {}
    assert route.match(["a", "7"]) == {"id": "7"}
    assert route.match(["a", "7", "8"]) is None


def test_parameter_needs_a_non_empty_segment():
    assert parse_route("/a/{id}").match(["a", ""]) is None


def test_path_segments_are_percent_decoded():
    assert split_path("/a/b%20c") == ["a", "b c"]
    assert parse_route("/a/{x}").match(split_path("/a/b%2Fc")) == {"x": "b/c"}


@pytest.mark.parametrize("route", ["", "a", "/a/{x*}/b", "/a/{x?}/b", "/{x}/{x}", "/a//b",
                                   "/file.{ext}"])
def test_malformed_routes_are_refused(route):
    with pytest.raises(ValidationError):
        parse_route(route)
