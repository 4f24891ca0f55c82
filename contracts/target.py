"""The implementation under test: where it is, who we are there, what we may do.

``open_target(options)`` turns the run's options into a :class:`Target`:

* with a base URL: an httpx client against it (a staging server, a live
  deployment, or a mock started with ``losant-mock serve``);
* without one: a fresh mock built in-process (``losant_kit.mockserver.app.create_app``, or
  the factory named by ``--losant-app-factory``) reached through ASGI, no socket.

Whether the target is the kit's mock is *detected* (``GET /_mock/clock`` answers
200), never assumed, so the suites that need the mock's control API skip
themselves elsewhere.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx

from losant_kit.contracts.client import ApiClient, ClientPolicy
from losant_kit.contracts.limiter import RateLimiter
from losant_kit.contracts.sandbox import Sandbox

MOCK_LOGIN = ("dev@example.com", "losant-mock")
OTHER_LOGIN = ("other@example.com", "losant-mock")
IN_PROCESS_URL = "http://testserver"


class TargetError(RuntimeError):
    """The target cannot be used (unreachable, bad credentials)."""


@dataclass
class Options:
    base_url: str | None = None
    token: str | None = None
    email: str | None = None
    password: str | None = None
    live_safe: bool = False
    application_id: str | None = None
    seed: int = 1
    app_factory: str | None = None
    max_examples: int | None = None
    real_time: bool = False
    rate: float = 4.0
    other_token: str | None = None  # a second account, for cross-tenant checks
    other_email: str | None = None
    other_password: str | None = None


@dataclass
class Target:
    options: Options
    base_url: str
    api: ApiClient
    is_mock: bool
    user_id: str
    sandbox: Sandbox
    app: Any = None  # the ASGI app, when in-process
    login: tuple[str, str] | None = None
    _closers: list = field(default_factory=list)
    cache: dict = field(default_factory=dict)  # per-run artefacts the suites share

    @property
    def live_safe(self) -> bool:
        return self.options.live_safe

    @property
    def in_process(self) -> bool:
        return self.app is not None

    @property
    def application_id(self) -> str:
        assert self.sandbox.application_id
        return self.sandbox.application_id

    @property
    def token(self) -> str:
        assert self.api.token
        return self.api.token

    def app_path(self, suffix: str = "") -> str:
        return f"/applications/{self.application_id}{suffix}"

    def mock_control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """Call the mock's /_mock API (only when the target is the mock)."""
        if not self.is_mock:
            raise TargetError("the target is not the kit's mock: no /_mock control API")
        return self.api.request(method, f"/_mock{path}", json_body=body, token=None)

    def advance_clock(self, seconds: float) -> None:
        response = self.mock_control("POST", "/clock", {"advance": seconds})
        if response.status_code != 200:
            raise TargetError(f"POST /_mock/clock refused: {response.text}")

    def reset_throttles(self) -> None:
        self.mock_control("POST", "/throttles/reset")

    def close(self) -> list[str]:
        leftovers = self.sandbox.close()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        return leftovers


def default_mock(seed: int = 1) -> Any:
    """The mock the suites use in-process: seeded, with a second login so tenant
    isolation can be checked."""
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    return create_app(Settings(seed=seed, users=(MOCK_LOGIN, OTHER_LOGIN)))


def load_factory(spec: str) -> Any:
    """``package.module:callable`` -> the ASGI app that callable returns."""
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "create_app")
    return factory()


def open_target(options: Options) -> Target:
    closers: list = []
    app = None
    if options.base_url:
        base_url = options.base_url.rstrip("/")
        transport: httpx.Client = httpx.Client(base_url=base_url, timeout=30.0)
        closers.append(transport.close)
    else:
        with warnings.catch_warnings():
            # Starlette nags about httpx vs httpx2; the project pins httpx.
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient

        app = load_factory(options.app_factory) if options.app_factory \
            else default_mock(options.seed)
        base_url = IN_PROCESS_URL
        transport = TestClient(app, base_url=IN_PROCESS_URL, raise_server_exceptions=False)
        transport.__enter__()
        closers.append(lambda: transport.__exit__(None, None, None))

    api = ApiClient(transport, base_url)
    try:
        is_mock = transport.get("/_mock/clock").status_code == 200
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {base_url}: {exc}") from None

    login = None
    token = options.token
    if token is None:
        email, password = options.email, options.password
        if email is None and app is not None:
            email, password = MOCK_LOGIN
        if not email or password is None:
            raise TargetError("give --token, or --email and --password")
        login = (email, password)
        response = transport.post("/auth/user", json={"email": email, "password": password})
        if response.status_code != 200:
            raise TargetError(f"POST /auth/user as {email} answered {response.status_code}: "
                              f"{response.text[:200]}")
        token = response.json()["token"]
    api.token = token

    if is_mock:
        def on_throttled(response: httpx.Response) -> float:
            transport.post("/_mock/throttles/reset")
            return 0.0
        api.policy = ClientPolicy(on_throttled=on_throttled)
    else:
        def wait_retry_after(response: httpx.Response) -> float | None:
            try:
                wait = float(response.headers.get("Retry-After", "5"))
            except ValueError:
                wait = 5.0
            return wait if wait <= 60 else None
        api.policy = ClientPolicy(limiter=RateLimiter(rate=options.rate),
                                  on_throttled=wait_retry_after)

    me = api.get("/me")
    if me.status_code != 200:
        raise TargetError(f"GET /me with the given credentials answered {me.status_code}: "
                          f"{me.text[:200]}")
    user_id = me.json().get("id", "")

    sandbox = Sandbox(lambda path: api.delete(path).status_code)
    api.on_created = lambda path, response: sandbox.record_creation(
        path, _json(response), response.status_code)
    target = Target(options, base_url, api, is_mock, user_id, sandbox, app, login, closers)
    if options.application_id:
        found = api.get(f"/applications/{options.application_id}")
        if found.status_code != 200:
            target.close()
            raise TargetError(f"application {options.application_id} is not reachable: "
                              f"{found.status_code} {found.text[:200]}")
        sandbox.adopt(options.application_id, owned=False)
    else:
        name = f"losant-contracts-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        created = api.post("/applications", {
            "name": name, "description": "Sandbox of a losant-contracts run; safe to delete."})
        if created.status_code != 201:
            target.close()
            raise TargetError(f"cannot create a sandbox application: {created.status_code} "
                              f"{created.text[:200]}")
        sandbox.adopt(created.json()["id"], owned=True)
    sandbox.guard()
    return target


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None
