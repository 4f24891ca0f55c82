"""The Ioto contract suites: green against the Ioto mock, red against a broken one."""

from __future__ import annotations

import pytest

from losant_kit.contracts.cli import main as contracts_main
from losant_kit.contracts.ioto.runner import run_ioto_suites
from losant_kit.contracts.ioto.target import IotoOptions
from losant_kit.mockserver.cli import build_parser, settings_from
from losant_kit.mockserver.profiles.ioto import IotoProfile


def test_auth_and_behaviour_suites_pass_against_the_ioto_mock():
    result = run_ioto_suites(["auth", "behaviour"], IotoOptions(), quiet=True)
    assert result.ok, result.summary()
    assert result.suites["auth"].passed > 100 and result.suites["behaviour"].passed >= 8


def test_conformance_suite_passes_for_generic_operations():
    result = run_ioto_suites(["conformance"], IotoOptions(max_examples=3),
                             select="generic", quiet=True)
    assert result.ok, result.summary()
    assert result.suites["conformance"].passed == 20  # 10 operations, positive and negative


def test_auth_suite_catches_json_errors(monkeypatch):
    # A mock that answers failures in Losant's JSON shape breaks the Ioto contract.
    from starlette.responses import JSONResponse

    def json_errors(self, status, type_, message, headers=None):
        return JSONResponse({"type": type_, "message": message}, status_code=403)

    monkeypatch.setattr(IotoProfile, "error_response", json_errors)
    result = run_ioto_suites(["auth"], IotoOptions(), select="no_token and device", quiet=True)
    assert not result.ok
    assert "text/plain" in result.failures[0].message or "403" in result.failures[0].message


def test_behaviour_suite_catches_a_paging_overlap(monkeypatch):
    from losant_kit.mockserver.ioto import paging

    real_page = paging.page

    def overlapping(items, sort_key, params):
        result = real_page(items, sort_key, params)
        if result.get("next") and result["data"]:
            # The next page starts one item early: that item shows up twice.
            ordered = sorted(items, key=sort_key)
            index = ordered.index(result["data"][-1])
            if index > 0:
                result["next"] = paging.encode(sort_key(ordered[index - 1]))
        return result

    monkeypatch.setattr(paging, "page", overlapping)
    result = run_ioto_suites(["behaviour"], IotoOptions(), select="partitions", quiet=True)
    assert not result.ok


def test_contracts_cli_refuses_a_suite_ioto_lacks(capsys):
    assert contracts_main(["run", "--platform", "ioto", "--suite", "throttle"]) == 2
    assert "Ioto suites" in capsys.readouterr().err


def test_serve_takes_the_platform_flag():
    args = build_parser().parse_args(["serve", "--platform", "ioto", "--port", "0"])
    assert settings_from(args).platform == "ioto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--platform", "nope"])


def test_ioto_banner_names_the_cloudapi_token():
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    app = create_app(Settings(platform="ioto"))
    text = app.profile.banner(app, "http://127.0.0.1:1", 0.1)
    assert app.world_summary["cloudApiTokens"][0]["token"] in text
    assert "dev@example.com" in text


def test_ioto_refuses_data_files(tmp_path):
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.persistence import DataFileError
    from losant_kit.mockserver.settings import Settings

    with pytest.raises(DataFileError):
        create_app(Settings(platform="ioto", data=tmp_path / "x.db"))
