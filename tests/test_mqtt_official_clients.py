"""The official MQTT clients work unmodified against the embedded broker.

* Python: ``losant-mqtt`` (``losantmqtt.Device``, on paho-mqtt), pointed at the
  mock with ``Device.mqtt_endpoint`` and ``secure=False``. It always dials port
  1883, which tests must not bind (engineers and CI share the machine); the
  test redirects that one address to the broker's free port at the socket
  layer, leaving the client's code as published. ``losant-mock serve`` listens
  on 1883 by default, where the client connects as it is.
* JavaScript: the official Node client is not on the registry this machine
  reaches; it wraps MQTT.js (``mqtt`` 4.x), which tests/js/mqtt_device.js drives
  exactly as the client's lib/mqtt.js and lib/device.js do.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mqtt_support import WAIT_S, World, broker_world, wait_until
from tests.test_official_js_client import js_client_installed  # noqa: F401 (fixture)

pytestmark = pytest.mark.official_client

OFFICIAL_PORT = 1883
SCRIPT = Path(__file__).parent / "js" / "mqtt_device.js"


@pytest.fixture(scope="module")
def module_world() -> Iterator[World]:
    with broker_world() as world:
        yield world


@pytest.fixture
def world(module_world: World) -> World:
    module_world.app.control.reset()
    return module_world


@pytest.fixture
def official_port_redirected(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections to 127.0.0.1:1883 go to the broker's free port instead."""
    original = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if tuple(address) == ("127.0.0.1", OFFICIAL_PORT):
            address = ("127.0.0.1", world.port)
        return original(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)


class StateStream:
    """An open ``device.stateStream``, collecting its events in a thread."""

    def __init__(self, world: World, device_id: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._client = httpx.Client(timeout=WAIT_S)
        url = f"{world.server.url}{world.app_path(f'/devices/{device_id}/stateStream')}"
        request = self._client.build_request(
            "GET", url, headers={"Authorization": f"Bearer {world.user_token}"})
        self._response = self._client.send(request, stream=True)
        assert self._response.status_code == 200
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        with contextlib.suppress(httpx.HTTPError, RuntimeError, ValueError):
            for line in self._response.iter_lines():
                if line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))

    def __enter__(self) -> StateStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._response.close()
        self._client.close()
        self._thread.join(WAIT_S)


def command_subscribed(world: World, device_id: str) -> bool:
    items = world.app.mqtt.overview()["items"]
    return any(c["clientId"] == device_id and c["subscriptions"] for c in items)


def send_command(world: World, device_id: str, name: str, payload: Any) -> None:
    response = world.rest("POST", world.app_path(f"/devices/{device_id}/command"),
                          json={"name": name, "payload": payload})
    assert response.status_code == 200, response.text


def latest_state(world: World, device_id: str) -> list[dict[str, Any]]:
    return world.rest("GET", world.app_path(f"/devices/{device_id}/state")).json()


# -- Python: losant-mqtt ----------------------------------------------------------------


@pytest.fixture
def python_device(world: World, official_port_redirected: None) -> Iterator[Any]:
    from losantmqtt import Device

    device_id = world.device("standalone")["id"]
    Device.mqtt_endpoint = "127.0.0.1"
    device = Device(device_id, world.key, world.secret, secure=False)
    commands: list[dict[str, Any]] = []
    device.add_event_observer("command", lambda dev, command: commands.append(command))
    device.commands = commands
    stop, closing = threading.Event(), threading.Event()
    device.connect(blocking=False)

    def network() -> None:
        while not stop.is_set():
            try:
                device.loop(0.02)
            except AttributeError:
                # The client clears its paho client in the close callback and may
                # then retry on it within the same loop() call: only when closing.
                if closing.is_set():
                    return
                raise

    thread = threading.Thread(target=network, daemon=True)
    thread.start()
    wait_until(device.is_connected, "the official client to connect")
    try:
        yield device
    finally:
        closing.set()
        device.close()
        wait_until(lambda: device._mqtt_client is None or not thread.is_alive(), "the close")
        stop.set()
        thread.join(WAIT_S)


def test_python_client_state_is_seen_by_get_state_and_the_state_stream(
    world: World, python_device: Any
) -> None:
    device_id = python_device._device_id
    stream = StateStream(world, device_id)
    with stream:
        wait_until(lambda: world.app.backend.streams.subscriber_count(f"state/{device_id}"),
                   "the state stream")
        # (send_state's return value compares paho's MQTTMessageInfo with an int:
        # always False with the paho-mqtt 1.6 the client pins, whatever happened.)
        python_device.send_state({"battery": 64, "door": "closed"})
        wait_until(lambda: latest_state(world, device_id), "the state over REST")
        wait_until(lambda: stream.events, "the state on the stream")
    assert latest_state(world, device_id)[0]["data"] == {"battery": 64, "door": "closed"}
    assert stream.events[0]["data"] == {"battery": 64, "door": "closed"}


