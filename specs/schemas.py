"""Draft-07 schemas of the reference, repaired and lowered to OpenAPI 3.0.3.

Two forms of every schema leave this module:

* the *exact* form: the published draft-07 schema with malformations repaired
  and prose (titles, descriptions) removed. The mock and the contract suite
  validate with this one (``x-jsonschema`` in the spec).
* the *lowered* form: the same schema in the OpenAPI 3.0 dialect. Where 3.0 can
  say the same thing (type arrays, ``type: null``) the lowering is exact; where
  it cannot (``patternProperties``) the lowered schema accepts a superset and is
  marked ``x-lossy`` with the reason, so nobody mistakes it for the contract.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]

# JSON Schema keywords that may legitimately appear as keys of a schema object.
# Anything else sitting next to them is a property that lost its "properties"
# wrapper in the published files.
_KEYWORDS = {
    "$ref",
    "$schema",
    "type",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "items",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "default",
    "title",
    "description",
    "multipleOf",
    "nullable",
}
_PROSE = ("title", "description")


@dataclass
class Repairs:
    """Every change made to a published schema, for specs/README.md."""

    # schema name -> what was wrong -> where (JSON pointer inside the schema)
    notes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, schema_name: str, where: str, what: str) -> None:
        self.notes.setdefault(schema_name, {}).setdefault(what, []).append(where or "/")


def repair(name: str, schema: Schema, repairs: Repairs) -> Schema:
    """Return a repaired copy of a published schema (prose removed)."""
    return _repair(copy.deepcopy(schema), name, "", repairs)


def _repair(node: Any, name: str, where: str, repairs: Repairs) -> Any:
    if not isinstance(node, dict):
        return node
    node.pop("$schema", None)
    for key in _PROSE:
        if isinstance(node.get(key), str):
            node.pop(key)

    props = node.get("properties")
    # Malformation 1: an object schema written *inside* "properties"
    # (orgInvites, orgInvitesUser): properties = {title, type: "object", properties}.
    if (
        isinstance(props, dict)
        and isinstance(props.get("type"), str)
        and isinstance(props.get("properties"), dict)
    ):
        inner = node.pop("properties")
        repairs.add(name, where, "an item schema was nested inside `properties`; unwrapped")
        for key, value in inner.items():
            node.setdefault(key, value)
        node.pop("title", None)
        node.pop("description", None)
        props = node.get("properties")

    # Malformation 2: properties written beside the keywords, with no
    # "properties" wrapper (applicationJobLog input/output, integration status).
    stray = [k for k, v in node.items() if k not in _KEYWORDS and isinstance(v, dict)]
    if stray and node.get("type") in ("object", None):
        wrapped = node.setdefault("properties", {})
        for key in stray:
            wrapped[key] = node.pop(key)
        repairs.add(name, where, "properties written without a `properties` wrapper; wrapped")
        props = wrapped

    # Malformation 3: `min`/`max` are not JSON Schema; the evident intent is
    # the length or range bound for the declared type.
    for short, length, bound in (("min", "minLength", "minimum"), ("max", "maxLength", "maximum")):
        if short in node:
            target = length if node.get("type") == "string" else bound
            node[target] = node.pop(short)
            repairs.add(name, where, f"`{short}` is not a JSON Schema keyword; read as `{target}`")

    for key, value in list(node.items()):
        if key in ("properties", "patternProperties"):
            for prop, sub in value.items():
                value[prop] = _repair(sub, name, f"{where}/{key}/{prop}", repairs)
        elif key in ("items", "additionalProperties", "not"):
            node[key] = _repair(value, name, f"{where}/{key}", repairs)
        elif key in ("oneOf", "anyOf", "allOf"):
            node[key] = [
                _repair(sub, name, f"{where}/{key}/{i}", repairs) for i, sub in enumerate(value)
            ]
    return node


def rewrite_refs(node: Any, prefix: str) -> Any:
    """Point ``#/definitions/X`` references at ``prefix + X``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
                out[key] = prefix + value.removeprefix("#/definitions/")
            else:
                out[key] = rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [rewrite_refs(item, prefix) for item in node]
    return node


