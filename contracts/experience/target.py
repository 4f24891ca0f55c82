"""The experience under test: its API file, where it answers, and who we are there.

``open_experience(options)`` reads the author's OpenAPI file (checked as the
mock checks it), opens a client on the base URL (``https://SLUG.onlosant.com``,
the mock's ``http://127.0.0.1:PORT/_experience/SLUG``, or an in-process app
for the kit's own tests), logs in through the file's login operation
(``x-experience-login``) as the first and, if given, the second user, and
learns which device ids each reaches. Whether the target is the kit's mock is
detected (its ``/_mock/clock`` answers on the same origin), never assumed.
"""

from __future__ import annotations

import importlib
import json
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from losant_kit.contracts.limiter import RateLimiter
from losant_kit.mockserver.experience.apifile import ApiOperation, ExperienceApi, load_api_file
from losant_kit.mockserver.experience.file_errors import ApiFileError

#: The platform's published limit for experience endpoints: 50 requests/s per slug.
PUBLISHED_RATE = 50.0
DEFAULT_RATE = 20.0
IN_PROCESS_ORIGIN = "http://testserver"


class ExperienceTargetError(RuntimeError):
    """The target cannot be used (unreadable file, unreachable, refused login)."""


@dataclass
class ExperienceOptions:
    spec: str
    base_url: str | None = None
    email: str | None = None
    password: str | None = None
    other_email: str | None = None
    other_password: str | None = None
    live_safe: bool = False
    allow_unsafe: bool = False  # with live-safe: fuzz non-GET operations too
    rate: float = DEFAULT_RATE
    seed: int = 1
    max_examples: int | None = None
    app_factory: str | None = None  # module:callable -> ASGI app (the kit's own tests)
    platform_email: str | None = None  # platform login (tokenCutoff check); mock default
    platform_password: str | None = None


@dataclass
class Login:
    email: str
    password: str
    token: str
    device_ids: set[str] = field(default_factory=set)


