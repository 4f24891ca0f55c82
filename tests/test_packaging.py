"""The kit installs beside other tools: one import namespace, nothing generic.

These tests build the real wheel and install it, with its dependencies, into a
fresh virtual environment that already holds the PyPI library ``fixtures``
(whose import name the kit once claimed). They need the package index, as the
README's set-up command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("specs", "mockserver", "contracts", "fixtures")
GENERIC_NAMES = ("specs", "mockserver", "contracts", "fixtures")

pytestmark = pytest.mark.install


def _pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    subprocess.run([str(python), "-m", "pip", "-q", *args], check=True, cwd=cwd,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(out), str(REPO))
    (built,) = out.glob("losant_mock_kit-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A new venv: first the PyPI ``fixtures`` library, then the kit's wheel."""
    where = tmp_path_factory.mktemp("venv")
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    _pip(python, "install", "fixtures")
    _pip(python, "install", str(wheel))
    return where


def _run(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run outside the checkout, so nothing can be imported from the source tree.
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd)


def test_wheel_holds_no_top_level_package_but_the_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(
        ".dist-info")}
    assert tops == {"losant_kit"}


def test_wheel_carries_every_module_and_data_file_of_the_kit(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        f"losant_kit/{path.relative_to(REPO).as_posix()}"
        for folder in PACKAGE_FOLDERS
        for path in (REPO / folder).rglob("*")
        if path.is_file() and path.suffix in (".py", ".json", ".yaml", ".md", ".html", ".js",
                                              ".css")
        and "__pycache__" not in path.parts
    }
    assert expected - names == set()


def test_fixtures_library_still_works_beside_the_kit(fresh_env: Path, tmp_path: Path) -> None:
    result = _run(fresh_env / "bin" / "python",
                  "import fixtures; assert issubclass(fixtures.Fixture, object);"
                  "print(fixtures.__file__)", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "losant_kit" not in result.stdout


def test_no_module_of_the_kit_imports_under_a_generic_name(fresh_env: Path,
                                                          tmp_path: Path) -> None:
    code = ("import importlib.util, json;"
            f"print(json.dumps({{n: importlib.util.find_spec(n) is not None "
            f"for n in {GENERIC_NAMES!r}}}))")
    result = _run(fresh_env / "bin" / "python", code, tmp_path)
    found = json.loads(result.stdout)
    # `fixtures` is importable: it is the PyPI library, checked above.
    assert {name for name, present in found.items() if present} == {"fixtures"}


def test_installed_entry_points_resolve(fresh_env: Path, tmp_path: Path) -> None:
    code = ("from importlib.metadata import entry_points;"
            "[ep.load() for ep in entry_points(group='pytest11') if ep.name=='losant_contracts'];"
            "[ep.load() for ep in entry_points(group='console_scripts') "
            "if ep.name.startswith('losant-')]; print('ok')")
    assert _run(fresh_env / "bin" / "python", code, tmp_path).stdout.strip() == "ok"
    listed = subprocess.run([str(fresh_env / "bin" / "losant-contracts"), "list"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert "conformance" in listed.stdout


@pytest.fixture
def served_from_the_wheel(fresh_env: Path, tmp_path: Path) -> Iterator[str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(fresh_env / "bin" / "python"), "-m", "losant_kit.mockserver", "serve",
         "--port", str(port), "--mqtt", "off"],  # tests never bind MQTT's 1883
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The banner is printed once the app is built; then wait for the socket.
        lines = []
        for line in server.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        assert server.poll() is None, "".join(lines)
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                assert server.poll() is None, "the mock exited before listening"
                time.sleep(0.02)  # a poll for the listening socket, not a pause
        yield url
    finally:
        server.terminate()
        server.wait()


def test_mock_from_the_wheel_starts_and_answers(served_from_the_wheel: str) -> None:
    body = json.dumps({"email": "dev@example.com", "password": "losant-mock"}).encode()
    request = urllib.request.Request(served_from_the_wheel + "/auth/user", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        assert json.load(response)["token"]


def test_inspector_page_from_the_wheel_answers(served_from_the_wheel: str) -> None:
    script = served_from_the_wheel + "/_mock/inspector/inspector.js"
    with urllib.request.urlopen(script) as response:
        assert response.status == 200
        assert b"/_mock" in response.read()
