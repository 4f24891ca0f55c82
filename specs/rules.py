"""Rules no schema can state, as ``x-rules`` on the operations they govern.

Some of what the platform refuses depends on the world (an archive
destination configured first, an organization that exists), on the clock (an
expiration date in the future) or ties several fields together in ways the
published schemas do not (an import needs a bundle). A tool generating data
from the schemas alone breaks them; ``x-rules`` says so on the operation, one
entry per rule: ``id`` (stable, the kit's Schemathesis hooks key on it),
``rule`` (what must hold) and ``status`` (what the platform answers when it
does not). ``losant_kit.contracts.st_hooks`` makes generated cases respect
every rule listed here; ``specs/README.md`` lists them (generated).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from losant_kit.specs import constraints

RULES_START = "<!-- generated:rules:start -->"
RULES_END = "<!-- generated:rules:end -->"


@dataclass(frozen=True)
class Rule:
    id: str
    rule: str
    # Operation ids it governs, and/or schemas: every operation whose request
    # (parameters or body, transitively) uses one of them.
    operations: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    status: int = 400


QUERY_DATE_FIELDS = (
    "creationDate", "lastUpdated", "deletedAt", "connectedAt", "disconnectedAt", "lastLogin",
)

RULES: tuple[Rule, ...] = (
    Rule(
        "archive-destination",
        "The application has an archive destination configured first "
        "(`archiveConfig.s3`, `.gcs`, `.azure` or `.credentialName`, set with application.patch).",
        (
            "application.archiveData",
            "application.backfillArchiveData",
            "application.fullDataTablesArchive",
            "application.fullEventsArchive",
        ),
    ),
    Rule(
        "archive-date-window",
        "`date` is a day older than 31 days (and within the organization's data TTL), "
        "judged on the server's clock.",
        ("application.archiveData",),
    ),
    Rule(
        "expiration-in-future",
        "`expirationDate`, when given, is in the future on the server's clock.",
        ("applicationApiTokens.post", "userApiTokens.post"),
    ),
    Rule(
        "organization-membership",
        "`orgId` (and an `ownerType` of `organization` with its `ownerId`) names an "
        "organization the caller belongs to; a user `ownerId` is the caller.",
        ("applications.post", "application.clone", "applications.import"),
    ),
    Rule(
        "import-source",
        "An import names one source the platform can read: an uploaded application bundle "
        "(`importBundle`), `options.importUrl` of a bundle, or (into an application) "
        "`options.fromApplicationId` of an application the caller can read.",
        ("applications.import", "application.import"),
    ),
    Rule(
        "import-conflicts",
        "With `options.conflictBehavior: error`, an import into an application is refused "
        "when a resource it brings has the name (a global: the key) of one the application "
        "already has; an import from the application itself always does.",
        ("application.import",),
    ),
    Rule(
        "export-repository",
        "`exportType: repo` needs a repository credential configured on the application.",
        ("application.export",),
    ),
    Rule(
        "new-global-needs-json",
        "A global whose `key` does not exist yet needs a `json` value to be created.",
        ("application.globals",),
    ),
    Rule(
        "password-change-needs-current",
        "Changing `password` needs `currentCredentials` holding the caller's current password.",
        ("me.patch",),
    ),
    Rule(
        "bulk-create-source",
        "Exactly one of `csv` (with a header row naming the name column) or `count` (at "
        "least 1) says which devices to create.",
        ("deviceRecipe.bulkCreate",),
    ),
    Rule(
        "command-needs-devices",
        "A command to many devices names them: at least one of `deviceIds`, `deviceTags` "
        "or `deviceQuery` is given.",
        ("devices.sendCommand",),
    ),
    Rule(
        "time-is-a-date",
        "A `time` (or an event's `creationDate`) given as a string or as `{\"$date\": "
        "string}` is an ISO-8601 date, and any date falls in the years 1 to 9999 (the schemas "
        "admit any string or number).",
        schemas=("multiDeviceCommand", "deviceCommand", "deviceStateOrStates", "eventPost"),
    ),
    Rule(
        "device-tags-select",
        "Each `deviceTags` entry that selects devices has a `key`, a `value` or both.",
        schemas=(
            "lastValueQuery", "timeSeriesQuery", "multiDeviceCommand", "experienceGroupPost",
            "experienceGroupPatch",
        ),
    ),
    Rule(
        "publish-topic-name",
        "A topic to publish to is an MQTT topic name: no `+` or `#` wildcards (MQTT 3.1.1, 4.7).",
        ("application.mqttPublishMessage",),
    ),
    Rule(
        "referenced-devices-exist",
        "A `deviceId`, `gatewayId` or `parentId` in the body names a device of the application "
        "(a `gateway` or `edgeCompute` device for `gatewayId`, a `system` device for "
        "`parentId`; never the device itself).",
        ("events.post", "events.patch", "event.patch", "devices.post", "device.patch"),
    ),
    Rule(
        "referenced-experience-resources-exist",
        "The experience groups, users and endpoints a body names (`parentId`, "
        "`experienceGroupIds`, `experienceUserIds`, `experienceEndpointIds`) are the "
        "application's, and a group is never below itself.",
        (
            "experienceGroups.post", "experienceGroup.patch", "experienceUsers.post",
            "experienceUser.patch", "experienceEndpoints.post", "experienceEndpoint.patch",
        ),
    ),
    Rule(
        "unique-names",
        "Names the platform keeps unique are not taken: an experience slug or domain name "
        "(by any application), an experience user's email, an experience endpoint's method "
        "and route, a device attribute's name on its device, and attribute names or global "
        "keys within one body.",
        (
            "applications.post", "application.patch",
            "experienceSlugs.post", "experienceSlug.patch", "experienceDomains.post",
            "experienceDomain.patch", "experienceUsers.post", "experienceUser.patch",
            "experienceEndpoints.post", "experienceEndpoint.patch", "experience.bootstrap",
            "deviceAttributes.post", "deviceAttribute.patch", "devices.post", "device.patch",
        ),
    ),
    Rule(
        "endpoint-route",
        "An experience endpoint's `route` is a route: it starts with `/`, its segments are "
        "text or one `{name}` parameter (`{name?}` and `{name*}` only as the last), no empty "
        "segment but a trailing one, no parameter twice (the schema admits any string).",
        ("experienceEndpoints.post", "experienceEndpoint.patch"),
    ),
    Rule(
        "bootstrap-once",
        "Bootstrapping an experience that already has the starter endpoints needs "
        "`replaceExisting: true`.",
        ("experience.bootstrap",),
    ),
    Rule(
        "state-not-for-system-devices",
        "State is reported for a device that is not a `system` device (a system device's "
        "state derives from its children).",
        ("device.sendState",),
    ),
    Rule(
        "time-series-bounds",
        "In a time-series query, `duration` is not negative, `resolution` is at least 1 ms "
        "(unless the aggregation is `NONE`) and `limit` at least 1 (the schema admits any "
        "number).",
        schemas=("timeSeriesQuery",),
    ),
    Rule(
        "token-cutoff-in-the-past",
        "A `tokenCutoff` ends every token issued before it, the caller's own included, and a "
        "cutoff in the future ends every token issued until then: later calls answer 401. A "
        "run that must keep its token sets no cutoff after the token was issued.",
        ("me.patch",),
        status=401,
    ),
    Rule(
        "usage-window",
        "A usage answer holds at most 100,000 buckets: the `start`-`end` window's days (or "
        "hours at `resolution` 3600000), times the summaries and the applications on the page "
        "for `applications.periodSummaries`. The mock's bound; the platform states none.",
        (
            "application.deviceCounts", "application.notebookMinuteCounts",
            "application.payloadCountsBreakdown", "device.payloadCountsBreakdown",
            "applications.periodSummaries",
        ),
    ),
    Rule(
        "query-dates",
        "In an advanced query, the date fields ("
        + ", ".join(f"`{f}`" for f in QUERY_DATE_FIELDS)
        + ") compare with dates: ISO-8601 strings, epoch milliseconds or `{\"$date\": ...}` "
        "(the schemas admit any scalar).",
        schemas=(
            "advancedDeviceQuery", "advancedEventQuery", "advancedApplicationKeyQuery",
            "advancedExperienceGroupQuery", "advancedExperienceUserQuery",
        ),
    ),
    Rule(
        "query-known-fields",
        "An advanced application key query names only the fields its schema lists (the "
        "published schema leaves `additionalProperties` open; the platform refuses others).",
        schemas=("advancedApplicationKeyQuery",),
    ),
)


def _request_schemas(op: dict[str, Any], exact: dict[str, Any]) -> set[str]:
    """Names of the exact schemas an operation's parameters and body use, transitively."""
    pending = re.findall(
        r'"#/components/(?:schemas|x-jsonschema)/(\w+)"',
        json.dumps([op["parameters"], op.get("requestBody", {})]),
    )
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending += re.findall(r'"#/components/x-jsonschema/(\w+)"', json.dumps(exact[name]))
    return seen


