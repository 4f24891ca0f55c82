"""Request validation, through Connexion's validator extension point.

Connexion parses and routes; these subclasses make its validation speak the
platform's language: every message names the offending field, request bodies
are checked against the exact draft-07 schema (not the lowered 3.0 one), and
object-valued query parameters are left to the dispatcher, which reassembles
their bracket form before checking them exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema.exceptions import best_match
from starlette.datastructures import Headers

from losant_kit.mockserver.errors import PayloadTooLarge, ValidationError
from losant_kit.mockserver.spec import PlatformSpec

# The platform does not publish a body size limit; 1 MiB comfortably fits any
# legitimate request of the kit's actions (a 1,000-state batch is ~100 kB).
MAX_BODY_BYTES = 1024 * 1024
_MESSAGE_LIMIT = 300


def describe(error: jsonschema.ValidationError, where: str) -> str:
    """One line naming the field and what is wrong with it."""
    path = ".".join(str(part) for part in error.absolute_path)
    field = f"{where}.{path}" if path else where
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "..."
    return f"{field}: {message}"


def check(validator: jsonschema.protocols.Validator, value: Any, where: str) -> None:
    """Raise the platform's 400 for the most relevant schema violation."""
    error = best_match(validator.iter_errors(value))
    if error is not None:
        raise ValidationError(describe(error, where))


class NamedParameterValidator(ParameterValidator):
    """Connexion's parameter validation, with messages that name the parameter."""

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if "x-jsonschema" in param:
            # Reassembled and checked exactly by the dispatcher (see query.py).
            return None
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error is None:
            return None
        first_line = str(error).split("\n", 1)[0]
        return f"{parameter_type} parameter {param['name']}: {first_line}"


def _no_constant(name: str) -> Any:
    # Python accepts NaN and Infinity; JSON (and the platform's parser) does not.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json_body(text: str) -> Any:
    """A request body's JSON, as the platform reads it (no NaN, no Infinity)."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"body: malformed JSON ({exc.msg} at {exc.pos})") from None
    except ValueError as exc:
        raise ValidationError(f"body: malformed JSON ({exc})") from None


# What _parse returns for an empty body (``None`` is the JSON body ``null``).
_NO_BODY = object()


def body_validator_map(spec: PlatformSpec) -> dict[str, Any]:
    """Connexion's validator map with the exact JSON body validator for ``spec``."""

    class ExactJSONBodyValidator(JSONRequestBodyValidator):
        def __init__(self, *, schema: dict, **kwargs: Any) -> None:
            super().__init__(schema=schema, **kwargs)
            name = schema.get("x-schema-name")
            self._exact = spec.validator(name) if name else None

        async def wrap_receive(self, receive, *, scope):
            receive = await _buffer_chunked(receive, scope)
            try:
                return await super().wrap_receive(receive, scope=scope)
            except BadRequestProblem:
                # Connexion's own "RequestBody is required" names no field.
                raise ValidationError("body: a JSON body is required") from None

        async def _parse(self, stream, scope):
            chunks = []
            size = 0
            async for chunk in stream:
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
            text = b"".join(chunks).decode(self._encoding, errors="replace")
            if not text:
                return _NO_BODY
            return parse_json_body(text)

        def _validate(self, body: Any) -> None:
            # No body at all is "absent"; a JSON `null` body is a value like any
            # other, judged by the schema (the official clients omit an unset body).
            if body is _NO_BODY:
                if self._required:
                    raise ValidationError("body: a JSON body is required")
                return None
            if self._exact is not None:
                check(self._exact, body, "body")
            return None

    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["*/*json"] = ExactJSONBodyValidator
    body["multipart/form-data"] = MultipartFormValidator
    return {"parameter": NamedParameterValidator, "body": body}


async def _buffer_chunked(receive, scope):
    """Give a chunked body (no Content-Length) a length, so it is not read as absent.

    Connexion decides "no body" from a missing or zero Content-Length; a client
    streaming its JSON with Transfer-Encoding: chunked would otherwise be told
    its body is missing.
    """
    headers = Headers(scope=scope)
    if "content-length" in headers or "chunked" not in headers.get("transfer-encoding", ""):
        return receive
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    scope["headers"] = [
        (name, value) for name, value in scope["headers"] if name.lower() != b"transfer-encoding"
    ] + [(b"content-length", str(len(body)).encode())]
    replay = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def receive_() -> dict:
        try:
            return next(replay)
        except StopIteration:
            return await receive()

    return receive_


class MultipartFormValidator(MultiPartFormDataValidator):
    """Multipart bodies (application imports): platform-style messages, and no crash.

    Object-valued parts (``options``) are JSON text, as the spec's ``encoding``
    says; Connexion decodes them, and text that is not JSON is a 400 here rather
    than an unhandled error. A request with no body at all has no Content-Type,
    which Connexion's form parser cannot handle; it is an empty form here.
    """

    async def _parse(self, stream, scope):
        if "content-type" not in Headers(scope=scope):
            async for _ in stream:
                pass
            return {}
        try:
            return await super()._parse(stream, scope)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"body: a JSON form part is not valid JSON ({exc.msg})") from None
        except (KeyError, TypeError, AttributeError):
            # Connexion's form coercion walks a JSON part along its schema and
            # fails on a nested object where the schema has a scalar or an array
            # (options={"importUrl": {...}}): the client's mistake, so a 400.
            raise ValidationError(
                "body: a JSON form part does not have the shape its schema gives "
                "(an object where the schema expects a value or a list)"
            ) from None

    def _validate(self, body: Any) -> None:
        check(self._validator, body, "body")
