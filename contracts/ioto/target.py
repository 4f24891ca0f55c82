"""The Ioto implementation under test and the credentials the suites use there.

Two accounts are needed for the isolation checks: the CloudAPI token reaches
both; ``login`` and ``other_login`` are login access tokens of users of two
different accounts. Against the kit's mock (detected: ``GET /_mock/world``
answers with a CloudAPI token) any credential not given is read from its world.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx

IN_PROCESS_URL = "http://testserver"
DEFAULT_ORIGIN = "https://contracts.ioto.me"


class IotoTargetError(RuntimeError):
    pass


@dataclass
class IotoOptions:
    base_url: str | None = None
    token: str | None = None  # CloudAPI token
    login_token: str | None = None
    other_login_token: str | None = None
    origin: str = DEFAULT_ORIGIN
    seed: int = 1
    max_examples: int | None = None


@dataclass
class IotoTarget:
    options: IotoOptions
    base_url: str
    http: Any  # httpx.Client or Starlette TestClient
    token: str
    login: str
    other_login: str
    is_mock: bool
    app: Any = None
    closers: list = field(default_factory=list)

    @property
    def in_process(self) -> bool:
        return self.app is not None

    def tok(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        """POST /tok<path> with the CloudAPI token."""
        return self.http.post("/tok" + path, json=body if body is not None else {},
                              params=params or None, headers={"Authorization": self.token})

    def as_login(self, path: str, body: Any = None, *, other: bool = False,
                 **params: Any) -> httpx.Response:
        """POST <path> (bare form) with a login token and Origin."""
        token = self.other_login if other else self.login
        return self.http.post(path, json=body if body is not None else {},
                              params=params or None,
                              headers={"Authorization": token, "Origin": self.options.origin})

    def reset(self) -> None:
        if self.is_mock:
            self.http.post("/_mock/reset")

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def open_ioto_target(options: IotoOptions) -> IotoTarget:
    closers: list = []
    app = None
    if options.base_url:
        base_url = options.base_url.rstrip("/")
        http: Any = httpx.Client(base_url=base_url, timeout=30.0)
        closers.append(http.close)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient
        from losant_kit.mockserver.app import create_app
        from losant_kit.mockserver.settings import Settings

        app = create_app(Settings(seed=options.seed, platform="ioto"))
        base_url = IN_PROCESS_URL
        http = TestClient(app, base_url=base_url, raise_server_exceptions=False)
        http.__enter__()
        closers.append(lambda: http.__exit__(None, None, None))
    try:
        probe = http.get("/_mock/world")
    except httpx.HTTPError as exc:
        raise IotoTargetError(f"cannot reach {base_url}: {exc}") from None
    world = _world(probe)
    token, login, other = options.token, options.login_token, options.other_login_token
    if world is not None:
        token = token or world["cloudApiTokens"][0]["token"]
        owners = _owner_per_account(world)
        login = login or (owners[0] if owners else None)
        other = other or (owners[1] if len(owners) > 1 else None)
    if not (token and login and other):
        for close in closers:
            close()
        raise IotoTargetError("give --token (CloudAPI), --login-token and --other-login-token "
                              "(users of two different accounts)")
    return IotoTarget(options, base_url, http, token, login, other, world is not None, app,
                      closers)


def _world(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("cloudApiTokens") else None


def _owner_per_account(world: dict[str, Any]) -> list[str]:
    tokens, seen = [], set()
    for entry in world.get("logins", []):
        if entry.get("role") == "owner" and entry["accountId"] not in seen:
            seen.add(entry["accountId"])
            tokens.append(entry["token"])
    return tokens