def apply(spec: dict[str, Any]) -> None:
    """Put each operation's rules on it as ``x-rules``, in place."""
    exact = spec["components"]["x-jsonschema"]
    known = set()
    for item in spec["paths"].values():
        for op in item.values():
            known.add(op["operationId"])
            uses = _request_schemas(op, exact)
            found = [
                {"id": r.id, "rule": r.rule, "status": r.status}
                for r in RULES
                if op["operationId"] in r.operations or uses & set(r.schemas)
            ]
            if found:
                op["x-rules"] = found
    unknown = {o for r in RULES for o in r.operations} - known
    if unknown:
        raise KeyError(f"x-rules name operations the spec does not have: {sorted(unknown)}")


def markdown() -> str:
    lines = [RULES_START, "", "### Documented constraints (both documents)", ""]
    lines += constraints.markdown()
    lines += ["", "### Rules no schema can state (`x-rules`)", ""]
    for r in RULES:
        where = [f"`{o}`" for o in r.operations] + [f"requests using `{n}`" for n in r.schemas]
        lines.append(f"- `{r.id}` ({r.status}; {', '.join(where)}): {r.rule}")
    lines += ["", RULES_END]
    return "\n".join(lines)


def render_readme(readme: str) -> str:
    """``readme`` with its generated rules section brought up to date."""
    if RULES_START in readme and RULES_END in readme:
        head, rest = readme.split(RULES_START, 1)
        _, tail = rest.split(RULES_END, 1)
        return head + markdown() + tail
    return readme
