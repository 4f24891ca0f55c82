"""Schemathesis hooks that make generated cases respect the spec's ``x-rules``.

Load them into a stock Schemathesis run (no kit code sees the spec)::

    SCHEMATHESIS_HOOKS=losant_kit.contracts.st_hooks \\
        st run http://127.0.0.1:8080/openapi-3.1.json -H "Authorization: Bearer $TOKEN"

Each ``x-rules`` entry of an operation (``specs/rules.py``) names a rule no
schema can state; :data:`REPAIRS` holds, per rule id, how a *positive* case
is brought in line with it (negative cases are left alone: they are meant to
be refused). Rules about the world rather than the request (an archive
destination configured first) are set up just before the call, through the
API itself, with the run's own credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import schemathesis

from losant_kit.specs.rules import QUERY_DATE_FIELDS

A_DATE = "2024-01-01T00:00:00.000Z"
# The mock's export bundle format (the platform's own bundles are zip files; a
# run against the platform needs one of those for applications.import).
MINIMAL_BUNDLE = json.dumps(
    {
        "bundleType": "losant-mock-application-export",
        "version": 1,
        "application": {"name": "Imported by Schemathesis"},
        "resources": {},
    }
).encode()


def _now() -> datetime:
    return datetime.now(UTC)


def _rule_ids(case: Any) -> list[str]:
    return [rule["id"] for rule in case.operation.definition.raw.get("x-rules", [])]


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or not meta.generation.mode.is_negative


def _body(case: Any) -> dict[str, Any] | None:
    return case.body if isinstance(case.body, dict) else None


# ---------------------------------------------------------------- repairs, per rule id


def _archive_date_window(case: Any) -> None:
    if case.query is not None and "date" in case.query:
        case.query["date"] = str(int((_now() - timedelta(days=40)).timestamp() * 1000))


def _expiration_in_future(case: Any) -> None:
    body = _body(case)
    if body is not None and "expirationDate" in body:
        body["expirationDate"] = (_now() + timedelta(days=30)).isoformat()


def _organization_membership(case: Any) -> None:
    body = _body(case)
    if body is not None:
        for key in ("orgId", "ownerType", "ownerId"):
            body.pop(key, None)


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options")
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except ValueError:
            options = None
    return options if isinstance(options, dict) else {}


def _import_source(case: Any) -> None:
    body = _body(case)
    if body is None:
        return
    options = _options(body)
    for key in ("importUrl", "fromApplicationId", "credentialName", "repo"):
        options.pop(key, None)
    if case.operation.definition.raw["operationId"] == "application.import":
        # Into an application: import from the application itself.
        body.pop("importBundle", None)
        options["fromApplicationId"] = case.path_parameters["applicationId"]
    else:
        body["importBundle"] = MINIMAL_BUNDLE
    body["options"] = options


def _export_repository(case: Any) -> None:
    body = _body(case)
    if body is not None and body.get("exportType") == "repo":
        body.pop("exportType")


def _new_global_needs_json(case: Any) -> None:
    for item in case.body if isinstance(case.body, list) else []:
        if isinstance(item, dict) and not item.get("json"):
            item["json"] = '"set by the kit hooks"'


def _password_change_needs_current(case: Any) -> None:
    body = _body(case)
    if body is not None:
        # The run's own login must keep working; so no password change.
        body.pop("password", None)


def _bulk_create_source(case: Any) -> None:
    body = _body(case)
    if body is None:
        return
    body.pop("csv", None)
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10:
        body["count"] = 1


def _command_needs_devices(case: Any) -> None:
    body = _body(case)
    if body is not None and not any(k in body for k in ("deviceIds", "deviceTags", "deviceQuery")):
        body["deviceIds"] = []


def _publish_topic_name(case: Any) -> None:
    body = _body(case)
    if body is not None and isinstance(body.get("topic"), str):
        body["topic"] = body["topic"].replace("+", "_").replace("#", "_") or "kit"


def _referenced_devices_exist(case: Any) -> None:
    body = _body(case)
    if body is not None:
        for key in ("deviceId", "gatewayId", "parentId"):
            body.pop(key, None)


def _device_tags_select(case: Any) -> None:
    body = _body(case)
    if body is not None and isinstance(body.get("deviceTags"), list):
        body["deviceTags"] = [
            t for t in body["deviceTags"] if isinstance(t, dict) and ("key" in t or "value" in t)
        ]


def _is_date_text(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _time_is_a_date(case: Any) -> None:
    items = case.body if isinstance(case.body, list) else [case.body]
    for item in items:
        time = item.get("time") if isinstance(item, dict) else None
        if isinstance(time, dict):
            holder, key, time = time, "$date", time.get("$date")
        else:
            holder, key = item, "time"
        if isinstance(time, str) and not _is_date_text(time):
            holder[key] = A_DATE


def _dated(value: Any) -> Any:
    """Every scalar under a date field made a date (structure and nulls kept)."""
    if isinstance(value, dict):
        if "$date" in value:
            return {"$date": A_DATE}
        # `$ci` (case-insensitive flag) stays a boolean.
        return {k: (v if k == "$ci" else _dated(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_dated(v) for v in value]
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and _is_date_text(value):
        return value
    return A_DATE


def _walk_queries(node: Any, fix: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``fix`` to every query object: the node and its ``$and``/``$or``/``$nor`` parts."""
    if isinstance(node, dict):
        fix(node)
        for key in ("$and", "$or", "$nor"):
            for part in node.get(key) or () if isinstance(node.get(key), list) else ():
                _walk_queries(part, fix)


