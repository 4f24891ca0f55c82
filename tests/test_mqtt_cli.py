"""``losant-mock serve`` runs the MQTT broker in its own process, on its flags."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import paho.mqtt.client as paho

from losant_kit.mockserver.cli import build_parser, settings_from
from tests.conftest import LOGIN, _free_port
from tests.mqtt_support import WAIT_S, DeviceClient, wait_until


def settings_for(*flags: str):
    return settings_from(build_parser().parse_args(["serve", *flags]))


def test_broker_listens_on_1883_by_default_without_websocket() -> None:
    settings = settings_for()
    assert (settings.mqtt_port, settings.mqtt_ws_port) == (1883, None)


def test_mqtt_off_turns_both_listeners_off() -> None:
    settings = settings_for("--mqtt", "off", "--mqtt-ws-port", "9001")
    assert (settings.mqtt_port, settings.mqtt_ws_port) == (None, None)


def test_mqtt_ports_are_flags() -> None:
    settings = settings_for("--mqtt-port", "48001", "--mqtt-ws-port", "48002")
    assert (settings.mqtt_port, settings.mqtt_ws_port) == (48001, 48002)


def test_serve_runs_http_and_mqtt_on_one_state() -> None:
    http_port, mqtt_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(http_port),
         "--mqtt-port", str(mqtt_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        banner = []
        for line in process.stdout:  # type: ignore[union-attr]
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert any(f"mqtt://127.0.0.1:{mqtt_port}" in line for line in banner), banner
        url = f"http://127.0.0.1:{http_port}"

        def world():
            try:
                return httpx.get(f"{url}/_mock/world", timeout=WAIT_S).json()
            except httpx.HTTPError:
                return None

        summary = wait_until(world, "the HTTP server")
        app = summary["applications"][0]
        key = next(k for k in app["keys"] if k["filterType"] == "all")
        token = httpx.post(f"{url}/auth/user", json=LOGIN).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        devices = httpx.get(f"{url}/applications/{app['id']}/devices", headers=headers,
                            params={"perPage": 100}).json()["items"]
        device = next(d for d in devices if d["deviceClass"] == "standalone")
        device_id = device["id"]
        number = next(a["name"] for a in device["attributes"] if a["dataType"] == "number")
        with DeviceClient(mqtt_port, device_id, key["key"], key["secret"]) as client:
            assert client.connect() == paho.CONNACK_ACCEPTED
            client.publish(f"losant/{device_id}/state", json.dumps({"data": {number: 3}}))
        state = httpx.get(f"{url}/applications/{app['id']}/devices/{device_id}/state",
                          headers=headers).json()
        assert state[0]["data"] == {number: 3}
    finally:
        process.terminate()
        process.wait(WAIT_S)


def test_serve_refuses_to_start_when_the_mqtt_port_is_taken() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(_free_port()),
             "--mqtt-port", str(port)],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 2
    assert f"MQTT port {port} is in use" in result.stderr
