"""Reading one application through the platform's official REST API, read-only.

Every request goes through :meth:`ApiReader.get`, which only sends ``GET``
to paths on :data:`READ_ONLY_PATHS`; the one ``POST`` is the login
(``auth.authenticateUser``), which creates nothing. Some ``GET`` actions of
the platform start jobs (``application.archiveData``, the full archives), so
"GET" alone is not enough: the allow-list is the guarantee.

Requests are paced by the contract kit's client-side :class:`RateLimiter`
(a token bucket). The platform publishes no limit for these reads (its
published throttles, ``reference/throttles.yaml``, cover writes, messages
and jobs), so the default pace is a conservative 10 requests per second; a
429 is waited out (``Retry-After``) and retried, as is a 5xx or a dropped
connection, a few times with back-off.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from losant_kit.contracts.limiter import RateLimiter

APP = "/applications/{applicationId}"
#: The reads the cloner may send (resource.action: path template).
READ_ONLY_PATHS = {
    "me.get": "/me",
    "application.get": APP,
    "devices.get": APP + "/devices",
    "devices.getCompositeState": APP + "/devices/compositeState",
    "device.getState": APP + "/devices/{deviceId}/state",
    "deviceRecipes.get": APP + "/device-recipes",
    "applicationKeys.get": APP + "/keys",
    "applicationApiTokens.get": APP + "/tokens",
    "events.get": APP + "/events",
}
LOGIN_PATH = "/auth/user"
#: The platform's largest page (perPage) for collections.
MAX_PAGE = 1000
RETRIES = 5


class CloneError(Exception):
    """The clone cannot go on (refused login, unknown application, ...); the message says why."""


class NotPermitted(CloneError):
    """The token may not read this (401/403)."""


class ApiReader:
    """GETs against one base URL, rate-limited, counted, retried."""

    def __init__(
        self,
        base_url: str,
        *,
        rate: float,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.requests = 0
        self.bytes = 0
        self._sleep = sleep
        burst = max(1, int(rate)) if rate > 0 else 1
        self._limiter = (RateLimiter(rate=rate, burst=burst, clock=clock, sleep=sleep)
                         if rate > 0 else None)
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(60.0, connect=10.0),
            headers={"Accept": "application/json", "User-Agent": "losant-mock-clone"},
        )
        self.token = token

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests

    def login(self, email: str, password: str) -> str:
        """auth.authenticateUser: a user token for the reads (the password is not kept)."""
        response = self._send("POST", LOGIN_PATH, json={"email": email, "password": password})
        if response.status_code != 200:
            raise CloneError(f"login as {email} refused: {_error_text(response)}")
        self.token = response.json()["token"]
        return self.token

    def get(self, action: str, params: dict[str, Any] | None = None, **path: str) -> Any:
        """The JSON body of one allowed read; CloneError on any other answer than 200."""
        url = READ_ONLY_PATHS[action].format(**path)
        response = self._send("GET", url, params=params)
        if response.status_code != 200:
            error = NotPermitted if response.status_code in (401, 403) else CloneError
            raise error(f"{action} ({url}) answered {response.status_code}: "
                        f"{_error_text(response)}")
        return response.json()

    def try_get(self, action: str, params: dict[str, Any] | None = None, **path: str) -> Any:
        """Like get, but None when the token may not read it (401/403)."""
        try:
            return self.get(action, params, **path)
        except NotPermitted:
            return None

    def pages(self, action: str, params: dict[str, Any] | None = None,
              **path: str) -> Iterator[list[dict[str, Any]]]:
        """The ``items`` of each page of a collection, biggest pages, until the last."""
        page = 0
        while True:
            body = self.get(action, {**(params or {}), "page": page, "perPage": MAX_PAGE}, **path)
            items = body.get("items", [])
            yield items
            page += 1
            # Without a totalCount, a short page is the last.
            total = body.get("totalCount")
            if len(items) < MAX_PAGE if total is None else page * MAX_PAGE >= total:
                return
            if not items:
                return

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if method != "GET" and url != LOGIN_PATH:  # the guarantee, whatever a caller asks
            raise AssertionError(f"the cloner only reads: refused {method} {url}")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for attempt in range(RETRIES + 1):
            if self._limiter is not None:
                self._limiter.acquire()
            self.requests += 1
            try:
                response = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt == RETRIES:
                    raise CloneError(f"{method} {url}: {exc}") from exc
                self._sleep(2**attempt)
                continue
            self.bytes += len(response.content)
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == RETRIES:
                    return response
                self._sleep(_retry_after(response, 2**attempt))
                continue
            return response
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else default


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('type', 'Error')}: {body['message']}"
    return str(body)[:200]