@dataclass
class ExperienceTarget:
    options: ExperienceOptions
    api: ExperienceApi
    client: httpx.Client
    base_path: str  # the experience's path prefix on the client's origin ("" or /_experience/S)
    is_mock: bool
    first: Login
    second: Login | None
    limiter: RateLimiter | None
    app: Any = None
    host_header: str | None = None
    _closers: list = field(default_factory=list)

    @property
    def live_safe(self) -> bool:
        return self.options.live_safe

    def may_call(self, operation: ApiOperation) -> bool:
        """Live-safe runs send only safe methods unless told otherwise (the login aside)."""
        return not self.live_safe or operation.safe or self.options.allow_unsafe

    def url(self, path: str) -> str:
        return self.base_path + path

    def request(self, method: str, path: str, *, token: str | None = None,
                params: Any = None, headers: dict[str, str] | None = None,
                json_body: Any = None, content: bytes | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if self.host_header:
            sent.setdefault("Host", self.host_header)
        if json_body is not None and content is None:
            content = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        if self.limiter is not None:
            self.limiter.acquire()
        return self.client.request(method.upper(), self.url(path), params=params,
                                   headers=sent, content=content)

    def login(self, email: str, password: str) -> str:
        operation = self.api.login
        if operation is None:
            raise ExperienceTargetError(
                f"{self.api.source}: no operation is marked x-experience-login: true")
        fields = operation.login or {}
        response = self.request(operation.method, operation.route,
                                json_body={fields["email"]: email, fields["password"]: password})
        if response.status_code != 200:
            raise ExperienceTargetError(
                f"logging in as {email} ({operation.method.upper()} {operation.route}) answered "
                f"{response.status_code}: {response.text[:200]}")
        try:
            token = response.json()[fields["token"]]
        except (ValueError, KeyError, TypeError):
            raise ExperienceTargetError(
                f"the login reply has no '{fields['token']}' field: {response.text[:200]}"
            ) from None
        return str(token)

    def refresh_logins(self) -> None:
        """New tokens for both users (after a test revoked the old ones)."""
        self.first.token = self.login(self.first.email, self.first.password)
        if self.second is not None:
            self.second.token = self.login(self.second.email, self.second.password)

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """The mock's /_mock API on the same origin (only when the target is the mock)."""
        headers = {"Host": "127.0.0.1"} if self.host_header else None
        return self.client.request(method, f"/_mock{path}", json=body, headers=headers)

    def platform(self, method: str, path: str, token: str | None = None,
                 body: Any = None) -> httpx.Response:
        """The mock's platform API on the same origin."""
        headers = {"Host": "127.0.0.1"} if self.host_header else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, path, json=body, headers=headers)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def open_experience(options: ExperienceOptions) -> ExperienceTarget:
    try:
        api = load_api_file(options.spec)
    except ApiFileError as exc:
        raise ExperienceTargetError(str(exc)) from None
    if api.login is None:
        raise ExperienceTargetError(
            f"{options.spec}: mark the login operation with x-experience-login: true "
            "(the suite logs in through it)")
    if not (options.email and options.password):
        raise ExperienceTargetError("give --email and --password of an experience user")
    if options.rate >= PUBLISHED_RATE:
        raise ExperienceTargetError(f"--rate must stay below the published {PUBLISHED_RATE:g} "
                                    "requests/s per experience")
    closers: list = []
    app = None
    host_header = None
    if options.app_factory:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient
        module_name, _, attr = options.app_factory.partition(":")
        app = getattr(importlib.import_module(module_name), attr or "create_app")()
        client: httpx.Client = TestClient(app, base_url=IN_PROCESS_ORIGIN,
                                          raise_server_exceptions=False)
        client.__enter__()
        closers.append(lambda: client.__exit__(None, None, None))
        base_path = urlsplit(options.base_url or "/").path.rstrip("/")
    else:
        if not options.base_url:
            raise ExperienceTargetError("give --base-url (https://SLUG.onlosant.com, or the "
                                        "mock's http://127.0.0.1:PORT/_experience/SLUG)")
        parts = urlsplit(options.base_url)
        host = parts.hostname or ""
        netloc = parts.netloc
        if host.endswith(".localhost"):
            # *.localhost names loopback (browsers know it; Python's resolver may not):
            # connect to 127.0.0.1 and keep the name in the Host header for routing.
            host_header = netloc
            netloc = netloc.replace(host, "127.0.0.1", 1)
        origin = urlunsplit((parts.scheme, netloc, "", "", ""))
        client = httpx.Client(base_url=origin, timeout=30.0)
        closers.append(client.close)
        base_path = parts.path.rstrip("/")
    target = ExperienceTarget(options, api, client, base_path, False,
                              Login(options.email, options.password, ""), None, None, app,
                              host_header, closers)
    try:
        target.is_mock = _is_mock_clock(target.control("GET", "/clock"))
    except httpx.HTTPError as exc:
        target.close()
        raise ExperienceTargetError(f"cannot reach {options.base_url}: {exc}") from None
    if not target.is_mock or options.live_safe:
        target.limiter = RateLimiter(rate=options.rate, burst=5)
    try:
        target.first.token = target.login(options.email, options.password)
        if options.other_email and options.other_password:
            target.second = Login(options.other_email, options.other_password,
                                  target.login(options.other_email, options.other_password))
    except (ExperienceTargetError, httpx.HTTPError) as exc:
        target.close()
        raise ExperienceTargetError(str(exc)) from None
    from losant_kit.contracts.experience.reach import discover_reach

    for login in (target.first, target.second):
        if login is not None:
            login.device_ids = discover_reach(target, login)
    return target


def _is_mock_clock(response: httpx.Response) -> bool:
    """The mock's clock answer, not merely a 200 (an experience may route any path)."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {"now", "epochMs", "offsetSeconds"} <= set(body)
