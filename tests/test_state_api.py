"""Device state and connection status over HTTP: device.sendState, device.getState,
device.getCompositeState, devices.getCompositeState, device.setConnectionStatus,
device.getLogEntries - rights, throttling, streams and attribute types."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp, create_app
from tests.conftest import LOGIN, bearer, with_settings

BASE_MS = 1465790400000  # 2016-06-13T04:00:00.000Z
BASE_ISO = "2016-06-13T04:00:00.000Z"
ATTRIBUTES = [
    {"name": "n", "dataType": "number"},
    {"name": "s", "dataType": "string"},
    {"name": "b", "dataType": "boolean"},
    {"name": "g", "dataType": "gps"},
    {"name": "blob", "dataType": "blob"},
]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_device(client, auth, app_id, name="state-device", **fields) -> str:
    body = {"name": name, "attributes": ATTRIBUTES, **fields}
    response = client.post(f"/applications/{app_id}/devices", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(client, auth, app_id, device_id, body):
    return client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                       json=body)


def states(client, auth, app_id, device_id, **params):
    response = client.get(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                          params=params)
    assert response.status_code == 200, response.text
    return response.json()


def composite(client, auth, app_id, device_id, **params):
    response = client.get(f"/applications/{app_id}/devices/{device_id}/compositeState",
                          headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def set_status(client, auth, app_id, device_id, body):
    return client.post(f"/applications/{app_id}/devices/{device_id}/setConnectionStatus",
                       headers=auth, json=body)


def logs(client, auth, app_id, device_id, **params):
    response = client.get(f"/applications/{app_id}/devices/{device_id}/logs", headers=auth,
                          params=params)
    assert response.status_code == 200, response.text
    return response.json()


def device_token(client, auth, app_id, device_id, *, reaches=(), filter_type="whitelist") -> str:
    """A device token whose access key allows ``device_id`` and ``reaches``."""
    body = {"name": "state test key", "filterType": filter_type}
    if filter_type == "whitelist":
        body["deviceIds"] = [device_id, *reaches]
    key = client.post(f"/applications/{app_id}/keys", headers=auth, json=body)
    assert key.status_code == 201, key.text
    login = client.post("/auth/device", json={"deviceId": device_id, "key": key.json()["key"],
                                              "secret": key.json()["secret"]})
    assert login.status_code == 200, login.text
    return login.json()["token"]


def stored_count(mock, device_id) -> int:
    return mock.backend.series.count(device_id)


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    """One mock for the module (a second to build), reset for each test (milliseconds)."""
    return reset_module_mock


@pytest.fixture
def device(client, auth, app_id) -> str:
    return new_device(client, auth, app_id)


# -- sending and reading back -------------------------------------------------------------


def test_single_state_reads_back_with_iso_time(client, auth, app_id, device):
    response = send(client, auth, app_id, device, {"data": {"n": 22.4}, "time": BASE_ISO})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert states(client, auth, app_id, device) == [{"time": BASE_ISO, "data": {"n": 22.4}}]


def test_array_of_states_is_stored_as_separate_reports(client, auth, app_id, device):
    body = [{"data": {"n": i}, "time": BASE_MS + i * 1000} for i in range(3)]
    assert send(client, auth, app_id, device, body).status_code == 200
    assert states(client, auth, app_id, device, limit=10, sortDirection="asc") == [
        {"time": iso(BASE_MS + i * 1000), "data": {"n": i}} for i in range(3)
    ]


@pytest.mark.parametrize("time", [BASE_MS, BASE_ISO, {"$date": BASE_ISO}, "2016-06-13T04:00:00Z",
                                  "2016-06-13T04:00:00", "2016-06-13T06:00:00+02:00"])
def test_every_time_form_reads_back_as_the_same_iso_instant(client, auth, app_id, device, time):
    send(client, auth, app_id, device, {"data": {"n": 1}, "time": time})
    assert states(client, auth, app_id, device)[0]["time"] == BASE_ISO


def test_missing_time_is_the_mock_clock_now(client, auth, app_id, device, mock):
    mock.backend.clock.advance(3 * 24 * 3600)
    before = mock.backend.clock.now_ms()
    send(client, auth, app_id, device, {"data": {"n": 1}})
    after = mock.backend.clock.now_ms()
    (state,) = states(client, auth, app_id, device)
    assert iso(before) <= state["time"] <= iso(after)


@pytest.mark.parametrize("body, field", [
    ({"data": {"n": 1}, "time": "yesterday"}, "body.time"),
    ({"data": {"n": 1}, "time": {"$date": "13/06/2016"}}, "body.time.$date"),
    ([{"data": {"n": 1}}, {"data": {"n": 2}, "time": "soon"}], "body[1].time"),
    ({"data": {"n": 1}, "time": 1e20}, "body.time"),
])
def test_bad_time_is_400_naming_it_and_stores_nothing(client, auth, app_id, device, mock, body,
                                                      field):
    response = send(client, auth, app_id, device, body)
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert stored_count(mock, device) == 0


def test_state_for_unknown_device_is_404(client, auth, app_id):
    response = send(client, auth, app_id, "5" * 24, {"data": {"n": 1}})
    assert response.status_code == 404


def test_deleted_device_cannot_report(client, auth, app_id, device):
    client.delete(f"/applications/{app_id}/devices/{device}", headers=auth)
    assert send(client, auth, app_id, device, {"data": {"n": 1}}).status_code == 404


def test_system_device_cannot_report_state(client, auth, app_id, mock):
    system = new_device(client, auth, app_id, name="site", deviceClass="system")
    response = send(client, auth, app_id, system, {"data": {"n": 1}})
    assert response.status_code == 400
    assert stored_count(mock, system) == 0


# -- attributes and their types ------------------------------------------------------------


def test_attributes_not_defined_on_the_device_are_dropped(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1, "undefined": 2}, "time": BASE_MS})
    assert states(client, auth, app_id, device)[0]["data"] == {"n": 1}


@pytest.mark.parametrize("attribute, sent, stored", [
    ("n", "21.5", 21.5),
    ("n", " 3 ", 3),
    ("n", "1e3", 1000.0),
    ("n", True, 1),
    ("b", 0, False),
    ("b", 2.5, True),
    ("b", "TRUE", True),
    ("b", "0", False),
    ("s", 3, "3"),
    ("s", 2.5, "2.5"),
    ("s", False, "false"),
    ("g", "37.33233141,-122.0312186", "37.33233141,-122.0312186"),
    ("g", "37°19'56.39\"N,122°1'52.38\"W", "37°19'56.39\"N,122°1'52.38\"W"),
    ("g", "$GPGLL,3719.940,N,12201.873,S,225444,A,*1C",
     "$GPGLL,3719.940,N,12201.873,S,225444,A,*1C"),
    ("blob", "aGVsbG8=", "aGVsbG8="),
])
def test_mistyped_values_are_converted_to_the_attribute_type(client, auth, app_id, device,
                                                             attribute, sent, stored):
    send(client, auth, app_id, device, {"data": {attribute: sent}, "time": BASE_MS})
    value = states(client, auth, app_id, device)[0]["data"][attribute]
    assert value == stored and type(value) is type(stored)


@pytest.mark.parametrize("attribute, sent", [
    ("n", "warm"), ("n", "0x10"), ("b", "maybe"), ("g", "somewhere"), ("g", "91.0,10.0"),
    ("g", 37.5), ("blob", "not base64!"), ("blob", 12), ("s", "x" * (64 * 1024 + 1)),
])
def test_unconvertible_values_are_dropped_and_the_rest_kept(client, auth, app_id, device,
                                                            attribute, sent):
    companion, kept = ("s", "kept") if attribute == "n" else ("n", 7)
    response = send(client, auth, app_id, device,
                    {"data": {attribute: sent, companion: kept}, "time": BASE_MS})
    assert response.status_code == 200
    (state,) = states(client, auth, app_id, device)
    assert state["data"] == {companion: kept}


def test_report_with_nothing_defined_is_acknowledged_but_not_stored(client, auth, app_id,
                                                                    device, mock):
    response = send(client, auth, app_id, device, {"data": {"nope": 1}})
    assert response.status_code == 200
    assert stored_count(mock, device) == 0


# -- history ----------------------------------------------------------------------------------


@pytest.fixture
def ten_reports(client, auth, app_id, device) -> str:
    """Reports n=0..9 at BASE_MS + n seconds, sent out of order."""
    body = [{"data": {"n": i}, "time": BASE_MS + i * 1000} for i in (5, 1, 9, 0, 3, 7, 2, 8, 4, 6)]
    assert send(client, auth, app_id, device, body).status_code == 200
    return device


def values(reports) -> list:
    return [r["data"]["n"] for r in reports]


def test_default_history_is_the_newest_report(client, auth, app_id, ten_reports):
    assert values(states(client, auth, app_id, ten_reports)) == [9]


def test_history_is_sorted_by_time_then_limited(client, auth, app_id, ten_reports):
    assert values(states(client, auth, app_id, ten_reports, limit=3)) == [9, 8, 7]
    assert values(states(client, auth, app_id, ten_reports, limit=3, sortDirection="asc")) == [
        0, 1, 2]


def test_history_window_is_inclusive_at_both_ends(client, auth, app_id, ten_reports):
    found = states(client, auth, app_id, ten_reports, start=BASE_MS + 2000, end=BASE_MS + 5000,
                   limit=100, sortDirection="asc")
    assert values(found) == [2, 3, 4, 5]


def test_history_duration_counts_back_from_end(client, auth, app_id, ten_reports):
    found = states(client, auth, app_id, ten_reports, end=BASE_MS + 6000, duration=2000,
                   limit=100)
    assert values(found) == [6, 5, 4]


def test_deprecated_since_is_a_start(client, auth, app_id, ten_reports):
    found = states(client, auth, app_id, ten_reports, since=BASE_MS + 8000, limit=100)
    assert values(found) == [9, 8]


def test_negative_start_is_relative_to_now(client, auth, app_id, device, mock):
    now = mock.backend.clock.now_ms()
    send(client, auth, app_id, device, [{"data": {"n": 1}, "time": now - 7200_000},
                                        {"data": {"n": 2}, "time": now - 60_000}])
    assert values(states(client, auth, app_id, device, start=-3600_000, limit=10)) == [2]


def test_non_numeric_limit_is_400(client, auth, app_id, device):
    response = client.get(f"/applications/{app_id}/devices/{device}/state", headers=auth,
                          params={"limit": "many"})
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


# -- composite state ------------------------------------------------------------------------


def test_composite_state_is_the_last_value_and_time_of_each_attribute(client, auth, app_id,
                                                                      device):
    send(client, auth, app_id, device, [
        {"data": {"n": 1, "s": "a"}, "time": BASE_MS},
        {"data": {"n": 2}, "time": BASE_MS + 1000},
    ])
    assert composite(client, auth, app_id, device) == {
        "n": {"value": 2, "time": iso(BASE_MS + 1000)},
        "s": {"value": "a", "time": BASE_ISO},
    }


def test_composite_state_keeps_only_the_named_attributes(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1, "s": "a", "b": True}, "time": BASE_MS})
    assert set(composite(client, auth, app_id, device, attributes="n,b")) == {"n", "b"}


def test_composite_state_respects_the_window_end(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1}, "time": BASE_MS},
                                        {"data": {"n": 2}, "time": BASE_MS + 1000}])
    assert composite(client, auth, app_id, device, end=BASE_MS)["n"]["value"] == 1


time_forms = st.sampled_from(["ms", "iso", "date"])
reports = st.lists(
    st.tuples(
        st.integers(0, 20),  # seconds after BASE_MS: small, so equal times happen
        time_forms,
        st.fixed_dictionaries({}, optional={
            "n": st.one_of(st.integers(-10**6, 10**6),
                           st.floats(allow_nan=False, allow_infinity=False, width=32)),
            "s": st.text("abcxyz", max_size=5),
            "b": st.booleans(),
        }).filter(bool),
    ),
    min_size=1, max_size=12,
)


def _time(offset: int, form: str):
    ms = BASE_MS + offset * 1000
    return {"ms": ms, "iso": iso(ms), "date": {"$date": iso(ms)}}[form]


@settings(max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=reports)
def test_composite_state_is_last_value_per_attribute_for_any_reports(client, auth, app_id,
                                                                     sequence):
    device = new_device(client, auth, app_id)
    body = [{"data": data, "time": _time(offset, form)} for offset, form, data in sequence]
    assert send(client, auth, app_id, device, body).status_code == 200
    expected = {}
    # Reference: by time, ties in arrival order; the last report carrying a name wins.
    for offset, _form, data in sorted(sequence, key=lambda report: report[0]):
        for name, value in data.items():
            expected[name] = {"value": value, "time": iso(BASE_MS + offset * 1000)}
    assert composite(client, auth, app_id, device) == expected


# -- many devices --------------------------------------------------------------------------


def test_devices_composite_state_pages_the_query_matches(client, auth, app_id):
    ids = [new_device(client, auth, app_id, name=f"fleet {i}",
                      tags=[{"key": "fleet", "value": "x"}]) for i in range(3)]
    for i, device in enumerate(ids):
        send(client, auth, app_id, device, {"data": {"n": i}, "time": BASE_MS})
    response = client.get(f"/applications/{app_id}/devices/compositeState", headers=auth,
                          params={"query": '{"tags": {"fleet": "x"}}', "perPage": 2, "page": 1,
                                  "sortField": "name", "sortDirection": "desc"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalCount"] == 3 and body["count"] == 1
    assert body["items"] == [{"id": ids[0], "name": "fleet 0",
                              "compositeState": {"n": {"value": 0, "time": BASE_ISO}}}]


# -- who may report ------------------------------------------------------------------------


def test_device_token_reports_for_itself(client, auth, app_id, device, mock):
    token = device_token(client, auth, app_id, device)
    assert send(client, bearer(token), app_id, device, {"data": {"n": 1}}).status_code == 200
    assert stored_count(mock, device) == 1


def test_device_token_cannot_report_for_another_device_it_may_read(client, auth, app_id, device,
                                                                   mock):
    other = new_device(client, auth, app_id, name="other")
    token = device_token(client, auth, app_id, device, reaches=[other])
    assert states(client, bearer(token), app_id, other) == []
    assert send(client, bearer(token), app_id, other, {"data": {"n": 1}}).status_code == 403
    assert stored_count(mock, other) == 0


def test_device_token_cannot_read_a_device_outside_its_key(client, auth, app_id, device):
    other = new_device(client, auth, app_id, name="other")
    token = device_token(client, auth, app_id, device)
    response = client.get(f"/applications/{app_id}/devices/{other}/state",
                          headers=bearer(token))
    assert response.status_code == 403


@pytest.fixture
def gateway_and_peripherals(client, auth, app_id) -> tuple[str, str, str]:
    gateway = new_device(client, auth, app_id, name="gw", deviceClass="gateway")
    a = new_device(client, auth, app_id, name="pa", deviceClass="peripheral", gatewayId=gateway)
    b = new_device(client, auth, app_id, name="pb", deviceClass="peripheral", gatewayId=gateway)
    return gateway, a, b


def test_gateway_reports_for_its_peripheral(client, auth, app_id, gateway_and_peripherals, mock):
    gateway, peripheral, _ = gateway_and_peripherals
    token = device_token(client, auth, app_id, gateway, filter_type="all")
    response = send(client, bearer(token), app_id, peripheral, {"data": {"n": 5}, "time": BASE_MS})
    assert response.status_code == 200
    assert states(client, auth, app_id, peripheral) == [{"time": BASE_ISO, "data": {"n": 5}}]
    assert stored_count(mock, gateway) == 0


def test_gateway_cannot_report_for_a_device_that_is_not_its_peripheral(client, auth, app_id,
                                                                       gateway_and_peripherals):
    gateway, _, _ = gateway_and_peripherals
    stranger = new_device(client, auth, app_id, name="stranger")
    token = device_token(client, auth, app_id, gateway, filter_type="all")
    assert send(client, bearer(token), app_id, stranger, {"data": {"n": 1}}).status_code == 403


# -- throttle ------------------------------------------------------------------------------


def test_thirty_states_are_accepted_then_429_then_recovery_after_15_seconds(client, auth,
                                                                            app_id, device,
                                                                            mock):
    codes = [send(client, auth, app_id, device, {"data": {"n": i}}).status_code
             for i in range(31)]
    assert codes == [200] * 30 + [429]
    mock.backend.clock.advance(15)
    assert send(client, auth, app_id, device, {"data": {"n": 99}}).status_code == 200


def test_throttled_response_says_when_to_retry(client, auth, app_id, device):
    for i in range(30):
        send(client, auth, app_id, device, {"data": {"n": i}})
    refused = send(client, auth, app_id, device, {"data": {"n": 30}})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 15


def test_refused_state_is_not_stored_streamed_or_counted(client, auth, app_id, device, mock):
    def send_31() -> list[int]:
        return [send(client, auth, app_id, device, {"data": {"n": i}}).status_code
                for i in range(31)]

    async def listen() -> list[int]:
        async with mock.backend.streams.subscribe(f"state/{device}") as subscription:
            # Deliveries from the request thread are queued on this loop before the
            # thread's result is, so they have all landed once the await returns.
            assert await asyncio.to_thread(send_31) == [200] * 30 + [429]
            streamed = []
            while not subscription.queue.empty():
                streamed.append(subscription.queue.get_nowait()[1]["data"]["n"])
            return streamed

    assert asyncio.run(listen()) == list(range(30))
    assert stored_count(mock, device) == 30
    counts = client.get(f"/applications/{app_id}/devices/{device}/payloadCounts", headers=auth)
    assert counts.json()["deviceState"] == 30


def test_state_and_connection_status_share_one_window(client, auth, app_id, device):
    for i in range(15):
        send(client, auth, app_id, device, {"data": {"n": i}})
        set_status(client, auth, app_id, device, {"status": "connected"})
    assert set_status(client, auth, app_id, device, {"status": "connected"}).status_code == 429
    assert send(client, auth, app_id, device, {"data": {"n": 0}}).status_code == 429


@pytest.fixture(scope="module")
def scaled_app() -> MockApp:
    return create_app(with_settings(throttle_scale=0.1))


def test_gateway_throttle_counts_per_peripheral(scaled_app):
    from starlette.testclient import TestClient

    scaled_app.control.reset()
    with TestClient(scaled_app, raise_server_exceptions=False) as client:
        auth = bearer(client.post("/auth/user", json=LOGIN).json()["token"])
        app_id = scaled_app.world_summary["applications"][0]["id"]
        gateway = new_device(client, auth, app_id, name="gw", deviceClass="gateway")
        a, b = (new_device(client, auth, app_id, name=f"p{i}", deviceClass="peripheral",
                           gatewayId=gateway) for i in range(2))
        token = bearer(device_token(client, auth, app_id, gateway, filter_type="all"))
        limit = 3  # 30 scaled by 0.1
        for_a = [send(client, token, app_id, a, {"data": {"n": i}}).status_code
                 for i in range(limit + 1)]
        assert for_a == [200] * limit + [429]
        for_b = [send(client, token, app_id, b, {"data": {"n": i}}).status_code
                 for i in range(limit)]
        assert for_b == [200] * limit
        # Reports for peripherals do not use up the gateway's own window either.
        assert send(client, token, app_id, gateway, {"data": {"n": 1}}).status_code == 200


# -- streams -------------------------------------------------------------------------------


def test_accepted_state_is_published_on_the_device_state_stream(client, auth, app_id, device,
                                                                 mock):
    async def listen():
        async with mock.backend.streams.subscribe(f"state/{device}") as subscription:
            response = await asyncio.to_thread(
                send, client, auth, app_id, device,
                {"data": {"n": "4.5", "undefined": 1}, "time": BASE_MS})
            assert response.status_code == 200
            return await asyncio.wait_for(subscription.queue.get(), timeout=60)

    assert asyncio.run(listen()) == ("deviceState", {"time": BASE_ISO, "data": {"n": 4.5}})


# -- connection status and logs ----------------------------------------------------------------


def device_record(client, auth, app_id, device_id) -> dict:
    return client.get(f"/applications/{app_id}/devices/{device_id}", headers=auth).json()


def test_connecting_marks_the_device_connected_at_that_time(client, auth, app_id, device):
    response = set_status(client, auth, app_id, device,
                          {"status": "connected", "connectedAt": BASE_MS})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    info = device_record(client, auth, app_id, device)["connectionInfo"]
    assert info == {"connected": 1, "time": BASE_ISO}


def test_disconnecting_marks_the_device_disconnected(client, auth, app_id, device):
    set_status(client, auth, app_id, device, {"status": "connected", "connectedAt": BASE_MS})
    set_status(client, auth, app_id, device,
               {"status": "disconnected", "disconnectedAt": BASE_MS + 5000})
    info = device_record(client, auth, app_id, device)["connectionInfo"]
    assert info == {"connected": 0, "time": iso(BASE_MS + 5000)}


def test_connection_status_is_visible_to_device_queries(client, auth, app_id, device):
    set_status(client, auth, app_id, device, {"status": "connected"})
    response = client.get(f"/applications/{app_id}/devices", headers=auth,
                          params={"query": '{"connectionStatus": "connected"}'})
    assert [d["id"] for d in response.json()["items"]] == [device]


def test_late_status_report_is_logged_but_does_not_undo_a_newer_one(client, auth, app_id,
                                                                    device):
    set_status(client, auth, app_id, device, {"status": "connected", "connectedAt": BASE_MS})
    set_status(client, auth, app_id, device,
               {"status": "disconnected", "disconnectedAt": BASE_MS - 1000})
    assert device_record(client, auth, app_id, device)["connectionInfo"]["connected"] == 1
    assert len(logs(client, auth, app_id, device, limit=10)) == 2


def test_log_entries_are_newest_first_with_what_was_reported(client, auth, app_id, device):
    set_status(client, auth, app_id, device,
               {"status": "connected", "connectedAt": BASE_MS, "ipAddress": "10.0.0.7"})
    set_status(client, auth, app_id, device,
               {"status": "disconnected", "disconnectedAt": BASE_MS + 60_000,
                "disconnectReason": "Connection Lost", "messagesFromClient": 12,
                "messagesToClient": 3})
    assert logs(client, auth, app_id, device, limit=10) == [
        {"connected": 0, "time": iso(BASE_MS + 60_000), "disconnectReason": "Connection Lost",
         "messagesFromClient": 12, "messagesToClient": 3},
        {"connected": 1, "time": BASE_ISO, "ipAddress": "10.0.0.7"},
    ]


def test_log_entries_default_to_the_newest_one(client, auth, app_id, device):
    for offset in (0, 1000, 2000):
        set_status(client, auth, app_id, device,
                   {"status": "connected", "connectedAt": BASE_MS + offset})
    assert logs(client, auth, app_id, device) == [{"connected": 1, "time": iso(BASE_MS + 2000)}]


def test_log_entries_window_and_ascending_order(client, auth, app_id, device):
    for offset in (0, 1000, 2000, 3000):
        set_status(client, auth, app_id, device,
                   {"status": "connected", "connectedAt": BASE_MS + offset})
    found = logs(client, auth, app_id, device, start=BASE_MS + 1000, end=BASE_MS + 2000,
                 limit=10, sortDirection="asc")
    assert [e["time"] for e in found] == [iso(BASE_MS + 1000), iso(BASE_MS + 2000)]


def test_bad_connection_time_is_400_and_changes_nothing(client, auth, app_id, device):
    before = device_record(client, auth, app_id, device)["connectionInfo"]
    response = set_status(client, auth, app_id, device,
                          {"status": "connected", "connectedAt": "noon"})
    assert response.status_code == 400
    assert "body.connectedAt" in response.json()["message"]
    assert device_record(client, auth, app_id, device)["connectionInfo"] == before
    assert logs(client, auth, app_id, device, limit=10) == []


def test_device_token_may_not_set_another_devices_status(client, auth, app_id, device):
    other = new_device(client, auth, app_id, name="other")
    token = device_token(client, auth, app_id, device, reaches=[other])
    assert set_status(client, bearer(token), app_id, other,
                      {"status": "connected"}).status_code == 403


# -- lifecycle and snapshots -------------------------------------------------------------------


def test_deleting_the_application_drops_state_and_logs(client, auth, app_id, device, mock):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    set_status(client, auth, app_id, device, {"status": "connected"})
    assert client.delete(f"/applications/{app_id}", headers=auth).status_code == 200
    assert stored_count(mock, device) == 0
    assert list(mock.backend.store.children("deviceLogs", device)) == []


def test_state_history_survives_a_snapshot_round_trip(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1, "s": "a"}, "time": BASE_MS},
                                        {"data": {"b": True}, "time": BASE_MS + 1}])
    snapshot = client.get("/_mock/snapshot").json()
    client.post(f"/applications/{app_id}/devices/{device}/state", headers=auth,
                json={"data": {"n": 2}, "time": BASE_MS + 2})
    assert client.put("/_mock/snapshot", json=snapshot).status_code == 200
    assert states(client, auth, app_id, device, limit=10) == [
        {"time": iso(BASE_MS + 1), "data": {"b": True}},
        {"time": BASE_ISO, "data": {"n": 1, "s": "a"}},
    ]


def test_reset_forgets_state_history(client, auth, app_id, device, mock):
    send(client, auth, app_id, device, {"data": {"n": 1}})
    client.post("/_mock/reset")
    assert mock.backend.series.series(device) is None


# -- the official client ---------------------------------------------------------------------


@pytest.mark.official_client
def test_official_client_sends_state_and_reads_history_and_composite(live, mock):
    from losant_rest import Client

    application = mock.world_summary["applications"][0]
    client = Client(url=live.url)
    client.auth_token = client.auth.authenticate_user(credentials=LOGIN)["token"]
    device = client.devices.post(applicationId=application["id"],
                                 device={"name": "official", "attributes": ATTRIBUTES})["id"]
    assert client.device.send_state(applicationId=application["id"], deviceId=device,
                                    deviceState={"data": {"n": 1, "s": "a"}, "time": BASE_MS}
                                    ) == {"success": True}
    client.device.send_state(applicationId=application["id"], deviceId=device,
                             deviceState=[{"data": {"n": 2},
                                           "time": {"$date": iso(BASE_MS + 1000)}}])
    history = client.device.get_state(applicationId=application["id"], deviceId=device, limit=5,
                                      start=BASE_MS, end=BASE_MS + 1000)
    assert history == [{"time": iso(BASE_MS + 1000), "data": {"n": 2}},
                       {"time": BASE_ISO, "data": {"n": 1, "s": "a"}}]
    assert client.device.get_composite_state(applicationId=application["id"], deviceId=device,
                                             attributes="n") == {
        "n": {"value": 2, "time": iso(BASE_MS + 1000)}}
