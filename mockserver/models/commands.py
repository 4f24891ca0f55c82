"""What the platform sends down to devices: commands, and application MQTT messages.

Commands are records of kind ``commands`` (parent: the device), kept in the
store so snapshots, restores and tenancy come for free. Each send is also
published on the live stream ``command/<deviceId>``; MQTT messages only exist
on the live streams ``mqtt/<applicationId>/<topic filter>``.

Semantics (the "fidelity notes")
--------------------------------
* ``time`` is optional; absent means the mock clock's now. It takes the forms
  ``deviceCommand`` allows (ISO-8601 string, epoch ms, ``{"$date": ...}``) and
  always comes back as an ISO-8601 string with milliseconds.
* ``device.getCommand`` reads like ``device.getState``: ``start``/``end`` are
  ms since the epoch, ``0`` = now, negative = relative to now; a missing
  ``end`` is now; a missing ``start`` is ``end - duration`` or else unbounded;
  ``since`` (deprecated) is ``start`` under another name and loses to
  ``start``. Both ends are inclusive. Commands are sorted by time (ties keep
  the order they were sent in) and then cut to ``limit`` (default 1), so the
  default answer is the newest command. A future-dated command is therefore
  not returned by a window that ends now.
* ``devices.sendCommand`` commands the union of ``deviceIds``, the devices
  having any of ``deviceTags`` (a tag with only a key or only a value matches
  on that part) and the devices matching ``deviceQuery``; at least one of the
  three must be given. Devices the caller cannot reach, deleted devices and
  ids not in the application are skipped, not refused. The mock always
  answers 200 ``{"success": true}``, never the platform's 202 job for large
  selections.
* A device token may command and read the commands of itself and of the
  devices its access key reaches.
* MQTT: published topics may not contain the ``+``/``#`` wildcards; stream
  filters may, with the MQTT rules (``+`` is a whole level, ``#`` the whole
  last level and it also matches the parent level, wildcards in the first
  level never match topics starting with ``$``). Each open stream receives a
  message once, whatever overlap its filter has with others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.list_filters import device_selector
from losant_kit.mockserver.models.base import Record, time_window_history
from losant_kit.mockserver.models.usage import json_size, rest_source
from losant_kit.mockserver.times import iso_from_ms, parse_state_time

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "commands"
MAX_TOPIC_LENGTH = 230  # mqttPublishBody.topic's maxLength; filters get the same bound
Feed = Literal["state", "command"]


def command_topic(device_id: str) -> str:
    return f"command/{device_id}"


def state_topic(device_id: str) -> str:
    # The state engineer publishes here; the name is part of the streams contract.
    return f"state/{device_id}"


def mqtt_topic(application_id: str, topic_filter: str) -> str:
    return f"mqtt/{application_id}/{topic_filter}"


class Commands:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self.mqtt = MqttMessages(backend)
        backend.device_removal_listeners.append(self.drop_device)

    # ------------------------------------------------------------ rendering

    @staticmethod
    def render(command: Record) -> Record:
        """The ``deviceCommand`` shape: only name, payload (when sent) and time."""
        out: Record = {"name": command["name"], "time": iso_from_ms(command["_timeMs"])}
        if "payload" in command:
            out["payload"] = command["payload"]
        return out

    # ------------------------------------------------------------ sending

    def send(
        self, principal: Principal, application_id: str, device_id: str, body: dict[str, Any]
    ) -> dict[str, bool]:
        """device.sendCommand: store and publish one command for one device."""
        device = self.backend.devices.find(principal, application_id, device_id)
        template = self._template(body)
        self._deliver(device, template, rest_source(principal))
        return {"success": True}

    def send_many(
        self, principal: Principal, application_id: str, body: dict[str, Any]
    ) -> dict[str, bool]:
        """devices.sendCommand: the same command to every selected device in reach."""
        template = self._template(body)
        selected = self._selector(body)
        # Validation is over: from here on nothing can fail half-way.
        source = rest_source(principal)
        for device in self.backend.devices.selection(principal, application_id):
            if selected(device):
                self._deliver(device, template, source)
        return {"success": True}

    def _template(self, body: dict[str, Any]) -> Record:
        time_ms = parse_state_time(body.get("time"), self.backend.clock.now_ms(), field="body.time")
        template: Record = {"name": body["name"], "_timeMs": time_ms}
        if "payload" in body:
            template["payload"] = body["payload"]
        return template

    def _deliver(self, device: Record, template: Record, source: str) -> None:
        command = {
            "id": self.backend.ids.new(),
            "deviceId": device["id"],
            "applicationId": device["applicationId"],
            **template,
        }
        self.store.put(KIND, command)
        rendered = self.render(command)
        self.backend.usage.count(
            device["applicationId"],
            device["id"],
            "deviceCommand",
            source,
            nbytes=json_size(rendered),
        )
        self.backend.streams.publish(command_topic(device["id"]), "deviceCommand", rendered)

    @staticmethod
    def _selector(body: dict[str, Any]) -> Callable[[Record], bool]:
        if not any(name in body for name in ("deviceIds", "deviceTags", "deviceQuery")):
            raise ValidationError(
                "body: give deviceIds, deviceTags or deviceQuery to choose the devices to command"
            )
        return device_selector(body)

    # ------------------------------------------------------------ reading

    def history(
        self, principal: Principal, application_id: str, device_id: str, params: dict[str, Any]
    ) -> list[Record]:
        """device.getCommand: the window's commands sorted by time, then cut to limit."""
        device = self.backend.devices.find(principal, application_id, device_id)
        commands = self.store.children(KIND, device["id"])
        return [
            self.render(c)
            for c in time_window_history(commands, params, self.backend.clock.now_ms())
        ]

    # ------------------------------------------------------------ streams and lifecycle

    def feed_topic(
        self, principal: Principal, application_id: str, device_id: str, feed: Feed
    ) -> str:
        """The live-stream topic of a device the principal may read (else 403/404)."""
        device = self.backend.devices.find(principal, application_id, device_id)
        return state_topic(device["id"]) if feed == "state" else command_topic(device["id"])

    def drop_device(self, device: Record) -> None:
        """Removal listener: a removed device's command history goes with it."""
        for command in list(self.store.children(KIND, device["id"])):
            self.store.delete(KIND, command["id"])


