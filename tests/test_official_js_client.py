"""The platform's official JavaScript client works, unmodified, against the mock.

tests/js/official_client.js drives ``losant-rest`` (pinned in
tests/js/package.json) through a front end's session against the mock on a
real port and prints one JSON line per step; each test here judges one
behaviour from those lines, so a failure names the step. The request journal
shows what went over the wire (JSON-string ``query``, qs bracket arrays).

Needs ``node`` and ``npm``: the install runs once per session into
tests/js/node_modules. Without them, or without network for the install, the
module is skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from losant_kit.mockserver.app import create_app
from tests.conftest import LOGIN, TEST_SETTINGS, LiveServer
from tests.npm_tree import ensure_installed

pytestmark = pytest.mark.official_client

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "official_client.js"
MISSING_DEVICE = "0123456789abcdef01234567"
STEPS = (
    "auth.authenticateUser", "me.get", "applications.get", "applications.post",
    "application.get", "application.patch", "devices.post:thermo-a", "devices.post:thermo-b",
    "devices.post:gateway-1", "devices.get:advancedQuery", "devices.get:deviceClassArray",
    "devices.get:tagFilter", "devices.get:filterGlob", "device.get", "device.patch",
    "device.get:tagsAsObject", "device.patch:tagsAsObject", "deviceAttributes.post",
    "deviceAttributes.get", "applicationKeys.post", "applicationKeys.post:withoutName",
    "auth.authenticateDevice", "device.sendState:single", "device.sendState:array",
    "device.getState", "device.getCompositeState", "data.timeSeriesQuery",
    "data.lastValueQuery", "device.sendCommand", "device.getCommand", "events.post",
    "events.get:advancedQuery", "event.patch", "events.get:state", "application.readmePatch",
    "application.readme", "error.deviceNotFound", "device.stateStream",
)
SESSION_TIMEOUT_S = 60


if not (shutil.which("node") and shutil.which("npm")) and not os.environ.get("CI"):
    pytest.skip("node and npm are needed to run the official losant-rest client",
                allow_module_level=True)


@pytest.fixture(scope="session")
def js_client_installed() -> None:
    """Install the pinned client into tests/js/node_modules unless already there."""
    ensure_installed(JS_DIR)


@dataclass
class Session:
    """What the script printed, keyed by step, and what the mock was asked."""

    steps: dict[str, dict[str, Any]]
    journal: list[dict[str, Any]]
    stderr: str
    seeded: dict[str, Any]

    def ok(self, name: str) -> Any:
        """The step's detail, after checking the client call succeeded."""
        assert name in self.steps, f"step {name} never ran; stderr:\n{self.stderr}"
        line = self.steps[name]
        assert line["ok"], f"{name} failed: {line['detail']}"
        return line["detail"]

    def requests(self, method: str, path_suffix: str) -> list[dict[str, Any]]:
        return [e for e in self.journal
                if e["method"] == method and e["path"].endswith(path_suffix)]


@pytest.fixture(scope="module")
def session(js_client_installed: None) -> Session:
    # One live mock and one script run for the module: the steps build on
    # each other like a real session, and running node per test would cost
    # ~3 s each. Same settings as the ``live`` fixture (check_responses on),
    # which cannot be used here as it is function-scoped.
    mock = create_app(TEST_SETTINGS)
    with LiveServer(mock) as live:
        try:
            result = subprocess.run(
                ["node", str(SCRIPT), live.url, LOGIN["email"], LOGIN["password"]],
                capture_output=True, text=True, timeout=SESSION_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"official client session hung; output so far:\n{exc.stdout}")
        journal = list(mock.journal.entries)
    steps: dict[str, dict[str, Any]] = {}
    for line in result.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"the script printed a line that is not JSON: {line!r}")
        steps[record["step"]] = record
    return Session(steps=steps, journal=journal, stderr=result.stderr,
                   seeded=mock.world_summary)


def _device_id(session: Session, name: str) -> str:
    return session.ok(f"devices.post:{name}")["id"]


# ---------------------------------------------------------------- the session


def test_script_ran_every_step_without_crashing(session):
    # Also keeps the script and this module in step: a new step needs a test.
    assert set(session.steps) == set(STEPS), f"stderr:\n{session.stderr}"


# ---------------------------------------------------------------- users and apps


def test_user_login_returns_token_for_seeded_user(session):
    detail = session.ok("auth.authenticateUser")
    assert detail["hasToken"] is True
    assert detail["userId"] == session.seeded["logins"][0]["userId"]


