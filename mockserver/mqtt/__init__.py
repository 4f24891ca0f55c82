"""Devices over MQTT: an embedded MQTT 3.1.1 broker on the mock's own state.

The wire protocol is amqtt's codec; the platform's rules are this package's:

* ``login.py``    who may connect (client id = device id, key/secret) and CONNACK codes;
* ``topics.py``   which topics a device may publish and subscribe to;
* ``messages.py`` what a published message does (the same model calls as REST);
* ``limits.py``   size cap, QoS, message windows and the lock-out;
* ``session.py``  one connection's packet sequence;
* ``broker.py``   listeners, the connection table, connection status, control API;
* ``transport.py`` TCP and WebSocket byte streams.
"""

from losant_kit.mockserver.mqtt.broker import MqttBroker

__all__ = ["MqttBroker"]
