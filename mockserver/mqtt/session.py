"""One client connection: MQTT 3.1.1 packets in and out, the rules delegated.

Packets are encoded and decoded by amqtt's codec (``amqtt.mqtt``); this module
only sequences them: CONNECT first, then PUBLISH / SUBSCRIBE / UNSUBSCRIBE /
PINGREQ / DISCONNECT. What a login, a topic or a message means is decided in
``login.py``, ``topics.py`` and ``messages.py``.

Downstream messages (commands, custom topics) reach a session through the
backend's live streams (``mockserver/streams.py``), the same ones SSE reads:
each subscription is a stream subscription plus a task that forwards it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from amqtt.adapters import BufferReader
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt import packet_class
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader
from amqtt.mqtt.packet import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBLISH,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.pingresp import PingRespPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.unsuback import UnsubackPacket

from losant_kit.mockserver.models.commands import command_topic, mqtt_topic
from losant_kit.mockserver.mqtt import limits
from losant_kit.mockserver.mqtt.login import ACCEPTED, DeviceLogin, LoginRefused, log_in
from losant_kit.mockserver.mqtt.messages import Disconnect, Dropped
from losant_kit.mockserver.mqtt.topics import (
    TopicRefused,
    check_custom_subscription,
    platform_topic,
)
from losant_kit.mockserver.times import iso_from_ms

if TYPE_CHECKING:
    from losant_kit.mockserver.mqtt.broker import MqttBroker
    from losant_kit.mockserver.mqtt.transport import TcpStream, WebSocketStream

log = logging.getLogger(__name__)

SUBACK_FAILURE = 0x80
# Network timeouts are real time (a socket's silence is not the mock's clock):
CONNECT_TIMEOUT_S = 10.0  # for the CONNECT packet after the socket opens
KEEP_ALIVE_GRACE = 1.5  # MQTT 3.1.1 3.1.2.10: one and a half keep-alive periods


class ClientSession:
    def __init__(
        self, broker: MqttBroker, stream: TcpStream | WebSocketStream, transport: str
    ) -> None:
        self.broker = broker
        self.stream = stream
        self.transport = transport
        self.login: DeviceLogin | None = None
        self.client_id: str | None = None
        self.connected_ms: int | None = None
        self.keep_alive_s = 0
        self.messages_in = 0
        self.messages_out = 0
        self.dropped = 0
        self.last_dropped: str | None = None
        self.subscriptions: dict[str, int] = {}  # filter -> granted QoS
        self._forwarders: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        self._packet_id = 0
        self._finished = False
        self._reader: asyncio.Task[Any] | None = None
        self._close_reason: str | None = None

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        self._reader = asyncio.current_task()
        try:
            if await self._handshake():
                await self._serve()
                self.finish("the client closed the connection")
        except Disconnect as exc:
            self.finish(exc.reason, lockout=exc.lockout)
        except TimeoutError:
            self.finish("keep-alive timeout")
        except (AMQTTError, MQTTError, NoDataError, ValueError, UnicodeDecodeError) as exc:
            self.finish(f"protocol error: {exc}")
        except asyncio.CancelledError:
            self.finish(self._close_reason or "broker shutting down")
        finally:
            await self.stream.close()

    def close(self, reason: str) -> None:
        """Close from the broker's side (take-over, control API, shutdown)."""
        self.finish(reason)
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._close_reason = reason
            self._reader.cancel()

    def finish(self, reason: str, *, lockout: bool = False) -> None:
        """Record the end of the connection once: disconnected status, subscriptions gone."""
        if self._finished:
            return
        self._finished = True
        for task in self._forwarders.values():
            task.cancel()
        self._forwarders.clear()
        if self.login is not None:
            if lockout:
                self.broker.lockouts.lock(self.login.device_id)
            self.broker.ended(self, reason)

    # ------------------------------------------------------------ CONNECT

    async def _handshake(self) -> bool:
        header = await asyncio.wait_for(self._fixed_header(), CONNECT_TIMEOUT_S)
        if header is None:
            return False
        if header.packet_type != CONNECT:
            raise Disconnect("the first packet must be CONNECT")
        body = await self._body(header)
        reader = BufferReader(body)
        variable = await ConnectVariableHeader.from_stream(reader, header)
        try:
            if variable.proto_level != 4:
                # Anything after the level may be laid out differently: refuse it unread.
                log_in(self.broker.backend, protocol_level=variable.proto_level,
                       client_id=None, username=None, password=None)
            payload = await ConnectPayload.from_stream(reader, header, variable)
            connect = ConnectPacket(header, variable, payload)
            client_id = None if payload.client_id_is_random else connect.client_id
            self.client_id = client_id
            self.keep_alive_s = variable.keep_alive
            login = log_in(
                self.broker.backend,
                protocol_level=variable.proto_level,
                client_id=client_id,
                username=connect.username,
                password=connect.password,
                locked_out_s=self.broker.lockouts.remaining(client_id or ""),
            )
        except LoginRefused as exc:
            self.broker.refused(self, exc)
            await self._send(ConnackPacket.build(0, exc.code))
            self._finished = True
            return False
        self.login = login
        self.connected_ms = self.broker.backend.clock.now_ms()
        self.broker.started(self)
        await self._send(ConnackPacket.build(0, ACCEPTED))
        return True

    # ------------------------------------------------------------ packets in

    async def _serve(self) -> None:
        grace = self.keep_alive_s * KEEP_ALIVE_GRACE if self.keep_alive_s else None
        loop = asyncio.get_running_loop()
        # One timeout, moved on at each packet (cheaper than a wait_for task per packet).
        moved = 0.0
        async with asyncio.timeout(None) as silence:
            while not self._finished:
                now = loop.time()
                if grace and now - moved > 1.0:
                    # Moved at most once a second, with a second of slack: the
                    # connection ends between 1.5 keep-alives and that plus 1 s.
                    silence.reschedule(now + grace + 1.0)
                    moved = now
                header = await self._fixed_header()
                if header is None or not await self._packet(header):
                    return

    async def _packet(self, header: MQTTFixedHeader) -> bool:
        """Handle one packet after CONNECT; False when the client said DISCONNECT."""
        body = await self._body(header)
        kind = header.packet_type
        if kind == PUBLISH:
            packet = await PublishPacket.from_stream(BufferReader(body), fixed_header=header)
            await self._on_publish(packet)
        elif kind == SUBSCRIBE:
            packet = await packet_class(header).from_stream(BufferReader(body), fixed_header=header)
            await self._on_subscribe(packet)
        elif kind == UNSUBSCRIBE:
            packet = await packet_class(header).from_stream(BufferReader(body), fixed_header=header)
            for topic_filter in packet.payload.topics:
                self._unsubscribe(topic_filter)
            await self._send(UnsubackPacket.build(packet.variable_header.packet_id))
        elif kind == PINGREQ:
            await self._send(PingRespPacket.build())
        elif kind == PUBACK:
            pass  # QoS 1 downstream: nothing is kept for redelivery
        elif kind == DISCONNECT:
            return False
        else:
            raise Disconnect(f"unexpected MQTT packet type {kind}")
        return True

    async def _fixed_header(self) -> MQTTFixedHeader | None:
        return await MQTTFixedHeader.from_stream(self.stream)  # type: ignore[arg-type]

    async def _body(self, header: MQTTFixedHeader) -> bytes:
        if header.remaining_length > limits.MAX_PACKET_BYTES:
            # Too big whatever its topic: not even read.
            raise Disconnect(
                f"a message is limited to {limits.MAX_PAYLOAD_BYTES} bytes; this packet "
                f"is {header.remaining_length}"
            )
        if not header.remaining_length:
            return b""
        body = await self.stream.read(header.remaining_length)
        if len(body) < header.remaining_length:
            raise Disconnect("the connection ended inside a packet")
        return body

    async def _on_publish(self, packet: PublishPacket) -> None:
        assert self.login is not None
        self.messages_in += 1
        if packet.qos > limits.MAX_QOS:
            raise Disconnect("QoS 2 is not supported (QoS 0 and 1 only)")
        try:
            self.broker.rules.publish(self.login, packet.topic_name or "", packet.data or b"")
        except Dropped as exc:
            self.dropped += 1
            self.last_dropped = str(exc)
        # Retained messages are not stored: the retain flag changes nothing.
        if packet.qos == 1:
            await self._send(PubackPacket.build(packet.packet_id))

    # ------------------------------------------------------------ subscriptions

    async def _on_subscribe(self, packet: Any) -> None:
        codes = [self._subscribe(f, qos) for f, qos in packet.payload.topics]
        await self._send(SubackPacket.build(packet.variable_header.packet_id, codes))

    def _subscribe(self, topic_filter: str, qos: int) -> int:
        assert self.login is not None
        granted = min(qos, limits.MAX_QOS)
        try:
            stream_topic = self._stream_topic(topic_filter)
        except TopicRefused as exc:
            log.info("%s may not subscribe to %s: %s", self.client_id, topic_filter, exc)
            return SUBACK_FAILURE
        self._unsubscribe(topic_filter)
        self.subscriptions[topic_filter] = granted
        self._forwarders[topic_filter] = asyncio.create_task(
            self._forward(stream_topic, topic_filter, granted)
        )
        return granted

    def _stream_topic(self, topic_filter: str) -> str:
        """The live-stream topic behind a subscription (TopicRefused if not allowed)."""
        login = self.login
        assert login is not None
        target = platform_topic(topic_filter)
        if target is None:
            check_custom_subscription(topic_filter, list(login.sub_topics))
            return mqtt_topic(login.application_id, topic_filter)
        if target.channel != "command":
            raise TopicRefused("devices subscribe to commands, not state")
        backend = self.broker.backend
        device = backend.store.get("devices", target.device_id)
        if (
            device is None
            or device.get("deletedAt")
            or device["applicationId"] != login.application_id
            or not backend.keys.may_report_for(login.principal, device)
        ):
            # The devices a device speaks for: itself, a gateway also its peripherals.
            raise TopicRefused(f"{login.device_id} does not receive {target.device_id}'s commands")
        return command_topic(device["id"])

    def _unsubscribe(self, topic_filter: str) -> None:
        self.subscriptions.pop(topic_filter, None)
        task = self._forwarders.pop(topic_filter, None)
        if task is not None:
            task.cancel()

    async def _forward(self, stream_topic: str, topic_filter: str, qos: int) -> None:
        device_topic = platform_topic(topic_filter)
        async with self.broker.backend.streams.subscribe(stream_topic) as subscription:
            while True:
                _event, payload = await subscription.queue.get()
                if device_topic is not None:
                    # A command; its time as extended JSON, which both official
                    # clients decode into a date.
                    command = {**payload, "time": {"$date": payload["time"]}}
                    topic, data = device_topic.name, json.dumps(command).encode()
                else:
                    topic, data = payload["topic"], payload["message"].encode()
                await self.deliver(topic, data, qos)

    # ------------------------------------------------------------ packets out

    async def deliver(self, topic: str, data: bytes, qos: int) -> None:
        packet_id = None
        if qos:
            self._packet_id = self._packet_id % 65535 + 1
            packet_id = self._packet_id
        self.messages_out += 1
        await self._send(PublishPacket.build(topic, data, packet_id, False, qos, False))

    async def _send(self, packet: Any) -> None:
        data = packet.to_bytes()
        async with self._send_lock:
            with suppress(ConnectionError):
                await self.stream.send(data)

    # ------------------------------------------------------------ control API

    def describe(self) -> dict[str, Any]:
        login = self.login
        assert login is not None
        return {
            "clientId": login.device_id,
            "applicationId": login.application_id,
            "key": login.key,
            "transport": self.transport,
            "ipAddress": self.stream.peer,
            "subscriptions": [
                {"topic": topic, "qos": qos} for topic, qos in sorted(self.subscriptions.items())
            ],
            "messagesIn": self.messages_in,
            "messagesOut": self.messages_out,
            "messagesDropped": self.dropped,
            "lastDropped": self.last_dropped,
            "connectedSince": iso_from_ms(self.connected_ms or 0),
        }
