"""Schemathesis over an experience file: the schema, example requests, sending a case.

Cases go out through the target's own client (so the live-safe rate limit
and the ``*.localhost`` Host mapping apply to every request) and come back
to Schemathesis for its checks. The checks that send requests of their own
(``ignored_auth``, ``use_after_free``, ``ensure_resource_availability``) are
left out: the auth and stateful tests cover those with this transport.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import schemathesis

from losant_kit.contracts.fuzz import KnownIds, failure_text
from losant_kit.mockserver.experience.apifile import ApiOperation

if TYPE_CHECKING:
    from losant_kit.contracts.experience.target import ExperienceTarget

# Positive data may still be refused for what a schema cannot say (a device
# id of the right shape that names no device, a wrong password).
POSITIVE_OK = ["2XX", "400", "401", "403", "404", "409", "422", "429"]
NEGATIVE_OK = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]
KEEP = object()  # send_case: keep the credential the case carries
__all__ = ["KnownIds", "build_schema", "example_case", "failure_text", "send_case"]


def build_schema(target: ExperienceTarget, *, max_examples: int) -> Any:
    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": max_examples, "mode": "all", "database": "none"},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": POSITIVE_OK},
            "negative_data_rejection": {"expected-statuses": NEGATIVE_OK},
        },
    })
    schema = schemathesis.openapi.from_dict(copy.deepcopy(target.api.document), config=config)
    schema.config.update(base_url=str(target.client.base_url).rstrip("/") + target.base_path)
    # The first user's current token on every case (no caching: a test may revoke it and
    # log in again). Known to Schemathesis, so negative cases do not "omit" it.
    schema.auth(refresh_interval=None)(_first_user_auth(target))
    return schema


def _first_user_auth(target: ExperienceTarget) -> type:
    class FirstUser:
        def get(self, case: Any, ctx: Any) -> str:
            return target.first.token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

    return FirstUser


def excluded_checks() -> list[Any]:
    from schemathesis.specs.openapi import checks

    return [getattr(checks, name) for name in
            ("ignored_auth", "use_after_free", "ensure_resource_availability")
            if hasattr(checks, name)]


def known_ids(target: ExperienceTarget) -> KnownIds:
    """A device the first user reaches, swapped into generated ``deviceId``s."""
    devices = sorted(target.first.device_ids)
    return KnownIds({"deviceId": devices[0]} if devices else {})


def token_for(target: ExperienceTarget, operation: ApiOperation) -> str | None:
    return None if operation.access == "public" else target.first.token


def send_case(target: ExperienceTarget, case: Any, token: Any = None,
              device_id: str | None = None) -> httpx.Response:
    """Send a case; ``token`` (a string or None) replaces the case's own credential unless
    it is KEEP; ``device_id`` aims the case at another device."""
    headers = {k: str(v) for k, v in (case.headers or {}).items()
               if token is KEEP or k.lower() != "authorization"}
    content = None
    if case.body is not None and not _is_unset(case.body):
        body = case.body
        content = bytes(body) if isinstance(body, bytes | bytearray) else \
            json.dumps(body, default=str).encode()
        headers.setdefault("Content-Type", case.media_type or "application/json")
    path = case.formatted_path
    if device_id is not None:
        params = {**(case.path_parameters or {}), "deviceId": device_id}
        path = case.operation.path
        for name, value in params.items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return target.request(case.method, path, token=None if token is KEEP else token,
                          params=case.query or None, headers=headers, content=content)


def example_case(target: ExperienceTarget, schema: Any, operation: ApiOperation) -> Any:
    """One schema-valid request of the operation (derandomized), with a known device id."""
    from hypothesis import HealthCheck, Phase, find, settings
    from schemathesis import GenerationMode
    from schemathesis.generation.feedback import NO_FEEDBACK

    cache = target.__dict__.setdefault("_examples", {})
    if operation.operation_id not in cache:
        strategy = schema.find_operation_by_id(operation.operation_id).as_strategy(
            generation_mode=GenerationMode.POSITIVE, feedback=NO_FEEDBACK)
        case = find(strategy, lambda _: True, settings=settings(
            database=None, derandomize=True, max_examples=1, phases=[Phase.generate],
            suppress_health_check=list(HealthCheck)))
        for name in list(case.path_parameters or {}):
            if name == "deviceId" and target.first.device_ids:
                case.path_parameters[name] = sorted(target.first.device_ids)[0]
        cache[operation.operation_id] = case
    return cache[operation.operation_id]


def _is_unset(value: Any) -> bool:
    return type(value).__name__ in ("NotSet", "Unset")
