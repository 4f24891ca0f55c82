"""CPU per MQTT state message in the broker's own code, without sockets or load.

    python benchmarks/bench_mqtt_publish_cpu.py                 # this checkout
    OTHER/.venv/bin/python benchmarks/bench_mqtt_publish_cpu.py  # another one, same script

What one ``losant/<id>/state`` PUBLISH costs the server once its bytes are
read: amqtt's decode of the packet (fixed header, PUBLISH) and the platform's
rules (``PublishRules.publish``: size, topic, JSON, the spec's body schema, the
throttle window, storage, stream, usage count). Measured with
``time.process_time`` over ``--messages`` packets as the load generator of
``bench_mqtt.py`` encodes them, in ``--rounds`` rounds; the figure is the
median round. CPU time, so the machine's other load disturbs it far less
than rates (it still slows caches and clocks: compare checkouts in one run,
alternating).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mqtt_load  # noqa: E402
from amqtt.adapters import BufferReader  # noqa: E402
from amqtt.mqtt.packet import MQTTFixedHeader  # noqa: E402
from amqtt.mqtt.publish import PublishPacket  # noqa: E402

from losant_kit.mockserver.app import create_app  # noqa: E402
from losant_kit.mockserver.mqtt.login import _login  # noqa: E402
from losant_kit.mockserver.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The window is still taken for every message; scaled up so none is refused.
    app = create_app(Settings(throttle_scale=10_000, mqtt_port=0))
    backend = app.backend
    key = next(k for k in backend.store.all("applicationKeys") if k.get("filterType") == "all")
    device = next(d for d in backend.store.all("devices")
                  if d["applicationId"] == key["applicationId"]
                  and d.get("deviceClass") == "standalone")
    device["attributes"] = [{"name": "seq", "dataType": "number"},
                            {"name": "sentAt", "dataType": "number"}]
    login = _login(backend, key, device)
    rules = app.mqtt.rules
    publisher = mqtt_load.StatePublisher(device["id"], 0)

    async def one_round(packets: list[bytes]) -> None:
        for data in packets:
            reader = BufferReader(data)
            header = await MQTTFixedHeader.from_stream(reader)
            packet = await PublishPacket.from_stream(reader, fixed_header=header)
            rules.publish(login, packet.topic_name, packet.data)

    seq, rounds = 0, []
    for _ in range(args.rounds):
        packets = [publisher.packet(seq + i, 1000.0 + i) for i in range(args.messages)]
        seq += args.messages
        started = time.process_time()
        asyncio.run(one_round(packets))
        rounds.append((time.process_time() - started) / args.messages * 1e6)
    print(json.dumps({
        "python": sys.executable,
        "messages": args.messages,
        "roundsUsPerMsg": [round(r, 1) for r in rounds],
        "medianUsPerMsg": round(statistics.median(rounds), 1),
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
