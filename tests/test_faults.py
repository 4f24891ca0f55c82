"""Fault and latency injection through the control API, --fault and reset."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.cli import build_parser, settings_from
from losant_kit.mockserver.faults import OperationRouter, parse_cli_rule
from losant_kit.mockserver.spec import PlatformSpec
from tests.conftest import LOGIN, LiveServer, with_settings

SAMPLE_ID = "0123456789abcdef01234567"


def add(client: TestClient, **rule) -> dict:
    response = client.post("/_mock/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_rule_answers_201_with_its_id_and_fields(client: TestClient) -> None:
    rule = add(client, match={"operationId": "me.get"}, status=503, latencyMs=5, times=2)
    assert rule["id"] == 1
    assert rule["match"] == {"operationId": "me.get"}
    assert (rule["status"], rule["latencyMs"], rule["times"], rule["hits"]) == (503, 5, 2, 0)
    assert client.get("/_mock/faults").json()["items"] == [rule]


def test_status_answers_in_the_platform_error_shape(client: TestClient, auth) -> None:
    add(client, match={"operationId": "me.get"}, status=503)
    response = client.get("/me", headers=auth)
    assert response.status_code == 503
    body = response.json()
    assert body["type"] == "ServiceUnavailable"
    assert isinstance(body["message"], str)


def test_a_faulted_write_changes_nothing(client: TestClient, auth, app_id, mock) -> None:
    before = mock.backend.store.count("devices", app_id)
    add(client, match={"method": "POST", "path": "/applications/*/devices"}, status=500)
    response = client.post(f"/applications/{app_id}/devices", headers=auth,
                           json={"name": "never", "deviceClass": "standalone"})
    assert response.status_code == 500
    assert mock.backend.store.count("devices", app_id) == before


def test_times_expires_the_rule_after_that_many_hits(client: TestClient, auth) -> None:
    rule = add(client, match={"operationId": "me.get"}, status=502, times=2)
    statuses = [client.get("/me", headers=auth).status_code for _ in range(4)]
    assert statuses == [502, 502, 200, 200]
    listed = client.get("/_mock/faults").json()["items"][0]
    assert listed["id"] == rule["id"]
    assert (listed["hits"], listed["expired"]) == (2, True)


def test_the_journal_marks_faulted_requests_with_the_rule_id(client: TestClient, auth) -> None:
    rule = add(client, match={"operationId": "me.get"}, status=503, times=1)
    client.get("/me", headers=auth)
    client.get("/me", headers=auth)
    entries = client.get("/_mock/requests", params={"path": "/me"}).json()["items"]
    assert [(e["status"], e.get("fault")) for e in entries] == [(503, rule["id"]), (200, None)]


def test_latency_delays_the_answer_by_at_least_latency_ms(client: TestClient, auth) -> None:
    add(client, match={"operationId": "me.get"}, latencyMs=80)
    assert client.get("/me", headers=auth).status_code == 200  # latency alone still answers
    entry = client.get("/_mock/requests", params={"path": "/me"}).json()["items"][-1]
    # A lower bound only: a sleep never ends early, however loaded the machine.
    assert entry["durationMs"] >= 79


def test_drop_closes_the_connection_without_an_answer() -> None:
    mock = create_app(with_settings())
    with LiveServer(mock) as live:
        httpx.post(f"{live.url}/_mock/faults",
                   json={"match": {"operationId": "auth.authenticateUser"}, "drop": True,
                         "times": 1})
        # Closed without an answer: seen as an empty reply, or as a reset when
        # the socket closes with the request body still unread.
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            httpx.post(f"{live.url}/auth/user", json=LOGIN, timeout=30)
        assert httpx.post(f"{live.url}/auth/user", json=LOGIN).status_code == 200
        entries = httpx.get(f"{live.url}/_mock/requests").json()["items"]
    assert [(e["status"], e.get("fault")) for e in entries] == [(None, 1), (200, None)]


def _hits_pattern(seed: int) -> list[int]:
    with TestClient(create_app(with_settings(seed=seed))) as client:
        add(client, match={"operationId": "auth.authenticateUser"}, status=503, probability=0.5)
        return [client.post("/auth/user", json={"email": "a@b.c", "password": "x"}).status_code
                for _ in range(24)]


def test_probability_draws_are_repeatable_for_a_seed() -> None:
    first, second = _hits_pattern(3), _hits_pattern(3)
    assert first == second
    assert 0 < first.count(503) < len(first)  # some requests hit, some passed


def test_probability_zero_never_fires(client: TestClient, auth) -> None:
    add(client, match={"operationId": "me.get"}, status=503, probability=0)
    assert {client.get("/me", headers=auth).status_code for _ in range(5)} == {200}


def test_path_star_matches_one_segment_and_double_star_any(client: TestClient, auth, app_id):
    add(client, match={"method": "GET", "path": "/applications/*"}, status=504)
    assert client.get(f"/applications/{app_id}", headers=auth).status_code == 504
    assert client.get(f"/applications/{app_id}/devices", headers=auth).status_code == 200
    add(client, match={"path": "/applications/**"}, status=503)
    assert client.get(f"/applications/{app_id}/devices", headers=auth).status_code == 503


def test_the_control_api_is_never_faulted(client: TestClient) -> None:
    add(client, match={"path": "/**"}, status=503)
    assert client.get("/_mock/clock").status_code == 200
    assert client.get("/_mock/faults").json()["items"][0]["hits"] == 0


def test_delete_one_rule_and_then_all(client: TestClient, auth) -> None:
    first = add(client, match={"operationId": "me.get"}, status=503)
    add(client, match={"operationId": "applications.get"}, status=503)
    assert client.delete(f"/_mock/faults/{first['id']}").json()["id"] == first["id"]
    assert client.get("/me", headers=auth).status_code == 200
    assert client.delete(f"/_mock/faults/{first['id']}").status_code == 404
    assert client.delete("/_mock/faults").json() == {"removed": 1}
    assert client.get("/_mock/faults").json()["count"] == 0


def test_reset_clears_api_rules_and_restores_startup_rules() -> None:
    startup = ({"match": {"operationId": "me.get"}, "status": 503},)
    with TestClient(create_app(with_settings(faults=startup))) as client:
        add(client, match={"operationId": "applications.get"}, status=500)
        client.post("/_mock/reset")
        rules = client.get("/_mock/faults").json()["items"]
    assert [rule["match"] for rule in rules] == [{"operationId": "me.get"}]


@pytest.mark.parametrize("rule", [
    {"match": {"operationId": "device.nope"}},
    {"match": {}},
    {"match": {"operationId": "me.get", "method": "GET"}},
    {"match": {"method": "FETCH"}},
    {"match": {"path": "no-slash"}},
    {"match": {"operationId": "me.get"}, "status": 200},
    {"match": {"operationId": "me.get"}, "status": 503, "drop": True},
    {"match": {"operationId": "me.get"}, "probability": 2},
    {"match": {"operationId": "me.get"}, "times": 0},
    {"match": {"operationId": "me.get"}, "latencyMs": -1},
    {"match": {"operationId": "me.get"}, "colour": "red"},
])
def test_a_bad_rule_is_a_400_in_the_platform_shape(client: TestClient, rule) -> None:
    response = client.post("/_mock/faults", json=rule)
    assert response.status_code == 400
    assert set(response.json()) == {"type", "message"}
    assert client.get("/_mock/faults").json()["count"] == 0


@pytest.mark.parametrize(
    "operation", sorted(PlatformSpec().operations.values(), key=lambda op: op.id),
    ids=lambda op: op.id,
)
def test_router_finds_every_operation_from_its_method_and_path(operation) -> None:
    path = re.sub(r"\{[^}]+\}", SAMPLE_ID, operation.path)
    assert ROUTER.operation_id(operation.method.upper(), path) == operation.id


ROUTER = OperationRouter(PlatformSpec())


@pytest.mark.parametrize(("text", "rule"), [
    ("device.get status=503 times=2",
     {"match": {"operationId": "device.get"}, "status": 503, "times": 2}),
    ("GET /applications/** latencyMs=300",
     {"match": {"method": "GET", "path": "/applications/**"}, "latencyMs": 300}),
    ("/auth/user drop=true", {"match": {"path": "/auth/user"}, "drop": True}),
    ('{"match": {"operationId": "me.get"}, "probability": 0.5}',
     {"match": {"operationId": "me.get"}, "probability": 0.5}),
])
def test_cli_rule_forms(text: str, rule: dict) -> None:
    assert parse_cli_rule(text) == rule


def test_fault_flag_is_repeatable_and_installs_rules() -> None:
    args = build_parser().parse_args(
        ["serve", "--fault", "me.get status=503", "--fault", "POST /auth/user latencyMs=10"])
    settings = settings_from(args)
    with TestClient(create_app(with_settings(faults=settings.faults))) as client:
        assert [r["match"] for r in client.get("/_mock/faults").json()["items"]] == [
            {"operationId": "me.get"}, {"method": "POST", "path": "/auth/user"}]
