"""Auth: missing or garbage tokens get 403 with a text body on every operation
that needs one; token forms stay on their paths; a login token never reaches
another account's devices."""

from __future__ import annotations

from typing import Any

import pytest

from losant_kit.specs.ioto import load_ioto_spec

GARBAGE = ("", "garbage", "bearer garbage", "0" * 32)


def _secured() -> list[str]:
    spec = load_ioto_spec()
    return [path for path, item in spec["paths"].items() if item["post"].get("security")]


def _assert_refused(response: Any, what: str) -> None:
    assert response.status_code == 403, f"{what}: {response.status_code} {response.text[:120]}"
    assert response.headers.get("content-type", "").startswith("text/plain"), what
    assert response.text.strip(), f"{what}: 403 without a message"


@pytest.mark.parametrize("path", _secured())
def test_no_token_is_refused_with_403_text(path: str, ioto_target: Any) -> None:
    headers = {} if path.startswith("/tok/") else {"Origin": ioto_target.options.origin}
    _assert_refused(ioto_target.http.post(path, json={}, headers=headers), f"{path} no token")


@pytest.mark.parametrize("path", _secured())
def test_garbage_token_is_refused_with_403_text(path: str, ioto_target: Any) -> None:
    origin = {} if path.startswith("/tok/") else {"Origin": ioto_target.options.origin}
    for garbage in GARBAGE:
        response = ioto_target.http.post(path, json={},
                                         headers={"Authorization": garbage, **origin})
        _assert_refused(response, f"{path} token {garbage!r}")


def test_login_token_is_refused_on_tok_paths(ioto: Any) -> None:
    response = ioto.http.post("/tok/device/find", json={},
                              headers={"Authorization": ioto.login, "Origin": ioto.options.origin})
    _assert_refused(response, "login token on /tok/device/find")


def test_cloudapi_token_is_refused_on_login_paths(ioto: Any) -> None:
    response = ioto.http.post("/device/find", json={},
                              headers={"Authorization": ioto.token, "Origin": ioto.options.origin})
    _assert_refused(response, "CloudAPI token on /device/find")


def _other_account(ioto: Any) -> tuple[str, list[str]]:
    me = ioto.as_login("/account/get").json()["data"]["id"]
    other = ioto.as_login("/account/get", other=True).json()["data"]["id"]
    assert me != other, "--login-token and --other-login-token must be of different accounts"
    devices = ioto.tok("/device/find", {"accountId": other}).json()["data"]
    ids = [d["id"] for d in devices]
    if not ids:
        pytest.skip("the other account has no device to try")
    return other, ids


def test_login_token_never_lists_another_accounts_devices(ioto: Any) -> None:
    _, theirs = _other_account(ioto)
    listed = {d["id"] for d in ioto.as_login("/device/find").json()["data"]}
    assert not listed & set(theirs)
    found = ioto.as_login("/generic/find", {"_type": "Device"}).json()["data"]
    assert not {d["id"] for d in found} & set(theirs)


def test_login_token_never_reads_another_accounts_device(ioto: Any) -> None:
    other, theirs = _other_account(ioto)
    for device_id in theirs:
        attempts = {
            "/device/get": {"id": device_id, "accountId": other},
            "/generic/find": {"_type": "Store", "deviceId": device_id, "accountId": other},
            "/generic/get": {"_type": "Device", "id": device_id, "accountId": other},
            "/metric/fetch": {"deviceId": device_id, "accountId": other, "items": [
                {"namespace": "Embedthis/Device", "statistic": "avg", "metric": "temperature"}]},
        }
        for path, body in attempts.items():
            response = ioto.as_login(path, body)
            assert response.status_code in (400, 403), \
                f"{path} reached device {device_id} of another account: {response.text[:200]}"


def test_login_token_never_writes_to_another_accounts_device(ioto: Any) -> None:
    other, theirs = _other_account(ioto)
    body = {"_type": "Store", "deviceId": theirs[0], "accountId": other,
            "key": "contract-intrusion", "value": 1, "type": "number"}
    assert ioto.as_login("/generic/create", body).status_code in (400, 403)
    check = ioto.tok("/generic/find", {"_type": "Store", "deviceId": theirs[0],
                                       "key": "contract-intrusion"})
    assert check.json()["data"] == []
