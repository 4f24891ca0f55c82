"""``losant-mock clone``: a running mock as the live side, cloned into a file,
the file served by a second mock, both compared through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp, create_app
from losant_kit.mockserver.cli import main
from losant_kit.mockserver.clone.writer import _flow_report
from tests.conftest import LiveServer, bearer, with_settings

# A password no file or message of the kit contains, to prove it is never written.
LOGIN = {"email": "fleet@example.com", "password": "live-only-Pa55word-7c1e"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEVICE_FIELDS = ("id", "name", "description", "deviceClass", "gatewayId", "parentId", "tags",
                 "attributes", "systemInterval", "keepDuplicates", "creationDate",
                 "connectionInfo")


@pytest.fixture(scope="module")
def live_mock() -> MockApp:
    return create_app(with_settings(users=((LOGIN["email"], LOGIN["password"]),)))


@pytest.fixture(scope="module")
def live(live_mock: MockApp) -> Iterator[LiveServer]:
    with LiveServer(live_mock) as server:
        yield server


@pytest.fixture(scope="module")
def live_api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url) as http:
        token = http.post("/auth/user", json=LOGIN).json()["token"]
        http.headers.update(bearer(token))
        yield http


@pytest.fixture(scope="module")
def app_id(live_mock: MockApp) -> str:
    return live_mock.world_summary["applications"][0]["id"]


@pytest.fixture(scope="module")
def now_ms(live_mock: MockApp) -> int:
    return live_mock.backend.clock.now_ms()


@pytest.fixture(scope="module")
def populated(live_api: httpx.Client, app_id: str, now_ms: int) -> dict[str, Any]:
    """History (in the window, before it, several reports in one millisecond),
    events, a connection status and a recipe on the live side."""
    base = f"/applications/{app_id}"
    devices = live_api.get(f"{base}/devices", params={"perPage": 1000}).json()["items"]
    reporting = [d for d in devices if d["deviceClass"] != "system" and d["attributes"]][:3]
    assert len(reporting) == 3
    for index, device in enumerate(reporting):
        names = [a["name"] for a in device["attributes"]]
        value = _value_for(device["attributes"][0]["dataType"])
        old = now_ms - 3 * DAY_MS  # before a 1-day window: kept as a last value only
        tie = now_ms - 2 * HOUR_MS
        reports = [{"time": old, "data": {names[-1]: _value_for(device["attributes"][-1]
                                                                ["dataType"])}}]
        reports += [{"time": tie, "data": {names[0]: value}} for _ in range(4 + index)]
        reports += [{"time": now_ms - HOUR_MS + i * 60_000, "data": {names[0]: value}}
                    for i in range(7)]
        response = live_api.post(f"{base}/devices/{device['id']}/state", json=reports)
        assert response.status_code == 200, response.text
    connected = live_api.post(f"{base}/devices/{reporting[0]['id']}/setConnectionStatus",
                              json={"status": "connected", "connectedAt": now_ms - 60_000})
    assert connected.status_code == 200, connected.text
    events = []
    for offset, level in ((5 * DAY_MS, "info"), (HOUR_MS, "warning"), (60_000, "critical")):
        body = {"level": level, "subject": f"{level} on {reporting[1]['name']}",
                "message": "m", "deviceId": reporting[1]["id"], "eventTags": {"k": "v"},
                "data": {"reading": 3}, "creationDate": now_ms - offset}
        response = live_api.post(f"{base}/events", json=body)
        assert response.status_code == 201, response.text
        events.append(response.json())
    patched = live_api.patch(f"{base}/events/{events[-1]['id']}",
                             json={"state": "acknowledged", "comment": "on it"})
    assert patched.status_code == 200, patched.text
    recipe = live_api.post(f"{base}/device-recipes", json={
        "name": "Cloned recipe", "deviceName": "From recipe", "deviceClass": "standalone",
        "tags": [{"key": "site", "value": "north"}],
        "attributes": [{"name": "level", "dataType": "number"}]})
    assert recipe.status_code == 201, recipe.text
    return {"devices": reporting}


def _value_for(data_type: str) -> Any:
    return {"number": 21.5, "string": "ok", "boolean": True, "gps": "45.5,-122.6",
            "blob": "aGVsbG8="}[data_type]


def _clone(live: LiveServer, app_id: str, out: Path, *extra: str) -> int:
    return main(["clone", "--base-url", live.url, "--email", LOGIN["email"],
                 "--password", LOGIN["password"], "--application", app_id,
                 "--history", "1d", "--rate", "0", "--page-size", "3", "--out", str(out),
                 *extra])


@pytest.fixture(scope="module", params=["world.yaml", "world.json"])
def cloned(request: pytest.FixtureRequest, live: LiveServer, live_mock: MockApp, app_id: str,
           populated: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clone") / request.param
    live_mock.journal.clear()
    assert _clone(live, app_id, out) == 0
    SENT_BY_CLONE[out] = live_mock.journal.query(limit=100_000)
    return out


#: What the live side received while each file was cloned (its request journal).
SENT_BY_CLONE: dict[Path, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def served(cloned: Path) -> Iterator[TestClient]:
    app = create_app(with_settings(fixtures=cloned))
    with TestClient(app, raise_server_exceptions=False) as client:
        user = next(iter(_world(cloned)["users"]))
        token = client.post("/auth/user", json={"email": user["email"],
                                                "password": user["password"]}).json()["token"]
        client.headers.update(bearer(token))
        yield client


def _world(path: Path) -> dict[str, Any]:
    text = path.read_text()
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def _both(live_api: httpx.Client, served: TestClient, path: str, **params: Any) -> tuple:
    a, b = live_api.get(path, params=params), served.get(path, params=params)
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    return a.json(), b.json()


def _window(now_ms: int) -> dict[str, int]:
    return {"start": now_ms - DAY_MS + 60_000, "end": now_ms + 60_000}


# -- the round trip ---------------------------------------------------------------------


def test_served_application_is_the_live_one(live_api, served, app_id) -> None:
    live_app, clone_app = _both(live_api, served, f"/applications/{app_id}")
    for field in ("id", "name", "description", "globals", "ownerId", "creationDate"):
        assert clone_app.get(field) == live_app.get(field), field


def test_served_devices_have_the_live_ids_names_tags_and_attributes(live_api, served,
                                                                    app_id) -> None:
    params = {"perPage": 1000, "sortField": "id"}
    live_devices, clone_devices = _both(live_api, served, f"/applications/{app_id}/devices",
                                        **params)
    assert clone_devices["totalCount"] == live_devices["totalCount"]
    for mine, theirs in zip(clone_devices["items"], live_devices["items"], strict=True):
        assert {f: mine.get(f) for f in DEVICE_FIELDS} == {f: theirs.get(f)
                                                           for f in DEVICE_FIELDS}


def test_served_history_in_the_window_is_the_live_history(live_api, served, app_id, now_ms,
                                                          populated) -> None:
    for device in populated["devices"]:
        path = f"/applications/{app_id}/devices/{device['id']}/state"
        live_states, clone_states = _both(live_api, served, path, limit=10_000,
                                          **_window(now_ms))
        assert clone_states == live_states
        assert len(live_states) >= 11  # the seven in the last hour and the ties


def test_served_last_values_are_the_live_ones_even_before_the_window(live_api, served, app_id,
                                                                     populated) -> None:
    for device in populated["devices"]:
        path = f"/applications/{app_id}/devices/{device['id']}/compositeState"
        live_state, clone_state = _both(live_api, served, path, start=1)
        assert clone_state == live_state
        assert len(live_state) == len({a["name"] for a in device["attributes"][:1]}
                                      | {device["attributes"][-1]["name"]})


def test_served_events_in_the_window_are_the_live_ones(live_api, served, app_id,
                                                       now_ms) -> None:
    live_events, clone_events = _both(live_api, served, f"/applications/{app_id}/events",
                                      perPage=1000)
    in_window = [e for e in live_events["items"] if e["creationDate"] >= _iso(now_ms - DAY_MS)]
    assert clone_events["items"] == in_window
    assert [e["level"] for e in in_window] == ["critical", "warning"]
    assert in_window[0]["updates"]  # the acknowledgement came along


def test_served_recipes_keys_and_tokens_are_the_live_ones(live_api, served, app_id) -> None:
    base = f"/applications/{app_id}"
    live_recipes, clone_recipes = _both(live_api, served, f"{base}/device-recipes")
    strip = ("lastUpdated", "applicationId")
    assert _without(clone_recipes["items"], strip) == _without(live_recipes["items"], strip)
    assert any(r["name"] == "Cloned recipe" for r in clone_recipes["items"])
    live_keys, clone_keys = _both(live_api, served, f"{base}/keys")
    key_fields = ("id", "key", "name", "description", "status", "filterType", "deviceIds",
                  "deviceTags", "creationDate")
    assert _fields(clone_keys["items"], key_fields) == _fields(live_keys["items"], key_fields)
    live_tokens, clone_tokens = _both(live_api, served, f"{base}/tokens")
    token_fields = ("id", "name", "scope", "status", "creationDate")
    assert _fields(clone_tokens["items"], token_fields) == _fields(live_tokens["items"],
                                                                   token_fields)


def _without(items: list[dict], fields: tuple[str, ...]) -> list[dict]:
    return [{k: v for k, v in item.items() if k not in fields} for item in items]


def _fields(items: list[dict], fields: tuple[str, ...]) -> list[dict]:
    return [{f: item.get(f) for f in fields} for item in items]


def _iso(ms: int) -> str:
    from losant_kit.mockserver.times import iso_from_ms

    return iso_from_ms(ms)


# -- secrets and safety ---------------------------------------------------------------------


def test_generated_key_secrets_are_listed_and_work(served, cloned) -> None:
    world = _world(cloned)
    listed = {s["value"] for s in world["clone"]["generatedSecrets"]}
    key = world["applications"][0]["keys"][0]
    assert key["secret"] in listed
    response = served.post("/auth/device", json={
        "deviceId": world["applications"][0]["devices"][0]["id"], "key": key["key"],
        "secret": key["secret"]})
    assert response.status_code == 200, response.text


def test_generated_api_token_strings_are_listed_and_work(served, cloned, app_id) -> None:
    world = _world(cloned)
    listed = {s["value"] for s in world["clone"]["generatedSecrets"]}
    token = world["applications"][0]["tokens"][0]["token"]
    assert token in listed
    response = served.get(f"/applications/{app_id}/devices", headers=bearer(token))
    assert response.status_code == 200, response.text


def test_the_password_and_the_token_are_never_written(cloned, live, live_mock, app_id,
                                                      tmp_path: Path) -> None:
    assert LOGIN["password"] not in cloned.read_text()
    with httpx.Client(base_url=live.url) as http:
        token = http.post("/auth/user", json=LOGIN).json()["token"]
    out = tmp_path / "by-token.yaml"
    assert main(["clone", "--base-url", live.url, "--token", token, "--application", app_id,
                 "--rate", "0", "--out", str(out)]) == 0
    assert token not in out.read_text()


def test_a_narrow_api_token_clones_what_it_may_read_and_says_what_not(
        live, live_api, app_id, tmp_path: Path) -> None:
    scope = ["application.get", "devices.get", "devices.getCompositeState", "device.getState"]
    created = live_api.post(f"/applications/{app_id}/tokens",
                            json={"name": "narrow", "scope": scope})
    assert created.status_code == 201, created.text
    out = tmp_path / "narrow.json"
    assert main(["clone", "--base-url", live.url, "--token", created.json()["token"],
                 "--application", app_id, "--rate", "0", "--out", str(out)]) == 0
    world = json.loads(out.read_text())
    assert world["applications"][0]["keys"] == [] and world["applications"][0]["events"] == []
    notes = " ".join(world["clone"]["notes"])
    for action in ("applicationKeys.get", "applicationApiTokens.get", "deviceRecipes.get",
                   "events.get"):
        assert action in notes
    assert world["users"][0]["email"] == "dev@example.com"  # /me is not in its scope


def test_a_token_that_may_not_read_the_application_stops_the_clone(live, live_mock, app_id,
                                                                   tmp_path, capsys) -> None:
    token = live_mock.world_summary["applications"][0]["tokens"][0]["token"]
    out = tmp_path / "no.yaml"
    assert main(["clone", "--base-url", live.url, "--token", token, "--application", app_id,
                 "--rate", "0", "--out", str(out)]) == 1
    assert "application.get" in capsys.readouterr().err
    assert not out.exists()


def test_the_clone_only_reads(cloned) -> None:
    sent = SENT_BY_CLONE[cloned]
    assert len(sent) > 10
    writes = [(r["method"], r["path"]) for r in sent if r["method"] != "GET"]
    assert writes == [("POST", "/auth/user")]  # the login, and nothing else


def test_dry_run_sends_nothing_and_writes_nothing(live, live_mock, app_id, tmp_path,
                                                  capsys) -> None:
    live_mock.journal.clear()
    out = tmp_path / "never.yaml"
    assert _clone(live, app_id, out, "--dry-run") == 0
    assert not out.exists()
    assert live_mock.journal.query(limit=10) == []
    assert f"/applications/{app_id}/devices" in capsys.readouterr().out


@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.5:8080",
                                 "ftp://127.0.0.1"])
def test_plain_http_is_refused_unless_loopback(url: str, tmp_path: Path, capsys) -> None:
    code = main(["clone", "--base-url", url, "--token", "t", "--application", "a" * 24,
                 "--out", str(tmp_path / "w.yaml")])
    assert code == 2
    assert url in capsys.readouterr().err
    assert not (tmp_path / "w.yaml").exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9",
                                 "https://api.example.com"])
def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    from losant_kit.mockserver.clone.command import check_base_url

    assert check_base_url(url) is None


def test_max_devices_keeps_the_oldest_and_drops_links_to_the_rest(live, app_id, populated,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "two.json"
    assert _clone(live, app_id, out, "--max-devices", "2") == 0
    world = json.loads(out.read_text())
    devices = world["applications"][0]["devices"]
    assert len(devices) == 2
    assert [d["id"] for d in devices] == sorted(d["id"] for d in devices)
    kept = {d["id"] for d in devices}
    for key in world["applications"][0]["keys"]:
        assert set(key.get("deviceIds", [])) <= kept
    create_app(with_settings(fixtures=out))  # and it loads


# -- the reader ---------------------------------------------------------------------------


def _reader(handler, sleeps: list[float]):
    from losant_kit.mockserver.clone.reader import ApiReader

    return ApiReader("https://api.example.com", rate=0, token="t",
                     transport=httpx.MockTransport(handler), sleep=sleeps.append)


def test_the_reader_refuses_to_send_anything_but_reads() -> None:
    sent: list[httpx.Request] = []
    reader = _reader(lambda request: sent.append(request) or httpx.Response(200, json={}), [])
    with pytest.raises(AssertionError, match="only reads"):
        reader._send("DELETE", "/applications/" + "a" * 24)
    with pytest.raises(AssertionError, match="only reads"):
        reader._send("POST", "/applications/" + "a" * 24 + "/devices")
    assert sent == []


def test_the_reader_waits_out_a_429_and_retries() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "7"},
                              json={"type": "TooManyRequests", "message": "slow down"}),
               httpx.Response(200, json={"id": "a" * 24})]
    sleeps: list[float] = []
    reader = _reader(lambda request: answers.pop(0), sleeps)
    assert reader.get("application.get", applicationId="a" * 24) == {"id": "a" * 24}
    assert sleeps == [7.0]
    assert reader.requests == 2


def test_a_refused_read_stops_the_clone_with_the_platform_message() -> None:
    from losant_kit.mockserver.clone.reader import CloneError

    reader = _reader(lambda request: httpx.Response(
        404, json={"type": "NotFound", "message": "Application was not found"}), [])
    with pytest.raises(CloneError, match="Application was not found"):
        reader.get("application.get", applicationId="a" * 24)


@pytest.mark.parametrize("with_total", [True, False])
def test_collections_are_read_page_by_page_to_the_end(with_total: bool) -> None:
    items = [{"id": f"{i:024x}"} for i in range(2500)]

    def page(request: httpx.Request) -> httpx.Response:
        number, size = int(request.url.params["page"]), int(request.url.params["perPage"])
        body: dict[str, Any] = {"items": items[number * size:(number + 1) * size]}
        if with_total:
            body["totalCount"] = len(items)
        return httpx.Response(200, json=body)

    reader = _reader(page, [])
    read = [item for chunk in reader.pages("devices.get", applicationId="a" * 24)
            for item in chunk]
    assert read == items
    assert reader.requests == 3


def test_the_reader_paces_requests_at_the_rate() -> None:
    from losant_kit.mockserver.clone.reader import ApiReader

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    reader = ApiReader("https://api.example.com", rate=2, token="t", sleep=sleep,
                       clock=lambda: now[0],
                       transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    for _ in range(6):
        reader.get("me.get")
    # A burst of 2 at once, then one request every half second.
    assert now[0] == pytest.approx(2.0)


# -- the YAML history lines ---------------------------------------------------------------

scalars = st.one_of(
    st.booleans(), st.integers(), st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(st.dictionaries(st.from_regex(r"[0-9a-zA-Z_-]{1,12}", fullmatch=True), scalars,
                       min_size=1, max_size=4))
def test_a_history_line_reads_back_as_the_same_report(data: dict[str, Any]) -> None:
    report = {"time": "2026-01-02T03:04:05.678Z", "data": data}
    line = _flow_report(report, getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    back = yaml.safe_load(line)
    assert back["time"] == report["time"]
    assert back["data"].keys() == data.keys()
    for name, value in data.items():
        assert type(back["data"][name]) is type(value), (line, name)
        assert back["data"][name] == value, line  # floats too: repr round-trips exactly
