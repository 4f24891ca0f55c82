"""World files declaring experiences: checked, completed, and served by the runtime."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from losant_kit.fixtures import complete_world, load_world_file
from losant_kit.fixtures.errors import WorldFileError
from losant_kit.mockserver.app import create_app
from tests.conftest import with_settings

EXAMPLE_WORLD = Path(__file__).resolve().parents[1] / "fixtures" / "example-world.yaml"


@pytest.fixture(scope="module")
def example() -> dict:
    return load_world_file(EXAMPLE_WORLD)


def problems_of(world: dict) -> list[str]:
    with pytest.raises(WorldFileError) as caught:
        complete_world(world, 1)
    return [f"{path}: {message}" for path, message in caught.value.problems]


def greenhouse(world: dict) -> dict:
    return world["applications"][0]


def test_completion_resolves_group_user_and_endpoint_references(example):
    completed = complete_world(example, 1)
    app = greenhouse(completed)
    groups = {g["name"]: g for g in app["experienceGroups"]}
    devices = {d["name"]: d["id"] for d in app["devices"]}
    assert groups["Zone A Growers"]["parentId"] == groups["Growers"]["id"]
    assert groups["Zone A Growers"]["deviceIds"] == [devices["Zone A Gateway"]]
    assert groups["Growers"]["deviceQueryJson"] == '{"deviceClass": "system"}'
    user = app["experienceUsers"][0]
    assert user["experienceGroupIds"] == [groups["Zone A Growers"]["id"]]
    assert app["experienceEndpoints"][0]["endpointTags"] == {"mockReply": "auth.login"}


def test_completing_twice_changes_nothing(example):
    once = complete_world(example, 1)
    assert complete_world(once, 1) == once


def test_unknown_group_reference_is_reported(example):
    world = copy.deepcopy(example)
    greenhouse(world)["experienceUsers"][0]["groups"] = ["Nobody"]
    assert any("experienceUsers[0].groups[0]" in p and "Nobody" in p for p in problems_of(world))


def test_group_parent_loop_is_reported(example):
    world = copy.deepcopy(example)
    greenhouse(world)["experienceGroups"][0]["parent"] = "Zone A Growers"
    assert any("parent groups loop" in p for p in problems_of(world))


def test_duplicate_slug_across_applications_is_reported(example):
    world = copy.deepcopy(example)
    world["applications"][1]["experienceSlugs"] = [{"slug": "greenhouse"}]
    assert any("experienceSlugs[0].slug" in p for p in problems_of(world))


def test_duplicate_endpoint_route_is_reported(example):
    world = copy.deepcopy(example)
    endpoints = greenhouse(world)["experienceEndpoints"]
    endpoints.append({"method": "post", "route": "/api/auth"})
    assert any("already declared" in p for p in problems_of(world))


def test_example_world_is_served_at_its_slug_and_domain():
    mock = create_app(with_settings(fixtures=EXAMPLE_WORLD))
    with TestClient(mock) as client:
        by_slug = client.get("/status", headers={"Host": "greenhouse.localhost:9999"})
        by_domain = client.get("/status", headers={"Host": "greenhouse.example.com"})
        login = client.post(
            "/api/auth",
            headers={"Host": "greenhouse.localhost"},
            json={"email": "grower-a@example.com", "password": "grower-a-pass"},
        )
    assert (by_slug.text, by_domain.text) == ("ok", "ok")
    assert login.status_code == 200
    users = {u["email"]: u for u in mock.world_summary["experienceUsers"]}
    assert users["grower-a@example.com"]["slug"] == "greenhouse"
    # Zone A Growers: the gateway by name, and devices tagged zone=A or with a model tag.
    assert users["grower-a@example.com"]["deviceIds"]
