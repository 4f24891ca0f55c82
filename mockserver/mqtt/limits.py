"""The broker's published limits: message size, QoS, message rate and the lock-out.

* Rate: 30 messages per 15 s per topic per device. State publishes count in
  the same window as REST ``device.sendState`` (the spec's ``x-throttle`` of
  that operation, bucket ``device-incoming``, keyed by the device reported
  for): a device has one incoming budget whatever the transport. Custom topics
  get a window of their own per (device, topic).
* Over the limit the connection is closed and the device may not reconnect for
  ``LOCKOUT_S`` seconds of the mock's clock.
* A PUBLISH whose payload is over ``MAX_PAYLOAD_BYTES`` closes the connection
  (MQTT 3.1.1 has no way to refuse one message); a packet whose length alone
  shows it is too big is not even read.
* QoS 0 and 1: a QoS 2 PUBLISH closes the connection, a QoS 2 subscription is
  granted QoS 1.
"""

from __future__ import annotations

import threading

from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.spec import PlatformSpec
from losant_kit.mockserver.throttle import ThrottleRule, Throttles

MAX_PAYLOAD_BYTES = 256 * 1024
# A PUBLISH also carries its topic (2 + up to 65,535 bytes) and a packet id (2).
MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 2 + 65_535 + 2
MAX_QOS = 1
LOCKOUT_S = 30.0
CUSTOM_TOPIC_LIMIT = 30
CUSTOM_TOPIC_WINDOW_S = 15.0
STATE_OPERATION = "device.sendState"


def state_rule(spec: PlatformSpec, throttles: Throttles) -> ThrottleRule:
    """REST sendState's window (read from the spec), which MQTT state shares."""
    operation = spec.operations[STATE_OPERATION]
    return throttles.rule_for(operation.id, operation.throttle)


def custom_topic_rule(throttles: Throttles) -> ThrottleRule:
    """The window of a device's publishes on one custom topic, scaled like every rule."""
    rule = ThrottleRule(
        "mqtt.publish",
        "window",
        "mqtt-topic",
        "MQTT publishing",
        limit=CUSTOM_TOPIC_LIMIT,
        window_s=CUSTOM_TOPIC_WINDOW_S,
        per="device and topic",
        published_limit=CUSTOM_TOPIC_LIMIT,
    )
    return rule.scaled(throttles.scale)


class Lockouts:
    """Devices disconnected for going over a limit, and until when (mock clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def lock(self, device_id: str) -> float:
        until = self.clock.now() + LOCKOUT_S
        with self._lock:
            self._until[device_id] = until
        return until

    def remaining(self, device_id: str) -> float:
        """Seconds of lock-out left for ``device_id`` (0 when it may connect)."""
        with self._lock:
            until = self._until.get(device_id)
            if until is None:
                return 0.0
            left = until - self.clock.now()
            if left <= 0:
                del self._until[device_id]
                return 0.0
            return left

    def clear(self) -> None:
        with self._lock:
            self._until.clear()
