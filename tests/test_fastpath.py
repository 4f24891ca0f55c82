"""The fast lane answers exactly as Connexion does, and serves only what Connexion accepts.

Each request goes to the lane (``mock.lane``, which hands over what it cannot
prove valid) and to Connexion alone (``mock.connexion``); the answers must be
byte-identical. Hypothesis varies the query strings and bodies, valid and not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import TEST_SETTINGS, bearer

LOGIN = {"email": "dev@example.com", "password": "losant-mock"}
PER_TEST = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class CountingFallback:
    """Wraps Connexion behind the lane to tell which requests the lane served itself."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    mock = create_app(TEST_SETTINGS)
    fallback = CountingFallback(mock.connexion)
    mock.lane.fallback = fallback
    lane = TestClient(mock.lane)
    token = lane.post("/auth/user", json=LOGIN).json()["token"]
    app_id = mock.world_summary["applications"][0]["id"]
    devices = lane.get(f"/applications/{app_id}/devices", headers=bearer(token)).json()
    return {
        "mock": mock,
        "fallback": fallback,
        "lane": lane,
        "connexion": TestClient(mock.connexion),
        "auth": bearer(token),
        "app": app_id,
        "device": devices["items"][-1]["id"],
    }


def answer(client: TestClient, method: str, url: str, **kwargs: Any) -> tuple[int, bytes, str]:
    response = client.request(method, url, **kwargs)
    return response.status_code, response.content, response.headers.get("content-type", "")


def both(world: dict[str, Any], method: str, url: str, **kwargs: Any) -> tuple[Any, Any, bool]:
    """(lane answer, Connexion answer, whether the lane served it itself)."""
    before = world["fallback"].calls
    through_lane = answer(world["lane"], method, url, **kwargs)
    served = world["fallback"].calls == before
    return through_lane, answer(world["connexion"], method, url, **kwargs), served


def test_lane_serves_a_valid_device_read_itself(world: dict[str, Any]) -> None:
    url = f"/applications/{world['app']}/devices/{world['device']}"
    lane, connexion, served = both(world, "GET", url, headers=world["auth"])
    assert served
    assert lane == connexion
    assert lane[0] == 200


def test_lane_hands_a_missing_token_to_connexion(world: dict[str, Any]) -> None:
    url = f"/applications/{world['app']}/devices/{world['device']}"
    lane, connexion, served = both(world, "GET", url)
    assert not served
    assert lane == connexion
    assert lane[0] == 401


def test_lane_hands_a_bad_path_id_to_connexion(world: dict[str, Any]) -> None:
    lane, connexion, served = both(world, "GET", f"/applications/{world['app']}/devices/nope",
                                   headers=world["auth"])
    assert not served
    assert lane == connexion
    assert lane[0] == 400


def test_literal_routes_win_over_id_routes(world: dict[str, Any]) -> None:
    url = f"/applications/{world['app']}/devices/tagKeys"
    lane, connexion, served = both(world, "GET", url, headers=world["auth"])
    assert served
    assert lane == connexion
    assert lane[0] == 200


LIST_PARAMS = {
    "sortField": st.sampled_from(["name", "id", "creationDate", "bogus", ""]),
    "sortDirection": st.sampled_from(["asc", "desc", "up"]),
    "page": st.sampled_from(["0", "1", "7", "-1", "x", ""]),
    "perPage": st.sampled_from(["1", "5", "100", "1001", "a"]),
    "filterField": st.sampled_from(["name", "id", "nope"]),
    "filter": st.text(alphabet="ab*-_ %", max_size=6),
    "_actions": st.sampled_from(["true", "false", "maybe"]),
    "_links": st.sampled_from(["true", "false"]),
    "unknownParam": st.text(max_size=4),
    "deviceClass": st.sampled_from(["gateway", "standalone"]),
}


QUERIES = st.lists(
    st.sampled_from(sorted(LIST_PARAMS)).flatmap(
        lambda name: st.tuples(st.just(name), LIST_PARAMS[name])
    ),
    max_size=5,
)


@PER_TEST
@given(query=QUERIES)
def test_any_device_list_query_gets_connexions_answer(
    world: dict[str, Any], query: list[tuple[str, str]]
) -> None:
    url = f"/applications/{world['app']}/devices"
    lane, connexion, _ = both(world, "GET", url, params=query, headers=world["auth"])
    assert lane == connexion


def test_an_unknown_query_parameter_goes_to_connexion(world: dict[str, Any]) -> None:
    url = f"/applications/{world['app']}/devices"
    lane, connexion, served = both(world, "GET", url, params={"whatever": "1"},
                                   headers=world["auth"])
    assert not served
    assert lane == connexion


def test_a_repeated_query_parameter_goes_to_connexion(world: dict[str, Any]) -> None:
    url = f"/applications/{world['app']}/devices"
    lane, connexion, served = both(world, "GET", url, params=[("page", "0"), ("page", "1")],
                                   headers=world["auth"])
    assert not served
    assert lane == connexion


# ------------------------------------------------------------------ writes

@pytest.fixture(scope="module")
def twins() -> list[tuple[MockApp, TestClient, dict[str, str], str]]:
    """Two mocks with the same seed and secret, one served by the lane, one by Connexion.

    They receive the same requests in the same order, so they stay alike:
    the same ids, the same devices, the same stored states.
    """
    found = []
    for route in ("lane", "connexion"):
        mock = create_app(TEST_SETTINGS)
        client = TestClient(getattr(mock, route))
        token = client.post("/auth/user", json=LOGIN).json()["token"]
        found.append((mock, client, bearer(token), mock.world_summary["applications"][0]["id"]))
    return found


STATE_BODIES = st.one_of(
    st.fixed_dictionaries({"data": st.dictionaries(
        st.sampled_from(["temperature", "humidity", "unknown"]),
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3),
                  st.booleans(), st.none()), max_size=3)}),
    st.dictionaries(st.sampled_from(["data", "time", "extra"]),
                    st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=2),
    st.lists(st.fixed_dictionaries({"data": st.fixed_dictionaries({"temperature": st.integers()})}),
             max_size=2),
    st.integers(),
)


@PER_TEST
@given(body=STATE_BODIES, content_type=st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain"]))
def test_any_state_report_gets_connexions_answer_and_effect(
    twins: list[tuple[MockApp, TestClient, dict[str, str], str]], body: Any, content_type: str
) -> None:
    answers, states = [], []
    for mock, client, auth, app_id in twins:
        device = client.post(f"/applications/{app_id}/devices", headers=auth, json={
            "name": "twin", "attributes": [{"name": "temperature", "dataType": "number"},
                                           {"name": "humidity", "dataType": "string"}]}).json()
        url = f"/applications/{app_id}/devices/{device['id']}/state"
        answers.append(answer(client, "POST", url, content=json.dumps(body).encode(),
                              headers={**auth, "content-type": content_type}))
        states.append(mock.backend.series.count(device["id"]))
    assert answers[0] == answers[1]
    assert states[0] == states[1]
