"""The experience runtime: routing, access, tokens, replies and stats, through HTTP."""

from __future__ import annotations

import http.client
from typing import Any

import pytest

from losant_kit.mockserver.app import MockApp
from tests.conftest import bearer


@pytest.fixture(scope="module")
def mock(module_mock: MockApp) -> MockApp:
    return module_mock


class Experience:
    """One application with an experience, and helpers to call it through its slug."""

    def __init__(self, client, auth) -> None:
        self.client, self.auth = client, auth
        self.app = client.post("/applications", headers=auth, json={"name": "Runtime"}).json()["id"]

    def api(self, verb: str, what: str, **body: Any) -> dict[str, Any]:
        url = f"/applications/{self.app}/experience/{what}"
        response = self.client.request(verb, url, headers=self.auth, json=body or None)
        assert response.status_code < 300, response.text
        return response.json()

    def endpoint(self, route: str, method: str = "get", **body: Any) -> dict[str, Any]:
        return self.api("POST", "endpoints", route=route, method=method, **body)

    def device(self, name: str, **tags: str) -> str:
        body = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()],
                "attributes": [{"name": "temperature", "dataType": "number"}]}
        response = self.client.post(f"/applications/{self.app}/devices", headers=self.auth,
                                    json=body)
        return response.json()["id"]

    def user(self, email: str, *groups: str) -> str:
        return self.api("POST", "users", email=email, password="password-1",
                        experienceGroupIds=list(groups))["id"]

    def call(self, method: str, path: str, **kwargs: Any):
        headers = {"Host": f"{self.app}.localhost", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def login(self, email: str) -> str:
        self.endpoint_once("/login", "post", endpointTags={"mockReply": "auth.login"})
        response = self.call("POST", "/login", json={"email": email, "password": "password-1"})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def endpoint_once(self, route: str, method: str, **body: Any) -> None:
        existing = self.api("GET", "endpoints")["items"]
        if not any(e["route"] == route and e["method"] == method for e in existing):
            self.endpoint(route, method, **body)


@pytest.fixture
def exp(client, auth) -> Experience:
    return Experience(client, auth)


def tagged(reply: str, **body: Any) -> dict[str, Any]:
    return {"endpointTags": {"mockReply": reply}, **body}


# ---------------------------------------------------------------- routing


def test_static_reply_is_served_exactly(exp):
    exp.endpoint("/hello", staticReply={"type": "page", "value": "<p>hi</p>", "statusCode": 201})
    response = exp.call("GET", "/hello")
    assert (response.status_code, response.text) == (201, "<p>hi</p>")
    assert response.headers["content-type"].startswith("text/html")


def test_static_redirect_sends_location(exp):
    exp.endpoint("/go", staticReply={"type": "redirect", "value": "https://example.com/"})
    response = exp.call("GET", "/go", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "https://example.com/")


def test_path_prefix_reaches_the_same_experience(exp, client):
    exp.endpoint("/hello", staticReply={"type": "page", "value": "prefixed"})
    response = client.get(f"/_experience/{exp.app}/hello")
    assert response.text == "prefixed"


def test_created_slug_routes(exp):
    exp.api("POST", "slugs", slug=f"s-{exp.app[-8:]}")
    exp.endpoint("/hello", staticReply={"type": "page", "value": "by slug"})
    response = exp.client.get("/hello", headers={"Host": f"s-{exp.app[-8:]}.localhost:8080"})
    assert response.text == "by slug"


def test_created_domain_routes(exp):
    exp.api("POST", "domains", domainName=f"d{exp.app[-8:]}.example.com")
    exp.endpoint("/hello", staticReply={"type": "page", "value": "by domain"})
    response = exp.client.get("/hello", headers={"Host": f"d{exp.app[-8:]}.example.com"})
    assert response.text == "by domain"


def test_unknown_slug_is_404(client):
    response = client.get("/x", headers={"Host": "no-such-slug.localhost"})
    assert response.status_code == 404
    assert response.json()["type"] == "NotFound"


@pytest.mark.parametrize(
    "path,winner",
    [
        ("/a/b", "literal"),
        ("/a/c", "param"),
        ("/a", "optional"),
        ("/a/c/d", "wildcard"),
    ],
)
def test_most_specific_route_wins(exp, path, winner):
    for route, name in (("/a/b", "literal"), ("/a/{id}", "param"),
                        ("/a/{id?}", "optional"), ("/a/{rest*}", "wildcard")):
        exp.endpoint(route, staticReply={"type": "page", "value": name})
    assert exp.call("GET", path).text == winner


def test_disabled_endpoint_does_not_match(exp):
    exp.endpoint("/a/{id}", staticReply={"type": "page", "value": "param"})
    exp.endpoint("/a/b", enabled=False, staticReply={"type": "page", "value": "literal"})
    assert exp.call("GET", "/a/b").text == "param"


def test_no_endpoint_is_404(exp):
    exp.endpoint("/a", method="post", staticReply={"type": "page", "value": "x"})
    assert exp.call("GET", "/a").status_code == 404


def test_unbound_endpoint_answers_504_saying_how_to_bind(exp):
    exp.endpoint("/todo")
    response = exp.call("GET", "/todo")
    assert response.status_code == 504
    assert "mockReply" in response.json()["message"]


# ---------------------------------------------------------------- tokens and access


def test_login_issues_a_token_and_wrong_password_is_401(exp):
    exp.user("u@x.com")
    exp.endpoint("/auth", "post", **tagged("auth.login"))
    good = exp.call("POST", "/auth", json={"email": "U@x.com", "password": "password-1"})
    bad = exp.call("POST", "/auth", json={"email": "u@x.com", "password": "nope"})
    assert good.status_code == 200 and good.json()["user"]["email"] == "u@x.com"
    assert (bad.status_code, bad.json()) == (401, {"error": "Unauthorized"})


@pytest.mark.parametrize("way", ["header", "cookie", "query"])
def test_token_is_accepted_three_ways(exp, way):
    exp.user("u@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    token = exp.login("u@x.com")
    sent = {
        "header": {"headers": bearer(token)},
        "cookie": {"headers": {"Cookie": f"authorization={token}"}},
        "query": {"params": {"authorization": token}},
    }[way]
    response = exp.call("GET", "/me", **sent)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "u@x.com"


def test_authenticated_endpoint_without_token_is_401(exp):
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    assert exp.call("GET", "/me").status_code == 401


def test_unauthorized_reply_replaces_the_401(exp):
    exp.endpoint("/me", access="authenticated",
                 unauthorizedReply={"type": "redirect", "value": "/login"}, **tagged("user.me"))
    response = exp.call("GET", "/me", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "/login")


def test_platform_token_is_not_an_experience_user(exp):
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    assert exp.call("GET", "/me", headers=exp.auth).status_code == 401


def test_experience_token_is_refused_by_the_platform_api(exp, client):
    exp.user("u@x.com")
    token = exp.login("u@x.com")
    response = client.get("/applications", headers=bearer(token))
    assert response.status_code == 401


def test_token_expires_after_its_lifetime(exp, mock):
    exp.user("u@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    token = exp.login("u@x.com")
    mock.backend.clock.advance(24 * 3600 + 1)
    assert exp.call("GET", "/me", headers=bearer(token)).status_code == 401


def test_token_cutoff_invalidates_earlier_tokens(exp, mock):
    user = exp.user("u@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    old = exp.login("u@x.com")
    mock.backend.clock.advance(1)
    from losant_kit.mockserver.clock import iso

    exp.api("PATCH", f"users/{user}", tokenCutoff=iso(mock.backend.clock.now()))
    mock.backend.clock.advance(1)
    new = exp.login("u@x.com")
    assert exp.call("GET", "/me", headers=bearer(old)).status_code == 401
    assert exp.call("GET", "/me", headers=bearer(new)).status_code == 200


def test_deleting_the_user_invalidates_its_tokens(exp):
    user = exp.user("u@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    token = exp.login("u@x.com")
    exp.api("DELETE", f"users/{user}")
    assert exp.call("GET", "/me", headers=bearer(token)).status_code == 401


def test_token_of_another_applications_experience_is_refused(exp, client, auth):
    other = Experience(client, auth)
    other.user("u@x.com")
    token = other.login("u@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    assert exp.call("GET", "/me", headers=bearer(token)).status_code == 401


def test_group_access_admits_members_of_the_group_and_its_ancestors(exp):
    root = exp.api("POST", "groups", name="Root")["id"]
    child = exp.api("POST", "groups", name="Child", parentId=root)["id"]
    sibling = exp.api("POST", "groups", name="Sibling")["id"]
    exp.endpoint("/g", access="group", experienceGroupIds=[child], **tagged("user.me"))
    exp.user("root@x.com", root)
    exp.user("child@x.com", child)
    exp.user("sibling@x.com", sibling)
    statuses = {
        who: exp.call("GET", "/g", headers=bearer(exp.login(f"{who}@x.com"))).status_code
        for who in ("root", "child", "sibling")
    }
    assert statuses == {"root": 200, "child": 200, "sibling": 403}


def test_device_access_takes_a_device_token_of_the_application(exp, client):
    device = exp.device("d")
    key = client.post(f"/applications/{exp.app}/keys", headers=exp.auth, json={}).json()
    device_token = client.post(
        "/auth/device",
        json={"deviceId": device, "key": key["key"], "secret": key["secret"]},
    ).json()["token"]
    exp.endpoint("/dev", access="device", staticReply={"type": "page", "value": "device ok"})
    assert exp.call("GET", "/dev", headers=bearer(device_token)).text == "device ok"
    assert exp.call("GET", "/dev", headers=exp.auth).status_code == 401


# ---------------------------------------------------------------- device replies


def test_device_get_only_for_a_reached_device(exp):
    mine = exp.device("mine", tenant="a")
    theirs = exp.device("theirs", tenant="b")
    group = exp.api("POST", "groups", name="A", deviceTags=[{"key": "tenant", "value": "a"}])
    exp.user("a@x.com", group["id"])
    exp.endpoint("/api/devices/{deviceId}", access="authenticated", **tagged("device.get"))
    token = exp.login("a@x.com")
    ok = exp.call("GET", f"/api/devices/{mine}", headers=bearer(token))
    refused = exp.call("GET", f"/api/devices/{theirs}", headers=bearer(token))
    missing = exp.call("GET", f"/api/devices/{'0' * 24}", headers=bearer(token))
    assert ok.status_code == 200 and ok.json()["id"] == mine
    assert refused.status_code == 403
    assert missing.status_code == 404


def test_devices_list_is_the_users_devices(exp):
    mine = exp.device("mine", tenant="a")
    exp.device("theirs", tenant="b")
    group = exp.api("POST", "groups", name="A", deviceIds=[mine])
    exp.user("a@x.com", group["id"])
    exp.endpoint("/api/devices", access="authenticated", **tagged("devices.list"))
    listed = exp.call("GET", "/api/devices", headers=bearer(exp.login("a@x.com"))).json()
    assert [d["id"] for d in listed["items"]] == [mine]


def test_device_data_is_a_time_series_of_the_device(exp, client, mock):
    mine = exp.device("mine")
    group = exp.api("POST", "groups", name="A", deviceIds=[mine])
    exp.user("a@x.com", group["id"])
    exp.endpoint("/api/devices/{deviceId}/data", access="authenticated", **tagged("device.data"))
    now_ms = mock.backend.clock.now_ms()
    for offset, value in ((-7200_000, 10), (-3600_000, 20), (-1800_000, 40)):
        response = client.post(
            f"/applications/{exp.app}/devices/{mine}/state", headers=exp.auth,
            json={"time": now_ms + offset, "data": {"temperature": value}},
        )
        assert response.status_code == 200, response.text
    response = exp.call(
        "GET", f"/api/devices/{mine}/data",
        headers=bearer(exp.login("a@x.com")),
        params={"attribute": "temperature", "time_range": "45m",
                "aggregation": "max"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deviceId"] == mine
    # Only the report of 30 minutes ago falls in the last 45 minutes.
    assert [p["data"]["temperature"] for p in body["points"]] == [40]


def test_device_data_with_a_bad_duration_is_400(exp):
    mine = exp.device("mine")
    group = exp.api("POST", "groups", name="A", deviceIds=[mine])
    exp.user("a@x.com", group["id"])
    exp.endpoint("/data/{deviceId}", access="authenticated", **tagged("device.data"))
    response = exp.call("GET", f"/data/{mine}", headers=bearer(exp.login("a@x.com")),
                        params={"duration": "soon"})
    assert response.status_code == 400
    assert response.json()["type"] == "Validation"


# ---------------------------------------------------------------- stats and CORS


def test_every_reply_is_counted_in_stats(exp):
    endpoint = exp.endpoint("/hello", staticReply={"type": "page", "value": "x"})
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    exp.call("GET", "/hello")
    exp.call("GET", "/hello")
    exp.call("GET", "/me")
    exp.call("GET", "/nowhere")
    by_status = exp.api("GET", "endpoints/stats")
    counts = {code: sum(b["count"] for b in buckets) for code, buckets in by_status.items()}
    assert counts == {"200": 2, "401": 1, "404": 1}
    listed = exp.client.get(f"/applications/{exp.app}/experience/endpoints", headers=exp.auth,
                            params={"requestCountDuration": "60000"}).json()
    by_route = {e["route"]: e["requestCount"] for e in listed["items"]}
    assert by_route == {"/hello": 2, "/me": 1}
    assert listed["notFoundRequestCount"] == 1
    by_endpoint = exp.api("GET", f"endpoints/stats?statGrouping=endpointId"
                                 f"&endpointIdFilter={endpoint['id']}")
    assert list(by_endpoint) == [endpoint["id"]]


def test_replies_carry_cors_headers_and_preflight_is_answered(exp):
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    origin = {"Origin": "http://front.example"}
    preflight = exp.call("OPTIONS", "/me", headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })
    reply = exp.call("GET", "/me", headers=origin)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-headers"] == "authorization"
    assert reply.headers["access-control-allow-origin"] == "http://front.example"


def test_cors_off_when_the_application_says_so(exp):
    exp.client.patch(f"/applications/{exp.app}", headers=exp.auth,
                     json={"endpointDefaultCors": False})
    exp.endpoint("/hello", staticReply={"type": "page", "value": "x"})
    reply = exp.call("GET", "/hello", headers={"Origin": "http://front.example"})
    assert "access-control-allow-origin" not in reply.headers


# ---------------------------------------------------------------- over a real socket


def test_host_header_routing_over_a_real_socket(exp, module_server):
    exp.endpoint("/hello", staticReply={"type": "page", "value": "over tcp"})
    connection = http.client.HTTPConnection("127.0.0.1", module_server.port, timeout=30)
    try:
        connection.request("GET", "/hello",
                           headers={"Host": f"{exp.app}.localhost:{module_server.port}"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"over tcp")
    finally:
        connection.close()


def test_journal_records_experience_requests_with_the_user(exp, client):
    user = exp.user("journal@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    token = exp.login("journal@x.com")
    exp.call("GET", "/me", headers=bearer(token))
    entries = client.get("/_mock/requests", params={"path": "/me"}).json()["items"]
    assert entries[-1]["subject"] == f"experienceUser:{user}"
    assert entries[-1]["status"] == 200


def test_snapshot_round_trip_keeps_the_experience(exp, client, mock):
    exp.user("snap@x.com")
    exp.endpoint("/me", access="authenticated", **tagged("user.me"))
    snapshot = client.get("/_mock/snapshot").json()
    client.post("/_mock/reset")
    assert exp.call("GET", "/me").status_code == 404
    assert client.put("/_mock/snapshot", json=snapshot).status_code == 200
    token = exp.login("snap@x.com")
    assert exp.call("GET", "/me", headers=bearer(token)).json()["email"] == "snap@x.com"
