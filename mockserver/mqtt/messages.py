"""What a message a device publishes does.

* ``losant/<id>/state``: REST ``device.sendState`` exactly - the body is
  checked against the spec's ``sendState`` body schema, the device's window
  (shared with REST) is taken, then ``Telemetry.send_state`` stores, streams
  and counts it (source ``device.mqtt``). Who may report for whom is that
  model's rule (itself; a gateway also its peripherals).
* a custom topic: allowed by the key's ``pubTopics``, counted as ``mqttIn``,
  delivered through ``MqttMessages.deliver`` to every matching subscriber
  (``mqttSubscriptionStream`` streams and MQTT clients alike).

Outcomes: :class:`Dropped` (a malformed body: the message is ignored, the
connection stays, the reason is shown by ``GET /_mock/mqtt``) or
:class:`Disconnect` (a topic the device may not use, or a limit: the
connection is closed; ``lockout`` says whether the device is locked out).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import fastjsonschema

from losant_kit.mockserver.errors import Forbidden, NotFound, Throttled, ValidationError
from losant_kit.mockserver.models.usage import json_size
from losant_kit.mockserver.mqtt import limits
from losant_kit.mockserver.mqtt.login import DeviceLogin
from losant_kit.mockserver.mqtt.topics import TopicRefused, check_custom_publish, platform_topic
from losant_kit.mockserver.validation import check

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.spec import PlatformSpec

SOURCE = "device.mqtt"


class Dropped(Exception):
    """The message is ignored; the connection stays."""


class Disconnect(Exception):
    """The connection is closed (and, with ``lockout``, the device locked out)."""

    def __init__(self, reason: str, *, lockout: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lockout = lockout


class PublishRules:
    def __init__(self, backend: Backend, spec: PlatformSpec) -> None:
        self.backend = backend
        self.throttles = backend.throttles
        self.state_rule = limits.state_rule(spec, backend.throttles)
        body_schema = spec.operations[limits.STATE_OPERATION].body_schema
        assert body_schema is not None, "sendState has a body schema in the spec"
        # Messages arrive by the thousand per second: the spec's schema compiled to
        # Python (fastjsonschema) accepts a good one in microseconds; a bad one is
        # re-checked with the REST validator for the same error message REST gives.
        # The schema is a oneOf of one report and an array of them: each branch is
        # compiled on its own, so a report is not first tried as an array.
        schema = spec.document["components"]["x-jsonschema"][body_schema]
        branches = schema.get("oneOf", [schema])
        self._state_ok = {
            dict if branch.get("type") == "object" else list: fastjsonschema.compile(branch)
            for branch in branches
        }
        self.state_validator = spec.validator(body_schema)
        self.custom_rule = limits.custom_topic_rule(backend.throttles)

    def publish(self, login: DeviceLogin, topic: str, payload: bytes) -> None:
        """Apply one PUBLISH from ``login``'s device; raises Dropped or Disconnect."""
        if len(payload) > limits.MAX_PAYLOAD_BYTES:
            raise Disconnect(
                f"a message is limited to {limits.MAX_PAYLOAD_BYTES} bytes; "
                f"this one is {len(payload)}"
            )
        try:
            target = platform_topic(topic)
        except TopicRefused as exc:
            raise Disconnect(f"not allowed to publish on {topic}: {exc}") from None
        if target is None:
            self._custom(login, topic, payload)
        elif target.channel == "state":
            # One message, one transaction: with --data, a QoS 1 PUBACK (sent
            # after this returns) means the whole message is on disk.
            with self.backend.store.transaction():
                self._state(login, target.device_id, payload)
        else:
            raise Disconnect(f"not allowed to publish on {topic}: commands come from the platform")

    def _state(self, login: DeviceLogin, device_id: str, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise Dropped("state is not JSON") from None
        accepts = self._state_ok.get(type(body))
        try:
            if accepts is None:
                raise fastjsonschema.JsonSchemaException("neither a report nor an array")
            accepts(body)
        except fastjsonschema.JsonSchemaException:
            try:
                check(self.state_validator, body, "state")
            except ValidationError as exc:
                raise Dropped(exc.message) from None
            raise Dropped("state does not match the sendState body schema") from None
        self._take(self.state_rule, device_id)
        try:
            self.backend.telemetry.send_state(
                login.principal, login.application_id, device_id, body, source=SOURCE
            )
        except (Forbidden, NotFound) as exc:
            reason = f"not allowed to publish state for {device_id}: {exc.message}"
            raise Disconnect(reason) from None
        except ValidationError as exc:
            raise Dropped(exc.message) from None

    def _custom(self, login: DeviceLogin, topic: str, payload: bytes) -> None:
        try:
            check_custom_publish(topic, list(login.pub_topics))
        except TopicRefused as exc:
            raise Disconnect(f"not allowed to publish on {topic}: {exc}") from None
        self._take(self.custom_rule, (login.device_id, topic))
        message = payload.decode("utf-8", "replace")
        self.backend.usage.count(
            login.application_id, login.device_id, "mqttIn", SOURCE,
            nbytes=json_size({"topic": topic, "message": message}),
        )
        self.backend.commands.mqtt.deliver(login.application_id, topic, message)

    def _take(self, rule, key) -> None:
        try:
            self.throttles.acquire_window(rule, key)
        except Throttled as exc:
            raise Disconnect(exc.message, lockout=True) from None