def _query_values(case: Any) -> list[tuple[Any, str | None]]:
    """(container, key) of every value that may hold an advanced query."""
    found: list[tuple[Any, str | None]] = []
    if case.query:
        found += [(case.query, "query")]
    body = _body(case)
    if body is not None:
        found += [(body, key) for key in ("query", "deviceQuery")]
    return found


def _each_query(case: Any, fix: Callable[[dict[str, Any]], None]) -> None:
    for container, key in _query_values(case):
        raw = container.get(key)
        decoded = json.loads(raw) if isinstance(raw, str) and raw[:1] == "{" else raw
        _walk_queries(decoded, fix)
        if decoded is not raw:
            container[key] = json.dumps(decoded)


def _query_dates(case: Any) -> None:
    def fix(query: dict[str, Any]) -> None:
        for field in QUERY_DATE_FIELDS:
            if field in query:
                query[field] = _dated(query[field])

    _each_query(case, fix)


def _query_known_fields(case: Any) -> None:
    # The fields the operation's own query schema lists.
    params = case.operation.definition.raw.get("parameters", [])
    schema: dict[str, Any] = {}
    for param in params:
        if param.get("name") == "query":
            schema = param.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    resolved = case.operation.schema.raw_schema["components"]["schemas"].get(
        ref.rsplit("/", 1)[-1], {}
    )
    allowed = set(resolved.get("properties", {}))

    def fix(query: dict[str, Any]) -> None:
        for key in list(query):
            if key not in allowed:
                del query[key]

    if allowed:
        _each_query(case, fix)


REPAIRS: dict[str, Callable[[Any], None]] = {
    "archive-date-window": _archive_date_window,
    "expiration-in-future": _expiration_in_future,
    "organization-membership": _organization_membership,
    "import-source": _import_source,
    "export-repository": _export_repository,
    "new-global-needs-json": _new_global_needs_json,
    "password-change-needs-current": _password_change_needs_current,
    "bulk-create-source": _bulk_create_source,
    "command-needs-devices": _command_needs_devices,
    "time-is-a-date": _time_is_a_date,
    "publish-topic-name": _publish_topic_name,
    "device-tags-select": _device_tags_select,
    "referenced-devices-exist": _referenced_devices_exist,
    "query-dates": _query_dates,
    "query-known-fields": _query_known_fields,
}

# Rules about the world: set up just before the call.
ARCHIVE_CONFIG = {"archiveConfig": {"directory": "kit-archive", "credentialName": "kit-archive"}}


def _archive_destination(case: Any, kwargs: dict[str, Any]) -> None:
    """Configure the application's archive destination, with the run's own headers."""
    app_id = case.path_parameters.get("applicationId")
    if not app_id:
        return
    schema = case.operation.schema
    base = schema.get_base_url().rstrip("/")
    configured = schema.config.headers_for(operation=case.operation)
    headers = {
        k: v for k, v in {**configured, **(case.headers or {})}.items()
        if k.lower() == "authorization"
    }
    requests.patch(
        f"{base}/applications/{app_id}", json=ARCHIVE_CONFIG, headers=headers, timeout=30
    )


SETUPS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "archive-destination": _archive_destination,
}


def _repair(case: Any) -> Any:
    if _positive(case):
        for rule_id in _rule_ids(case):
            repair = REPAIRS.get(rule_id)
            if repair is not None:
                repair(case)
    return case


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Generated cases (coverage, fuzzing, stateful phases)."""
    return _repair(case)


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    """The spec's own examples (examples phase), which no ``map_*`` hook sees."""
    for case in examples:
        _repair(case)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if _positive(case):
        for rule_id in _rule_ids(case):
            setup = SETUPS.get(rule_id)
            if setup is not None:
                setup(case, kwargs)
