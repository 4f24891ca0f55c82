"""Live streams over real sockets: device state, device commands and application MQTT.

Every stream here is read by a real HTTP client (httpx) from a uvicorn server on
loopback, in a thread, exactly as a dashboard would read it. The refusals
(4xx before any stream starts) are plain JSON and use the in-process client.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp
from losant_kit.mockserver.models.commands import check_topic_filter, topic_matches
from tests.conftest import LOGIN, bearer

WAIT_S = 30.0  # a bound on a wait for a condition, never a pause
FAST_KEEP_ALIVE = "0.05"


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    """One mock for the module (a second to build), reset for each test (milliseconds)."""
    return reset_module_mock


@pytest.fixture
def application(mock) -> dict[str, Any]:
    return mock.world_summary["applications"][0]


@pytest.fixture
def device_id(application) -> str:
    return application["sampleDeviceId"]


@pytest.fixture
def http(live) -> httpx.Client:
    with httpx.Client(base_url=live.url, timeout=WAIT_S) as client:
        yield client


@pytest.fixture
def user_token(http) -> str:
    return http.post("/auth/user", json=LOGIN).json()["token"]


class StreamReader(threading.Thread):
    """Reads one SSE stream in a thread; events and keep-alives land in queues.

    The thread owns the connection from open to close (closing a socket that
    another thread is blocked on does not reliably end the read). It checks
    for ``stop`` on every line, so streams opened here use a short keep-alive.
    """

    def __init__(self, url: str, token: str, **params: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.params = {"keepAliveInterval": FAST_KEEP_ALIVE, **params}
        self.events: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        self.comments: queue.Queue[str] = queue.Queue()
        self.opened, self.stopping = threading.Event(), threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=WAIT_S) as client, client.stream(
                "GET", self.url, headers=bearer(self.token), params=self.params
            ) as response:
                self.status = response.status_code
                self.opened.set()
                self._read(response)
        except BaseException as exc:  # reported to the test by __enter__/next_event
            self.error = exc
        finally:
            self.opened.set()

    def _read(self, response: httpx.Response) -> None:
        name = data = None
        for line in response.iter_lines():
            arrived = time.perf_counter()
            if self.stopping.is_set():
                return
            if line.startswith(":"):
                self.comments.put(line)
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and name is not None:
                self.events.put((name, json.loads(data), arrived))
                name = data = None

    def __enter__(self) -> StreamReader:
        self.start()
        assert self.opened.wait(WAIT_S), "the stream did not open"
        assert self.error is None, self.error
        assert self.status == 200
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join(WAIT_S)
        assert not self.is_alive(), "the reader did not stop"

    def next_event(self) -> tuple[str, Any, float]:
        try:
            return self.events.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no event within {WAIT_S} s (error: {self.error})") from None


def stream_path(application: dict, device_id: str, kind: str) -> str:
    return f"/applications/{application['id']}/devices/{device_id}/{kind}"


def report_latency(what: str, started: float, arrived: float) -> None:
    # Printed, not asserted: run with -s to see the figures.
    print(f"\n{what}: delivered in {(arrived - started) * 1000:.2f} ms")


def wait_until(condition, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# -- device.commandStream ---------------------------------------------------------------


def test_sent_command_reaches_the_open_command_stream(live, http, user_token, application,
                                                      device_id, mock):
    url = live.url + stream_path(application, device_id, "commandStream")
    with StreamReader(url, user_token) as reader:
        started = time.perf_counter()
        sent = http.post(stream_path(application, device_id, "command"), headers=bearer(user_token),
                         json={"name": "reboot", "payload": {"delay": 5},
                               "time": "2016-06-13T04:00:00.000Z"})
        assert sent.status_code == 200
        name, data, arrived = reader.next_event()
    report_latency("command via POST .../command", started, arrived)
    assert name == "deviceCommand"
    assert data == {"name": "reboot", "payload": {"delay": 5}, "time": "2016-06-13T04:00:00.000Z"}
    assert not list(mock.spec.validator("deviceCommand").iter_errors(data))


def test_command_stream_carries_only_its_own_device(live, http, user_token, application, mock):
    here, elsewhere = (d["id"] for d in http.get(
        f"/applications/{application['id']}/devices", headers=bearer(user_token),
        params={"perPage": 2}).json()["items"])
    with StreamReader(live.url + stream_path(application, here, "commandStream"),
                      user_token) as reader:
        for target, name in [(elsewhere, "not for you"), (here, "for you")]:
            http.post(stream_path(application, target, "command"), headers=bearer(user_token),
                      json={"name": name})
        assert reader.next_event()[1]["name"] == "for you"


def test_multi_device_command_reaches_every_selected_stream(live, http, user_token, application):
    ids = [d["id"] for d in http.get(f"/applications/{application['id']}/devices",
                                     headers=bearer(user_token), params={"perPage": 2}
                                     ).json()["items"]]
    readers = [StreamReader(live.url + stream_path(application, d, "commandStream"), user_token)
               for d in ids]
    with readers[0] as first, readers[1] as second:
        http.post(f"/applications/{application['id']}/devices/command",
                  headers=bearer(user_token), json={"name": "all hands", "deviceIds": ids})
        assert first.next_event()[1]["name"] == "all hands"
        assert second.next_event()[1]["name"] == "all hands"


def test_device_token_streams_its_own_commands(live, http, user_token, application, device_id):
    key = application["keys"][0]  # filterType "all"
    login = http.post("/auth/device", json={"deviceId": device_id, "key": key["key"],
                                            "secret": key["secret"]})
    device_token = login.json()["token"]
    with StreamReader(live.url + stream_path(application, device_id, "commandStream"),
                      device_token) as reader:
        http.post(stream_path(application, device_id, "command"), headers=bearer(user_token),
                  json={"name": "from the cloud"})
        assert reader.next_event()[1]["name"] == "from the cloud"


# -- device.stateStream -------------------------------------------------------------------


def test_published_state_reaches_the_open_state_stream(live, user_token, application, device_id,
                                                      mock):
    state = {"time": "2016-06-13T04:00:00.000Z", "data": {"temperature": 21.5, "door": "open"}}
    with StreamReader(live.url + stream_path(application, device_id, "stateStream"),
                      user_token) as reader:
        started = time.perf_counter()
        # Exactly what the sendState side does, from another thread than the server's.
        delivered = mock.backend.streams.publish(f"state/{device_id}", "deviceState", state)
        name, data, arrived = reader.next_event()
    report_latency("state via backend.streams.publish", started, arrived)
    assert delivered == 1
    assert (name, data) == ("deviceState", state)
    assert not list(mock.spec.validator("deviceState").iter_errors(data))


def test_state_sent_over_http_reaches_the_open_state_stream(live, http, user_token, application):
    device_id = http.post(f"/applications/{application['id']}/devices", headers=bearer(user_token),
                          json={"name": "sprinkler", "attributes": [
                              {"name": "sprinkler", "dataType": "boolean"}]}).json()["id"]
    with StreamReader(live.url + stream_path(application, device_id, "stateStream"),
                      user_token) as reader:
        started = time.perf_counter()
        sent = http.post(stream_path(application, device_id, "state"), headers=bearer(user_token),
                         json={"time": 1465790400000, "data": {"sprinkler": True}})
        assert sent.status_code == 200, sent.text
        name, data, arrived = reader.next_event()
    report_latency("state via POST .../state", started, arrived)
    assert name == "deviceState"
    assert data["time"] == "2016-06-13T04:00:00.000Z"
    assert data["data"]["sprinkler"] is True


def test_states_arrive_in_the_order_published(live, user_token, application, device_id, mock):
    with StreamReader(live.url + stream_path(application, device_id, "stateStream"),
                      user_token) as reader:
        for n in range(20):
            mock.backend.streams.publish(f"state/{device_id}", "deviceState", {"data": {"n": n}})
        assert [reader.next_event()[1]["data"]["n"] for _ in range(20)] == list(range(20))


# -- keep-alive and disconnect --------------------------------------------------------------


def test_idle_stream_sends_keep_alive_comments(live, user_token, application, device_id):
    with StreamReader(live.url + stream_path(application, device_id, "stateStream"),
                      user_token) as reader:
        assert reader.comments.get(timeout=WAIT_S) == ": keep-alive"
        assert reader.comments.get(timeout=WAIT_S) == ": keep-alive"
        assert reader.events.empty()


def test_stream_is_text_event_stream_and_uncached(live, http, user_token, application, device_id):
    with http.stream("GET", stream_path(application, device_id, "stateStream"),
                     headers=bearer(user_token)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]


def test_disconnect_releases_the_subscription_without_waiting_for_a_write(
        live, http, user_token, application, device_id, mock):
    topic = f"state/{device_id}"
    # A keep-alive of a minute: only watching for the disconnect can notice it in time.
    with http.stream("GET", stream_path(application, device_id, "stateStream"),
                     headers=bearer(user_token), params={"keepAliveInterval": "60"}) as response:
        assert response.status_code == 200
        assert mock.backend.streams.subscriber_count(topic) == 1
    assert wait_until(lambda: mock.backend.streams.subscriber_count(topic) == 0)
    assert mock.backend.streams.topics() == []


def test_subscription_exists_as_soon_as_the_headers_arrive(live, http, user_token, application,
                                                           device_id, mock):
    with http.stream("GET", stream_path(application, device_id, "commandStream"),
                     headers=bearer(user_token)) as response:
        assert mock.backend.streams.publish(f"command/{device_id}", "deviceCommand",
                                            {"name": "early"}) == 1
        lines = response.iter_lines()
        assert next(lines) == "event: deviceCommand"
        assert next(lines) == 'data: {"name":"early"}'


# -- MQTT ---------------------------------------------------------------------------------


def mqtt_stream(live, application, token: str, topic: str) -> StreamReader:
    return StreamReader(f"{live.url}/applications/{application['id']}/mqttSubscriptionStream",
                        token, topic=topic)


def publish(http, application, token: str, topic: str, message: str) -> httpx.Response:
    return http.post(f"/applications/{application['id']}/mqttPublishMessage",
                     headers=bearer(token), json={"topic": topic, "message": message})


def test_published_mqtt_message_reaches_a_subscriber_of_its_topic(live, http, user_token,
                                                                  application, mock):
    with mqtt_stream(live, application, user_token, "plant/line1") as reader:
        started = time.perf_counter()
        response = publish(http, application, user_token, "plant/line1", "hello")
        name, data, arrived = reader.next_event()
    report_latency("mqtt via POST .../mqttPublishMessage", started, arrived)
    assert response.json() == {"success": True}
    assert (name, data) == ("mqttMessage", {"topic": "plant/line1", "message": "hello"})
    assert not list(mock.spec.validator("mqttPublishBody").iter_errors(data))


@pytest.mark.parametrize(("subscribed", "miss", "hit"), [
    ("plant/+/temp", "plant/line1/humidity", "plant/line1/temp"),
    ("plant/+", "plant/line1/temp", "plant/line1"),
    ("plant/#", "plants/line1", "plant/line1/temp/raw"),
    ("plant/#", "other", "plant"),
    ("#", "$SYS/uptime", "anything/at/all"),
    ("+/status", "$SYS/status", "pump/status"),
])
def test_wildcard_subscription_receives_matching_topics_only(live, http, user_token, application,
                                                             subscribed, miss, hit):
    with mqtt_stream(live, application, user_token, subscribed) as reader:
        publish(http, application, user_token, miss, "miss")
        publish(http, application, user_token, hit, "hit")
        assert reader.next_event()[1] == {"topic": hit, "message": "hit"}


def test_overlapping_filters_each_get_one_copy(live, http, user_token, application):
    with mqtt_stream(live, application, user_token, "a/#") as wide, \
            mqtt_stream(live, application, user_token, "a/b") as narrow:
        publish(http, application, user_token, "a/b", "one")
        publish(http, application, user_token, "a/c", "two")
        assert [wide.next_event()[1]["message"] for _ in range(2)] == ["one", "two"]
        assert narrow.next_event()[1]["message"] == "one"
        assert narrow.events.empty()


def test_mqtt_messages_stay_in_their_application(live, http, user_token, mock):
    first, second = mock.world_summary["applications"][:2]
    with mqtt_stream(live, first, user_token, "#") as reader:
        publish(http, second, user_token, "shared/topic", "other tenant")
        publish(http, first, user_token, "shared/topic", "mine")
        assert reader.next_event()[1]["message"] == "mine"


def test_publish_without_subscribers_succeeds(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/mqttPublishMessage", headers=auth,
                           json={"topic": "nobody/listens", "message": "hello?"})
    assert response.status_code == 200
    assert response.json() == {"success": True}


# -- refusals come back as JSON before any stream starts ------------------------------------


@pytest.mark.parametrize("kind", ["stateStream", "commandStream"])
def test_stream_of_unknown_device_is_404_json(client, auth, app_id, mock, kind):
    response = client.get(f"/applications/{app_id}/devices/{'5' * 24}/{kind}", headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert mock.backend.streams.topics() == []


def test_device_token_cannot_stream_a_device_out_of_reach(client, auth, app_id, mock):
    made = [client.post(f"/applications/{app_id}/devices", headers=auth,
                        json={"name": name}).json()["id"] for name in ("me", "other")]
    key = client.post(f"/applications/{app_id}/keys", headers=auth,
                      json={"name": "only me", "filterType": "whitelist", "deviceIds": [made[0]]})
    token = client.post("/auth/device", json={"deviceId": made[0], **{
        k: key.json()[k] for k in ("key", "secret")}}).json()["token"]
    response = client.get(f"/applications/{app_id}/devices/{made[1]}/stateStream",
                          headers=bearer(token))
    assert response.status_code == 403
    assert set(response.json()) == {"type", "message"}


def test_token_without_stream_scope_is_403(client, app_id, mock):
    application = mock.world_summary["applications"][0]
    read_only = application["tokens"][0]["token"]  # device.getState, not device.stateStream
    response = client.get(
        f"/applications/{app_id}/devices/{application['sampleDeviceId']}/stateStream",
        headers=bearer(read_only))
    assert response.status_code == 403


@pytest.mark.parametrize("interval", ["0", "-1", "soon", "nan", "100000"])
def test_bad_keep_alive_interval_is_400_naming_it(client, auth, mock, interval):
    application = mock.world_summary["applications"][0]
    response = client.get(
        f"/applications/{application['id']}/devices/{application['sampleDeviceId']}/stateStream",
        headers=auth, params={"keepAliveInterval": interval})
    assert response.status_code == 400
    assert "keepAliveInterval" in response.json()["message"]


@pytest.mark.parametrize("topic", ["", "a/#/b", "a#", "a/b+", "x" * 231, "a\x00b"])
def test_bad_subscription_filter_is_400_naming_topic(client, auth, app_id, mock, topic):
    response = client.get(f"/applications/{app_id}/mqttSubscriptionStream", headers=auth,
                          params={"topic": topic})
    assert response.status_code == 400
    assert "topic" in response.json()["message"]
    assert mock.backend.streams.topics() == []


def test_subscription_without_topic_is_400(client, auth, app_id):
    response = client.get(f"/applications/{app_id}/mqttSubscriptionStream", headers=auth)
    assert response.status_code == 400
    assert "topic" in response.json()["message"]


@pytest.mark.parametrize("topic", ["a/+", "a/#", "+", "a\x00b"])
def test_publishing_to_a_wildcard_or_nul_topic_is_400(client, auth, app_id, topic):
    response = client.post(f"/applications/{app_id}/mqttPublishMessage", headers=auth,
                           json={"topic": topic, "message": "x"})
    assert response.status_code == 400
    assert "topic" in response.json()["message"]


def test_mqtt_stream_of_unknown_application_is_404(client, auth):
    response = client.get(f"/applications/{'5' * 24}/mqttSubscriptionStream", headers=auth,
                          params={"topic": "a"})
    assert response.status_code == 404


# -- MQTT topic matching, for all topics ------------------------------------------------------

level = st.text(st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)),
                max_size=4)
topics = st.lists(level, min_size=1, max_size=5).map("/".join).filter(bool)


@given(topics)
def test_a_topic_matches_itself(topic):
    assert topic_matches(check_topic_filter(topic, "t"), topic)


@given(topics)
def test_hash_matches_every_topic_not_starting_with_dollar(topic):
    assert topic_matches("#", topic) == (not topic.startswith("$"))


@given(topics, st.data())
def test_plus_in_place_of_a_level_still_matches(topic, data):
    levels = topic.split("/")
    index = data.draw(st.integers(0, len(levels) - 1))
    pattern = "/".join(["+" if i == index else lv for i, lv in enumerate(levels)])
    assert topic_matches(pattern, topic) == (not (index == 0 and topic.startswith("$")))


@given(topics, st.data())
def test_hash_in_place_of_a_suffix_matches_and_a_longer_filter_does_not(topic, data):
    levels = topic.split("/")
    keep = data.draw(st.integers(1, len(levels)))
    assert topic_matches("/".join([*levels[:keep], "#"]), topic)
    assert not topic_matches(f"{topic}/+", topic)


@given(topics, topics)
def test_filters_without_wildcards_match_only_equal_topics(first, second):
    assert topic_matches(first, second) == (first == second)