def test_me_is_the_signed_in_user(session):
    login = session.ok("auth.authenticateUser")
    assert session.ok("me.get") == {"id": login["userId"], "email": LOGIN["email"]}


def test_application_list_holds_the_users_seeded_applications(session):
    detail = session.ok("applications.get")
    mine = [app for app in session.seeded["applications"] if app["owner"] == LOGIN["email"]]
    assert sorted(detail["ids"]) == sorted(app["id"] for app in mine)
    assert detail["names"] == sorted(app["name"] for app in mine)
    assert detail["totalCount"] == len(mine)


def test_created_application_reads_back(session):
    created = session.ok("applications.post")
    assert created["name"] == "JS Client Fleet"
    assert session.ok("application.get") == {"id": created["id"], "name": "JS Client Fleet"}


def test_application_patch_changes_only_the_given_field(session):
    created = session.ok("applications.post")
    patched = session.ok("application.patch")
    assert patched == {**created, "description": "patched by losant-rest"}


def test_readme_patch_reads_back(session):
    content = "# JS Client Fleet\n\nThermostats on floors 3 and 4."
    assert session.ok("application.readmePatch") == {"content": content}
    assert session.ok("application.readme") == {"content": content}


# ---------------------------------------------------------------- devices


@pytest.mark.parametrize(("name", "device_class", "floor"), [
    ("thermo-a", "standalone", "3"), ("thermo-b", "standalone", "4"),
    ("gateway-1", "gateway", "3"),
])
def test_device_created_with_tags_and_attributes(session, name, device_class, floor):
    device = session.ok(f"devices.post:{name}")
    assert device["name"] == name
    assert device["deviceClass"] == device_class
    assert device["tags"] == [{"key": "floor", "value": floor}, {"key": "site", "value": "plant-1"}]
    assert device["attributes"] == [{"name": "temp", "dataType": "number"},
                                    {"name": "label", "dataType": "string"}]


def test_advanced_query_sent_as_json_string_selects_devices(session):
    detail = session.ok("devices.get:advancedQuery")
    assert detail["names"] == ["gateway-1", "thermo-a"]  # floor 3 only, sorted by name
    assert detail["totalCount"] == 2
    sent = [unquote(e["query"]) for e in session.requests("GET", "/devices")]
    assert any('query={"$and":' in query for query in sent), sent


def test_device_class_array_in_qs_bracket_form_selects_devices(session):
    detail = session.ok("devices.get:deviceClassArray")
    assert detail["ids"] == [_device_id(session, "gateway-1")]
    sent = [unquote(e["query"]) for e in session.requests("GET", "/devices")]
    assert any("deviceClass[0]=gateway&deviceClass[1]=peripheral" in q for q in sent), sent


def test_tag_filter_in_qs_bracket_form_selects_devices(session):
    detail = session.ok("devices.get:tagFilter")
    assert detail["ids"] == [_device_id(session, "thermo-b")]
    sent = [unquote(e["query"]) for e in session.requests("GET", "/devices")]
    assert any("tagFilter[0][key]=floor&tagFilter[0][value]=4" in q for q in sent), sent


def test_filter_glob_sorts_and_pages(session):
    detail = session.ok("devices.get:filterGlob")
    # thermo-b, thermo-a by name descending; page 1 of size 1 is the second.
    assert detail == {**detail, "count": 1, "totalCount": 2, "names": ["thermo-a"]}


def test_device_reads_back_as_created(session):
    assert session.ok("device.get") == session.ok("devices.post:thermo-a")


def test_device_patch_replaces_tags_and_description(session):
    patched = session.ok("device.patch")
    assert patched["description"] == "north wall"
    assert patched["tags"] == [{"key": "floor", "value": "3"}, {"key": "site", "value": "plant-1"},
                               {"key": "zone", "value": "north"}]
    assert patched["attributes"] == session.ok("devices.post:thermo-a")["attributes"]


def test_tags_as_object_on_read_and_patch(session):
    device_id = _device_id(session, "thermo-a")
    assert session.ok("device.get:tagsAsObject") == {
        "id": device_id, "tags": {"floor": "3", "site": "plant-1", "zone": "north"}}
    assert session.ok("device.patch:tagsAsObject") == {
        "id": device_id, "tags": {"floor": "3", "site": "plant-1", "zone": "south"}}


def test_device_attribute_added_then_listed(session):
    assert session.ok("deviceAttributes.post") == {
        "name": "humidity", "dataType": "number", "description": "relative, %"}
    listed = session.ok("deviceAttributes.get")
    assert sorted(listed["names"]) == ["humidity", "label", "temp"]
    assert listed["totalCount"] == 3


