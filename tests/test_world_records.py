"""World files may carry state history, connection info and events: served as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from losant_kit.mockserver.app import create_app
from tests.conftest import bearer, with_settings

EXAMPLE_WORLD = Path(__file__).resolve().parents[1] / "fixtures" / "example-world.yaml"
GREENHOUSE = "6592008012ab34cd56ef0002"
SOIL_PROBE = "6592008012ab34cd56ef0011"


@pytest.fixture(scope="module")
def served() -> Iterator[TestClient]:
    app = create_app(with_settings(fixtures=EXAMPLE_WORLD))
    with TestClient(app, raise_server_exceptions=False) as client:
        token = client.post("/auth/user", json={"email": "dev@example.com",
                                                "password": "losant-mock"}).json()["token"]
        client.headers.update(bearer(token))
        yield client


def test_history_is_served_by_get_state(served: TestClient) -> None:
    response = served.get(f"/applications/{GREENHOUSE}/devices/{SOIL_PROBE}/state",
                          params={"limit": 10, "start": 1, "end": 0})
    assert response.json() == [
        {"time": "2024-01-10T08:15:00.000Z", "data": {"soilMoisture": 30.9, "battery": 97}},
        {"time": "2024-01-10T08:00:00.000Z", "data": {"soilMoisture": 31.5, "temperature": 18.2}},
    ]


def test_last_values_come_from_the_history(served: TestClient) -> None:
    response = served.get(f"/applications/{GREENHOUSE}/devices/{SOIL_PROBE}/compositeState",
                          params={"start": 1})
    assert response.json()["temperature"] == {"value": 18.2, "time": "2024-01-10T08:00:00.000Z"}
    assert response.json()["soilMoisture"]["value"] == 30.9


def test_connection_info_is_served(served: TestClient) -> None:
    device = served.get(f"/applications/{GREENHOUSE}/devices/{SOIL_PROBE}").json()
    assert device["connectionInfo"] == {"connected": 1, "time": "2024-01-10T08:00:00.000Z"}


def test_an_event_is_served_as_written(served: TestClient) -> None:
    event = served.get(f"/applications/{GREENHOUSE}/events/6592008012ab34cd56ef00a0").json()
    assert event["state"] == "acknowledged"
    assert event["sourceType"] == "device" and event["sourceName"] == "Zone A Soil Probe"
    assert event["updates"][0]["comment"] == "Irrigation scheduled"
    assert event["lastUpdated"] == "2024-01-10T09:05:00.000Z"


def test_an_event_without_source_or_state_is_new_and_raised_by_the_owner(served) -> None:
    event = served.get(f"/applications/{GREENHOUSE}/events/6592008012ab34cd56ef00a1").json()
    assert event["state"] == "new"
    assert event["sourceType"] == "user" and event["sourceName"] == "Ada Lovelace"
    assert event["eventTags"] == {} and event["updates"] == []
    assert event["creationDate"] == event["lastUpdated"]


def test_seeded_events_can_be_acknowledged_like_created_ones(served: TestClient) -> None:
    path = f"/applications/{GREENHOUSE}/events/6592008012ab34cd56ef00a1"
    response = served.patch(path, json={"state": "acknowledged", "comment": "seen"})
    assert response.status_code == 200, response.text
    assert response.json()["updates"][-1]["stateChange"] == {"old": "new",
                                                             "new": "acknowledged"}
