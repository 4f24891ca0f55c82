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
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import schemathesis

from losant_kit.specs.rules import QUERY_DATE_FIELDS

A_DATE = "2024-01-01T00:00:00.000Z"
# Before any token the run can hold.
LONG_AGO = "2000-01-01T00:00:00.000Z"
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
        # No form at all: send one (an import needs a source).
        body = case.body = {}
        case.media_type = "multipart/form-data"
    options = _options(body)
    for key in ("importUrl", "fromApplicationId", "credentialName", "repo"):
        options.pop(key, None)
    if case.operation.definition.raw["operationId"] == "application.import":
        # Into an application: import from the application itself.
        body.pop("importBundle", None)
        options["fromApplicationId"] = case.path_parameters["applicationId"]
    else:
        # As text: Schemathesis re-checks an edited body against the schema and
        # takes one holding raw bytes for a negative case.
        body["importBundle"] = MINIMAL_BUNDLE.decode()
    body["options"] = options


def _import_conflicts(case: Any) -> None:
    # The import-source repair imports the application into itself, where every
    # resource conflicts: "error" would refuse it, "retain" keeps what is there.
    body = _body(case)
    if body is None:
        return
    options = _options(body)
    if options.get("conflictBehavior") == "error":
        options["conflictBehavior"] = "retain"
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


def _token_cutoff_in_the_past(case: Any) -> None:
    body = _body(case)
    if body is not None and "tokenCutoff" in body:
        body["tokenCutoff"] = LONG_AGO


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


def _referenced_experience_resources_exist(case: Any) -> None:
    body = _body(case)
    if body is not None:
        body.pop("parentId", None)
        for key in ("experienceGroupIds", "experienceUserIds", "experienceEndpointIds"):
            if key in body:
                body[key] = []


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


# Epoch milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999Z: the dates a
# datetime can hold.
EARLIEST_MS = -62_135_596_800_000
LATEST_MS = 253_402_300_799_999
DATE_FIELDS = ("time", "creationDate")


def _is_a_date(value: Any) -> bool:
    if isinstance(value, str):
        return _is_date_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return EARLIEST_MS <= value <= LATEST_MS
    return True  # other types: the schema's business


def _time_is_a_date(case: Any) -> None:
    items = case.body if isinstance(case.body, list) else [case.body]
    for item in items:
        for field in DATE_FIELDS:
            value = item.get(field) if isinstance(item, dict) else None
            if isinstance(value, dict):
                holder, key, value = value, "$date", value.get("$date")
            else:
                holder, key = item, field
            if value is not None and not _is_a_date(value):
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


def _fresh(prefix: str = "st") -> str:
    """A name nobody has taken yet (lowercase letters, digits and `-`)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _unique_names(case: Any, kwargs: dict[str, Any]) -> None:
    body = _body(case)
    if body is None:
        return
    op = case.operation.definition.raw["operationId"]
    if "slug" in body:
        body["slug"] = _fresh()
    if "domainName" in body:
        body["domainName"] = f"{_fresh()}.example.com"
    if op.startswith("experienceUser") and "email" in body:
        body["email"] = f"{_fresh()}@example.com"
    if op.startswith("experienceEndpoint") and ("route" in body or "method" in body):
        body["route"] = "/" + _fresh()
    if op.startswith("deviceAttribute") and "name" in body:
        body["name"] = _fresh("st").replace("-", "_")
    for field, key in (("attributes", "name"), ("globals", "key")):
        if isinstance(body.get(field), list):
            body[field] = _first_of_each(body[field], key)


def _first_of_each(items: list[Any], key: str) -> list[Any]:
    """``items`` without the later ones whose ``key`` repeats an earlier one's."""
    seen: set[Any] = set()
    kept = []
    for item in items:
        name = item.get(key) if isinstance(item, dict) else None
        if name is None or name not in seen:
            seen.add(name)
            kept.append(item)
    return kept