def references(node: Any) -> set[str]:
    """Names of the definitions a schema refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


# ---------------------------------------------------------------- lowering


_TYPE_KEYWORDS = {
    "string": {"pattern", "minLength", "maxLength", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "minItems", "maxItems", "uniqueItems"},
    "object": {
        "properties",
        "additionalProperties",
        "required",
        "minProperties",
        "maxProperties",
    },
    "boolean": set(),
}


def lower(schema: Schema, ref_prefix: str) -> tuple[Schema, list[str]]:
    """Lower a repaired draft-07 schema to OpenAPI 3.0.

    Returns the lowered schema and the list of places where 3.0 could only
    express a superset of the original (empty when the lowering is exact).
    """
    losses: list[str] = []
    lowered = _lower(rewrite_refs(schema, ref_prefix), "", losses)
    return lowered, losses


def _lower(node: Any, where: str, losses: list[str]) -> Any:
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {
                prop: _lower(sub, f"{where}/{key}/{prop}", losses)
                for prop, sub in node[key].items()
            }
    for key in ("items", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _lower(node[key], f"{where}/{key}", losses)
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _lower(
            node["additionalProperties"], f"{where}/additionalProperties", losses
        )
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            node[key] = [
                _lower(sub, f"{where}/{key}/{i}", losses) for i, sub in enumerate(node[key])
            ]

    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("required") == []:
        # 3.0 demands a non-empty list; an empty one constrains nothing.
        node.pop("required")

    if "patternProperties" in node:
        # 3.0 has no patternProperties: every value must match one of the
        # pattern schemas (or the declared additionalProperties), but the key
        # patterns themselves cannot be enforced.
        patterns = node.pop("patternProperties")
        branches = list(patterns.values())
        extra = node.get("additionalProperties", True)
        if extra is not False and extra is not True:
            branches.append(extra)
        if extra is True:
            node["additionalProperties"] = True
        else:
            node["additionalProperties"] = (
                branches[0] if len(branches) == 1 else {"anyOf": branches}
            )
        # A lone match-everything pattern constrains no key: the lowering is exact.
        exact = set(patterns) <= {".*", "^.*$"} and extra is not True and "properties" not in node
        if not exact:
            losses.append(
                f"{where or '/'}: patternProperties {sorted(patterns)} (key patterns not enforced)"
            )

    node = _lower_type(node)
    node = _fold_null_branch(node)
    return node


def _lower_type(node: Schema) -> Schema:
    types = node.get("type")
    if types == "null":
        # The only 3.0 schema that admits exactly null: a nullable type whose
        # enum holds nothing but null.
        node = {k: v for k, v in node.items() if k != "type"}
        return {**node, "type": "string", "nullable": True, "enum": [None]}
    if not isinstance(types, list):
        return node
    nullable = "null" in types
    concrete = [t for t in types if t != "null"]
    rest = {k: v for k, v in node.items() if k != "type"}
    if len(concrete) == 1:
        out = {**rest, "type": concrete[0]}
        if nullable:
            out["nullable"] = True
        return out
    # Several types: one branch per type, each carrying only the keywords that
    # apply to it (in JSON Schema the others are ignored for that type anyway).
    shared = {k: v for k, v in rest.items() if not any(k in kw for kw in _TYPE_KEYWORDS.values())}
    # enum constrains across types; keep it on each branch.
    shared_enum = shared.pop("enum", None)
    branches = []
    for t in concrete:
        branch: Schema = {"type": t}
        branch.update({k: v for k, v in rest.items() if k in _TYPE_KEYWORDS.get(t, set())})
        if shared_enum is not None:
            branch["enum"] = [v for v in shared_enum if _json_type(v) in (t, "null")]
        if nullable:
            branch["nullable"] = True
        branches.append(branch)
    return {**shared, "anyOf": branches}


def _fold_null_branch(node: Schema) -> Schema:
    """``oneOf: [X, {type: null}]`` -> ``X`` + ``nullable`` when X has a type."""
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if not isinstance(branches, list) or len(branches) != 2:
            continue
        nulls = [b for b in branches if b.get("enum") == [None] and b.get("nullable")]
        others = [b for b in branches if b not in nulls]
        if len(nulls) == 1 and len(others) == 1 and isinstance(others[0].get("type"), str):
            merged = {**others[0], "nullable": True}
            rest = {k: v for k, v in node.items() if k != key}
            if not (set(rest) & set(merged)):
                return {**rest, **merged}
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
