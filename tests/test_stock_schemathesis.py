"""Stock Schemathesis, pointed at the served 3.1 twin, agrees with the mock.

The tool runs as a user would run it: the ``st`` command, the spec fetched
from ``/openapi-3.1.json`` of a live mock, a user token in a header, and (for
the first test) the kit's hooks loaded by the ``SCHEMATHESIS_HOOKS``
environment variable. No kit code sees the spec on Schemathesis' side.
Sizes are small and fixed (``--max-examples``, ``--seed``; the run without
hooks sends only the published examples) so the runs are bounded and
repeatable; one worker, because the hooks' set-up call (an
archive destination) must not interleave with another worker's
``application.patch``. README "Stock OpenAPI tools" has the full-size figure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from losant_kit import specs
from losant_kit.mockserver.app import create_app
from losant_kit.specs.rules import RULES
from tests.conftest import LOGIN, TEST_SETTINGS, LiveServer

ST = Path(sys.executable).with_name("st")

# What the mock says when a rule of `x-rules` is broken, per rule id: a failure
# of the run without hooks counts as explained only when its operation lists
# the rule and the mock's message is this rule's.
REFUSALS: dict[str, str] = {
    "archive-destination": r"has no archive destination",
    "archive-date-window": r"query parameter date: only data older than 31 days",
    "expiration-in-future": r"expirationDate: must be in the future",
    "organization-membership": r"(orgId|ownerType|ownerId): ",
    "import-source": r"^importBundle: (?!.*already exists)|options\.(importUrl|fromApplicationId)",
    "import-conflicts": r"^importBundle: .* already exists \(conflictBehavior is error\)",
    "export-repository": r"body\.exportType: the mock cannot push exports",
    "new-global-needs-json": r"does not exist yet and needs a json value",
    "password-change-needs-current": r"body\.currentCredentials: ",
    "bulk-create-source": r"give either csv or count|^body\.csv: ",
    "command-needs-devices": r"give deviceIds, deviceTags or deviceQuery",
    "time-is-a-date": r"is not an ISO-8601 date|out of range \(years 1 to 9999\)",
    "device-tags-select": r"deviceTags\[\d+\]: needs a key, a value or both",
    "publish-topic-name": r"cannot publish to a topic containing \+ or #",
    "referenced-devices-exist": r"body\.(deviceId|gatewayId|parentId): (device \S+ does not "
    r"exist|a device cannot reference itself|device \S+ is not a)",
    "referenced-experience-resources-exist": r"no experience (group|user|endpoint) \S+ here"
    r"|cannot sit below itself",
    "query-dates": r"\(expects a date\)",
    "query-known-fields": r"Unknown field '[^']*' in advanced",
    "unique-names": r"is already in use|already exists|duplicate (keys|attribute names)",
    "endpoint-route": r"^route: ",
    "bootstrap-once": r"already has the starter endpoints",
    "state-not-for-system-devices": r"is a system device",
    "time-series-bounds": r'^"(duration|resolution|limit)" must',
    "usage-window": r"query parameters start/end: .*buckets",
    "token-cutoff-in-the-past": r"Authorization token is no longer valid",
}


@pytest.fixture
def server():
    with LiveServer(create_app(TEST_SETTINGS)) as live:
        yield live


def _token(url: str) -> str:
    import httpx

    return httpx.post(f"{url}/auth/user", json=LOGIN, timeout=60).json()["token"]


def _st(server: LiveServer, tmp_path: Path, *args: str, hooks: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SCHEMATHESIS_HOOKS"}
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = "losant_kit.contracts.st_hooks"
    command = [
        str(ST), "run", f"{server.url}/openapi-3.1.json",
        "-H", f"Authorization: Bearer {_token(server.url)}",
        "--seed", "1", "--workers", "1", "--no-color", "--generation-database", "none",
        "--report", "ndjson", "--report-ndjson-path", str(tmp_path / "run.ndjson"),
        *args,
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )


@dataclass(frozen=True)
class Failure:
    operation: str  # "METHOD /path", as st labels it
    check: str
    status: int | None
    message: str


def _message(response: dict | None) -> str:
    content = (response or {}).get("content")
    if isinstance(content, dict) and "$base64" in content:
        content = base64.b64decode(content["$base64"]).decode(errors="replace")
    try:
        return str(json.loads(content).get("message", ""))
    except (TypeError, ValueError, AttributeError):
        return str(content)[:200]


def _failures(report: Path) -> list[Failure]:
    """Every failed check of the run, from st's own NDJSON report."""
    found = []
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            response = recorder.get("interactions", {}).get(case_id, {}).get("response")
            for check in checks:
                if check["status"] == "failure":
                    status = (response or {}).get("status_code")
                    found.append(
                        Failure(recorder["label"], check["name"], status, _message(response))
                    )
    return found


