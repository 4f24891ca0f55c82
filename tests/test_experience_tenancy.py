"""Experience tenancy: the group tree, memberships and the devices a user reaches."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.models.backend import Backend


@pytest.fixture
def world():
    backend = Backend(seed=3)
    owner = backend.users.create(email="o@example.com", password="pw-123456")
    who = Principal("user", owner["id"], frozenset(["all.User"]), user_id=owner["id"])
    app = backend.applications.create(who, {"name": "Tenancy"})
    return backend, who, app["id"]


def group(world, name, **body):
    backend, who, app = world
    return backend.experience_groups.create(who, app, {"name": name, **body})["id"]


def device(world, name, **tags):
    backend, who, app = world
    body = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    return backend.devices.create(who, app, body)["id"]


def user(world, email, *group_ids):
    backend, who, app = world
    body = {"email": email, "password": "12345678", "experienceGroupIds": list(group_ids)}
    return backend.experience_users.create(who, app, body)["id"]


def reached(world, user_id):
    backend, _, app = world
    return {d["id"] for d in backend.experience_groups.user_devices(app, user_id)}


def test_member_of_a_parent_reaches_the_childrens_devices(world):
    d = device(world, "child-device")
    root = group(world, "Root")
    group(world, "Child", parentId=root, deviceIds=[d])
    assert reached(world, user(world, "u@x.com", root)) == {d}


def test_member_of_a_child_does_not_reach_the_parents_devices(world):
    d = device(world, "root-device")
    root = group(world, "Root", deviceIds=[d])
    child = group(world, "Child", parentId=root)
    assert reached(world, user(world, "u@x.com", child)) == set()


def test_devices_by_tag_id_and_query_are_united(world):
    by_id = device(world, "a")
    by_tag = device(world, "b", site="west")
    by_query = device(world, "pump-c")
    device(world, "other")
    g = group(
        world, "G", deviceIds=[by_id], deviceTags=[{"key": "site", "value": "west"}],
        deviceQueryJson=json.dumps({"name": {"$startsWith": "pump"}}),
    )
    assert reached(world, user(world, "u@x.com", g)) == {by_id, by_tag, by_query}


def test_tag_key_alone_matches_any_value(world):
    one = device(world, "a", site="west")
    two = device(world, "b", site="east")
    g = group(world, "G", deviceTags=[{"key": "site"}])
    assert reached(world, user(world, "u@x.com", g)) == {one, two}


def test_deleted_devices_are_not_reached(world):
    backend, who, app = world
    d = device(world, "gone")
    g = group(world, "G", deviceIds=[d])
    u = user(world, "u@x.com", g)
    backend.devices.delete(who, app, d)
    assert reached(world, u) == set()


def test_user_in_no_group_reaches_nothing(world):
    device(world, "a")
    group(world, "G", deviceQueryJson="{}")
    assert reached(world, user(world, "u@x.com")) == set()


def test_groups_of_another_application_are_refused(world):
    backend, who, _ = world
    other_app = backend.applications.create(who, {"name": "Other"})["id"]
    foreign = backend.experience_groups.create(who, other_app, {"name": "Foreign"})["id"]
    with pytest.raises(Exception) as caught:
        user(world, "u@x.com", foreign)
    assert getattr(caught.value, "status", None) == 400


@given(
    parents=st.lists(st.integers(min_value=-1, max_value=10), min_size=1, max_size=10),
    member_of=st.sets(st.integers(min_value=0, max_value=9)),
)
def test_access_groups_are_the_direct_groups_and_everything_below(parents, member_of):
    """For any tree: a group is an access group iff it or an ancestor lists the user."""
    backend = Backend(seed=1)
    owner = backend.users.create(email="o@example.com", password="pw-123456")
    who = Principal("user", owner["id"], frozenset(["all.User"]), user_id=owner["id"])
    app = backend.applications.create(who, {"name": "Tree"})["id"]
    groups = backend.experience_groups
    ids: list[str] = []
    for index, parent in enumerate(parents):
        # Only earlier groups can be parents, so every input is a forest.
        parent_id = ids[parent] if 0 <= parent < index else None
        ids.append(groups.create(who, app, {"name": f"g{index}", "parentId": parent_id})["id"])
    direct = [ids[i] for i in member_of if i < len(ids)]
    u = backend.experience_users.create(
        who, app, {"email": "u@x.com", "password": "12345678", "experienceGroupIds": direct}
    )["id"]
    expected = {
        g
        for g in ids
        if g in direct
        or set(groups.ancestor_ids(backend.store.get("experienceGroups", g))) & set(direct)
    }
    assert groups.access_group_ids(app, u) == expected


@given(
    tags=st.lists(st.sampled_from(["red", "blue", "green"]), min_size=1, max_size=6),
    wanted=st.sets(st.sampled_from(["red", "blue", "green"])),
    by_query=st.booleans(),
)
def test_reaching_one_device_agrees_with_the_users_device_list(tags, wanted, by_query):
    backend = Backend(seed=2)
    owner = backend.users.create(email="o@example.com", password="pw-123456")
    who = Principal("user", owner["id"], frozenset(["all.User"]), user_id=owner["id"])
    app = backend.applications.create(who, {"name": "Reach"})["id"]
    devices = [
        backend.devices.create(who, app, {"name": f"d{i}-{t}",
                                           "tags": [{"key": "c", "value": t}]})
        for i, t in enumerate(tags)
    ]
    body = {"name": "G", "deviceTags": [{"key": "c", "value": t} for t in sorted(wanted)]}
    if by_query:
        body["deviceQueryJson"] = json.dumps({"name": {"$endsWith": "-red"}})
    group = backend.experience_groups.create(who, app, body)["id"]
    user = backend.experience_users.create(
        who, app, {"email": "u@x.com", "password": "12345678", "experienceGroupIds": [group]}
    )["id"]
    listed = {d["id"] for d in backend.experience_groups.user_devices(app, user)}
    for device in devices:
        record = backend.store.get("devices", device["id"])
        assert backend.experience_groups.user_reaches(app, user, record) == (
            device["id"] in listed
        )
