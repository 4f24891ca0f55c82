"""The behaviour suite's own readings of the platform's rules.

Reference implementations the suite compares an implementation's answers
with, written from the documented semantics and independent of any
implementation: the filter glob, advanced device queries (and a grammar that
generates them), and the time-series aggregations. Each also names the input
classes an input presents, for the coverage table.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from hypothesis import strategies as st

from losant_kit.contracts import domains


def _classes() -> list[str]:
    return domains.device_classes()


def glob_matches(pattern: str, value: str, fold: bool = True) -> bool:
    """The platform's filter glob, evaluated here: whole value, ``*`` = any run, case
    ignored (``fold=False``: case compared, to name a case-sensitive defect)."""
    if fold:
        pattern, value = pattern.casefold(), value.casefold()
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def glob_pattern(source: str, stars: list[int], flips: int, nothing: bool) -> str:
    """``source`` with the characters at ``stars`` turned into ``*`` (an index past the
    end appends one), the case of letter i swapped where bit i of ``flips`` is set, and,
    with ``nothing``, a tail no name has."""
    chars = [c.swapcase() if flips >> i & 1 else c for i, c in enumerate(source)]
    for i in sorted(set(stars), reverse=True):
        if i < len(chars):
            chars[i] = "*"
        else:
            chars.append("*")
    return "".join(chars) + ("§none" if nothing else "")


def glob_classes(pattern: str, source: str, flips: int, nothing: bool) -> list[str]:
    found = []
    if flips and any(c.isalpha() for c in source):
        found.append("case differs")
    if any(ord(c) > 127 for c in pattern):
        found.append("non-ASCII")
    if "*" not in pattern:
        found.append("no wildcard")
    if pattern == "*":
        found.append("only *")
    elif "*" in pattern:
        found += (["leading *"] if pattern.startswith("*") else []) + (
            ["trailing *"] if pattern.endswith("*") else []) + (
            ["inner *"] if "*" in pattern.strip("*") else [])
    if nothing:
        found.append("matches nothing")
    return found


# Advanced queries: a small grammar over fields whose meaning is unambiguous.
_name_ops = st.sampled_from(("$eq", "$ne", "$startsWith", "$endsWith", "$contains", "$in",
                             "$nin"))


def _leaf(population: list[dict[str, Any]]) -> st.SearchStrategy:
    known_names = sorted({d["name"] for d in population})
    name_clause = st.tuples(_name_ops, st.sampled_from(known_names), st.data()).map(
        lambda t: _name_clause(*t))
    class_clause = st.one_of(
        st.sampled_from(_classes()).map(lambda c: {"deviceClass": c}),
        st.lists(st.sampled_from(_classes()), min_size=1, max_size=3, unique=True).map(
            lambda cs: {"deviceClass": {"$in": cs}}),
        st.sampled_from(_classes()).map(lambda c: {"deviceClass": {"$ne": c}}),
    )
    return st.one_of(name_clause, class_clause)


def _name_clause(op: str, name: str, data: Any) -> dict[str, Any]:
    if op in ("$in", "$nin"):
        return {"name": {op: [name, name.split("-")[0]]}}
    if op in ("$startsWith", "$endsWith", "$contains"):
        part = name.split("-")[0] if op != "$endsWith" else name.split("-")[-1]
        return {"name": {op: part}}
    return {"name": {op: name}}


def queries(population: list[dict[str, Any]]) -> st.SearchStrategy:
    leaf = _leaf(population)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$and": qs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda qs: {"$or": qs}),
        st.lists(inner, min_size=1, max_size=2).map(lambda qs: {"$nor": qs}),
    ), max_leaves=4)


def query_classes(query: Any) -> set[str]:
    """The operators, logical combinators and fields a query uses (coverage classes)."""
    found: set[str] = set()
    if isinstance(query, dict):
        for key, value in query.items():
            if key.startswith("$"):
                found.add(key)
            elif key == "deviceClass":
                found.add("deviceClass")
            if key == "name" and not isinstance(value, dict):
                found.add("$eq")
            if isinstance(value, str) and any(ord(c) > 127 for c in value):
                found.add("non-ASCII")
            found |= query_classes(value)
    elif isinstance(query, list):
        for value in query:
            found |= query_classes(value)
            if isinstance(value, str) and any(ord(c) > 127 for c in value):
                found.add("non-ASCII")
    return found


QUERY_EXAMPLES = (
    {"name": {"$eq": "Ωmega-meter"}}, {"name": {"$ne": "sensor"}},
    {"name": {"$in": ["жук-1", "delta"]}}, {"name": {"$nin": ["Sensor", "zeta-Delta"]}},
    {"name": {"$startsWith": "ÉCLAIR"}}, {"name": {"$endsWith": "ÜBER"}},
    {"name": {"$contains": "mega"}}, {"$and": [{"deviceClass": "gateway"}, {"name": "delta"}]},
    {"$or": [{"name": "alpha-beta"}, {"deviceClass": {"$in": ["system", "embedded"]}}]},
    {"$nor": [{"name": {"$startsWith": "é"}}, {"deviceClass": {"$ne": "standalone"}}]},
)


def evaluate(query: dict[str, Any], device: dict[str, Any]) -> bool:
    """The test's own reading of an advanced device query."""
    results = []
    for key, spec in query.items():
        if key == "$and":
            results.append(all(evaluate(q, device) for q in spec))
        elif key == "$or":
            results.append(any(evaluate(q, device) for q in spec))
        elif key == "$nor":
            results.append(not any(evaluate(q, device) for q in spec))
        else:
            value = device.get(key)
            if not isinstance(spec, dict):
                spec = {"$eq": spec}
            for op, operand in spec.items():
                results.append({
                    "$eq": lambda v, o: v == o, "$ne": lambda v, o: v != o,
                    "$in": lambda v, o: v in o, "$nin": lambda v, o: v not in o,
                    "$startsWith": lambda v, o: str(v).startswith(o),
                    "$endsWith": lambda v, o: str(v).endswith(o),
                    "$contains": lambda v, o: o in str(v),
                }[op](value, operand))
    return all(results)


# The reference computation of every aggregation the spec lists (domains.aggregations()).
AGGREGATES = {
    "SUM": sum, "MIN": min, "MAX": max, "COUNT": len, "MEAN": statistics.fmean,
    "FIRST": lambda xs: xs[0], "LAST": lambda xs: xs[-1],
    "MEDIAN": statistics.median, "STD_DEV": statistics.pstdev,
}
ORDER_FREE = {"SUM", "MIN", "MAX", "COUNT", "MEAN", "MEDIAN", "STD_DEV"}
