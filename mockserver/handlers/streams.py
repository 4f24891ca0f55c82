"""Live streams (Server-Sent Events) and the MQTT messages they carry.

Each stream handler first resolves its topic through the model, which checks
that the caller may read the device or application: a refusal comes back as
the usual JSON 4xx, before any stream starts.
"""

from losant_kit.mockserver.dispatch import Call
from losant_kit.mockserver.handlers import handles
from losant_kit.mockserver.sse import EventStream, keep_alive_seconds


def _stream(call: Call, topic: str) -> EventStream:
    keep_alive_s = keep_alive_seconds(call.params.get("keepAliveInterval"))
    return EventStream(call.backend.streams, topic, keep_alive_s=keep_alive_s)


@handles("device.stateStream")
def state_stream(call: Call):
    topic = call.backend.commands.feed_topic(
        call.who, call["applicationId"], call["deviceId"], "state"
    )
    return _stream(call, topic)


@handles("device.commandStream")
def command_stream(call: Call):
    topic = call.backend.commands.feed_topic(
        call.who, call["applicationId"], call["deviceId"], "command"
    )
    return _stream(call, topic)


@handles("application.mqttSubscriptionStream")
def mqtt_subscription_stream(call: Call):
    topic = call.backend.commands.mqtt.subscription_topic(
        call.who, call["applicationId"], call.params.get("topic")
    )
    return _stream(call, topic)


@handles("application.mqttPublishMessage")
def mqtt_publish(call: Call):
    return call.backend.commands.mqtt.publish(call.who, call["applicationId"], call.body)
