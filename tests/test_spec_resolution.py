"""The start-up resolver gives exactly what Connexion's own ``resolve_refs`` gives.

"Exactly": the same values of the same types, the same key order and the same
sharing of containers (a reference's children are its target's own objects;
a recursive schema is a cycle), which is what Connexion builds its operations
and validators from. Only the identity of immutable scalars may differ.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from losant_kit import specs
from losant_kit.mockserver.spec import PlatformSpec
from losant_kit.mockserver.spec_resolution import connexion_resolve_refs, resolve_refs


def same_graph(left: Any, right: Any) -> bool:
    """Equal values, types and key order, and containers shared alike on both sides."""
    pairs: dict[int, int] = {}
    reverse: dict[int, int] = {}
    pending = [(left, right)]
    while pending:
        a, b = pending.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, (dict, list)):
            if pairs.get(id(a), id(b)) != id(b) or reverse.get(id(b), id(a)) != id(a):
                return False
            if id(a) in pairs:
                continue
            pairs[id(a)], reverse[id(b)] = id(b), id(a)
            if isinstance(a, dict):
                if list(a) != list(b):
                    return False
                pending.extend((a[k], b[k]) for k in a)
            else:
                if len(a) != len(b):
                    return False
                pending.extend(zip(a, b, strict=True))
        elif a != b:
            return False
    return True


def _outcome(resolve: Any, document: dict[str, Any]) -> Any:
    try:
        return resolve(document)
    except Exception as exc:  # the same failure counts as the same outcome
        return type(exc)


def test_same_graph_tells_shared_from_equal_copies() -> None:
    shared = {"x": 1}
    assert same_graph([shared, shared], [shared, shared])
    assert not same_graph([shared, shared], [{"x": 1}, {"x": 1}])
    assert not same_graph({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same_graph([1], [True])


def test_served_platform_spec_resolves_as_connexion_resolves_it() -> None:
    document = PlatformSpec().for_connexion()
    assert same_graph(resolve_refs(document), connexion_resolve_refs(document))


def test_control_spec_resolves_as_connexion_resolves_it() -> None:
    document = yaml.safe_load(specs.CONTROL_SPEC.read_text())
    assert same_graph(resolve_refs(document), connexion_resolve_refs(document))


def test_resolving_leaves_the_input_untouched() -> None:
    document = PlatformSpec().for_connexion()
    before = copy.deepcopy(document)
    resolve_refs(document)
    assert document == before


NAMES = ["a", "b", "c"]
# Local references (to a schema, into one, to a missing one, to a list item),
# and ones only Connexion's resolver handles (another document, a bare name).
REFS = st.sampled_from(
    [f"#/components/schemas/{name}" for name in NAMES]
    + ["#/components/schemas/a/properties/x", "#/components/schemas/b/allOf/0",
       "#/components/schemas/missing", "#/components/schemas/a/type",
       "other.json#/x", "a"]
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3))
SCHEMAS = st.recursive(
    st.one_of(SCALARS, st.builds(lambda ref: {"$ref": ref}, REFS)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["x", "type", "allOf", "items", "$ref"]), children,
                        max_size=3),
        st.builds(lambda ref, extra: {"$ref": ref, **extra}, REFS,
                  st.dictionaries(st.sampled_from(["description", "x"]), children, max_size=2)),
    ),
    max_leaves=12,
)
DOCUMENTS = st.builds(
    lambda schemas, paths: {"openapi": "3.0.3", "paths": paths,
                            "components": {"schemas": schemas}},
    st.dictionaries(st.sampled_from(NAMES), SCHEMAS, max_size=3),
    st.dictionaries(st.sampled_from(["/x", "/y"]), SCHEMAS, max_size=2),
)


@given(DOCUMENTS)
def test_any_document_resolves_as_connexion_resolves_it(document: dict[str, Any]) -> None:
    assert same_graph(_outcome(resolve_refs, document), _outcome(connexion_resolve_refs, document))
