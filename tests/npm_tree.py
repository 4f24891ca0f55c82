"""Install a test folder's pinned npm packages once per machine (xdist-safe).

Used by the tests that run the official JavaScript client (tests/js, and
tests/browser for the browser bundle). ``npm ci`` runs only when the
installed tree differs from the lock file; a file lock outside the folder
keeps pytest-xdist workers from installing at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_TIMEOUT_S = 300
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
                  "ENETUNREACH", "EHOSTUNREACH", "network request", "getaddrinfo")


def unavailable(reason: str) -> None:
    """Skip locally; in CI (``CI`` set) what the test needs must be there, so fail."""
    if os.environ.get("CI"):
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def installed_tree_matches_lock(folder: Path) -> bool:
    """npm's hidden lockfile records exactly what node_modules holds."""
    hidden = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if not (hidden.exists() and lock.exists()):
        return False
    wanted = json.loads(lock.read_text())["packages"]
    wanted.pop("", None)
    return json.loads(hidden.read_text())["packages"] == wanted


@contextlib.contextmanager
def install_lock(folder: Path) -> Iterator[None]:
    # The lock lives outside the folder: npm ci empties node_modules, and the
    # working tree should not gain an untracked file.
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"losant-mock-npm-{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed(folder: Path) -> None:
    """``npm ci`` the folder unless its node_modules already matches the lock."""
    if not (shutil.which("node") and shutil.which("npm")):
        unavailable("node and npm are needed")
    with install_lock(folder):
        if installed_tree_matches_lock(folder):
            return
        command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline"]
        try:
            result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                                    timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            unavailable(f"{' '.join(command)} took over {INSTALL_TIMEOUT_S} s (no network?)")
        output = result.stdout + result.stderr
        if result.returncode != 0:
            errors = [line for line in output.splitlines() if line.startswith("npm error")]
            summary = "\n".join(errors[:6]) or output[-2000:]
            if any(marker in output for marker in NETWORK_ERRORS):
                unavailable(f"{' '.join(command)} could not reach the npm registry:\n{summary}")
            pytest.fail(f"{' '.join(command)} failed:\n{output}")
