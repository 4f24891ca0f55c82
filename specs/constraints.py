"""Parameter constraints the platform documents but the reference leaves untyped.

The reference types every query parameter as a string. Where the parameter's
own documentation says what the string holds (milliseconds since the epoch, a
comma-separated list of summary names, ...), the spec states it as a pattern,
in both documents, so tools generate only values the platform (and the mock,
which validates parameters with the 3.0 document) accepts. Each entry names
the documentation that states it; ``specs/README.md`` lists them (generated).

Rules that no schema can state are in :mod:`losant_kit.specs.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A number of milliseconds as a query string: digits, an optional fraction.
MS_PATTERN = "^-?[0-9]+(\\.[0-9]+)?$"
MS_NON_NEGATIVE_PATTERN = "^[0-9]+(\\.[0-9]+)?$"
# Seconds from 0.01 to 3600 (the mock's keep-alive bounds, mockserver/sse.py):
# 1-3599 with any fraction, 3600 with a zero fraction, or 0.01-0.99...
KEEP_ALIVE_PATTERN = (
    "^0*(([1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2})(\\.[0-9]+)?"
    "|3600(\\.0+)?|0\\.(0[1-9]|[1-9])[0-9]*)$"
)
POSITIVE_COUNT_PATTERN = "^0*[1-9][0-9]*$"
OBJECT_ID_OR_NULL_PATTERN = "^([A-Fa-f0-9]{24}|null)?$"
# 1 to 1000 (leading zeros allowed, as int() reads them).
PER_PAGE_PATTERN = "^0*([1-9][0-9]{0,2}|1000)$"
# An MQTT topic filter (MQTT 3.1.1, 4.7): levels split by "/", "+" a whole
# level, "#" only the whole last one, never NUL.
TOPIC_FILTER_PATTERN = "^(?:(?:\\+|[^+#/\\x00]*)/)*(?:\\+|#|[^+#/\\x00]*)$"
# The reference bounds a published topic (mqttPublishBody.topic maxLength 230);
# a filter gets the same bound.
MAX_TOPIC_LENGTH = 230
SUMMARY_NAMES = ("deviceCounts", "notebookMinuteCounts", "payloadCounts")


def _comma_list(names: tuple[str, ...]) -> str:
    one = "(" + "|".join(names) + ")"
    return f"^ *{one}( *, *{one})* *$"


@dataclass(frozen=True)
class Constraint:
    """Schema keywords added to a query parameter, and where the platform says so."""

    parameter: str
    keywords: dict[str, Any]
    source: str
    # Operation ids it applies to; empty: every operation with the parameter.
    operations: tuple[str, ...] = ()


CONSTRAINTS: tuple[Constraint, ...] = (
    *(
        Constraint(
            name,
            {"pattern": MS_PATTERN},
            f"apiInfo.json describes `{name}` as milliseconds since the epoch (\"ms since "
            "epoch\", \"0 means now, negative is relative to now\").",
        )
        for name in ("start", "end", "since")
    ),
    Constraint(
        "duration",
        {"pattern": MS_NON_NEGATIVE_PATTERN},
        "apiInfo.json: \"Duration of time range to query in milliseconds\".",
    ),
    Constraint(
        "date",
        {"pattern": MS_NON_NEGATIVE_PATTERN},
        "apiInfo.json (`application.archiveData`): \"The date to archive data (ms since epoch)\".",
    ),
    Constraint(
        "keepAliveInterval",
        {"pattern": KEEP_ALIVE_PATTERN},
        "apiInfo.json: \"Number of seconds between keepalive messages\"; the bounds 0.01 to "
        "3600 are not in the reference: they are the mock's (no busy loop, no timer the event "
        "loop cannot hold; fractions are its extension for fast tests), stated so tools do not "
        "guess.",
    ),
    Constraint(
        "parentId",
        {"pattern": OBJECT_ID_OR_NULL_PATTERN},
        "apiInfo.json (`devices.get`): \"Filter devices as children of a given system id\" "
        "(example `575ecf887ae143cd83dc4aa2`, an object id); `null` (devices without a parent) "
        "and an empty value (no filter) are what the official clients send besides.",
        ("devices.get",),
    ),
    Constraint(
        "limit",
        {"pattern": POSITIVE_COUNT_PATTERN},
        "apiInfo.json: \"Max log entries to return\" (`application.importLogs`), \"Maximum "
        "number of command/log/state entries to return\" (`device.getCommand`, "
        "`.getLogEntries`, `.getState`), each with default 1: a count of entries, so at "
        "least 1.",
    ),
    Constraint(
        "requestCountDuration",
        {"pattern": "^[0-9]+$"},
        "apiInfo.json (`experienceEndpoints.get`): \"a count of recent requests is included on "
        "each endpoint for the duration requested (milliseconds)\", example 86400000: whole "
        "milliseconds.",
        ("experienceEndpoints.get",),
    ),
    Constraint(
        "resolution",
        {"pattern": POSITIVE_COUNT_PATTERN},
        "apiInfo.json (`experienceEndpoints.stats`): \"Resolution in milliseconds\", default "
        "3600000: a bucket of at least 1 ms.",
        ("experienceEndpoints.stats",),
    ),
    Constraint(
        "perPage",
        {"pattern": PER_PAGE_PATTERN},
        "apiInfo.json says \"How many items to return per page\" (so at least 1); the upper "
        "bound 1000 is not in the reference: it is the mock's page cap, stated so tools do "
        "not guess. Replaces the digit pattern of \"Tightened parameters\".",
    ),
    Constraint(
        "include",
        {"pattern": _comma_list(SUMMARY_NAMES)},
        "apiInfo.json (`applications.periodSummaries`): \"Comma-separated list of resources\", "
        "example `payloadCounts, deviceCounts, notebookMinuteCounts`.",
        ("applications.periodSummaries",),
    ),
    Constraint(
        "exclude",
        {"pattern": _comma_list(SUMMARY_NAMES)},
        "apiInfo.json (`applications.periodSummaries`): \"Comma-separated list of resources to "
        "exclude from summary\", example `payloadCounts, deviceCounts, notebookMinuteCounts`.",
        ("applications.periodSummaries",),
    ),
    Constraint(
        "topic",
        {"minLength": 1, "maxLength": MAX_TOPIC_LENGTH, "pattern": TOPIC_FILTER_PATTERN},
        "apiInfo.json (`application.mqttSubscriptionStream`): \"The MQTT topic to subscribe "
        "to\"; a topic filter as MQTT 3.1.1 section 4.7 defines it: not empty, no NUL, `+` a "
        "whole level, `#` only the whole last level; at most 230 characters, like "
        "`mqttPublishBody.topic`.",
        ("application.mqttSubscriptionStream",),
    ),
)


# Multipart form fields the reference types as bare strings but documents as
# email addresses (the imports' "Email address to send ... notification to").
FORM_FORMATS = {"email": "email"}


def apply(spec: dict[str, Any]) -> None:
    """Add every constraint to the (3.0.3) document's parameters, in place."""
    for item in spec["paths"].values():
        for op in item.values():
            form = op.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            for name, prop in (form or {}).get("schema", {}).get("properties", {}).items():
                if name in FORM_FORMATS and prop.get("type") == "string":
                    prop["format"] = FORM_FORMATS[name]
            for param in op["parameters"]:
                if param.get("in") != "query":
                    continue
                for rule in CONSTRAINTS:
                    if rule.parameter == param["name"] and (
                        not rule.operations or op["operationId"] in rule.operations
                    ):
                        param["schema"].update(rule.keywords)


def markdown() -> list[str]:
    lines = [
        f"- multipart form field `{name}` (the imports): `format: {fmt}`. apiInfo.json: "
        "\"Email address to send job complete notification to\"."
        for name, fmt in FORM_FORMATS.items()
    ]
    for rule in CONSTRAINTS:
        where = ", ".join(f"`{o}`" for o in rule.operations) or "every operation"
        keywords = ", ".join(f"`{k}: {v}`" for k, v in rule.keywords.items())
        lines.append(f"- `{rule.parameter}` ({where}): {keywords}. {rule.source}")
    return lines