def _endpoint_route(case: Any, kwargs: dict[str, Any]) -> None:
    body = _body(case)
    if body is not None and "route" in body:
        body["route"] = "/" + _fresh()


def _bootstrap_once(case: Any) -> None:
    body = _body(case)
    if body is not None:
        body["replaceExisting"] = True


def _api(case: Any) -> tuple[str, dict[str, str]]:
    """The run's base URL and its Authorization header (as the run sends it)."""
    schema = case.operation.schema
    configured = schema.config.headers_for(operation=case.operation)
    headers = {
        k: v for k, v in {**configured, **(case.headers or {})}.items()
        if k.lower() == "authorization"
    }
    return schema.get_base_url().rstrip("/"), headers


def _state_not_for_system_devices(case: Any, kwargs: dict[str, Any]) -> None:
    app_id = case.path_parameters.get("applicationId")
    device_id = case.path_parameters.get("deviceId")
    if not app_id or not device_id:
        return
    base, headers = _api(case)
    url = f"{base}/applications/{app_id}/devices"
    device = requests.get(f"{url}/{device_id}", headers=headers, timeout=30)
    if device.status_code != 200 or device.json().get("deviceClass") != "system":
        return
    others = requests.get(
        url, params={"deviceClass": "standalone", "perPage": "1"}, headers=headers, timeout=30
    )
    items = others.json().get("items", []) if others.status_code == 200 else []
    if items:
        case.path_parameters["deviceId"] = items[0]["id"]


def _time_series_bounds(case: Any) -> None:
    body = _body(case)
    if body is None:
        return
    for key, low in (("duration", 0), ("resolution", 1), ("limit", 1)):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < low:
            body[key] = max(abs(value), low)


def _usage_window(case: Any) -> None:
    # The defaults (the last 30 days) are always a small window.
    if case.query:
        case.query.pop("start", None)
        case.query.pop("end", None)


REPAIRS: dict[str, Callable[[Any], None]] = {
    "archive-date-window": _archive_date_window,
    "expiration-in-future": _expiration_in_future,
    "organization-membership": _organization_membership,
    "import-source": _import_source,
    "import-conflicts": _import_conflicts,
    "export-repository": _export_repository,
    "new-global-needs-json": _new_global_needs_json,
    "password-change-needs-current": _password_change_needs_current,
    "bulk-create-source": _bulk_create_source,
    "token-cutoff-in-the-past": _token_cutoff_in_the_past,
    "command-needs-devices": _command_needs_devices,
    "time-is-a-date": _time_is_a_date,
    "publish-topic-name": _publish_topic_name,
    "device-tags-select": _device_tags_select,
    "referenced-devices-exist": _referenced_devices_exist,
    "referenced-experience-resources-exist": _referenced_experience_resources_exist,
    "query-dates": _query_dates,
    "query-known-fields": _query_known_fields,
    "bootstrap-once": _bootstrap_once,
    "time-series-bounds": _time_series_bounds,
    "usage-window": _usage_window,
}

# Rules about the world: set up just before the call.
ARCHIVE_CONFIG = {"archiveConfig": {"directory": "kit-archive", "credentialName": "kit-archive"}}


def _archive_destination(case: Any, kwargs: dict[str, Any]) -> None:
    """Configure the application's archive destination, with the run's own headers."""
    app_id = case.path_parameters.get("applicationId")
    if not app_id:
        return
    base, headers = _api(case)
    requests.patch(
        f"{base}/applications/{app_id}", json=ARCHIVE_CONFIG, headers=headers, timeout=30
    )


# Set up (or made fresh) just before each call, never at generation: a case
# Schemathesis sends again (to confirm or shrink a failure) gets new names too.
SETUPS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "archive-destination": _archive_destination,
    "unique-names": _unique_names,
    "endpoint-route": _endpoint_route,
    "state-not-for-system-devices": _state_not_for_system_devices,
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
