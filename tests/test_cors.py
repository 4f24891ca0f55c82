"""CORS like a public API: preflights, headers on every answer, --cors-origin, --cors off."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.cli import build_parser, settings_from
from losant_kit.mockserver.spec import PlatformSpec
from tests.conftest import LOGIN, LiveServer, with_settings

ORIGIN = "http://localhost:5173"
SAMPLE_ID = "0123456789abcdef01234567"
CLIENT_HEADERS = ("authorization", "content-type", "accept", "accept-version", "losantdomain")


def preflight(client: TestClient, path: str, method: str = "GET", origin: str = ORIGIN,
              headers: str = "authorization, content-type, accept-version"):
    return client.options(path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    })


@pytest.fixture(scope="module")
def shared_client(module_mock) -> TestClient:
    """Preflights change nothing, so the route sweep shares one mock."""
    with TestClient(module_mock) as test_client:
        yield test_client


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", SAMPLE_ID, path)


@pytest.mark.parametrize(
    "operation", sorted(PlatformSpec().operations.values(), key=lambda op: op.id),
    ids=lambda op: op.id,
)
def test_every_platform_route_answers_its_preflight(shared_client: TestClient, operation) -> None:
    response = preflight(shared_client, _concrete(operation.path), operation.method.upper())
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert operation.method.upper() in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(name in allowed for name in CLIENT_HEADERS)


def test_preflight_allows_a_header_the_page_asks_for(client: TestClient) -> None:
    response = preflight(client, "/me", headers="x-request-id")
    assert "x-request-id" in response.headers["access-control-allow-headers"]


def test_preflight_changes_nothing_and_is_not_journaled(client, mock) -> None:
    before = len(mock.journal.entries)
    preflight(client, "/auth/user", "POST")
    assert len(mock.journal.entries) == before


def test_success_echoes_the_origin_and_exposes_retry_after(client: TestClient) -> None:
    response = client.post("/auth/user", json=LOGIN, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/me", 401),
    ("GET", "/no/such/route", 404),
    ("GET", f"/applications/{SAMPLE_ID}", 401),
])
def test_errors_carry_the_cors_headers(client: TestClient, method, path, status) -> None:
    response = client.request(method, path, headers={"Origin": ORIGIN})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_a_429_exposes_retry_after_to_the_browser() -> None:
    mock = create_app(with_settings(throttle_scale=0.1))
    with TestClient(mock) as client:
        device = mock.world_summary["applications"][0]["keys"][0]
        token = client.post("/auth/device", json={
            "deviceId": mock.world_summary["applications"][0]["sampleDeviceId"],
            "key": device["key"], "secret": device["secret"],
        }).json()["token"]
        app_id = mock.world_summary["applications"][0]["id"]
        device_id = mock.world_summary["applications"][0]["sampleDeviceId"]
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {token}"}
        statuses = []
        for _ in range(5):
            response = client.post(f"/applications/{app_id}/devices/{device_id}/state",
                                   json={"data": {}}, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[-1] == 429, statuses
        assert response.headers["retry-after"]
        assert "Retry-After" in response.headers["access-control-expose-headers"]
        assert response.headers["access-control-allow-origin"] == ORIGIN


def test_control_api_carries_the_cors_headers(client: TestClient) -> None:
    response = client.get("/_mock/clock", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert preflight(client, "/_mock/faults", "POST").status_code == 204


def test_request_without_an_origin_gets_no_cors_headers(client: TestClient) -> None:
    response = client.post("/auth/user", json=LOGIN)
    assert "access-control-allow-origin" not in response.headers


def test_sse_stream_carries_the_cors_headers() -> None:
    mock = create_app(with_settings())
    app = mock.world_summary["applications"][0]
    with LiveServer(mock) as live:
        token = httpx.post(f"{live.url}/auth/user", json=LOGIN).json()["token"]
        url = f"{live.url}/applications/{app['id']}/devices/{app['sampleDeviceId']}/stateStream"
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {token}"}
        with httpx.stream("GET", url, headers=headers, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["access-control-allow-origin"] == ORIGIN


def test_cors_origin_refuses_other_origins() -> None:
    mock = create_app(with_settings(cors_origins=("http://localhost:3000",)))
    with TestClient(mock) as client:
        allowed = client.post("/auth/user", json=LOGIN, headers={"Origin": "http://localhost:3000"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = client.post("/auth/user", json=LOGIN, headers={"Origin": ORIGIN})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        refused = preflight(client, "/auth/user", "POST")
        assert refused.status_code == 403
        assert refused.json()["type"] == "Forbidden"
        assert "access-control-allow-origin" not in refused.headers


def test_cors_off_answers_no_preflight() -> None:
    with TestClient(create_app(with_settings(cors=False))) as client:
        response = preflight(client, "/auth/user", "POST")
        assert response.status_code == 405
        assert "access-control-allow-origin" not in response.headers


def test_cli_flags_set_the_cors_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--cors-origin", "http://a.test", "http://b.test", "--cors", "on"])
    settings = settings_from(args)
    assert settings.cors is True
    assert settings.cors_origins == ("http://a.test", "http://b.test")
    assert settings_from(build_parser().parse_args(["serve", "--cors", "off"])).cors is False
