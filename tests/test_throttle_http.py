"""Throttles through real HTTP: exact under parallel clients, visible, resettable."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import LOGIN

CLIENTS = 50


@pytest.fixture
def device(live):
    token = httpx.post(f"{live.url}/auth/user", json=LOGIN).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    app_id = live.app.world_summary["applications"][0]["id"]
    created = httpx.post(f"{live.url}/applications/{app_id}/devices", headers=headers,
                         json={"name": "Hammered", "attributes": [
                             {"name": "temperature", "dataType": "number"}]})
    return f"{live.url}/applications/{app_id}/devices/{created.json()['id']}", headers


def _hammer(url: str, headers: dict, calls: int) -> list[int]:
    """``calls`` state reports from 50 threads over up to 50 parallel connections."""
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    with httpx.Client(limits=limits, timeout=60) as client:

        def send(i: int) -> int:
            return client.post(f"{url}/state", headers=headers,
                               json={"data": {"temperature": i}}).status_code

        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(send, range(calls)))


def test_fifty_parallel_clients_get_exactly_thirty_states_accepted(live, device):
    url, headers = device
    statuses = _hammer(url, headers, 120)
    assert statuses.count(200) == 30
    assert statuses.count(429) == 90


def test_throttled_state_reports_are_not_stored(live, device):
    url, headers = device
    _hammer(url, headers, 60)
    history = httpx.get(f"{url}/state", headers=headers, params={"limit": 1000}).json()
    assert len(history) == 30


def test_window_frees_after_fifteen_seconds_on_the_mock_clock(live, device):
    url, headers = device
    _hammer(url, headers, 31)
    httpx.post(f"{live.url}/_mock/clock", json={"advance": 15})
    response = httpx.post(f"{url}/state", headers=headers, json={"data": {"temperature": 1}})
    assert response.status_code == 200


def test_refusal_names_the_limit_and_says_when_to_retry(live, device):
    url, headers = device
    _hammer(url, headers, 30)
    response = httpx.post(f"{url}/state", headers=headers, json={"data": {"temperature": 1}})
    assert response.status_code == 429
    assert "30" in response.json()["message"] and "15" in response.json()["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 15


def test_control_api_shows_counters_and_reset_clears_them(live, device):
    url, headers = device
    _hammer(url, headers, 31)
    windows = httpx.get(f"{live.url}/_mock/throttles").json()["windows"]
    assert any(w["calls"] == 30 for w in windows)
    httpx.post(f"{live.url}/_mock/throttles/reset")
    response = httpx.post(f"{url}/state", headers=headers, json={"data": {"temperature": 1}})
    assert response.status_code == 200