def _rules_by_operation(spec: dict) -> dict[str, set[str]]:
    return {
        f"{method.upper()} {path}": {rule["id"] for rule in op.get("x-rules", [])}
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }


# Rules whose breach shows on later calls of any operation (an earlier
# me.patch with a future tokenCutoff ends the run's token).
LASTING_EFFECTS = {"token-cutoff-in-the-past"}


def explaining_rule(failure: Failure, rules: dict[str, set[str]]) -> str | None:
    """The x-rule (of the failing operation, or a lasting one) whose refusal the mock gave."""
    if failure.check != "positive_data_acceptance":  # ST202 only
        return None
    for rule_id in sorted(rules.get(failure.operation, set()) | LASTING_EFFECTS):
        if re.search(REFUSALS[rule_id], failure.message):
            return rule_id
    return None


def test_every_rule_has_its_refusal_listed():
    assert set(REFUSALS) == {rule.id for rule in RULES}


def test_a_failure_is_explained_only_by_a_rule_of_its_operation_with_its_message():
    rules = {"GET /a/archiveData": {"archive-destination"}, "GET /b": set()}
    refused = "Application x has no archive destination: set archiveConfig first"
    assert explaining_rule(
        Failure("GET /a/archiveData", "positive_data_acceptance", 400, refused), rules
    ) == "archive-destination"
    elsewhere = Failure("GET /b", "positive_data_acceptance", 400, refused)
    assert explaining_rule(elsewhere, rules) is None
    assert explaining_rule(
        Failure("GET /a/archiveData", "positive_data_acceptance", 400, "body.name: required"), rules
    ) is None
    assert explaining_rule(
        Failure("GET /a/archiveData", "not_a_server_error", 500, refused), rules
    ) is None


def test_stock_schemathesis_with_the_kit_hooks_finds_no_failure(server, tmp_path):
    result = _st(
        server, tmp_path,
        "--phases", "examples,fuzzing,stateful", "--max-examples", "2",
        hooks=True,
    )  # fmt: skip
    assert _failures(tmp_path / "run.ndjson") == []
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested: 131" in result.stdout, result.stdout[-3000:]


def test_without_the_hooks_every_failure_is_a_listed_x_rule(server, tmp_path):
    rules = _rules_by_operation(json.loads(specs.PLATFORM_SPEC_31.read_text()))
    # The published examples: the same cases on every run, and they break most rules.
    result = _st(server, tmp_path, "--phases", "examples", hooks=False)
    failures = _failures(tmp_path / "run.ndjson")
    unexplained = [f for f in failures if explaining_rule(f, rules) is None]
    assert not unexplained, unexplained
    # The run did find what the hooks exist for: the rules are not dead letters.
    assert {explaining_rule(f, rules) for f in failures} >= {
        "archive-destination", "bootstrap-once", "endpoint-route", "import-source",
        "state-not-for-system-devices", "time-series-bounds", "referenced-devices-exist",
    }, failures
    # Seven operations publish no example; every other one was sent.
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested and int(tested.group(1)) >= 124, result.stdout[-3000:]
