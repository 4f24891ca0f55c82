"""Run ``losant-mock serve`` with probes that say where the server's latency goes.

    python benchmarks/mqtt_probe.py OUT.json serve --port 18200 --mqtt-port 18201

``bench_mqtt.py --probe`` starts the server this way. Nothing here changes the
server's behaviour; it only watches it, and writes OUT.json when the server
stops:

* event-loop lag: a task asks to wake every ``TICK_S``; how late each wake-up
  is. For each late tick, where the time went: the loop thread's own CPU (our
  code, GC included) or waiting in the kernel's run queue for a core
  (``/proc/thread-self/schedstat``: the machine's other load, not the server);
* garbage collection: every collection's pause, wall and CPU, per generation (``gc.callbacks``);
* where the CPU goes is py-spy's job (``py-spy record --native -p PID``):
  uvloop runs callbacks in C, so they cannot be timed one by one from here.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import signal
import sys
import time
from collections import defaultdict
from typing import Any

TICK_S = 0.01
LATE_S = 0.02  # a tick this late counts as a stall


def _schedstat() -> tuple[int, int]:
    """(ns run on a CPU, ns waited in the run queue) of the calling thread."""
    with open("/proc/thread-self/schedstat") as handle:
        run, wait, _slices = handle.read().split()
    return int(run), int(wait)


class Probe:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.stalls: list[dict[str, float]] = []
        self.gc_pauses: dict[int, list[float]] = defaultdict(list)
        self.gc_cpu: dict[int, list[float]] = defaultdict(list)
        self._gc_cpu_started = 0.0
        self.gc_during_tick = 0.0
        self.gc_events: list[dict[str, Any]] = []  # full collections and long pauses
        self._gc_started = 0.0
        self.started = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    # -- garbage collection
    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_cpu_started = time.thread_time()
        else:
            pause = time.perf_counter() - self._gc_started
            self.gc_pauses[info["generation"]].append(pause)
            # The pause's own CPU: its wall time also holds any wait for a core.
            self.gc_cpu[info["generation"]].append(time.thread_time() - self._gc_cpu_started)
            self.gc_during_tick += pause
            if info["generation"] == 2 or pause > LATE_S:
                self.gc_events.append({"at": round(time.perf_counter() - self.started, 3),
                                       "generation": info["generation"],
                                       "pauseMs": round(pause * 1000, 1),
                                       "cpuMs": round(self.gc_cpu[info["generation"]][-1]
                                                      * 1000, 1),
                                       "collected": info["collected"]})

    # -- event loop
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        run0, wait0 = _schedstat()
        while True:
            due = loop.time() + TICK_S
            self.gc_during_tick = 0.0
            await asyncio.sleep(TICK_S)
            lag = loop.time() - due
            run1, wait1 = _schedstat()
            self.lags.append(lag)
            if lag > LATE_S:
                self.stalls.append({
                    "at": round(time.perf_counter() - self.started, 3),
                    "lagMs": round(lag * 1000, 1),
                    "cpuMs": round((run1 - run0) / 1e6, 1),
                    "runQueueWaitMs": round((wait1 - wait0) / 1e6, 1),
                    "gcMs": round(self.gc_during_tick * 1000, 1),
                })
            run0, wait0 = run1, wait1

    # -- report
    def report(self) -> dict[str, Any]:
        lags = sorted(self.lags)

        def q(p: float) -> float:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 2) if lags else 0.0

        stall_ms = sum(s["lagMs"] for s in self.stalls)
        return {
            "monotonicStart": self.started,  # "at" figures are seconds after this
            "ticks": len(lags),
            "loopLagMs": {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999),
                          "max": round(lags[-1] * 1000, 1) if lags else 0.0},
            "stalls": len(self.stalls),
            "stallMs": round(stall_ms, 1),
            # Of the time the loop was late in stalls: its thread's CPU (our code
            # and GC) and the run-queue wait (other processes had the cores).
            "stallCpuMs": round(sum(s["cpuMs"] for s in self.stalls), 1),
            "stallRunQueueWaitMs": round(sum(s["runQueueWaitMs"] for s in self.stalls), 1),
            "stallGcMs": round(sum(s["gcMs"] for s in self.stalls), 1),
            "worstStalls": sorted(self.stalls, key=lambda s: -s["lagMs"])[:15],
            "gc": {
                str(gen): {"count": len(p), "totalMs": round(sum(p) * 1000, 1),
                           "maxMs": round(max(p) * 1000, 1) if p else 0.0,
                           "maxCpuMs": round(max(self.gc_cpu[gen]) * 1000, 1)}
                for gen, p in sorted(self.gc_pauses.items())
            },
            "gcEvents": self.gc_events,
        }


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    probe = Probe()
    gc.callbacks.append(probe.on_gc)

    from losant_kit.mockserver.cli import main as cli_main
    from losant_kit.mockserver.mqtt.broker import MqttBroker

    start = MqttBroker.start

    async def start_and_watch(self: MqttBroker) -> None:
        await start(self)
        probe.start()

    MqttBroker.start = start_and_watch  # type: ignore[method-assign]

    def write() -> None:
        with open(out, "w") as handle:
            json.dump(probe.report(), handle, indent=2)

    def on_signal(signum: int, _frame: Any) -> None:
        # uvicorn restores this handler after its graceful shutdown and raises the
        # signal again; the default handler would end the process without atexit.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(write)
    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
