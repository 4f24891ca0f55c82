"""The mock in a real browser: headless Chromium (Debian's ``chromium``).

(a) A front end on another origin (a page served from its own port) runs the
official ``losant-rest`` client, bundled for the browser by esbuild
(tests/browser/build.js), against the mock: CORS preflights, streams, a 429's
``Retry-After`` and an injected 503 must all reach the page.
(b) The inspector page (``/_mock/``) shows a request the test made and its
reset button resets the world.

Chromium is driven with Playwright's Python API (its ``chromium.launch`` with
``executable_path``: no browser download): the tests stay in pytest, and
every wait is for a page condition (``wait_for_function``/``wait_for_selector``
with a generous bound), never a fixed pause. Screenshots go to each test's
tmp_path. Without chromium, node or Playwright the module skips, except
under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, LiveServer, bearer, with_settings
from tests.npm_tree import ensure_installed, unavailable

BROWSER_DIR = Path(__file__).parent / "browser"
PAGE_FILES = ("front_end.html", "front_end.js")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Bounds on waiting for a page condition; reached only when something is broken.
PAGE_WAIT_MS = 90_000
ELEMENT_WAIT_MS = 30_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("Debian's chromium is needed (apt-get install chromium)")
    if sync_playwright is None:
        unavailable("the playwright package is needed (pip install -e '.[test]')")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, throw-away user data dir.
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The front end's files: the page, and the client bundle built from npm."""
    ensure_installed(BROWSER_DIR)
    out = tmp_path_factory.mktemp("front_end")
    result = subprocess.run(["node", str(BROWSER_DIR / "build.js"), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"esbuild failed:\n{result.stdout}{result.stderr}"
    for name in PAGE_FILES:
        shutil.copy(BROWSER_DIR / name, out / name)
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin(page_dir: Path) -> Iterator[str]:
    """A static server for the front end: another port, so another origin."""
    handler = functools.partial(_QuietHandler, directory=str(page_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- (a) front end


@dataclass
class FrontEnd:
    steps: dict[str, dict[str, Any]]
    page: Page
    mock: MockApp
    fault: dict[str, Any]
    page_origin: str
    mock_url: str

    def ok(self, name: str) -> Any:
        assert name in self.steps, f"step {name} never ran: {self.steps}"
        step = self.steps[name]
        assert step["ok"], f"{name} failed: {step['detail']}"
        return step["detail"]


@pytest.fixture(scope="module")
def front_end(browser: Browser, page_origin: str) -> Iterator[FrontEnd]:
    # A small throttle scale: the per-device state window is 3 per 15 s.
    mock = create_app(with_settings(throttle_scale=0.1))
    with LiveServer(mock) as live:
        fault = httpx.post(f"{live.url}/_mock/faults", json={
            "match": {"operationId": "device.get"}, "status": 503, "times": 1,
        })
        assert fault.status_code == 201, fault.text
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        page = context.new_page()
        query = urlencode({"mock": live.url, **LOGIN})
        page.goto(f"{page_origin}/front_end.html?{query}")
        page.wait_for_function("window.done === true", timeout=PAGE_WAIT_MS)
        steps = page.evaluate("window.steps")
        try:
            yield FrontEnd(steps, page, mock, fault.json(), page_origin, live.url)
        finally:
            context.close()


def test_page_and_mock_are_different_origins(front_end: FrontEnd) -> None:
    assert front_end.page_origin != front_end.mock_url


def test_front_end_logs_in_through_a_cors_preflight(front_end: FrontEnd) -> None:
    detail = front_end.ok("auth.authenticateUser")
    assert detail["hasToken"] is True
    assert detail["userId"] == front_end.mock.world_summary["logins"][0]["userId"]


def test_front_end_lists_the_users_applications(front_end: FrontEnd) -> None:
    mine = [app["id"] for app in front_end.mock.world_summary["applications"]
            if app["owner"] == LOGIN["email"]]
    assert sorted(front_end.ok("applications.get")["ids"]) == sorted(mine)


def test_front_end_creates_a_device(front_end: FrontEnd) -> None:
    detail = front_end.ok("devices.post")
    assert detail["name"] == "browser-thermostat"
    assert front_end.mock.backend.store.get("devices", detail["id"]) is not None


def test_state_sent_from_the_page_arrives_on_its_state_stream(front_end: FrontEnd) -> None:
    detail = front_end.ok("device.stateStream")
    assert detail["data"] == {"temp": 21.5}
    assert detail["readyState"] == 1  # OPEN


def test_command_sent_from_the_page_arrives_on_its_command_stream(front_end: FrontEnd) -> None:
    assert front_end.ok("device.commandStream") == {"name": "setPoint", "payload": {"temp": 19}}


def test_page_reads_retry_after_of_a_429(front_end: FrontEnd) -> None:
    detail = front_end.ok("throttle.429")
    assert detail["clientStatus"] == 429
    assert detail["clientType"] == "TooManyRequests"
    assert detail["fetchStatus"] == 429
    # Null here would mean the browser hid the header (no Expose-Headers).
    assert detail["retryAfter"] is not None
    assert int(detail["retryAfter"]) >= 1


def test_injected_503_reaches_the_page_in_the_platform_error_shape(front_end: FrontEnd) -> None:
    detail = front_end.ok("fault.503")
    assert detail["statusCode"] == 503
    assert detail["type"] == "ServiceUnavailable"
    faulted = [e for e in front_end.mock.journal.entries if e.get("fault")]
    assert [e["status"] for e in faulted] == [503]
    assert faulted[0]["fault"] == front_end.fault["id"]


def test_front_end_page_screenshot(front_end: FrontEnd, tmp_path: Path) -> None:
    shot = tmp_path / "front_end.png"
    front_end.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    assert front_end.page.locator('li[data-ok="false"]').count() == 0


# ---------------------------------------------------------------- (b) inspector


@pytest.fixture
def inspector(browser: Browser, live: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live.url}/_mock/")
    page.wait_for_selector('body[data-ready="true"]', timeout=ELEMENT_WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def _login(live: LiveServer) -> dict[str, str]:
    token = httpx.post(f"{live.url}/auth/user", json=LOGIN).json()["token"]
    return bearer(token)


def test_inspector_shows_the_journal_row_of_a_request(
    inspector: Page, live: LiveServer, tmp_path: Path
) -> None:
    me = httpx.get(f"{live.url}/me", headers=_login(live))
    assert me.status_code == 200
    entry = httpx.get(f"{live.url}/_mock/requests", params={"path": "/me"}).json()["items"][-1]
    row = inspector.wait_for_selector(f'#journal-table tr[data-request-id="{entry["id"]}"]',
                                      timeout=ELEMENT_WAIT_MS)
    cells = row.inner_text()
    assert "GET" in cells and "/me" in cells and "200" in cells
    row.click()
    inspector.wait_for_selector(f'#request-detail[data-request-id="{entry["id"]}"]',
                                timeout=ELEMENT_WAIT_MS)
    assert LOGIN["email"] in inspector.inner_text("#response-body")
    inspector.screenshot(path=str(tmp_path / "inspector.png"), full_page=True)
    assert (tmp_path / "inspector.png").read_bytes().startswith(PNG_SIGNATURE)


def test_inspector_reset_button_resets_the_world(
    inspector: Page, live: LiveServer, app_id: str, tmp_path: Path
) -> None:
    auth = _login(live)
    created = httpx.post(f"{live.url}/applications/{app_id}/devices", headers=auth,
                         json={"name": "made-before-reset", "deviceClass": "standalone"})
    assert created.status_code == 201, created.text
    device_id = created.json()["id"]
    inspector.reload()
    inspector.wait_for_selector(f'tr[data-device-id="{device_id}"]', state="attached",
                                timeout=ELEMENT_WAIT_MS)
    inspector.click("#reset-button")
    inspector.wait_for_function(
        "document.querySelector('#notice').textContent.startsWith('World reset')",
        timeout=ELEMENT_WAIT_MS,
    )
    assert inspector.locator(f'tr[data-device-id="{device_id}"]').count() == 0
    gone = httpx.get(f"{live.url}/applications/{app_id}/devices/{device_id}",
                     headers=_login(live))
    assert gone.status_code == 404
    inspector.screenshot(path=str(tmp_path / "inspector-after-reset.png"), full_page=True)


def test_inspector_fault_form_adds_a_rule_that_applies(inspector: Page, live: LiveServer) -> None:
    inspector.fill("#fault-operation", "me.get")
    inspector.fill("#fault-status", "503")
    inspector.fill("#fault-times", "1")
    inspector.click("#fault-form button[type=submit]")
    inspector.wait_for_selector('#fault-table tr[data-fault-id="1"]', timeout=ELEMENT_WAIT_MS)
    rules = httpx.get(f"{live.url}/_mock/faults").json()["items"]
    assert [(r["match"], r["status"], r["times"]) for r in rules] == [
        ({"operationId": "me.get"}, 503, 1)]
    assert httpx.get(f"{live.url}/me", headers=_login(live)).status_code == 503


def test_inspector_snapshot_download_is_the_state(inspector: Page, live: LiveServer) -> None:
    with inspector.expect_download(timeout=ELEMENT_WAIT_MS) as download_info:
        inspector.click("#snapshot-download")
    saved = download_info.value.path()
    snapshot = json.loads(Path(saved).read_text())
    assert snapshot["version"] == 1
    assert len(snapshot["records"]["applications"]) == len(live.app.world_summary["applications"])


def test_inspector_snapshot_upload_restores_the_state(
    inspector: Page, live: LiveServer, app_id: str, tmp_path: Path
) -> None:
    auth = _login(live)
    device_id = httpx.post(f"{live.url}/applications/{app_id}/devices", headers=auth,
                           json={"name": "kept-in-snapshot"}).json()["id"]
    saved = tmp_path / "snapshot.json"
    saved.write_text(httpx.get(f"{live.url}/_mock/snapshot").text)
    httpx.post(f"{live.url}/_mock/reset")
    inspector.set_input_files("#snapshot-upload", str(saved))
    inspector.wait_for_function(
        "document.querySelector('#notice').textContent.startsWith('Snapshot imported')",
        timeout=ELEMENT_WAIT_MS,
    )
    restored = httpx.get(f"{live.url}/applications/{app_id}/devices/{device_id}", headers=auth)
    assert restored.status_code == 200


# ---------------------------------------------------------------- (c) an experience API


EXPERIENCE_FLOW = """async ({base, email, password, own, other}) => {
  const out = {};
  const login = await fetch(base + "/api/auth", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({email, password})});
  out.login = login.status;
  const token = (await login.json()).token;
  const auth = {headers: {Authorization: "Bearer " + token}};
  const device = await fetch(base + "/api/devices/" + own, auth);
  out.own = device.status;
  out.ownId = (await device.json()).id;
  out.data = (await fetch(base + "/api/devices/" + own + "/data", auth)).status;
  out.other = (await fetch(base + "/api/devices/" + other, auth)).status;
  out.anonymous = (await fetch(base + "/api/devices/" + own)).status;
  return out;
}"""


def test_experience_api_from_another_origin_keeps_tenants_apart(
    browser: Browser, page_origin: str, live: LiveServer, mock: MockApp
) -> None:
    # The seed's flow, from a page on another origin, against the experience's
    # own origin http://{slug}.localhost:PORT (browsers resolve *.localhost).
    first, second = mock.world_summary["experienceUsers"][:2]
    other = next(d for d in second["deviceIds"] if d not in first["deviceIds"])
    port = live.url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{page_origin}/")
        seen = page.evaluate(EXPERIENCE_FLOW, {
            "base": f"http://{first['slug']}.localhost:{port}", "email": first["email"],
            "password": first["password"], "own": first["deviceIds"][0], "other": other,
        })
    finally:
        context.close()
    assert seen["login"] == 200
    assert (seen["own"], seen["ownId"]) == (200, first["deviceIds"][0])
    assert seen["data"] == 200
    assert seen["other"] in (403, 404)
    assert seen["anonymous"] == 401
