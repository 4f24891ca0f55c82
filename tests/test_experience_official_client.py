"""The 29 experience actions through the platform's official Python client, over real HTTP."""

from __future__ import annotations

import pytest
from losant_rest import Client, LosantError

from losant_kit.mockserver.app import MockApp
from tests.conftest import LiveServer, official_client

pytestmark = pytest.mark.official_client


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    return module_mock


@pytest.fixture(scope="module")
def server(module_server: LiveServer) -> LiveServer:
    return module_server


@pytest.fixture
def api(server: LiveServer) -> Client:
    return official_client(server.url)


@pytest.fixture
def app_id(api) -> str:
    return api.applications.post(application={"name": "Official experience"})["id"]


def refused(call) -> LosantError:
    with pytest.raises(LosantError) as caught:
        call()
    return caught.value


def test_users_crud(api, app_id):
    user = api.experience_users.post(
        applicationId=app_id,
        experienceUser={"email": "u@example.com", "password": "12345678", "firstName": "U"},
    )
    one = {"applicationId": app_id, "experienceUserId": user["id"]}
    assert api.experience_user.get(**one)["firstName"] == "U"
    assert api.experience_user.patch(**one, experienceUser={"lastName": "L"})["lastName"] == "L"
    listed = api.experience_users.get(applicationId=app_id, filterField="email", filter="u@*")
    assert [u["id"] for u in listed["items"]] == [user["id"]]
    assert api.experience_user.delete(**one) == {"success": True}
    assert refused(lambda: api.experience_user.get(**one)).status == 404


def test_groups_crud_with_tree_and_counts(api, app_id):
    device = api.devices.post(applicationId=app_id, device={"name": "d1"})["id"]
    root = api.experience_groups.post(
        applicationId=app_id, experienceGroup={"name": "Root", "deviceIds": [device]}
    )
    child = api.experience_groups.post(
        applicationId=app_id, experienceGroup={"name": "Child", "parentId": root["id"]}
    )
    one = {"applicationId": app_id, "experienceGroupId": root["id"]}
    read = api.experience_group.get(**one, includeDirectDeviceCount=True)
    assert read["directDeviceCount"] == 1
    assert child["ancestorIds"] == [root["id"]]
    renamed = api.experience_group.patch(**one, experienceGroup={"name": "Top"})
    assert renamed["name"] == "Top"
    listed = api.experience_groups.get(applicationId=app_id, sortField="name")
    assert [g["name"] for g in listed["items"]] == ["Child", "Top"]
    assert api.experience_group.delete(**one) == {"success": True}
    assert api.experience_groups.get(applicationId=app_id)["totalCount"] == 1


def test_endpoints_crud_stats_and_linked_resources(api, app_id):
    endpoint = api.experience_endpoints.post(
        applicationId=app_id,
        experienceEndpoint={"route": "/api/things/{id}", "method": "get", "access": "public"},
    )
    one = {"applicationId": app_id, "experienceEndpointId": endpoint["id"]}
    assert api.experience_endpoint.get(**one)["route"] == "/api/things/{id}"
    patched = api.experience_endpoint.patch(**one, experienceEndpoint={"description": "things"})
    assert patched["description"] == "things"
    listed = api.experience_endpoints.get(applicationId=app_id, requestCountDuration=60000)
    assert listed["items"][0]["requestCount"] == 0
    assert api.experience_endpoints.stats(applicationId=app_id) == {}
    linked = api.experience_endpoint.linked_resources(**one)
    assert linked["flows"]["totalCount"] == 0
    assert api.experience_endpoint.delete(**one) == {"success": True}
    assert api.experience_endpoints.get(applicationId=app_id)["totalCount"] == 0


def test_slugs_crud(api, app_id):
    slug = api.experience_slugs.post(applicationId=app_id, experienceSlug={"slug": "oc-slug"})
    one = {"applicationId": app_id, "experienceSlugId": slug["id"]}
    assert api.experience_slug.get(**one)["slug"] == "oc-slug"
    assert api.experience_slug.patch(**one, experienceSlug={"version": "v1"})["version"] == "v1"
    assert [s["id"] for s in api.experience_slugs.get(applicationId=app_id)["items"]] == [
        slug["id"]
    ]
    assert api.experience_slug.delete(**one) == {"success": True}
    assert api.experience_slugs.get(applicationId=app_id)["count"] == 0


def test_domains_crud(api, app_id):
    domain = api.experience_domains.post(
        applicationId=app_id, experienceDomain={"domainName": "oc.example.com"}
    )
    one = {"applicationId": app_id, "experienceDomainId": domain["id"]}
    assert api.experience_domain.get(**one)["domainName"] == "oc.example.com"
    patched = api.experience_domain.patch(**one, experienceDomain={"domainName": "oc2.example.com"})
    assert patched["domainName"] == "oc2.example.com"
    assert api.experience_domains.get(applicationId=app_id)["count"] == 1
    assert api.experience_domain.delete(**one) == {"success": True}
    assert refused(lambda: api.experience_domain.get(**one)).status == 404


def test_bootstrap_then_delete(api, app_id):
    result = api.experience.bootstrap(applicationId=app_id, options={"createGroups": False})
    users = api.experience_users.get(applicationId=app_id)
    assert [u["email"] for u in users["items"]] == [result["email"]]
    assert api.experience_groups.get(applicationId=app_id)["totalCount"] == 0
    assert api.experience.delete(applicationId=app_id) == {"success": True}
    assert api.experience_users.get(applicationId=app_id)["totalCount"] == 0
    assert api.experience_endpoints.get(applicationId=app_id)["totalCount"] == 0


def test_bad_body_is_a_400_for_the_client(api, app_id):
    error = refused(
        lambda: api.experience_groups.post(applicationId=app_id, experienceGroup={"name": ""})
    )
    assert error.status == 400
