"""Connexion's ``$ref`` resolution of a spec, the same algorithm at a lower cost.

Connexion resolves a spec's local references (``connexion.json_schema.
resolve_refs``) by deep-copying the document and walking every node with
``isinstance`` checks against the ``collections.abc`` classes; for the
platform spec (95,000 nodes, 1,400 references) that walk was the largest
single cost of start-up. :func:`resolve_refs` is the same walk - the same
steps in the same order on a copy, so the result is the same values with the
same sharing (a reference takes its target's top-level items, and a recursive
schema such as ``advancedDeviceQuery`` becomes a cyclic structure, as in
Connexion) - with exact type checks, since a parsed spec holds only dicts,
lists and JSON scalars, and with the copy made at C speed
(``mockserver.spec.copy_tree``).

Whatever it does not cover goes to Connexion's own function, on the
untouched input: a reference that is not a local ``#/`` pointer to an
existing mapping, or a container other than dict and list.
``tests/test_spec_resolution.py`` checks the two agree.
"""

from __future__ import annotations

from typing import Any

from connexion import json_schema as connexion_json_schema

from losant_kit.mockserver.spec import copy_tree

connexion_resolve_refs = connexion_json_schema.resolve_refs
_SCALARS = frozenset({str, int, float, bool, type(None)})


class _Unsupported(Exception):
    """The document needs a case only Connexion's own resolver covers."""


def resolve_refs(spec: Any, store: Any = None, base_uri: str = "") -> Any:
    """Drop-in for ``connexion.json_schema.resolve_refs`` (same signature, same result)."""
    if store or type(spec) is not dict:
        return connexion_resolve_refs(spec, store=store, base_uri=base_uri)
    try:
        return _resolve_in_place(copy_tree(spec))
    except _Unsupported:
        return connexion_resolve_refs(spec, store=store, base_uri=base_uri)


def _resolve_in_place(spec: dict[str, Any]) -> dict[str, Any]:
    # Step for step Connexion's _do_resolve; only the checks differ.
    def do_resolve(node: Any) -> Any:
        kind = type(node)
        if kind is dict:
            if "$ref" in node:
                retrieved = _target(spec, node["$ref"])
                node.update(retrieved)
                if "$ref" in retrieved:
                    node = do_resolve(node)
                node.pop("$ref", None)
                return node
            for key, value in node.items():
                node[key] = do_resolve(value)
        elif kind is list:
            for index, value in enumerate(node):
                node[index] = do_resolve(value)
        elif kind not in _SCALARS:
            raise _Unsupported
        return node

    return do_resolve(spec)


def _target(spec: dict[str, Any], ref: Any) -> dict[str, Any]:
    """What ``connexion.utils.deep_get`` finds for a local reference, if it is a mapping."""
    if type(ref) is not str or not ref.startswith("#/"):
        raise _Unsupported
    node: Any = spec
    for part in ref[2:].split("/"):
        if type(node) is dict and part in node:
            node = node[part]
        elif type(node) is list and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _Unsupported
    if type(node) is not dict:
        raise _Unsupported
    return node
