"""The broker's published limits: message windows (shared with REST for state), the
30-second lock-out on the mock's clock, the 256 KB cap and QoS 0/1 only.

The mock runs with ``--throttle-scale 0.1`` (3 messages per 15 s), so a window
fills with a handful of messages; the windows and the lock-out keep their length.
"""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest

from losant_kit.mockserver.mqtt.limits import LOCKOUT_S, MAX_PAYLOAD_BYTES
from tests.mqtt_support import World, broker_settings, broker_world

LIMIT = 3  # 30 per 15 s, scaled by 0.1


@pytest.fixture(scope="module")
def module_world() -> Iterator[World]:
    with broker_world(broker_settings(throttle_scale=0.1)) as world:
        yield world


@pytest.fixture
def world(module_world: World) -> World:
    module_world.app.control.reset()
    return module_world


def stored(world: World, device_id: str) -> int:
    response = world.rest("GET", world.app_path(f"/devices/{device_id}/state"),
                          params={"limit": 100})
    return len(response.json())


def test_state_over_the_window_disconnects_and_is_not_stored(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for n in range(LIMIT + 1):
            client.publish(f"losant/{device_id}/state", {"data": {"battery": n}})
        client.wait_disconnected()
    assert stored(world, device_id) == LIMIT
    reason = world.log_entries(device_id)[0]["disconnectReason"]
    assert f"limited to {LIMIT} calls per 15 seconds" in reason


def test_throttled_device_is_locked_out_for_30_seconds_of_mock_time(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for n in range(LIMIT + 1):
            client.publish(f"losant/{device_id}/state", {"data": {"battery": n}})
        client.wait_disconnected()
    with world.client(device_id) as again:
        assert again.connect() == paho.CONNACK_REFUSED_SERVER_UNAVAILABLE
    world.advance_clock(LOCKOUT_S - 10)  # 10 s of real-time slack for a slow machine
    with world.client(device_id) as again:
        assert again.connect() == paho.CONNACK_REFUSED_SERVER_UNAVAILABLE
    world.advance_clock(11)
    with world.client(device_id) as again:
        assert again.connect() == paho.CONNACK_ACCEPTED


def test_throttle_reset_lifts_the_lockout(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for n in range(LIMIT + 1):
            client.publish(f"losant/{device_id}/state", {"data": {"battery": n}})
        client.wait_disconnected()
    assert world.rest("POST", "/_mock/throttles/reset").status_code == 200
    with world.client(device_id) as again:
        assert again.connect() == paho.CONNACK_ACCEPTED


def test_mqtt_and_rest_state_share_one_window(world: World) -> None:
    device_id = world.device("standalone")["id"]
    path = world.app_path(f"/devices/{device_id}/state")
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for n in range(LIMIT - 1):
            client.publish(f"losant/{device_id}/state", {"data": {"battery": n}})
    assert world.rest("POST", path, json={"data": {"battery": 9}}).status_code == 200
    assert world.rest("POST", path, json={"data": {"battery": 10}}).status_code == 429


def test_gateway_over_a_peripherals_window_is_disconnected(world: World) -> None:
    gateway = world.device("gateway")
    peripheral = world.device("peripheral")
    with world.client(gateway["id"]) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for n in range(LIMIT + 1):
            client.publish(f"losant/{peripheral['id']}/state", {"data": {"temperature": n}})
        client.wait_disconnected()
    assert stored(world, peripheral["id"]) == LIMIT
    with world.client(gateway["id"]) as again:
        assert again.connect() == paho.CONNACK_REFUSED_SERVER_UNAVAILABLE


def test_custom_topics_have_a_window_per_topic(world: World) -> None:
    key, secret = world.create_key(name="custom", pubTopics=["t/#"])
    device_id = world.device("standalone")["id"]
    with world.client(device_id, key, secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        for _ in range(LIMIT):
            client.publish("t/a", "x")
            client.publish("t/b", "x")
        assert not client.disconnected.is_set()
        client.publish("t/a", "one too many")
        client.wait_disconnected()


def test_message_of_256_kb_is_accepted_and_one_byte_more_disconnects(world: World) -> None:
    key, secret = world.create_key(name="big", pubTopics=["big"], subTopics=["big"])
    device_id = world.device("standalone")["id"]
    with world.client(device_id, key, secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe("big") == [0]
        client.publish("big", b"x" * MAX_PAYLOAD_BYTES)
        topic, payload = client.next_message()
        assert (topic, len(payload)) == ("big", MAX_PAYLOAD_BYTES)
        client.publish("big", b"x" * (MAX_PAYLOAD_BYTES + 1))
        client.wait_disconnected()
    assert "limited to 262144 bytes" in world.log_entries(device_id)[0]["disconnectReason"]


def test_oversized_state_is_not_stored(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state",
                       {"data": {"door": "x" * MAX_PAYLOAD_BYTES}})
        client.wait_disconnected()
    assert stored(world, device_id) == 0


def test_qos_2_publish_disconnects(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 1}}, qos=2)
        client.wait_disconnected()
    assert stored(world, device_id) == 0
    assert "QoS 2" in world.log_entries(device_id)[0]["disconnectReason"]
