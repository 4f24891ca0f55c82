"""Helpers for the MQTT broker tests: a mock with its broker on free ports, and a
device client (paho-mqtt, the library the official Python client wraps).

The client drives paho's network loop itself rather than with ``loop_start``,
so a connection the broker closes stays closed (paho would otherwise
reconnect, and a reconnect would take the connection over again). Every wait
is a bounded wait for an event with a generous limit, never a sleep.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import paho.mqtt.client as paho

from losant_kit.mockserver.app import MockApp, create_app
from losant_kit.mockserver.settings import Settings
from tests.conftest import LOGIN, LiveServer, with_settings

WAIT_S = 30.0


def broker_settings(**changes: Any) -> Settings:
    """Test settings with the broker on free ports (TCP and WebSocket)."""
    return with_settings(**{"mqtt_port": 0, "mqtt_ws_port": 0, **changes})


@dataclass
class World:
    """What the MQTT tests use from the seeded world's first application."""

    app: MockApp
    server: LiveServer
    application_id: str
    key: str
    secret: str
    whitelist_key: str
    whitelist_secret: str
    user_token: str

    @property
    def port(self) -> int:
        assert self.app.mqtt.port is not None
        return self.app.mqtt.port

    @property
    def ws_port(self) -> int:
        assert self.app.mqtt.ws_port is not None
        return self.app.mqtt.ws_port

    def device(self, device_class: str) -> dict[str, Any]:
        """The first device of ``device_class`` in the application."""
        return next(
            d for d in sorted(self.app.backend.store.all("devices"), key=lambda d: d["id"])
            if d["applicationId"] == self.application_id and d.get("deviceClass") == device_class
        )

    def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.user_token}"}
        return httpx.request(method, f"{self.server.url}{path}", headers=headers,
                             timeout=WAIT_S, **kwargs)

    def app_path(self, rest: str = "") -> str:
        return f"/applications/{self.application_id}{rest}"

    def client(self, device_id: str, key: str | None = None, secret: str | None = None,
               **options: Any) -> DeviceClient:
        return DeviceClient(
            self.port if options.get("transport") != "websockets" else self.ws_port,
            device_id, key or self.key, self.secret if secret is None else secret, **options
        )

    def create_key(self, **fields: Any) -> tuple[str, str]:
        response = self.rest("POST", self.app_path("/keys"), json=fields)
        assert response.status_code == 201, response.text
        return response.json()["key"], response.json()["secret"]

    def log_entries(self, device_id: str, limit: int = 10) -> list[dict[str, Any]]:
        response = self.rest("GET", self.app_path(f"/devices/{device_id}/logs"),
                             params={"limit": limit})
        assert response.status_code == 200, response.text
        return response.json()

    def advance_clock(self, seconds: float) -> None:
        response = httpx.post(f"{self.server.url}/_mock/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text


@contextmanager
def broker_world(settings: Settings | None = None) -> Iterator[World]:
    app = create_app(settings or broker_settings())
    with LiveServer(app) as server:
        first = app.world_summary["applications"][0]
        keys = {k["filterType"]: k for k in first["keys"]}
        token = httpx.post(f"{server.url}/auth/user", json=LOGIN).json()["token"]
        yield World(app, server, first["id"], keys["all"]["key"], keys["all"]["secret"],
                    keys["whitelist"]["key"], keys["whitelist"]["secret"], token)


def wait_until(condition: Callable[[], Any], what: str, limit_s: float = WAIT_S) -> Any:
    """Poll ``condition`` until it is truthy (bounded), and return its value."""
    deadline = time.monotonic() + limit_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class DeviceClient:
    """One MQTT connection as a device, with blocking, bounded helpers."""

    def __init__(self, port: int, client_id: str, key: str, secret: str, *,
                 transport: str = "tcp", protocol: int = paho.MQTTv311) -> None:
        self.client = paho.Client(client_id, protocol=protocol, transport=transport)
        self.client.username_pw_set(key, secret)
        self.port = port
        self.connack: queue.Queue[int] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, threading.Event] = {}
        self.granted: dict[int, list[int]] = {}
        self.disconnected = threading.Event()
        self.client.on_connect = lambda c, u, flags, rc: self.connack.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.on_publish = lambda c, u, mid: self._event(mid).set()
        self.client.on_subscribe = self._subscribed
        self.client.on_disconnect = lambda c, u, rc: self.disconnected.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _event(self, mid: int) -> threading.Event:
        return self.acks.setdefault(mid, threading.Event())

    def _subscribed(self, client: Any, userdata: Any, mid: int, granted: Any) -> None:
        self.granted[mid] = list(granted)
        self._event(mid).set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.client.loop(0.02) != paho.MQTT_ERR_SUCCESS:
                self.disconnected.set()
                return

    def connect(self) -> int:
        """Connect and return the CONNACK code (a refused client is then closed)."""
        self.client.connect("127.0.0.1", self.port, keepalive=60)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        try:
            return self.connack.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError("no CONNACK from the broker") from None

    def publish(self, topic: str, payload: Any, qos: int = 1, retain: bool = False) -> None:
        """Publish; with QoS 1, wait for the broker's PUBACK (it acks after handling)
        or for the broker to close the connection instead."""
        if not isinstance(payload, bytes | str):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            acked = self._event(info.mid)
            wait_until(lambda: acked.is_set() or self.disconnected.is_set(), "a PUBACK")

    def subscribe(self, topic: str, qos: int = 0) -> list[int]:
        """Subscribe and return the granted QoS codes of the SUBACK (128 = refused)."""
        result, mid = self.client.subscribe(topic, qos)
        assert result == paho.MQTT_ERR_SUCCESS
        if not self._event(mid).wait(WAIT_S):
            raise AssertionError(f"no SUBACK for {topic}")
        return self.granted[mid]

    def next_message(self) -> tuple[str, bytes]:
        try:
            return self.messages.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError("no message arrived") from None

    def wait_disconnected(self) -> None:
        if not self.disconnected.wait(WAIT_S):
            raise AssertionError("the broker did not close the connection")

    def close(self) -> None:
        if not self.disconnected.is_set():
            self.client.disconnect()
            self.disconnected.wait(WAIT_S)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(WAIT_S)

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
