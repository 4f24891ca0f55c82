"""Requests and replies held to the author's OpenAPI file, as Connexion holds the platform's.

For an :class:`ApiOperation` of an experience file: parameters are parsed and
checked with Connexion's own URI parser and ``ParameterValidator`` (the same
coercion of ``integer``/``boolean``/arrays the platform spec gets), JSON
bodies and replies with Connexion's OpenAPI-flavoured draft-4 validators
(``nullable``, ``writeOnly``). Errors are rendered in the shape the file
declares for their status (:func:`error_body`), so a refusal never breaches
the file either.
"""

from __future__ import annotations

import json
from typing import Any

from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.lifecycle import ConnexionRequest
from connexion.uri_parsing import OpenAPIURIParser
from connexion.validators import ParameterValidator
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from losant_kit.mockserver.experience.apifile import ApiOperation

_FORMATS = Draft4Validator.FORMAT_CHECKER
# Property names an error schema commonly uses, and what the mock puts there.
_MESSAGE_NAMES = ("message", "detail", "details", "description", "error_description", "reason")
_TYPE_NAMES = ("type", "error", "code", "title", "name", "kind")
_STATUS_NAMES = ("status", "statusCode", "status_code", "code")


class RequestRefused(Exception):
    """The request breaks the file: a 400 with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperationCheck:
    """The validators of one operation, built once."""

    def __init__(self, operation: ApiOperation) -> None:
        self.operation = operation
        params = [p for p in operation.parameters if p.get("in") in ("path", "query", "header")]
        self._parser = OpenAPIURIParser(params, {})
        self._declared = params
        self._body = (
            Draft4RequestValidator(operation.body_schema, format_checker=_FORMATS)
            if operation.body_schema is not None else None
        )
        self._responses = {
            key: Draft4ResponseValidator(schema, format_checker=_FORMATS)
            for key, schema in operation.responses.items() if schema is not None
        }

    # ------------------------------------------------------------ requests

    def check_request(self, scope: dict[str, Any], path_params: dict[str, str],
                      body: bytes) -> Any:
        """The parsed JSON body (None if none), or RequestRefused saying what is wrong."""
        request = ConnexionRequest({**scope, "path_params": path_params},
                                   uri_parser=self._parser)
        try:
            values = {"path": request.path_params, "query": request.query_params,
                      "header": request.headers}
        except Exception as exc:  # Connexion's parser trips over a value it cannot split
            raise RequestRefused(f"the parameters cannot be read ({exc})") from None
        for param in self._declared:
            where, name = param["in"], param["name"]
            found = values[where].get(name.lower() if where == "header" else name)
            error = ParameterValidator.validate_parameter(where, found, param, name)
            if error:
                raise RequestRefused(f"{where} parameter {name}: {_parameter_message(error)}")
        return self._check_body(body)

    def _check_body(self, raw: bytes) -> Any:
        if not raw.strip():
            if self.operation.body_required:
                raise RequestRefused("the request body is required")
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            raise RequestRefused("the request body is not valid JSON") from None
        if self._body is not None:
            error = best_match(self._body.iter_errors(body))
            if error is not None:
                raise RequestRefused(_schema_message("body", error))
        return body

    # ------------------------------------------------------------ replies

    def response_problem(self, status: int, body: Any) -> str | None:
        """Why a reply breaks the file (None: it conforms)."""
        operation = self.operation
        found = operation.response_schema(status)
        if found is None:
            return f"status {status} is not documented at {operation.pointer}/responses"
        key, _ = found
        validator = self._responses.get(key)
        if validator is None:
            return None
        error = best_match(validator.iter_errors(body))
        if error is None:
            return None
        where = operation.response_pointer(key) + "/content/application~1json/schema"
        return f"{_schema_message('body', error)} (schema at {where})"

    def error_body(self, status: int, type_: str, message: str) -> Any:
        """An error in the shape the file declares for ``status``; the platform's otherwise."""
        found = self.operation.response_schema(status)
        schema = found[1] if found else None
        return shaped_error(schema, status, type_, message)


def shaped_error(schema: dict[str, Any] | None, status: int, type_: str, message: str) -> Any:
    """Fill an error schema's properties from what is known about the error.

    Properties named like a message get ``message``, like a type or code get
    ``type_`` (or ``status`` where an integer is wanted); a declared enum or
    example wins over a guess. If the result does not satisfy the schema, the
    platform's ``{"type", "message"}`` is returned (and the reply check reports it).
    """
    platform = {"type": type_, "message": message}
    if not schema or schema.get("type", "object") != "object" or not schema.get("properties"):
        return platform
    body: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        value = _guess(name, prop or {}, status, type_, message, name in required)
        if value is not None:
            body[name] = value
    validator = Draft4ResponseValidator(schema, format_checker=_FORMATS)
    # An empty body says nothing: the platform's shape then (it may fit an open schema).
    return body if body and validator.is_valid(body) else platform


def _guess(name: str, prop: dict[str, Any], status: int, type_: str, message: str,
           required: bool) -> Any:
    kind = prop.get("type", "string")
    if prop.get("enum"):
        wanted = type_ if name in _TYPE_NAMES else message
        return wanted if wanted in prop["enum"] else prop["enum"][0]
    if kind == "integer" and (name in _STATUS_NAMES or required):
        return status
    if kind != "string":
        return prop.get("example") if required else None
    if name in _MESSAGE_NAMES:
        return message
    if name in _TYPE_NAMES:
        return type_
    return message if required else None


def _schema_message(where: str, error: Any) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    text = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    return f"{where}{path}: {text}"


def _parameter_message(detail: str) -> str:
    # Connexion's messages carry the whole failing schema after a blank line.
    return detail.split("\n\n")[0].strip()


__all__ = ["OperationCheck", "RequestRefused", "shaped_error"]
