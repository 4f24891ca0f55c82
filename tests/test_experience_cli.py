"""The two commands of an experience API file: ``losant-mock serve --experience`` and
``losant-contracts experience``, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from losant_kit.contracts import cli as contracts_cli
from losant_kit.contracts.experience.target import ExperienceOptions, open_experience
from losant_kit.fixtures.experiences import DEFAULT_SLUG, TENANT_LOGINS
from losant_kit.mockserver import cli as mock_cli
from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.settings import Settings
from tests.conftest import LiveServer

API_FILE = str(Path(__file__).resolve().parents[1] / "fixtures/experiences/equipment-monitor.yaml")
(EMAIL, PASSWORD), (OTHER_EMAIL, OTHER_PASSWORD) = TENANT_LOGINS


def serve(*args: str) -> int:
    return mock_cli.main(["serve", "--mqtt", "off", "--port", "0", *args])


def test_serve_refuses_an_invalid_file_naming_the_place(tmp_path, capsys) -> None:
    bad = tmp_path / "api.yaml"
    bad.write_text(Path(API_FILE).read_text().replace("x-mock-reply: device.get",
                                                      "x-mock-reply: device.fetch"))
    assert serve("--experience", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"--experience {bad}: /paths/~1api~1devices~1{{deviceId}}/get/x-mock-reply" in err
    assert "unknown built-in reply 'device.fetch'" in err
    assert "Traceback" not in err


def test_serve_refuses_an_unknown_application(capsys) -> None:
    assert serve("--experience", API_FILE, "--experience-app", "0" * 24) == 2
    assert "no application with that id" in capsys.readouterr().err


def test_serve_refuses_an_application_without_a_file(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        serve("--experience-app", "0" * 24)
    assert exited.value.code == 2
    assert "follows the --experience FILE" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served() -> LiveServer:
    mock = create_app(Settings(seed=1, experiences=((API_FILE, None),)))
    with LiveServer(mock) as server:
        yield server


def contracts(*args: str) -> int:
    return contracts_cli.main(["experience", "--spec", API_FILE, *args])


def test_contracts_pass_against_the_served_experience_over_http(served, capsys) -> None:
    code = contracts("--base-url", f"{served.url}/_experience/{DEFAULT_SLUG}",
                     "--email", EMAIL, "--password", PASSWORD,
                     "--other-email", OTHER_EMAIL, "--other-password", OTHER_PASSWORD,
                     "--max-examples", "5")
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "PASS  experience_tenancy" in out and "FAIL" not in out


def test_live_safe_run_sends_only_safe_methods_and_is_rate_limited(served, capsys,
                                                                   tmp_path) -> None:
    junit = tmp_path / "report.xml"
    code = contracts("--base-url", f"{served.url}/_experience/{DEFAULT_SLUG}",
                     "--email", EMAIL, "--password", PASSWORD, "--live-safe",
                     "--max-examples", "2", "-k", "conformance", "--junit", str(junit))
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "live-safe: POST is not a safe method" in out
    assert "testcase" in junit.read_text()
    target = open_experience(ExperienceOptions(
        spec=API_FILE, base_url=f"{served.url}/_experience/{DEFAULT_SLUG}",
        email=EMAIL, password=PASSWORD, live_safe=True))
    try:
        assert target.limiter is not None and target.limiter.rate < 50
    finally:
        target.close()


def test_contracts_refuse_a_rate_at_the_published_limit(capsys) -> None:
    assert contracts("--base-url", "http://127.0.0.1:9", "--email", EMAIL,
                     "--password", PASSWORD, "--rate", "50") == 2
    assert "below the published 50" in capsys.readouterr().err


def test_contracts_report_an_unreachable_experience(capsys) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = contracts("--base-url", f"http://127.0.0.1:{port}", "--email", EMAIL,
                     "--password", PASSWORD)
    assert code == 4
    assert "cannot reach" in capsys.readouterr().out


def test_contracts_report_a_wrong_password(served, capsys) -> None:
    code = contracts("--base-url", f"{served.url}/_experience/{DEFAULT_SLUG}",
                     "--email", EMAIL, "--password", "wrong")
    assert code == 4
    assert f"logging in as {EMAIL}" in capsys.readouterr().out


def test_only_the_mocks_own_clock_makes_the_target_the_mock() -> None:
    import httpx

    from losant_kit.contracts.experience.target import _is_mock_clock

    clock = {"now": "2026-01-01T00:00:00.000Z", "epochMs": 0, "offsetSeconds": 0}
    assert _is_mock_clock(httpx.Response(200, json=clock))
    # An experience whose wildcard route answers every path is not the mock.
    assert not _is_mock_clock(httpx.Response(200, text="<html>page</html>"))
    assert not _is_mock_clock(httpx.Response(200, json={"ok": True}))
    assert not _is_mock_clock(httpx.Response(404, json=clock))