def test_missing_device_rejects_with_platform_error(session):
    detail = session.ok("error.deviceNotFound")
    assert detail["statusCode"] == 404
    assert detail["type"] == "NotFound"
    assert MISSING_DEVICE in detail["message"]


# ---------------------------------------------------------------- keys, device auth


def test_access_key_created_with_its_secret_once(session):
    key = session.ok("applicationKeys.post")
    assert key["hasSecret"] is True
    assert key["name"] == "thermo-a key"
    assert key["filterType"] == "whitelist"
    assert key["deviceIds"] == [_device_id(session, "thermo-a")]


def test_access_key_without_name_is_a_valid_key(session):
    # name is optional in applicationKeyPost, and in applicationKey it is
    # optional but never empty: absent, not "" (which the spec refuses).
    key = session.ok("applicationKeys.post:withoutName")
    assert key["hasSecret"] is True
    assert key.get("name", "absent") != ""
    assert key["filterType"] == "all"  # the default when none is given


def test_device_authenticates_with_access_key(session):
    detail = session.ok("auth.authenticateDevice")
    assert detail == {
        "applicationId": session.ok("applications.post")["id"],
        "deviceId": _device_id(session, "thermo-a"),
        "deviceClass": "standalone",
        "hasToken": True,
    }


# ---------------------------------------------------------------- state and data


def test_device_sends_single_and_array_state(session):
    assert session.ok("device.sendState:single") == {"success": True}
    assert session.ok("device.sendState:array") == {"success": True}


def test_state_history_is_newest_first_with_given_times(session):
    states = session.ok("device.getState")
    assert [s["data"] for s in states] == [
        {"temp": 21.5, "label": "boot"}, {"temp": 19, "label": "warming"}, {"temp": 18}]
    created = session.ok("devices.post:thermo-a")["creationDate"]
    anchor = _ms(created)
    # Array items carried explicit times (ms number and ISO string).
    assert [_ms(s["time"]) - anchor for s in states[1:]] == [-60000, -120000]
    assert _ms(states[0]["time"]) >= anchor


def test_composite_state_holds_latest_value_per_attribute(session):
    composite = session.ok("device.getCompositeState")
    latest = session.ok("device.getState")[0]
    assert composite == {"temp": {"value": 21.5, "time": latest["time"]},
                         "label": {"value": "boot", "time": latest["time"]}}


def test_time_series_query_buckets_max_per_minute(session):
    result = session.ok("data.timeSeriesQuery")
    device_id = _device_id(session, "thermo-a")
    assert set(result["devices"]) == {device_id}
    points = result["devices"][device_id]["points"]
    assert [p["data"]["temp"] for p in points if "temp" in p["data"]] == [18, 19, 21.5]
    assert all(_ms(p["time"]) % 60000 == 0 for p in points)


def test_last_value_query_by_tag_returns_only_devices_with_data(session):
    result = session.ok("data.lastValueQuery")
    latest = session.ok("device.getState")[0]
    assert result == {_device_id(session, "thermo-a"): {"time": latest["time"],
                                                        "data": {"temp": 21.5}}}


def test_state_stream_delivers_state_sent_after_opening(session):
    detail = session.ok("device.stateStream")
    assert detail["readyState"] == 1  # EventSource.OPEN when the event arrived
    assert detail["event"]["data"] == {"temp": 24.25, "label": "streamed"}
    stream = session.requests("GET", "/stateStream")
    assert [e["status"] for e in stream] == [200]


# ---------------------------------------------------------------- commands, events


def test_command_sent_by_user_is_read_by_device(session):
    assert session.ok("device.sendCommand") == {"success": True}
    commands = session.ok("device.getCommand")
    assert [(c["name"], c["payload"]) for c in commands] == [
        ("setPoint", {"target": 20, "unit": "C"})]


def test_event_created_then_found_by_advanced_query(session):
    event = session.ok("events.post")
    assert event == {**event, "level": "warning", "state": "new",
                     "deviceId": _device_id(session, "thermo-a")}
    found = session.ok("events.get:advancedQuery")
    assert found["ids"] == [event["id"]]
    sent = [unquote(e["query"]) for e in session.requests("GET", "/events")]
    assert any('query={"$and":' in query for query in sent), sent


def test_event_acknowledged_with_comment(session):
    event = session.ok("events.post")
    assert session.ok("event.patch") == {"id": event["id"], "state": "acknowledged",
                                         "updates": ["on it"]}
    assert session.ok("events.get:state")["ids"] == [event["id"]]


def _ms(iso_time: str) -> int:
    return round(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp() * 1000)