def test_python_client_receives_a_command_sent_over_rest(
    world: World, python_device: Any
) -> None:
    device_id = python_device._device_id
    wait_until(lambda: command_subscribed(world, device_id), "the command subscription")
    send_command(world, device_id, "setInterval", {"seconds": 30})
    wait_until(lambda: python_device.commands, "the command")
    command = python_device.commands[0]
    assert command["name"] == "setInterval"
    assert command["payload"] == {"seconds": 30}
    # Sent as {"$date": ISO}, which the client decodes into an aware datetime.
    assert command["time"].tzinfo is not None


def test_python_client_connection_is_the_devices_connection_status(
    world: World, python_device: Any
) -> None:
    device_id = python_device._device_id
    device = world.rest("GET", world.app_path(f"/devices/{device_id}")).json()
    assert device["connectionInfo"]["connected"] == 1


# -- JavaScript: MQTT.js as losant-mqtt uses it -------------------------------------------


@pytest.fixture
def js_device(world: World, js_client_installed: None) -> Iterator[tuple[subprocess.Popen, str]]:  # noqa: F811
    device_id = world.device("standalone")["id"]
    process = subprocess.Popen(
        ["node", str(SCRIPT), "127.0.0.1", str(world.port), device_id, world.key, world.secret],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process, device_id
    finally:
        process.kill()
        process.wait(WAIT_S)


def read_event(process: subprocess.Popen, wanted: str) -> Any:
    for line in process.stdout:  # type: ignore[union-attr]
        record = json.loads(line)
        assert record["event"] not in ("error", "timeout"), record
        if record["event"] == wanted:
            return record.get("detail")
    raise AssertionError(f"the script ended before {wanted}: {process.stderr.read()}")  # type: ignore[union-attr]


def test_js_client_sends_state_and_receives_a_command(world: World, js_device: Any) -> None:
    process, device_id = js_device
    stream = StateStream(world, device_id)
    with stream:
        wait_until(lambda: world.app.backend.streams.subscriber_count(f"state/{device_id}"),
                   "the state stream")
        read_event(process, "connected")
        assert read_event(process, "subscribed")["granted"][0]["qos"] == 0
        assert read_event(process, "published")["err"] is None
        wait_until(lambda: latest_state(world, device_id), "the state over REST")
        wait_until(lambda: stream.events, "the state on the stream")
    # The client's {"$date": ...} time is the report's time.
    assert latest_state(world, device_id)[0] == {
        "time": "2026-01-02T03:04:05.000Z", "data": {"battery": 77}}
    assert stream.events[0]["data"] == {"battery": 77}
    send_command(world, device_id, "lights", {"on": True})
    command = read_event(process, "command")
    assert command["name"] == "lights" and command["payload"] == {"on": True}
    assert command["time"]["$date"].endswith("Z")
    read_event(process, "closed")
    wait_until(lambda: world.log_entries(device_id)[0]["connected"] == 0, "disconnected")


# -- Python: losant-mqtt on its own port 1883, in a private network namespace ------------

NETNS_SCRIPT = r'''
import json, sys, threading
sys.path.insert(0, sys.argv[1])
from tests.mqtt_support import broker_world, broker_settings, wait_until
from losantmqtt import Device

with broker_world(broker_settings(mqtt_port=1883, mqtt_ws_port=None)) as world:
    device_id = world.device("standalone")["id"]
    Device.mqtt_endpoint = "127.0.0.1"
    device = Device(device_id, world.key, world.secret, secure=False)
    commands = []
    device.add_event_observer("command", lambda dev, command: commands.append(command))
    device.connect(blocking=False)
    pump = lambda: device.loop(0.02)
    wait_until(lambda: pump() or device.is_connected(), "connect")
    device.send_state({"battery": 55})
    state = wait_until(lambda: pump() or world.rest(
        "GET", world.app_path(f"/devices/{device_id}/state")).json(), "state")
    wait_until(lambda: pump() or world.app.mqtt.overview()["items"][0]["subscriptions"],
               "subscription")
    world.rest("POST", world.app_path(f"/devices/{device_id}/command"), json={"name": "go"})
    wait_until(lambda: pump() or commands, "command")
    print(json.dumps({"port": world.port, "state": state, "command": commands[0]["name"]}))
'''


def test_python_client_unpatched_on_port_1883_in_a_private_network() -> None:
    # A network namespace of its own: its 1883 is nobody else's, so the client
    # runs exactly as published, no redirect.
    root = str(Path(__file__).parent.parent)
    command = ["unshare", "--net", "sh", "-c",
               'ip link set lo up && exec "$0" -c "$1" "$2"', sys.executable, NETNS_SCRIPT, root]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("creating a network namespace needs root (CAP_SYS_ADMIN)")
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["port"] == OFFICIAL_PORT
    assert outcome["state"][0]["data"] == {"battery": 55}
    assert outcome["command"] == "go"
