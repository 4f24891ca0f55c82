"""Behaviour suite, experience part: the tenancy model's rules, as properties over HTTP.

Imported into ``behaviour.py``. The expected answers are computed here from
the documented semantics: ``ancestorIds`` is the chain of parents (root
first, the kit's reading where the documentation is silent), a group's
``totalDeviceCount`` covers its devices and its descendants' (by id and by
tag), ``experienceUsers.get?experienceGroupId=G`` lists G's direct members and
with ``includeAncestorGroups`` also its ancestors' members, and an experience
user reads back equal and patches exactly the patched fields.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from losant_kit.contracts.plugin import examples
from losant_kit.contracts.suites._support import create_device, defect, expect_status, unique

# A forest of up to six groups: each entry is the index of an earlier group (or -1: a root).
forests = st.lists(st.integers(min_value=-1, max_value=5), min_size=1, max_size=6)


def _settings(config: Any, default: int = 5) -> settings:
    return settings(max_examples=examples(config, default), deadline=None, database=None,
                    derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def _forest(api: Any, app: str, parents: list[int], device_for: dict[int, str]) -> list[dict]:
    groups: list[dict] = []
    for index, parent in enumerate(parents):
        body: dict[str, Any] = {"name": unique(f"g{index}")}
        if 0 <= parent < index:
            body["parentId"] = groups[parent]["id"]
        if index in device_for:
            body["deviceIds"] = [device_for[index]]
        groups.append(expect_status(api.post(f"{app}/experience/groups", body), 201,
                                    "creating an experience group"))
    return groups


def _chain(groups: list[dict], parents: list[int], index: int) -> list[int]:
    chain = []
    while 0 <= parents[index] < index:
        index = parents[index]
        chain.append(index)
    return list(reversed(chain))


def test_group_tree_ancestors_and_total_device_counts(losant_target: Any,
                                                      request: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()

    @_settings(request.config)
    @given(parents=forests, with_device=st.sets(st.integers(min_value=0, max_value=5)))
    def check(parents: list[int], with_device: set[int]) -> None:
        devices = {i: create_device(api, app)["id"] for i in with_device if i < len(parents)}
        groups = _forest(api, app, parents, devices)
        try:
            for index, group in enumerate(groups):
                expected = [groups[i]["id"] for i in _chain(groups, parents, index)]
                read = expect_status(
                    api.get(f"{app}/experience/groups/{group['id']}",
                            params={"includeTotalDeviceCount": "true"}),
                    200, "reading an experience group")
                if read.get("ancestorIds") != expected:
                    defect(f"group {index} of forest {parents}: ancestorIds "
                           f"{read.get('ancestorIds')} != {expected} (the chain of parents)")
                below = {i for i in range(len(groups))
                         if i == index or index in _chain(groups, parents, i)}
                want = len({devices[i] for i in below if i in devices})
                if read.get("totalDeviceCount") != want:
                    defect(f"group {index} of forest {parents}: totalDeviceCount "
                           f"{read.get('totalDeviceCount')} != {want} (its and its "
                           f"descendants' devices)")
        finally:
            for group in reversed(groups):
                api.delete(f"{app}/experience/groups/{group['id']}")
            for device_id in devices.values():
                api.delete(f"{app}/devices/{device_id}")

    check()


def test_group_members_listing_with_and_without_ancestors(losant_target: Any,
                                                          request: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()

    @_settings(request.config)
    @given(parents=forests, members=st.lists(st.integers(min_value=0, max_value=5), max_size=4))
    def check(parents: list[int], members: list[int]) -> None:
        groups = _forest(api, app, parents, {})
        users = []
        try:
            for where in members:
                if where >= len(groups):
                    continue
                body = {"email": f"{unique('m')}@example.com", "password": "contract-pw",
                        "experienceGroupIds": [groups[where]["id"]]}
                created = expect_status(api.post(f"{app}/experience/users", body), 201,
                                        "creating an experience user")
                users.append((created["id"], where))
            for index, group in enumerate(groups):
                direct = {u for u, where in users if where == index}
                chain = set(_chain(groups, parents, index))
                wide = direct | {u for u, where in users if where in chain}
                for flag, want in (("false", direct), ("true", wide)):
                    listed = expect_status(
                        api.get(f"{app}/experience/users",
                                params={"experienceGroupId": group["id"],
                                        "includeAncestorGroups": flag, "perPage": 1000}),
                        200, "listing a group's experience users")
                    got = {u["id"] for u in listed["items"]}
                    if got != want:
                        defect(f"users of group {index} of forest {parents} "
                               f"(includeAncestorGroups={flag}): {sorted(got)} != "
                               f"{sorted(want)}")
        finally:
            for user_id, _ in users:
                api.delete(f"{app}/experience/users/{user_id}")
            for group in reversed(groups):
                api.delete(f"{app}/experience/groups/{group['id']}")

    check()


def test_experience_user_patch_changes_exactly_the_patched_fields(losant_target: Any,
                                                                  request: Any) -> None:
    api, app = losant_target.api, losant_target.app_path()
    profile = st.fixed_dictionaries({}, optional={
        "firstName": st.sampled_from(("Ann", "Bo", "Cy")),
        "lastName": st.sampled_from(("Ames", "Berg")),
        "userTags": st.dictionaries(st.sampled_from(("tier", "site")),
                                    st.sampled_from(("gold", "north")), max_size=2),
    })

    @_settings(request.config)
    @given(changes=profile)
    def check(changes: dict[str, Any]) -> None:
        body = {"email": f"{unique('p')}@example.com", "password": "contract-pw"}
        created = expect_status(api.post(f"{app}/experience/users", body), 201,
                                "creating an experience user")
        url = f"{app}/experience/users/{created['id']}"
        try:
            read = expect_status(api.get(url), 200, "reading an experience user")
            if read != created:
                defect("an experience user reads back different from its creation answer")
            patched = expect_status(api.patch(url, changes), 200, "patching an experience user")
            changed = {k for k in set(read) | set(patched) if read.get(k) != patched.get(k)}
            allowed = {k for k, v in changes.items() if read.get(k) != v} | {"lastUpdated"}
            if not changed <= allowed or any(patched.get(k) != v for k, v in changes.items()):
                defect(f"patching {sorted(changes)} changed {sorted(changed)}")
        finally:
            api.delete(url)

    check()


# Resources with unique names, left out of the stateful machine: each kind's
# create -> read -> list -> delete chain, with names unique per run.
KINDS = {
    "users": lambda: {"email": f"{unique('u')}@example.com", "password": "contract-pw"},
    "endpoints": lambda: {"route": f"/{unique('r')}/{{id}}", "method": "get"},
    "slugs": lambda: {"slug": unique("s")},
    "domains": lambda: {"domainName": f"{unique('d')}.example.com"},
}


@pytest.mark.parametrize("kind", [
    # A domain name on a real account may need DNS the run cannot set up.
    pytest.param(k, marks=pytest.mark.losant_not_live_safe) if k == "domains" else k
    for k in sorted(KINDS)
])
def test_experience_resource_reads_back_and_deletes(losant_target: Any, kind: str) -> None:
    api, app = losant_target.api, losant_target.app_path()
    base = f"{app}/experience/{kind}"
    created = expect_status(api.post(base, KINDS[kind]()), 201, f"creating experience {kind}")
    url = f"{base}/{created['id']}"
    read = expect_status(api.get(url), 200, f"reading experience {kind}")
    if read != created:
        defect(f"an experience {kind[:-1]} reads back different from its creation answer",
               api.history[-1])
    listed = expect_status(api.get(base, params={"perPage": 1000}), 200, f"listing {kind}")
    if created["id"] not in {item["id"] for item in listed["items"]}:
        defect(f"a created experience {kind[:-1]} is missing from its collection",
               api.history[-1])
    expect_status(api.delete(url), 200, f"deleting experience {kind}")
    gone = api.get(url)
    if gone.status_code != 404:
        defect(f"a deleted experience {kind[:-1]} answered {gone.status_code} (404 expected)",
               gone)
    listed = expect_status(api.get(base, params={"perPage": 1000}), 200, f"listing {kind}")
    if created["id"] in {item["id"] for item in listed["items"]}:
        defect(f"a deleted experience {kind[:-1]} is still in its collection", api.history[-1])
