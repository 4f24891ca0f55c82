"""Shared fixtures: a mock app per test, clients in-process and over real HTTP."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import uvicorn
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp, create_app
from losant_kit.mockserver.settings import Settings

# The suite's one Hypothesis configuration. No deadline: a per-example time
# limit is a timed assertion and fails on a loaded machine. CI (``CI`` set, as
# .ci/run does) also derandomizes, so a run is the same run every time, and
# keeps no example database between runs.
hypothesis_settings.register_profile(
    "losant-kit", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "losant-kit-ci", parent=hypothesis_settings.get_profile("losant-kit"),
    derandomize=True, database=None, print_blob=True,
)
hypothesis_settings.load_profile("losant-kit-ci" if os.environ.get("CI") else "losant-kit")

LOGIN = {"email": "dev@example.com", "password": "losant-mock"}
# Every test app refuses to send a response that breaches the spec.
TEST_SETTINGS = Settings(
    seed=1, check_responses=True, jwt_secret="test-secret-of-at-least-32-bytes!!"
)


@pytest.fixture
def settings() -> Settings:
    """Override in a test module to start the mock differently."""
    return TEST_SETTINGS


@pytest.fixture
def mock(settings: Settings) -> MockApp:
    return create_app(settings)


@pytest.fixture
def client(mock: MockApp) -> Iterator[TestClient]:
    with TestClient(mock, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def token(client: TestClient) -> str:
    response = client.post("/auth/user", json=LOGIN)
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app_id(mock: MockApp) -> str:
    """The first seeded application of the default user."""
    return mock.world_summary["applications"][0]["id"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_settings(**changes: Any) -> Settings:
    return replace(TEST_SETTINGS, **changes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The mock served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, app: MockApp) -> None:
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            # An SSE stream left open by a failing test must not hang teardown.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("mock server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture
def live(mock: MockApp) -> Iterator[LiveServer]:
    with LiveServer(mock) as server:
        yield server


@pytest.fixture(scope="module")
def module_mock() -> MockApp:
    """One mock for a whole module (building one takes about a second), for
    modules whose tests each work in resources they create themselves."""
    return create_app(TEST_SETTINGS)


@pytest.fixture
def reset_module_mock(module_mock: MockApp) -> MockApp:
    """The module's mock, back at the seeded world (state, clock, throttles, jobs)."""
    module_mock.control.reset()
    return module_mock


@pytest.fixture(scope="module")
def module_server(module_mock: MockApp) -> Iterator[LiveServer]:
    with LiveServer(module_mock) as server:
        yield server


def official_client(url: str) -> Any:
    """The platform's official Python client, logged in as the seeded user."""
    from losant_rest import Client

    client = Client(url=url)
    client.auth_token = client.auth.authenticate_user(credentials=LOGIN)["token"]
    return client

