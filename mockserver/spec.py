"""What the mock reads from the spec at start-up.

Everything the spec already knows about an operation (accepted scopes,
throttle, success status, response schema, whether it streams) is read here
into a small typed table, so no other module repeats a fact of the spec.
This module also owns the exact draft-07 validators (``x-jsonschema``).
"""

from __future__ import annotations

import copy
import pickle
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from losant_kit import specs

EXACT_PREFIX = "#/components/x-jsonschema/"
LOWERED_PREFIX = "#/components/schemas/"
SPEC_URI = "urn:losant-mock:platform-spec"


@dataclass(frozen=True)
class Operation:
    """One action of the platform API, as the spec describes it."""

    id: str  # "device.sendState"
    method: str
    path: str
    scopes: frozenset[str]
    throttle: dict[str, Any] | None
    success_status: int
    response_schemas: dict[int, str]  # status -> component name (JSON responses)
    body_schema: str | None
    object_params: dict[str, str] = field(default_factory=dict)  # query param -> schema
    sse: bool = False

    @property
    def resource(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def action(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def public(self) -> bool:
        return not self.scopes


class PlatformSpec:
    """The loaded platform spec and everything derived from it."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document if document is not None else specs.load_platform_spec()
        self.operations: dict[str, Operation] = {}
        for path, item in self.document["paths"].items():
            for method, op in item.items():
                operation = _operation(path, method, op)
                self.operations[operation.id] = operation
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    # ------------------------------------------------------------ validation

    def allowed_methods(self, path: str) -> list[str] | None:
        """The methods of the spec path a request path matches (None: no such path).

        As OpenAPI says, concrete paths match before templated ones: with both
        ``/applications/import`` and ``/applications/{applicationId}``,
        ``/applications/import`` is the first.
        """
        matches = [
            (template.count("{"), sorted(method.upper() for method in item))
            for template, (pattern, item) in self._path_patterns.items()
            if pattern.fullmatch(path)
        ]
        return min(matches)[1] if matches else None

    @cached_property
    def _path_patterns(self) -> dict[str, tuple[re.Pattern[str], dict[str, Any]]]:
        return {
            template: (re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))), item)
            for template, item in self.document["paths"].items()
        }

    @cached_property
    def _registry(self) -> Registry:
        resource = Resource.from_contents(self.document, default_specification=DRAFT7)
        return Registry().with_resource(SPEC_URI, resource)

    def validator(self, schema_name: str) -> jsonschema.protocols.Validator:
        """A draft-07 validator for the exact form of a component schema."""
        found = self._validators.get(schema_name)
        if found is None:
            if schema_name not in self.document["components"]["x-jsonschema"]:
                raise KeyError(schema_name)
            found = jsonschema.Draft7Validator(
                {"$ref": f"{SPEC_URI}{EXACT_PREFIX}{schema_name}"},
                registry=self._registry,
                format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
            )
            self._validators[schema_name] = found
        return found

    def response_errors(self, operation_id: str, status: int, body: Any) -> list[str]:
        """Why a response breaches the spec (empty when it conforms)."""
        op = self.operations[operation_id]
        documented = self.document["paths"][op.path][op.method]["responses"]
        if str(status) not in documented:
            return [f"{operation_id}: status {status} is not documented"]
        name = op.response_schemas.get(status)
        if name is None:
            return []
        return [
            f"{operation_id} {status}: {_pointer(e)}: {e.message}"
            for e in self.validator(name).iter_errors(body)
        ]

    # ------------------------------------------------------------ Connexion

    def for_connexion(self) -> dict[str, Any]:
        """The document Connexion routes and validates with.

        Request bodies point at the exact draft-07 schemas, so the body
        validator (mockserver.validation) checks the real contract rather than
        the lowered 3.0 approximation.

        Object-valued query parameters are typed as binary strings: Connexion
        casts an ``object`` parameter with ``dict(value)``, which fails on the
        JSON-string form the official JavaScript client sends
        (``query={"name": ...}``) and on a plain ``deviceClass=gateway``. The
        bracket form still arrives as a dict (deepObject parsing follows the
        style, not the type); the dispatcher decodes and checks every form
        exactly. The served /openapi.json is unchanged.
        """
        doc = copy_tree(self.document)
        for parameter in doc["components"].get("parameters", {}).values():
            _pass_through(parameter)
        for item in doc["paths"].values():
            for op in item.values():
                for parameter in op.get("parameters", []):
                    _pass_through(parameter)
                content = op.get("requestBody", {}).get("content", {})
                media = content.get("application/json")
                if media and media["schema"].get("$ref", "").startswith(LOWERED_PREFIX):
                    name = media["schema"]["$ref"].removeprefix(LOWERED_PREFIX)
                    # allOf keeps the name beside the $ref that Connexion inlines.
                    media["schema"] = {
                        "allOf": [{"$ref": EXACT_PREFIX + name}],
                        "x-schema-name": name,
                    }
        return doc


def copy_tree(node: Any) -> Any:
    """A deep copy of parsed JSON/YAML data, at C speed.

    A pickle round trip copies such data exactly as ``copy.deepcopy`` does
    (types, int keys, tuples, NaN, shared and cyclic objects) in about half
    the time of a checked JSON round trip and 40 % of ``deepcopy``'s, which
    does its memo work in Python; start-up copies the spec several times (here and
    inside Connexion, see app.py). What pickle cannot carry falls back to
    ``deepcopy``.
    """
    try:
        return pickle.loads(pickle.dumps(node, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return copy.deepcopy(node)


def _pass_through(parameter: dict[str, Any]) -> None:
    if "x-jsonschema" in parameter:
        parameter["schema"] = {"type": "string", "format": "binary"}


def _pointer(error: jsonschema.ValidationError) -> str:
    return "/".join(map(str, error.absolute_path)) or "<root>"


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    ref = (schema or {}).get("$ref", "")
    return ref.removeprefix(LOWERED_PREFIX) if ref.startswith(LOWERED_PREFIX) else None


def _operation(path: str, method: str, op: dict[str, Any]) -> Operation:
    responses = op["responses"]
    successes = sorted(int(s) for s in responses if s.startswith("2"))
    schemas = {}
    for status, resp in responses.items():
        name = _ref_name(resp.get("content", {}).get("application/json", {}).get("schema"))
        if name:
            schemas[int(status)] = name
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    object_params = {
        p["name"]: p["x-jsonschema"]["$ref"].removeprefix(EXACT_PREFIX)
        for p in op.get("parameters", [])
        if "x-jsonschema" in p
    }
    return Operation(
        id=op["operationId"],
        method=method,
        path=path,
        scopes=frozenset(op.get("x-scopes", [])),
        throttle=op.get("x-throttle"),
        success_status=successes[0],
        response_schemas=schemas,
        body_schema=_ref_name(body.get("schema")),
        object_params=object_params,
        sse=bool(op.get("x-sse")),
    )
