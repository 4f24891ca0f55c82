"""The embedded MQTT broker on the mock's state: logins, topics, connection status,
custom topics and the control API, through a real MQTT client over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import paho.mqtt.client as paho
import pytest

from losant_kit.mockserver.times import parse_state_time
from tests.mqtt_support import World, broker_world, wait_until

REFUSED = 0x80


@pytest.fixture(scope="module")
def module_world() -> Iterator[World]:
    with broker_world() as world:
        yield world


@pytest.fixture
def world(module_world: World) -> World:
    module_world.app.control.reset()
    return module_world


def state_of(world: World, device_id: str, limit: int = 10) -> list[dict]:
    response = world.rest("GET", world.app_path(f"/devices/{device_id}/state"),
                          params={"limit": limit})
    assert response.status_code == 200, response.text
    return response.json()


# -- logins ----------------------------------------------------------------------------


def test_device_logs_in_with_its_id_and_access_key(world: World) -> None:
    device = world.device("standalone")
    with world.client(device["id"]) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("wrong secret", paho.CONNACK_REFUSED_BAD_USERNAME_PASSWORD),
        ("unknown key", paho.CONNACK_REFUSED_BAD_USERNAME_PASSWORD),
        ("unknown device", paho.CONNACK_REFUSED_NOT_AUTHORIZED),
        ("device outside the key's filter", paho.CONNACK_REFUSED_NOT_AUTHORIZED),
    ],
)
def test_bad_login_is_refused_with_the_connack_code(world: World, change: str, code: int) -> None:
    device = world.device("standalone")  # truck 149: not in the whitelist key's truck 131
    device_id, key, secret = device["id"], world.key, world.secret
    if change == "wrong secret":
        secret = "0" * 64
    elif change == "unknown key":
        key = "00000000-0000-0000-0000-000000000000"
    elif change == "unknown device":
        device_id = "0123456789abcdef01234567"
    else:
        key, secret = world.whitelist_key, world.whitelist_secret
    with world.client(device_id, key, secret) as client:
        assert client.connect() == code
        client.wait_disconnected()
    assert world.app.mqtt.overview()["count"] == 0


def test_deactivated_key_is_not_authorised(world: World) -> None:
    key_id = next(k["id"] for k in world.app.backend.store.all("applicationKeys")
                  if k["key"] == world.key)
    response = world.rest("PATCH", world.app_path(f"/keys/{key_id}"), json={"status": "inactive"})
    assert response.status_code == 200, response.text
    with world.client(world.device("standalone")["id"]) as client:
        assert client.connect() == paho.CONNACK_REFUSED_NOT_AUTHORIZED


def test_whitelisted_device_logs_in_with_the_whitelist_key(world: World) -> None:
    gateway = world.device("gateway")  # truck 131
    with world.client(gateway["id"], world.whitelist_key, world.whitelist_secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED


def test_mqtt_3_1_is_refused_as_an_unacceptable_protocol(world: World) -> None:
    with world.client(world.device("standalone")["id"], protocol=paho.MQTTv31) as client:
        assert client.connect() == paho.CONNACK_REFUSED_PROTOCOL_VERSION


def test_second_connection_with_the_same_client_id_takes_over(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as first, world.client(device_id) as second:
        assert first.connect() == paho.CONNACK_ACCEPTED
        assert second.connect() == paho.CONNACK_ACCEPTED
        first.wait_disconnected()
        assert not second.disconnected.is_set()
        entries = world.log_entries(device_id)
        assert [e["connected"] for e in entries[:3]] == [1, 0, 1]
        assert "took over" in entries[1]["disconnectReason"]
        assert world.app.mqtt.overview()["count"] == 1


# -- connection status -------------------------------------------------------------------


def test_connect_and_disconnect_update_connection_info_and_log(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        device = world.rest("GET", world.app_path(f"/devices/{device_id}")).json()
        assert device["connectionInfo"]["connected"] == 1
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 80}})
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 79}})
    wait_until(lambda: world.log_entries(device_id)[0]["connected"] == 0, "disconnected status")
    device = world.rest("GET", world.app_path(f"/devices/{device_id}")).json()
    assert device["connectionInfo"]["connected"] == 0
    last, first = world.log_entries(device_id)[:2]
    assert first["connected"] == 1 and first["ipAddress"] == "127.0.0.1"
    assert last["disconnectReason"] == "the client closed the connection"
    assert last["messagesFromClient"] == 2
    assert last["messagesToClient"] == 0


def test_connection_times_follow_the_mock_clock(world: World) -> None:
    world.advance_clock(86_400)
    device_id = world.device("standalone")["id"]
    now_ms = httpx.get(f"{world.server.url}/_mock/clock").json()["epochMs"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
    entry = world.log_entries(device_id)[-1]
    assert parse_state_time(entry["time"], 0, field="time") >= now_ms


# -- state ------------------------------------------------------------------------------


def test_published_state_is_stored_as_rest_send_state_stores_it(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", {
            "time": {"$date": "2026-01-02T03:04:05.000Z"},
            "data": {"battery": "81.5", "door": 3, "unknown": 1},
        })
        client.publish(f"losant/{device_id}/state",
                       {"time": 1767225600000, "data": {"battery": 70}})
    by_time = {r["time"]: r["data"] for r in state_of(world, device_id, 10)}
    # Converted as REST converts: numeric string to number, number to string, unknown dropped.
    assert by_time == {
        "2026-01-02T03:04:05.000Z": {"battery": 81.5, "door": "3"},
        "2026-01-01T00:00:00.000Z": {"battery": 70},
    }


def test_state_publish_counts_as_a_device_mqtt_payload(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 1}})
    stats = world.rest("GET", world.app_path("/payloadCounts")).json()
    assert stats["deviceState"] == {"device.mqtt": 1}
    assert stats["deviceConnect"] == {"device.mqtt": 1}


def test_malformed_state_is_dropped_and_the_connection_stays(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", b"not json")
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 5}, "time": "soon"})
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 6}})
        assert not client.disconnected.is_set()
        connection = world.app.mqtt.overview()["items"][0]
        assert connection["messagesDropped"] == 2
        assert "time" in connection["lastDropped"]
    assert [r["data"] for r in state_of(world, device_id)] == [{"battery": 6}]


def test_publishing_state_for_another_device_disconnects(world: World) -> None:
    device_id, other = (d["id"] for d in sorted(
        (d for d in world.app.backend.store.all("devices")
         if d["applicationId"] == world.application_id and d["deviceClass"] == "standalone"),
        key=lambda d: d["id"])[:2])
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{other}/state", {"data": {"battery": 1}})
        client.wait_disconnected()
    assert state_of(world, other) == []
    assert "not allowed" in world.log_entries(device_id)[0]["disconnectReason"]


def test_published_state_reaches_an_open_state_stream(world: World) -> None:
    device_id = world.device("standalone")["id"]
    url = f"{world.server.url}{world.app_path(f'/devices/{device_id}/stateStream')}"
    headers = {"Authorization": f"Bearer {world.user_token}"}
    with httpx.stream("GET", url, headers=headers, timeout=30) as stream, \
            world.client(device_id) as client:
        assert stream.status_code == 200
        wait_until(lambda: world.app.backend.streams.subscriber_count(f"state/{device_id}"),
                   "the stream's subscription")
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 42}})
        for line in stream.iter_lines():
            if line.startswith("data:") and "battery" in line:
                assert json.loads(line[5:])["data"] == {"battery": 42}
                break


# -- commands ---------------------------------------------------------------------------


def test_rest_command_is_delivered_to_the_subscribed_device(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe(f"losant/{device_id}/command", qos=1) == [1]
        response = world.rest("POST", world.app_path(f"/devices/{device_id}/command"),
                              json={"name": "reboot", "payload": {"delay": 5}})
        assert response.status_code == 200, response.text
        topic, payload = client.next_message()
    assert topic == f"losant/{device_id}/command"
    command = json.loads(payload)
    assert command["name"] == "reboot" and command["payload"] == {"delay": 5}
    assert command["time"]["$date"].endswith("Z")
    history = world.rest("GET", world.app_path(f"/devices/{device_id}/command")).json()
    assert history[0]["name"] == "reboot"


def test_bulk_command_reaches_every_connected_device_selected(world: World) -> None:
    ids = sorted(d["id"] for d in world.app.backend.store.all("devices")
                 if d["applicationId"] == world.application_id
                 and d["deviceClass"] == "standalone")[:2]
    clients = [world.client(i) for i in ids]
    try:
        for device_id, client in zip(ids, clients, strict=True):
            assert client.connect() == paho.CONNACK_ACCEPTED
            client.subscribe(f"losant/{device_id}/command")
        response = world.rest("POST", world.app_path("/devices/command"),
                              json={"name": "ping", "deviceIds": ids})
        assert response.status_code == 200, response.text
        for device_id, client in zip(ids, clients, strict=True):
            topic, payload = client.next_message()
            assert topic == f"losant/{device_id}/command"
            assert json.loads(payload)["name"] == "ping"
    finally:
        for client in clients:
            client.close()


def test_device_cannot_subscribe_to_another_devices_commands(world: World) -> None:
    device_id = world.device("standalone")["id"]
    other = world.device("gateway")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe(f"losant/{other}/command") == [REFUSED]
        assert client.subscribe(f"losant/{device_id}/state") == [REFUSED]
        assert client.subscribe("losant/#") == [REFUSED]
        assert not client.disconnected.is_set()


# -- gateways ---------------------------------------------------------------------------


def test_gateway_publishes_for_its_peripheral_and_receives_its_commands(world: World) -> None:
    gateway = world.device("gateway")
    peripheral = world.device("peripheral")
    assert peripheral["gatewayId"] == gateway["id"]
    with world.client(gateway["id"]) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe(f"losant/{peripheral['id']}/command") == [0]
        client.publish(f"losant/{peripheral['id']}/state", {"data": {"temperature": -18}})
        response = world.rest("POST", world.app_path(f"/devices/{peripheral['id']}/command"),
                              json={"name": "defrost"})
        assert response.status_code == 200
        topic, payload = client.next_message()
    assert topic == f"losant/{peripheral['id']}/command"
    assert json.loads(payload)["name"] == "defrost"
    assert state_of(world, peripheral["id"])[0]["data"] == {"temperature": -18}


# -- custom topics ---------------------------------------------------------------------


def test_custom_topics_follow_the_keys_pub_and_sub_filters(world: World) -> None:
    key, secret = world.create_key(name="custom", pubTopics=["fleet/+/alerts"],
                                   subTopics=["fleet/#"])
    device_id = world.device("standalone")["id"]
    with world.client(device_id, key, secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe("fleet/+/alerts") == [0]
        assert client.subscribe("yard/#") == [REFUSED]
        client.publish("fleet/149/alerts", "door open")
        assert client.next_message() == ("fleet/149/alerts", b"door open")
        client.publish("yard/gate", "x")
        client.wait_disconnected()


def test_rest_mqtt_publish_message_reaches_mqtt_subscribers(world: World) -> None:
    key, secret = world.create_key(name="sub", subTopics=["news/+"])
    with world.client(world.device("standalone")["id"], key, secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe("news/+") == [0]
        response = world.rest("POST", world.app_path("/mqttPublishMessage"),
                              json={"topic": "news/today", "message": "hello"})
        assert response.status_code == 200, response.text
        assert client.next_message() == ("news/today", b"hello")


def test_mqtt_publish_reaches_the_mqtt_subscription_stream(world: World) -> None:
    key, secret = world.create_key(name="pub", pubTopics=["plant/#"])
    url = f"{world.server.url}{world.app_path('/mqttSubscriptionStream')}"
    headers = {"Authorization": f"Bearer {world.user_token}"}
    device_id = world.device("standalone")["id"]
    with httpx.stream("GET", url, params={"topic": "plant/#"}, headers=headers,
                      timeout=30) as stream, world.client(device_id, key, secret) as client:
        assert stream.status_code == 200
        wait_until(lambda: world.app.backend.streams.topics(f"mqtt/{world.application_id}/"),
                   "the stream's subscription")
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish("plant/line1", "42")
        for line in stream.iter_lines():
            if line.startswith("data:"):
                assert json.loads(line[5:]) == {"topic": "plant/line1", "message": "42"}
                break
    counts = world.rest("GET", world.app_path("/payloadCounts")).json()
    assert counts["mqttIn"] == {"device.mqtt": 1}


def test_retained_messages_are_not_stored(world: World) -> None:
    key, secret = world.create_key(name="retain", pubTopics=["r/#"], subTopics=["r/#"])
    device_id = world.device("standalone")["id"]
    with world.client(device_id, key, secret) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish("r/one", "kept?", retain=True)
        assert client.subscribe("r/#") == [0]
        client.publish("r/two", "live")
        # Had the first been retained, the subscription would have received it first.
        topic, payload = client.next_message()
    assert (topic, payload) == ("r/two", b"live")


def test_qos_2_subscription_is_granted_qos_1(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        assert client.subscribe(f"losant/{device_id}/command", qos=2) == [1]


# -- WebSocket --------------------------------------------------------------------------


def test_mqtt_over_websocket_sends_state(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id, transport="websockets") as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 12}})
        assert world.app.mqtt.overview()["items"][0]["transport"] == "websocket"
    assert state_of(world, device_id)[0]["data"] == {"battery": 12}


# -- control API ------------------------------------------------------------------------


def test_control_api_lists_connections(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        client.subscribe(f"losant/{device_id}/command", qos=1)
        client.publish(f"losant/{device_id}/state", {"data": {"battery": 1}})
        listing = httpx.get(f"{world.server.url}/_mock/mqtt").json()
    assert listing["port"] == world.port and listing["count"] == 1
    (connection,) = listing["items"]
    assert connection["clientId"] == device_id
    assert connection["key"] == world.key
    assert connection["subscriptions"] == [{"topic": f"losant/{device_id}/command", "qos": 1}]
    assert connection["messagesIn"] == 1 and connection["messagesOut"] == 0
    assert connection["connectedSince"].endswith("Z")


def test_control_api_drops_a_connection(world: World) -> None:
    device_id = world.device("standalone")["id"]
    with world.client(device_id) as client:
        assert client.connect() == paho.CONNACK_ACCEPTED
        response = httpx.delete(f"{world.server.url}/_mock/mqtt/{device_id}")
        assert response.status_code == 204
        client.wait_disconnected()
    assert world.log_entries(device_id)[0]["disconnectReason"] == "disconnected by the control API"
    assert httpx.get(f"{world.server.url}/_mock/mqtt").json()["count"] == 0


def test_control_api_drop_of_unknown_client_is_404(world: World) -> None:
    response = httpx.delete(f"{world.server.url}/_mock/mqtt/nobody")
    assert response.status_code == 404
    assert response.json()["type"] == "NotFound"


def test_a_silent_client_is_closed_after_one_and_a_half_keep_alives(world: World) -> None:
    import socket
    import struct

    device_id = world.device("standalone")["id"]

    def string(value: str) -> bytes:
        return struct.pack("!H", len(value)) + value.encode()

    # CONNECT with a 1 s keep-alive, then silence (no PINGREQ).
    body = (string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 1) + string(device_id)
            + string(world.key) + string(world.secret))
    with socket.create_connection(("127.0.0.1", world.port), timeout=30) as sock:
        assert 128 <= len(body) < 16384  # a two-byte remaining length
        sock.sendall(bytes([0x10, len(body) % 128 | 0x80, len(body) // 128]) + body)
        assert sock.recv(4) == bytes([0x20, 2, 0, 0])
        assert sock.recv(1) == b""  # closed by the broker, not by the 30 s socket timeout
    wait_until(lambda: world.log_entries(device_id)[0]["connected"] == 0, "disconnected")
    assert world.log_entries(device_id)[0]["disconnectReason"] == "keep-alive timeout"
