"""kill -9 under load loses no acknowledged write and leaves no half-applied request.

A real ``losant-mock serve --data`` process takes 8 concurrent writers (device
creates, state arrays, commands, events); it is killed with SIGKILL while they
run, restarted on the same file, and every write that was answered with a 2xx
is read back - same ids - with the token issued before the kill.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import LOGIN
from tests.persistence_process import START_LIMIT_S, MockProcess

pytestmark = pytest.mark.slow
ATTRIBUTES = [{"name": "n", "dataType": "number"}, {"name": "half", "dataType": "number"}]
ENOUGH = 25  # acknowledged writes of each kind before the kill


class Writers:
    """8 threads writing until the server goes away; each keeps what was acknowledged."""

    def __init__(self, url: str, headers: dict[str, str], app_id: str,
                 devices: list[str]) -> None:
        self.url, self.headers, self.app_id, self.devices = url, headers, app_id, devices
        self.created: list[str] = []  # device ids
        self.states: list[tuple[str, int]] = []  # (device, n): an array of two states each
        self.commands: list[tuple[str, str]] = []  # (device, payload key)
        self.events: list[str] = []  # event ids
        self.threads = [threading.Thread(target=self._run, args=(work, i), daemon=True)
                        for i, work in enumerate([self._create, self._create, self._state,
                                                  self._state, self._command, self._command,
                                                  self._event, self._event])]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=START_LIMIT_S)
            assert not thread.is_alive()

    def acknowledged(self) -> dict[str, int]:
        return {"created": len(self.created), "states": len(self.states),
                "commands": len(self.commands), "events": len(self.events)}

    def _run(self, work: Callable[[httpx.Client, int, int], None], writer: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            i = 0
            while True:
                i += 1
                try:
                    work(client, writer, i)
                except httpx.TransportError:
                    return  # the server is gone: this write was never acknowledged

    def _create(self, client: httpx.Client, writer: int, i: int) -> None:
        response = client.post(f"/applications/{self.app_id}/devices",
                               json={"name": f"w{writer}-{i}", "attributes": ATTRIBUTES})
        if response.status_code == 201:
            self.created.append(response.json()["id"])

    def _state(self, client: httpx.Client, writer: int, i: int) -> None:
        device, n = self.devices[writer % 2], writer * 1_000_000 + i
        response = client.post(f"/applications/{self.app_id}/devices/{device}/state",
                               json=[{"data": {"n": n, "half": 0}},
                                     {"data": {"n": n, "half": 1}}])
        if response.status_code == 200:
            self.states.append((device, n))

    def _command(self, client: httpx.Client, writer: int, i: int) -> None:
        device, key = self.devices[writer % 2], f"w{writer}-{i}"
        response = client.post(f"/applications/{self.app_id}/devices/{device}/command",
                               json={"name": "go", "payload": {"key": key}})
        if response.status_code == 200:
            self.commands.append((device, key))

    def _event(self, client: httpx.Client, writer: int, i: int) -> None:
        response = client.post(f"/applications/{self.app_id}/events",
                               json={"level": "info", "subject": f"w{writer}-{i}"})
        if response.status_code == 201:
            self.events.append(response.json()["id"])


def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path: Path):
    path = tmp_path / "mock.db"
    first = MockProcess(path)
    try:
        first.wait_ready()
        token = httpx.post(f"{first.url}/auth/user", json=LOGIN).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        app_id = httpx.get(f"{first.url}/_mock/world").json()["applications"][0]["id"]
        devices = [httpx.post(f"{first.url}/applications/{app_id}/devices", headers=auth,
                              json={"name": f"target {i}", "attributes": ATTRIBUTES}
                              ).json()["id"] for i in range(2)]
        writers = Writers(first.url, auth, app_id, devices)
        writers.start()
        deadline = time.monotonic() + START_LIMIT_S
        while min(writers.acknowledged().values()) < ENOUGH:
            assert time.monotonic() < deadline, writers.acknowledged()
            time.sleep(0.01)  # polling interval of a bounded wait
        first.kill()  # SIGKILL, mid-load: the writers are still sending
        writers.join()
    finally:
        first.kill()

    with MockProcess(path) as second, httpx.Client(base_url=second.url, headers=auth,
                                                   timeout=30) as client:
        # The token issued before the kill is accepted.
        assert client.get("/me").status_code == 200

        listed = client.get(f"/applications/{app_id}/devices",
                            params={"perPage": 1000}).json()["items"]
        assert set(writers.created) <= {d["id"] for d in listed}

        for device in devices:
            reports = client.get(f"/applications/{app_id}/devices/{device}/state",
                                 params={"limit": 100_000, "start": 1}).json()
            halves = Counter(r["data"]["n"] for r in reports)
            sent = {n for d, n in writers.states if d == device}
            assert sent <= set(halves)  # every acknowledged array is there...
            assert set(halves.values()) == {2}  # ...and no array is there by half

            commands = client.get(f"/applications/{app_id}/devices/{device}/command",
                                  params={"limit": 100_000, "start": 1}).json()
            keys = {c["payload"]["key"] for c in commands}
            assert {k for d, k in writers.commands if d == device} <= keys

        for event_id in writers.events:
            assert client.get(f"/applications/{app_id}/events/{event_id}").status_code == 200
