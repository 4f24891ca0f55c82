"""``losant-mock serve --data`` as a real process, for the restart and refusal tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_LIMIT_S = 120  # a generous bound for a loaded machine, polled, never slept out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(path: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "losant_kit.mockserver", "serve", "--data", str(path),
            "--port", str(port), "--throttle", "off", "--mqtt", "off", *extra]  # never 1883


class MockProcess:
    """A mock server process on a data file; ``url`` answers once ``wait_ready`` returns."""

    def __init__(self, path: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(serve_command(path, self.port, *extra),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mock exited {self.process.returncode}: "
                                   f"{self.process.stderr.read() if self.process.stderr else ''}")
            try:
                httpx.get(f"{self.url}/_mock/clock", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.05)  # polling interval of a bounded wait, not a synchronisation
        self.kill()
        raise RuntimeError("mock did not answer within the start limit")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> MockProcess:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refused(path: Path) -> subprocess.CompletedProcess[str]:
    """Try to start a mock on ``path``; it is expected to refuse (and so exit) at once."""
    return subprocess.run(serve_command(path, free_port()), capture_output=True, text=True,
                          timeout=START_LIMIT_S)
