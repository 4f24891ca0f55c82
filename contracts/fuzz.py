"""Schemathesis wired to a target: schema, auth provider, checks and hooks.

Extension points only (no forked runner): an auth provider that logs in once,
a registered check that validates JSON bodies against the exact draft-07
schemas, an ``after_call`` hook that records what the run created, and a
config that tells Schemathesis which statuses this API uses for what.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis

from losant_kit.contracts.spec_view import CONTRACT_MARK, contract_document, operations

if TYPE_CHECKING:
    from losant_kit.contracts.target import Target

OBJECT_ID = re.compile(r"^[A-Fa-f\d]{24}$")
# Positive data may still be refused for rules a schema cannot state (a
# reference to a device that does not exist, an expiry in the past, a password
# change without the current password): 400/422 are answers, not defects.
POSITIVE_OK = ["2XX", "400", "401", "403", "404", "409", "413", "422", "429"]
NEGATIVE_OK = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]


# ---------------------------------------------------------------- exact bodies


@schemathesis.check
def exact_response_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """JSON bodies must satisfy the exact draft-07 schema (components.x-jsonschema).

    The lowered OpenAPI 3.0 schemas Schemathesis checks by itself drop
    constraints 3.0 cannot express (patternProperties, exact formats); this
    check holds the body to the contract as the platform states it.
    """
    schema = case.operation.schema
    if not schema.raw_schema.get("info", {}).get(CONTRACT_MARK):
        return None  # someone else's Schemathesis run in the same process
    operation_id = case.operation.definition.raw.get("operationId")
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if not operation_id or "json" not in (content_type or "") or not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} with a body "
            f"that is not JSON though its content type says so") from None
    errors = exact_errors(operation_id, response.status_code, body)
    if errors:
        raise AssertionError(
            f"{case.method} {case.formatted_path} returned a {response.status_code} body that "
            f"breaks the exact schema ({len(errors)} error(s)): " + "; ".join(errors[:3]))
    return True


_PLATFORM_SPEC = None


def exact_errors(operation_id: str, status: int, body: Any) -> list[str]:
    """Why ``body`` breaks the exact schema documented for (operation, status)."""
    global _PLATFORM_SPEC
    if _PLATFORM_SPEC is None:
        from losant_kit.mockserver.spec import PlatformSpec

        _PLATFORM_SPEC = PlatformSpec()
    if status not in operations()[operation_id].documented:
        return []  # status_code_conformance reports that
    return _PLATFORM_SPEC.response_errors(operation_id, status, body)


# ---------------------------------------------------------------- auth


def login_auth(target: Target) -> type:
    """An auth provider class bound to a target (Schemathesis instantiates it).

    With a login (email and password) it logs in once and Schemathesis caches
    the token for an hour, fetching a new one after a 401; with a bare token it
    hands that token out.
    """

    class LosantLogin:
        def get(self, case: Any, ctx: Any) -> str:
            if target.login is None:
                return target.token
            email, password = target.login
            response = target.api.post("/auth/user", {"email": email, "password": password},
                                       token=None)
            return response.json()["token"] if response.status_code == 200 else target.token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

    return LosantLogin


# ---------------------------------------------------------------- schema


def build_schema(target: Target, *, max_examples: int, negative: bool = True,
                 document: dict[str, Any] | None = None) -> Any:
    """The contract view loaded into Schemathesis, pointed at ``target``."""
    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": max_examples, "mode": "all" if negative else "positive",
                       "database": "none"},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": POSITIVE_OK},
            "negative_data_rejection": {"expected-statuses": NEGATIVE_OK},
        },
    })
    schema = schemathesis.openapi.from_dict(document or contract_document(), config=config)
    if target.in_process:
        schema.app = target.app
    else:
        schema.config.update(base_url=target.base_url)
    schema.auth(refresh_interval=3600)(login_auth(target))

    @schema.hook("after_call")
    def record_creations(context: Any, case: Any, response: Any) -> None:
        if case.method.upper() == "POST" and response.status_code in (200, 201):
            try:
                body = response.json()
            except ValueError:
                return
            target.sandbox.record_creation(case.formatted_path, body, response.status_code)

    return schema


def failure_text(found: BaseException) -> str:
    """What Schemathesis/Hypothesis found, as readable text (no tracebacks).

    Hypothesis wraps several distinct failures in an ExceptionGroup; each
    Schemathesis FailureGroup already renders its failures and a curl line.
    """
    if isinstance(found, BaseExceptionGroup) and not str(found).startswith("Schemathesis"):
        return "\n\n".join(failure_text(e) for e in found.exceptions)
    return str(found)


def run_property(check: Callable[[], None], request: Any, count: list[int],
                 headline: str) -> None:
    """Run a Hypothesis-driven Schemathesis check; what it finds fails the test.

    ``count`` is the check's case counter, recorded on the test for the CLI's
    cases/second figure (it travels with xdist reports); ``headline`` opens
    the failure message (which operation, which data, which contract).
    """
    from schemathesis.core.failures import FailureGroup

    found_text = None
    try:
        check()
    except (FailureGroup, BaseExceptionGroup, AssertionError) as found:
        found_text = failure_text(found)
    finally:
        request.node.user_properties.append(("cases", count[0]))
    if found_text is not None:
        # Outside the except block, so pytest shows the message, not a chained traceback.
        pytest.fail(f"{headline}:\n{found_text}", pytrace=False)


def before_case(target: Target, case: Any) -> None:
    """Per-case housekeeping: fresh throttle counters on the mock, pacing elsewhere.

    Schemathesis sends through its own transport, so the client-side limiter
    that paces the hand-written suites is applied here as well.
    """
    if target.is_mock:
        target.reset_throttles()
        return
    limiter = target.api.policy.limiter
    if limiter is not None:
        from losant_kit.contracts.client import throttle_key
        from losant_kit.contracts.spec_view import router

        operation = router().match(case.method, case.formatted_path)
        limiter.acquire(operation, throttle_key(operation, case.formatted_path))


class KnownIds:
    """Ids of real resources in the sandbox, swapped into generated path parameters.

    Random ids almost always answer 404, so success bodies would go unchecked.
    Three cases in four (decided by the generated value, so shrinking stays
    stable) use a known id instead; ids that were generated invalid on purpose
    (negative cases) are left alone.
    """

    def __init__(self, ids: dict[str, str] | None = None) -> None:
        self.ids = dict(ids or {})

    def apply(self, case: Any) -> None:
        params = case.path_parameters or {}
        for name, value in list(params.items()):
            known = self.ids.get(name)
            if known is None or not isinstance(value, str):
                continue
            if name.endswith("Id") and not OBJECT_ID.match(value):
                continue
            if name == "name" and not re.match(r"^[0-9a-zA-Z_-]{1,255}$", value):
                continue
            if hashlib.blake2b(value.encode(), digest_size=1).digest()[0] % 4 != 0:
                params[name] = known


def example_request(target: Target, operation_id: str) -> dict[str, Any]:
    """One schema-valid request (body and query) for an operation, from Schemathesis.

    Hand-written suites that send a request only to see it refused (a token it
    was not granted, a narrowed scope) need a *valid* body: an invalid one is
    refused by validation before authorisation is ever asked. The first
    positive example Schemathesis generates, derandomized, is used and kept
    for the run.
    """
    cache = target.cache.setdefault("examples", {})
    if operation_id in cache:
        return cache[operation_id]
    from hypothesis import HealthCheck, Phase, find, settings
    from schemathesis import GenerationMode
    from schemathesis.generation.feedback import NO_FEEDBACK

    schema = target.cache.get("example-schema")
    if schema is None:
        schema = target.cache["example-schema"] = build_schema(target, max_examples=1,
                                                               negative=False)
    operation = schema.find_operation_by_id(operation_id)
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                     feedback=NO_FEEDBACK)
    case = find(strategy, lambda _: True, settings=settings(
        database=None, derandomize=True, max_examples=1, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck)))
    body = case.body if case.body is not None and not _is_unset(case.body) else None
    cache[operation_id] = {"body": body, "query": dict(case.query or {})}
    return cache[operation_id]


def _is_unset(value: Any) -> bool:
    return type(value).__name__ in ("NotSet", "Unset")
