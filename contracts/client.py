"""The HTTP client every hand-written suite talks through.

One interface over two transports: httpx against a URL, or Starlette's
TestClient against an in-process ASGI app. It adds what contract tests need:

* the session token on every call unless told otherwise (``token=None`` sends none);
* a record of the last exchanges, so a failure can print a curl command that
  reproduces the request (the token shown as ``$LOSANT_TOKEN``);
* throttling help: live runs go through the client-side limiter and wait out a
  429's Retry-After; against the mock a 429 in a suite that is not about
  throttling resets the mock's counters and retries (the throttle suite turns
  this off with ``retry_throttled=False``).
"""

from __future__ import annotations

import json
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from losant_kit.contracts.limiter import RateLimiter
from losant_kit.contracts.spec_view import router

DEFAULT = object()


@dataclass
class ClientPolicy:
    retry_throttled: bool = True
    limiter: RateLimiter | None = None
    on_throttled: Callable[[httpx.Response], float | None] | None = None
    """Called with a 429; returns seconds to wait before one retry, or None to give up."""
    max_throttle_retries: int = 3


@dataclass
class ApiClient:
    transport: Any  # httpx.Client or starlette TestClient (an httpx.Client subclass)
    base_url: str
    token: str | None = None
    policy: ClientPolicy = field(default_factory=ClientPolicy)
    history: deque = field(default_factory=lambda: deque(maxlen=20))
    on_created: Callable[[str, httpx.Response], None] | None = None

    def with_token(self, token: str | None, **policy_changes: Any) -> ApiClient:
        """The same transport and record, another credential (or none)."""
        policy = ClientPolicy(**{**self.policy.__dict__, **policy_changes})
        return ApiClient(self.transport, self.base_url, token, policy, self.history,
                         self.on_created)

    # ------------------------------------------------------------ calls

    def request(self, method: str, path: str, *, json_body: Any = None, params: Any = None,
                token: Any = DEFAULT, headers: dict[str, str] | None = None) -> httpx.Response:
        token = self.token if token is DEFAULT else token
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if params:
            params = {k: (json.dumps(v) if isinstance(v, dict | list) else v)
                      for k, v in params.items() if v is not None}
        operation = router().match(method, path)
        attempts = 0
        while True:
            if self.policy.limiter is not None:
                self.policy.limiter.acquire(operation, throttle_key(operation, path))
            response = self.transport.request(method, path, json=json_body, params=params,
                                              headers=sent)
            self.history.append(response)
            if (response.status_code == 429 and self.policy.retry_throttled
                    and attempts < self.policy.max_throttle_retries
                    and self.policy.on_throttled is not None):
                wait = self.policy.on_throttled(response)
                if wait is not None:
                    attempts += 1
                    if wait > 0:
                        time.sleep(wait)
                    continue
            break
        if self.on_created and method.upper() == "POST" and response.status_code in (200, 201):
            self.on_created(path, response)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json_body=body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    # ------------------------------------------------------------ reporting

    def curl(self, response: httpx.Response | None = None) -> str:
        """A curl command that sends the request behind ``response`` (default: the last one)."""
        if response is None:
            if not self.history:
                return ""
            response = self.history[-1]
        return curl_command(response.request, self.base_url)


def curl_command(request: httpx.Request, base_url: str | None = None) -> str:
    url = str(request.url)
    if base_url and url.startswith("http://testserver"):
        url = base_url.rstrip("/") + url.removeprefix("http://testserver")
    parts = ["curl", "-X", request.method]
    for name, value in request.headers.items():
        if name.lower() == "authorization":
            parts += ["-H", "Authorization: Bearer $LOSANT_TOKEN"]
        elif name.lower() == "content-type":
            parts += ["-H", f"{name}: {value}"]
    body = request.content
    if body:
        parts += ["--data", body.decode("utf-8", errors="replace")]
    parts.append(url)
    return " ".join(shlex.quote(p) if "$LOSANT_TOKEN" not in p else f'"{p}"' for p in parts)


def throttle_key(operation: Any, path: str) -> str:
    if operation is None or not operation.throttle:
        return "-"
    per = operation.throttle.get("per")
    segments = path.split("?", 1)[0].strip("/").split("/")
    template = operation.path.strip("/").split("/")
    for name, value in zip(template, segments, strict=False):
        if name == "{" + f"{per}Id" + "}":
            return value
    # "per device" on an application-level route: the application stands in.
    for name, value in zip(template, segments, strict=False):
        if name == "{applicationId}":
            return value
    return "-"


def describe(response: httpx.Response, base_url: str | None = None) -> str:
    """``GET /path?query -> 404: {...}`` plus a curl line, for failure messages."""
    request = response.request
    target = request.url.raw_path.decode()
    try:
        body = json.dumps(response.json())[:300]
    except ValueError:
        body = response.text[:300]
    return (f"{request.method} {target} -> {response.status_code}: {body}\n"
            f"  reproduce: {curl_command(request, base_url)}")