class MqttMessages:
    """application.mqttPublishMessage and the topics of mqttSubscriptionStream."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def publish(
        self, principal: Principal, application_id: str, body: dict[str, Any]
    ) -> dict[str, bool]:
        app = self.backend.applications.visible(principal, application_id)
        topic = check_topic_name(body["topic"], "body.topic")
        message = {"topic": topic, "message": body["message"]}
        self.backend.usage.count(
            app["id"], None, "mqttOut", rest_source(principal), nbytes=json_size(message)
        )
        self.deliver(app["id"], topic, body["message"])
        return {"success": True}

    def deliver(self, application_id: str, topic: str, message: str) -> int:
        """Hand a message on ``topic`` to every subscriber whose filter matches it:
        ``mqttSubscriptionStream`` streams and MQTT clients alike (the broker
        subscribes its clients' filters here). Returns how many filters matched."""
        streams = self.backend.streams
        prefix = mqtt_topic(application_id, "")
        event = {"topic": topic, "message": message}
        matched = 0
        for subscribed in streams.topics(prefix):
            if topic_matches(subscribed[len(prefix) :], topic):
                matched += 1
                streams.publish(subscribed, "mqttMessage", event)
        return matched

    def subscription_topic(
        self, principal: Principal, application_id: str, topic_filter: Any
    ) -> str:
        app = self.backend.applications.visible(principal, application_id)
        return mqtt_topic(app["id"], check_topic_filter(topic_filter, "query parameter topic"))


# -- MQTT topic rules ------------------------------------------------------------


def _check_topic(value: Any, name: str) -> list[str]:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name}: an MQTT topic must be a non-empty string")
    if len(value) > MAX_TOPIC_LENGTH:
        raise ValidationError(f"{name}: an MQTT topic is at most {MAX_TOPIC_LENGTH} characters")
    if "\x00" in value:
        raise ValidationError(f"{name}: an MQTT topic may not contain the NUL character")
    return value.split("/")


def check_topic_name(value: Any, name: str) -> str:
    """A topic to publish to: wildcards are not allowed."""
    _check_topic(value, name)
    if "+" in value or "#" in value:
        raise ValidationError(f"{name}: cannot publish to a topic containing + or #")
    return value


def check_topic_filter(value: Any, name: str) -> str:
    """A topic to subscribe to: ``+`` fills one whole level, ``#`` the whole last one."""
    levels = _check_topic(value, name)
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValidationError(f"{name}: # must be the whole last level of a topic filter")
        if "+" in level and level != "+":
            raise ValidationError(f"{name}: + must be a whole level of a topic filter")
    return value


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a (checked) MQTT topic filter matches a (checked) topic name."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    wanted, levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True  # also matches the parent: "a/#" matches "a"
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(wanted) == len(levels)
