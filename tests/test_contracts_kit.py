"""The contract kit's own parts: spec view, router, limiter, sandbox, client, CLI, live-safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from losant_kit.contracts.cli import main as cli
from losant_kit.contracts.client import curl_command
from losant_kit.contracts.limiter import RateLimiter
from losant_kit.contracts.runner import run_suites
from losant_kit.contracts.sandbox import Sandbox
from losant_kit.contracts.spec_view import EXACT_PREFIX, contract_document, operations, router
from losant_kit.contracts.target import Options, default_mock

# ---------------------------------------------------------------- spec view


def test_contract_view_generates_request_bodies_from_exact_schemas() -> None:
    doc = contract_document()
    body = doc["paths"]["/applications/{applicationId}/devices"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"] == EXACT_PREFIX + "devicePost"


def test_contract_view_sends_object_query_parameters_as_json() -> None:
    doc = contract_document()
    params = {p["name"]: p for p in doc["paths"]["/applications/{applicationId}/devices"]["get"]
              ["parameters"] if "name" in p}
    query = params["query"]
    assert "style" not in query
    assert query["content"]["application/json"]["schema"]["$ref"] == \
        EXACT_PREFIX + "advancedDeviceQuery"


def test_contract_view_drops_links_that_can_never_be_followed() -> None:
    links = contract_document()["paths"]["/applications"]["post"]["responses"]["201"]["links"]
    for link in links.values():
        assert not any(str(v).startswith("$request.path.") for v in link["parameters"].values())


def test_router_prefers_literal_routes_over_templates() -> None:
    app = "/applications/5f0c0c0c0c0c0c0c0c0c0c0c"
    assert router().match("POST", f"{app}/devices/command").id == "devices.sendCommand"
    assert router().match("GET", f"{app}/devices/5f0c0c0c0c0c0c0c0c0c0c0d").id == "device.get"
    assert router().match("GET", "/nowhere") is None


# ---------------------------------------------------------------- limiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_limiter_paces_requests_at_its_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=2.0, burst=1, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        limiter.acquire()
    assert fake.now == pytest.approx(1002.0)  # 4 waits of 0.5 s after the first


def test_limiter_stays_within_a_published_window_throttle() -> None:
    fake = FakeTime()
    limiter = RateLimiter(rate=1000.0, burst=1000, margin=0.5, clock=fake.clock,
                          sleep=fake.sleep)
    op = operations()["device.sendState"]  # 30 calls per 15 s per device
    sent = []
    for _ in range(31):
        limiter.acquire(op, "device-a")
        sent.append(fake.now)
    in_first_window = [t for t in sent if t < sent[0] + 15]
    assert len(in_first_window) == 15


# ---------------------------------------------------------------- sandbox


def test_sandbox_deletes_what_it_created_outside_and_its_own_application_last() -> None:
    deleted: list[str] = []
    sandbox = Sandbox(lambda path: deleted.append(path) or 200)
    sandbox.adopt("a" * 24, owned=True)
    sandbox.record(f"/applications/{'a' * 24}")
    sandbox.record_creation(f"/applications/{'a' * 24}/devices", {"id": "d" * 24})
    sandbox.record_creation("/me/tokens", {"id": "t" * 24})
    assert sandbox.close() == []
    assert deleted == [f"/me/tokens/{'t' * 24}", f"/applications/{'a' * 24}"]


def test_sandbox_in_a_given_application_deletes_each_resource_and_keeps_the_application() -> None:
    deleted: list[str] = []
    sandbox = Sandbox(lambda path: deleted.append(path) or 200)
    sandbox.adopt("b" * 24, owned=False)
    sandbox.record_creation(f"/applications/{'b' * 24}/devices", {"id": "d" * 24})
    sandbox.record_creation(f"/applications/{'b' * 24}/keys", {"id": "k" * 24})
    sandbox.close()
    assert deleted == [f"/applications/{'b' * 24}/keys/{'k' * 24}",
                       f"/applications/{'b' * 24}/devices/{'d' * 24}"]


def test_sandbox_cleans_up_only_once() -> None:
    deleted: list[str] = []
    sandbox = Sandbox(lambda path: deleted.append(path) or 200)
    sandbox.adopt("c" * 24, owned=True)
    sandbox.close()
    sandbox.close()
    assert deleted == [f"/applications/{'c' * 24}"]


def test_sandbox_reports_what_it_could_not_delete() -> None:
    sandbox = Sandbox(lambda path: 500)
    sandbox.adopt("e" * 24, owned=True)
    assert sandbox.close() == [f"/applications/{'e' * 24}"]


# ---------------------------------------------------------------- client


def test_curl_command_reproduces_the_request_without_the_token() -> None:
    request = httpx.Request("POST", "http://testserver/applications?page=1",
                            headers={"Authorization": "Bearer secret-token",
                                     "Content-Type": "application/json"},
                            json={"name": "x"})
    command = curl_command(request, "http://127.0.0.1:8080")
    assert "secret-token" not in command
    assert "$LOSANT_TOKEN" in command
    assert "http://127.0.0.1:8080/applications?page=1" in command
    assert '{"name":"x"}' in command or '{"name": "x"}' in command


# ---------------------------------------------------------------- plugin and CLI


def test_plugin_import_stays_cheap() -> None:
    heavy = ("schemathesis", "losant_kit.mockserver", "hypothesis", "httpx")
    code = (f"import sys, losant_kit.contracts.plugin; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_lists_the_suites(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["list"]) == 0
    listed = capsys.readouterr().out
    for name in ("conformance", "stateful", "behaviour", "auth", "throttle"):
        assert name in listed


def test_cli_refuses_a_base_url_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "--token" in capsys.readouterr().err


def test_cli_exits_4_when_the_target_is_unreachable() -> None:
    assert cli(["run", "--base-url", "http://127.0.0.1:9", "--token", "t",
                "--suite", "auth"]) == 4


# ---------------------------------------------------------------- runs


RECORDED: dict[str, Any] = {}


def recording_mock() -> Any:
    """An app factory that keeps the app, so a test can look inside afterwards."""
    RECORDED["mock"] = default_mock()
    return RECORDED["mock"]


def _applications(mock: Any) -> list[str]:
    return sorted(r["id"] for r in mock.backend.store.all("applications"))


def test_live_safe_run_leaves_the_account_as_it_found_it() -> None:
    result = run_suites(["auth", "behaviour"], Options(
        app_factory=f"{__name__}:recording_mock", live_safe=True, max_examples=2), quiet=True)
    assert result.ok, result.summary()
    mock = RECORDED["mock"]
    seeded = sorted(a["id"] for a in mock.world_summary["applications"])
    assert _applications(mock) == seeded


def test_suites_run_against_a_mock_over_http(live: Any) -> None:
    result = run_suites(["auth"], Options(base_url=live.url, email="dev@example.com",
                                          password="losant-mock"), quiet=True)
    assert result.ok, result.summary()
    assert result.suites["auth"].passed >= 10


def test_sandbox_records_the_application_a_clone_made() -> None:
    sandbox = Sandbox(lambda path: 200)
    sandbox.adopt("a" * 24, owned=True)
    sandbox.record_creation(f"/applications/{'a' * 24}/clone",
                            {"application": {"id": "f" * 24}, "applicationId": "f" * 24}, 200)
    assert sandbox.plan() == [f"/applications/{'f' * 24}", f"/applications/{'a' * 24}"]


def without_control_api() -> Any:
    """The mock with /_mock hidden: to the suites it looks like a live deployment."""
    mock = default_mock()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_mock"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await mock(scope, receive, send)

    RECORDED["mock"] = mock
    return app


def test_off_the_mock_live_safe_skips_mock_only_and_real_time_tests() -> None:
    result = run_suites(["auth", "throttle"], Options(
        app_factory=f"{__name__}:without_control_api", live_safe=True, rate=500.0), quiet=True)
    assert result.ok, result.summary()
    # No second account off the mock without --other-*: the cross-tenant tests
    # (two user-kind authorisation matrices, two tenant checks) say so; the
    # four experience-runtime tests need the mock.
    assert result.suites["auth"].skipped == 4 + 4, result.summary()
    assert result.suites["throttle"].passed == 0
    assert result.suites["throttle"].skipped == 19  # 5 windows, 1 shared bucket, 13 jobs
    mock = RECORDED["mock"]
    assert _applications(mock) == sorted(a["id"] for a in mock.world_summary["applications"])


def test_cli_ignores_the_checkout_it_is_started_in(tmp_path: Path) -> None:
    # A directory that looks like a project: its own pytest options and a
    # tests/conftest.py. The contract CLI must load neither.
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "--an-option-nobody-defines"\n')
    (tmp_path / "tests").mkdir()
    marker = tmp_path / "conftest-was-loaded"
    (tmp_path / "tests" / "conftest.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('yes')\n")
    result = subprocess.run(
        [sys.executable, "-m", "losant_kit.contracts", "run", "--suite", "auth",
         "-k", "test_device_token_reads_its_own_device"],
        cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    assert "1 passed" in result.stdout
    assert "DeprecationWarning" not in result.stdout + result.stderr
