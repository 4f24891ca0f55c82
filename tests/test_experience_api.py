"""experience*.*: users, groups, endpoints, slugs, domains, bootstrap and delete over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from losant_kit.mockserver.app import MockApp


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    """One mock for the module: every test works in an application it creates."""
    return module_mock


@pytest.fixture
def app(client, auth) -> str:
    response = client.post("/applications", headers=auth, json={"name": "Experience"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def post(client, auth, app: str, what: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/applications/{app}/experience/{what}", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def device(client, auth, app: str, name: str, **tags: str) -> str:
    body = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    response = client.post(f"/applications/{app}/devices", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


# ---------------------------------------------------------------- users


def test_created_user_reads_back_without_its_password(client, auth, app):
    user = post(client, auth, app, "users", email="Ann@Example.com", password="secret-pw")
    read = client.get(f"/applications/{app}/experience/users/{user['id']}", headers=auth).json()
    assert read == user
    assert read["email"] == "ann@example.com"
    assert "secret-pw" not in json.dumps(read) and "password" not in read


def test_user_email_is_unique_per_application(client, auth, app):
    post(client, auth, app, "users", email="a@example.com", password="12345678")
    again = client.post(
        f"/applications/{app}/experience/users",
        headers=auth,
        json={"email": "A@example.com", "password": "12345678"},
    )
    assert again.status_code == 400
    assert again.json()["type"] == "Validation"
    listed = client.get(f"/applications/{app}/experience/users", headers=auth).json()
    assert listed["totalCount"] == 1


def test_user_short_password_is_refused(client, auth, app):
    response = client.post(
        f"/applications/{app}/experience/users",
        headers=auth,
        json={"email": "a@example.com", "password": "short"},
    )
    assert response.status_code == 400


def test_user_patch_changes_groups_and_profile(client, auth, app):
    group = post(client, auth, app, "groups", name="G")
    user = post(client, auth, app, "users", email="u@example.com", password="12345678")
    patched = client.patch(
        f"/applications/{app}/experience/users/{user['id']}",
        headers=auth,
        json={"firstName": "Una", "experienceGroupIds": [group["id"]]},
    ).json()
    assert patched["firstName"] == "Una"
    assert [g["id"] for g in patched["experienceGroups"]] == [group["id"]]
    read = client.get(f"/applications/{app}/experience/groups/{group['id']}", headers=auth)
    assert read.json()["experienceUserIds"] == [user["id"]]


def test_user_patch_with_unknown_group_changes_nothing(client, auth, app):
    user = post(client, auth, app, "users", email="u@example.com", password="12345678")
    response = client.patch(
        f"/applications/{app}/experience/users/{user['id']}",
        headers=auth,
        json={"firstName": "X", "experienceGroupIds": ["0" * 24]},
    )
    assert response.status_code == 400
    read = client.get(f"/applications/{app}/experience/users/{user['id']}", headers=auth)
    assert read.json()["firstName"] == ""


def test_deleted_user_is_gone_and_leaves_its_groups(client, auth, app):
    user = post(client, auth, app, "users", email="u@example.com", password="12345678")
    group = post(client, auth, app, "groups", name="G", experienceUserIds=[user["id"]])
    url = f"/applications/{app}/experience/users/{user['id']}"
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404
    read = client.get(f"/applications/{app}/experience/groups/{group['id']}", headers=auth)
    assert read.json()["experienceUserIds"] == []


def test_users_filter_by_email_glob_and_sort(client, auth, app):
    for email in ("b@x.com", "a@x.com", "c@y.com"):
        post(client, auth, app, "users", email=email, password="12345678")
    listed = client.get(
        f"/applications/{app}/experience/users",
        headers=auth,
        params={"filterField": "email", "filter": "*@x.com", "sortDirection": "desc"},
    ).json()
    assert [u["email"] for u in listed["items"]] == ["b@x.com", "a@x.com"]


def test_users_advanced_query_by_group(client, auth, app):
    group = post(client, auth, app, "groups", name="G")
    inside = post(
        client, auth, app, "users", email="in@x.com", password="12345678",
        experienceGroupIds=[group["id"]],
    )
    post(client, auth, app, "users", email="out@x.com", password="12345678")
    listed = client.get(
        f"/applications/{app}/experience/users",
        headers=auth,
        params={"query": json.dumps({"experienceGroupId": group["id"]})},
    ).json()
    assert [u["id"] for u in listed["items"]] == [inside["id"]]


# ---------------------------------------------------------------- groups


def test_group_tree_derives_ancestor_ids_root_first(client, auth, app):
    root = post(client, auth, app, "groups", name="Root")
    mid = post(client, auth, app, "groups", name="Mid", parentId=root["id"])
    leaf = post(client, auth, app, "groups", name="Leaf", parentId=mid["id"])
    assert root["ancestorIds"] == []
    assert leaf["ancestorIds"] == [root["id"], mid["id"]]


def test_group_cannot_become_its_own_descendant(client, auth, app):
    root = post(client, auth, app, "groups", name="Root")
    child = post(client, auth, app, "groups", name="Child", parentId=root["id"])
    response = client.patch(
        f"/applications/{app}/experience/groups/{root['id']}",
        headers=auth,
        json={"parentId": child["id"]},
    )
    assert response.status_code == 400
    read = client.get(f"/applications/{app}/experience/groups/{root['id']}", headers=auth)
    assert read.json()["parentId"] is None


def test_group_device_counts_on_request(client, auth, app):
    device(client, auth, app, "north-1", zone="north")
    device(client, auth, app, "north-2", zone="north")
    direct = device(client, auth, app, "south-1", zone="south")
    root = post(client, auth, app, "groups", name="Root", deviceIds=[direct])
    post(
        client, auth, app, "groups", name="North", parentId=root["id"],
        deviceTags=[{"key": "zone", "value": "north"}],
    )
    url = f"/applications/{app}/experience/groups/{root['id']}"
    plain = client.get(url, headers=auth).json()
    counted = client.get(
        url,
        headers=auth,
        params={"includeDirectDeviceCount": "true", "includeTotalDeviceCount": "true"},
    ).json()
    assert "directDeviceCount" not in plain
    assert (counted["directDeviceCount"], counted["totalDeviceCount"]) == (1, 3)


def test_group_devices_by_query_json(client, auth, app):
    device(client, auth, app, "pump-1")
    device(client, auth, app, "valve-1")
    group = post(
        client, auth, app, "groups", name="Pumps",
        deviceQueryJson=json.dumps({"name": {"$startsWith": "pump"}}),
    )
    read = client.get(
        f"/applications/{app}/experience/groups/{group['id']}",
        headers=auth,
        params={"includeDirectDeviceCount": "true"},
    ).json()
    assert read["directDeviceCount"] == 1


def test_group_with_malformed_device_query_is_refused(client, auth, app):
    response = client.post(
        f"/applications/{app}/experience/groups",
        headers=auth,
        json={"name": "Bad", "deviceQueryJson": "{not json"},
    )
    assert response.status_code == 400
    listed = client.get(f"/applications/{app}/experience/groups", headers=auth).json()
    assert listed["totalCount"] == 0


def test_deleting_a_group_moves_its_children_up(client, auth, app):
    root = post(client, auth, app, "groups", name="Root")
    mid = post(client, auth, app, "groups", name="Mid", parentId=root["id"])
    leaf = post(client, auth, app, "groups", name="Leaf", parentId=mid["id"])
    client.delete(f"/applications/{app}/experience/groups/{mid['id']}", headers=auth)
    read = client.get(f"/applications/{app}/experience/groups/{leaf['id']}", headers=auth).json()
    assert (read["parentId"], read["ancestorIds"]) == (root["id"], [root["id"]])


def test_groups_advanced_query_by_ancestor(client, auth, app):
    root = post(client, auth, app, "groups", name="Root")
    child = post(client, auth, app, "groups", name="Child", parentId=root["id"])
    post(client, auth, app, "groups", name="Other")
    listed = client.get(
        f"/applications/{app}/experience/groups",
        headers=auth,
        params={"query": json.dumps({"ancestorId": root["id"]})},
    ).json()
    assert [g["id"] for g in listed["items"]] == [child["id"]]


def test_users_of_a_group_with_its_ancestors(client, auth, app):
    root = post(client, auth, app, "groups", name="Root")
    child = post(client, auth, app, "groups", name="Child", parentId=root["id"])
    top = post(client, auth, app, "users", email="top@x.com", password="12345678",
               experienceGroupIds=[root["id"]])
    low = post(client, auth, app, "users", email="low@x.com", password="12345678",
               experienceGroupIds=[child["id"]])
    url = f"/applications/{app}/experience/users"
    direct = client.get(url, headers=auth, params={"experienceGroupId": child["id"]}).json()
    wide = client.get(
        url, headers=auth,
        params={"experienceGroupId": child["id"], "includeAncestorGroups": "true"},
    ).json()
    assert [u["id"] for u in direct["items"]] == [low["id"]]
    assert sorted(u["id"] for u in wide["items"]) == sorted([top["id"], low["id"]])


# ---------------------------------------------------------------- endpoints


def test_endpoint_defaults_and_group_links(client, auth, app):
    group = post(client, auth, app, "groups", name="G")
    endpoint = post(
        client, auth, app, "endpoints", route="/a/{id}", method="get",
        access="group", experienceGroupIds=[group["id"]],
    )
    assert endpoint["enabled"] is True
    assert endpoint["experienceGroups"] == [{"id": group["id"], "name": "G"}]
    read = client.get(f"/applications/{app}/experience/groups/{group['id']}", headers=auth)
    assert read.json()["experienceEndpointIds"] == [endpoint["id"]]


def test_one_endpoint_per_method_and_route(client, auth, app):
    post(client, auth, app, "endpoints", route="/a/{id}", method="get")
    same = client.post(
        f"/applications/{app}/experience/endpoints",
        headers=auth,
        json={"route": "/a/{other}", "method": "get"},
    )
    other_method = client.post(
        f"/applications/{app}/experience/endpoints",
        headers=auth,
        json={"route": "/a/{other}", "method": "post"},
    )
    assert same.status_code == 400
    assert other_method.status_code == 201


@pytest.mark.parametrize("route", ["no-slash", "/a/{rest*}/b", "/a/x{id}", "/{a}/{a}"])
def test_malformed_route_is_refused(client, auth, app, route):
    response = client.post(
        f"/applications/{app}/experience/endpoints",
        headers=auth,
        json={"route": route, "method": "get"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "Validation"


def test_endpoints_list_in_route_order_most_specific_first(client, auth, app):
    for route in ("/{all*}", "/a/{id}", "/a/b", "/a/{id?}"):
        post(client, auth, app, "endpoints", route=route, method="get")
    listed = client.get(f"/applications/{app}/experience/endpoints", headers=auth).json()
    assert [e["route"] for e in listed["items"]] == ["/a/b", "/a/{id}", "/a/{id?}", "/{all*}"]


def test_endpoint_patch_records_who_and_null_clears_static_reply(client, auth, app):
    endpoint = post(
        client, auth, app, "endpoints", route="/p", method="get",
        staticReply={"type": "page", "value": "hi"},
    )
    url = f"/applications/{app}/experience/endpoints/{endpoint['id']}"
    patched = client.patch(url, headers=auth, json={"staticReply": None, "enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["staticReply"] is None
    assert patched.json()["enabled"] is False


def test_deleted_endpoint_is_gone(client, auth, app):
    endpoint = post(client, auth, app, "endpoints", route="/p", method="get")
    url = f"/applications/{app}/experience/endpoints/{endpoint['id']}"
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404


def test_linked_resources_name_no_workflows_or_views(client, auth, app):
    endpoint = post(client, auth, app, "endpoints", route="/p", method="get")
    linked = client.get(
        f"/applications/{app}/experience/endpoints/{endpoint['id']}/linkedResources",
        headers=auth,
    ).json()
    assert linked["flows"]["items"] == [] and linked["experienceViews"]["items"] == []
    assert [e["id"] for e in linked["experienceEndpoints"]["items"]] == [endpoint["id"]]


def test_stats_are_empty_before_any_request(client, auth, app):
    stats = client.get(f"/applications/{app}/experience/endpoints/stats", headers=auth)
    assert stats.status_code == 200 and stats.json() == {}


def test_stats_refuse_an_unknown_grouping(client, auth, app):
    stats = client.get(
        f"/applications/{app}/experience/endpoints/stats",
        headers=auth,
        params={"statGrouping": "colour"},
    )
    assert stats.status_code == 400


# ---------------------------------------------------------------- slugs and domains


def test_slug_is_unique_across_applications(client, auth, app):
    other = client.post("/applications", headers=auth, json={"name": "Other"}).json()["id"]
    post(client, auth, app, "slugs", slug="shared-name")
    taken = client.post(
        f"/applications/{other}/experience/slugs", headers=auth, json={"slug": "shared-name"}
    )
    assert taken.status_code == 400


def test_slug_cannot_take_another_applications_id(client, auth, app):
    other = client.post("/applications", headers=auth, json={"name": "Other"}).json()["id"]
    taken = client.post(f"/applications/{app}/experience/slugs", headers=auth, json={"slug": other})
    assert taken.status_code == 400


def test_slug_crud_with_default_version(client, auth, app):
    slug = post(client, auth, app, "slugs", slug="my-app")
    assert slug["version"] == "develop"
    url = f"/applications/{app}/experience/slugs/{slug['id']}"
    patched = client.patch(url, headers=auth, json={"slug": "my-app-2"}).json()
    assert patched["slug"] == "my-app-2"
    listed = client.get(f"/applications/{app}/experience/slugs", headers=auth).json()
    assert [s["slug"] for s in listed["items"]] == ["my-app-2"]
    assert client.delete(url, headers=auth).json() == {"success": True}
    assert client.get(url, headers=auth).status_code == 404


def test_domain_never_shows_its_private_key(client, auth, app):
    domain = post(
        client, auth, app, "domains", domainName="key.example.com",
        sslKey="K" * 60, sslCert="C" * 60,
    )
    read = client.get(f"/applications/{app}/experience/domains/{domain['id']}", headers=auth)
    assert "sslKey" not in domain and "sslKey" not in read.json()
    assert read.json()["sslCert"] == "C" * 60


def test_domain_name_is_unique(client, auth, app):
    post(client, auth, app, "domains", domainName="api.example.com")
    again = client.post(
        f"/applications/{app}/experience/domains", headers=auth,
        json={"domainName": "API.example.com"},
    )
    assert again.status_code == 400


def test_domain_patch_and_delete(client, auth, app):
    domain = post(client, auth, app, "domains", domainName="a.example.com")
    url = f"/applications/{app}/experience/domains/{domain['id']}"
    assert client.patch(url, headers=auth, json={"version": "v2"}).json()["version"] == "v2"
    assert client.delete(url, headers=auth).json() == {"success": True}
    listed = client.get(f"/applications/{app}/experience/domains", headers=auth).json()
    assert listed["items"] == []


# ---------------------------------------------------------------- bootstrap and delete


def test_bootstrap_creates_user_group_and_endpoints(client, auth, app):
    result = client.patch(
        f"/applications/{app}/experience/bootstrap", headers=auth, json={"slug": "boot-app"}
    ).json()
    users = client.get(f"/applications/{app}/experience/users", headers=auth).json()
    endpoints = client.get(f"/applications/{app}/experience/endpoints", headers=auth).json()
    slugs = client.get(f"/applications/{app}/experience/slugs", headers=auth).json()
    assert [u["email"] for u in users["items"]] == [result["email"]]
    assert len(result["password"]) >= 8
    assert ("post", "/api/auth") in {(e["method"], e["route"]) for e in endpoints["items"]}
    assert [s["slug"] for s in slugs["items"]] == ["boot-app"]


def test_bootstrap_twice_needs_replace_existing(client, auth, app):
    url = f"/applications/{app}/experience/bootstrap"
    client.patch(url, headers=auth, json={"createUsers": False})
    again = client.patch(url, headers=auth, json={"createUsers": False})
    replaced = client.patch(url, headers=auth, json={"createUsers": False, "replaceExisting": True})
    assert again.status_code == 400
    assert replaced.status_code == 200
    assert set(replaced.json()) == {"resourceSuffix"}


def test_experience_delete_keeps_what_is_asked(client, auth, app):
    client.patch(f"/applications/{app}/experience/bootstrap", headers=auth, json={})
    response = client.delete(
        f"/applications/{app}/experience", headers=auth, params={"keepUsers": "true"}
    )
    assert response.json() == {"success": True}
    users = client.get(f"/applications/{app}/experience/users", headers=auth).json()
    groups = client.get(f"/applications/{app}/experience/groups", headers=auth).json()
    endpoints = client.get(f"/applications/{app}/experience/endpoints", headers=auth).json()
    assert users["totalCount"] == 1
    assert groups["totalCount"] == 0 and endpoints["totalCount"] == 0


def test_deleting_the_application_removes_its_experience(client, auth, app):
    post(client, auth, app, "slugs", slug="gone-with-app")
    client.delete(f"/applications/{app}", headers=auth)
    other = client.post("/applications", headers=auth, json={"name": "Next"}).json()["id"]
    reuse = client.post(
        f"/applications/{other}/experience/slugs", headers=auth, json={"slug": "gone-with-app"}
    )
    assert reuse.status_code == 201


# ---------------------------------------------------------------- tenants and scopes


def test_another_users_application_experience_is_not_found(client, app):
    other = client.post("/auth/user", json={"email": "ops@example.com",
                                            "password": "losant-mock-ops"}).json()["token"]
    response = client.get(
        f"/applications/{app}/experience/users", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 404


def test_read_only_token_cannot_create_users(client, auth, app):
    token = client.post(
        f"/applications/{app}/tokens", headers=auth,
        json={"name": "ro", "scope": ["all.Application.read"]},
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/applications/{app}/experience/users", headers=headers).status_code == 200
    created = client.post(
        f"/applications/{app}/experience/users", headers=headers,
        json={"email": "x@x.com", "password": "12345678"},
    )
    assert created.status_code == 403


def test_domain_patch_with_nulls_removes_the_certificate_and_resets_the_version(client, auth, app):
    domain = post(client, auth, app, "domains", domainName="nulls.example.com",
                  sslCert="C" * 60, version="v3")
    url = f"/applications/{app}/experience/domains/{domain['id']}"
    patched = client.patch(url, headers=auth, json={"sslCert": None, "version": None}).json()
    assert "sslCert" not in patched and patched["version"] == "develop"
