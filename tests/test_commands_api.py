"""Device commands over HTTP: device.sendCommand, devices.sendCommand, device.getCommand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp
from tests.conftest import LOGIN, bearer

BASE_MS = 1465790400000  # 2016-06-13T04:00:00.000Z
BASE_ISO = "2016-06-13T04:00:00.000Z"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=UTC).timestamp() * 1000)


def new_device(client, auth, app_id, name="cmd-device", tags=()) -> str:
    response = client.post(f"/applications/{app_id}/devices", headers=auth,
                           json={"name": name, "tags": list(tags)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(client, auth, app_id, device_id, **body):
    return client.post(f"/applications/{app_id}/devices/{device_id}/command", headers=auth,
                       json=body)


def history(client, auth, app_id, device_id, **params):
    response = client.get(f"/applications/{app_id}/devices/{device_id}/command", headers=auth,
                          params=params)
    assert response.status_code == 200, response.text
    return response.json()


def stored(mock) -> list[dict]:
    return list(mock.backend.store.all("commands"))


def commanded(mock, name: str) -> set[str]:
    """Ids of the devices that received a command with this name."""
    return {c["deviceId"] for c in stored(mock) if c["name"] == name}


def device_token(client, auth, app_id, device_id, *, reaches=()) -> str:
    """A device token whose access key allows ``device_id`` and ``reaches`` only."""
    key = client.post(f"/applications/{app_id}/keys", headers=auth,
                      json={"name": "cmd test key", "filterType": "whitelist",
                            "deviceIds": [device_id, *reaches]})
    assert key.status_code == 201, key.text
    login = client.post("/auth/device", json={"deviceId": device_id, "key": key.json()["key"],
                                              "secret": key.json()["secret"]})
    assert login.status_code == 200, login.text
    return login.json()["token"]


@pytest.fixture
def device(client, auth, app_id) -> str:
    return new_device(client, auth, app_id)


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    """One mock for the module (a second to build), reset for each test (milliseconds)."""
    return reset_module_mock


# -- device.sendCommand and reading back ----------------------------------------------


def test_sent_command_reads_back_with_name_payload_and_time(client, auth, app_id, device):
    sent = send(client, auth, app_id, device, name="reboot", payload={"delay": 5}, time=BASE_ISO)
    assert sent.status_code == 200
    assert sent.json() == {"success": True}
    assert history(client, auth, app_id, device) == [
        {"name": "reboot", "payload": {"delay": 5}, "time": BASE_ISO}
    ]


def test_command_without_payload_reads_back_without_payload(client, auth, app_id, device):
    send(client, auth, app_id, device, name="ping", time=BASE_ISO)
    assert history(client, auth, app_id, device) == [{"name": "ping", "time": BASE_ISO}]


def test_null_payload_is_kept(client, auth, app_id, device):
    send(client, auth, app_id, device, name="ping", payload=None, time=BASE_ISO)
    assert history(client, auth, app_id, device)[0]["payload"] is None


def test_command_time_defaults_to_the_mock_clock(client, auth, app_id, device, mock):
    mock.backend.clock.advance(10 * 24 * 3600)
    before = mock.backend.clock.now_ms()
    send(client, auth, app_id, device, name="now")
    after = mock.backend.clock.now_ms()
    (command,) = history(client, auth, app_id, device)
    assert before <= ms(command["time"]) <= after


@pytest.mark.parametrize("time", [BASE_MS, {"$date": BASE_ISO}, "2016-06-13T04:00:00Z",
                                  "2016-06-13T04:00:00", "2016-06-13T06:00:00+02:00"])
def test_every_time_form_reads_back_as_the_same_iso_instant(client, auth, app_id, device, time):
    send(client, auth, app_id, device, name="t", time=time)
    assert history(client, auth, app_id, device)[0]["time"] == BASE_ISO


def test_get_command_defaults_to_the_newest_single_command(client, auth, app_id, device):
    for offset, name in [(2000, "newest"), (0, "oldest"), (1000, "middle")]:
        send(client, auth, app_id, device, name=name, time=BASE_MS + offset)
    assert [c["name"] for c in history(client, auth, app_id, device)] == ["newest"]


def test_get_command_sorts_by_time_not_by_arrival(client, auth, app_id, device):
    for offset, name in [(2000, "c"), (0, "a"), (1000, "b")]:
        send(client, auth, app_id, device, name=name, time=BASE_MS + offset)
    asc = history(client, auth, app_id, device, limit=10, sortDirection="asc")
    desc = history(client, auth, app_id, device, limit=10, sortDirection="desc")
    assert [c["name"] for c in asc] == ["a", "b", "c"]
    assert [c["name"] for c in desc] == ["c", "b", "a"]


def test_limit_applies_after_sorting(client, auth, app_id, device):
    for offset in (3, 1, 4, 2):
        send(client, auth, app_id, device, name=f"c{offset}", time=BASE_MS + offset)
    asc = history(client, auth, app_id, device, limit=2, sortDirection="asc")
    assert [c["name"] for c in asc] == ["c1", "c2"]


def test_commands_with_equal_times_keep_the_order_they_were_sent_in(client, auth, app_id, device):
    for name in ("first", "second", "third"):
        send(client, auth, app_id, device, name=name, time=BASE_MS)
    asc = history(client, auth, app_id, device, limit=10, sortDirection="asc")
    assert [c["name"] for c in asc] == ["first", "second", "third"]


def test_commands_are_kept_per_device(client, auth, app_id, device):
    other = new_device(client, auth, app_id, name="other")
    send(client, auth, app_id, device, name="mine", time=BASE_MS)
    assert history(client, auth, app_id, other, limit=10) == []


# -- the time window -----------------------------------------------------------------


@pytest.fixture
def three_commands(client, auth, app_id, device) -> str:
    for offset in (0, 1000, 2000):
        send(client, auth, app_id, device, name=f"at{offset}", time=BASE_MS + offset)
    return device


def names(commands) -> list[str]:
    return [c["name"] for c in commands]


def test_window_bounds_are_inclusive(client, auth, app_id, three_commands):
    found = history(client, auth, app_id, three_commands, limit=10, sortDirection="asc",
                    start=BASE_MS + 1000, end=BASE_MS + 2000)
    assert names(found) == ["at1000", "at2000"]


def test_duration_counts_back_from_end(client, auth, app_id, three_commands):
    found = history(client, auth, app_id, three_commands, limit=10, sortDirection="asc",
                    end=BASE_MS + 1000, duration=1000)
    assert names(found) == ["at0", "at1000"]


def test_deprecated_since_is_a_start(client, auth, app_id, three_commands):
    found = history(client, auth, app_id, three_commands, limit=10, sortDirection="asc",
                    since=BASE_MS + 1000)
    assert names(found) == ["at1000", "at2000"]


def test_start_wins_over_since(client, auth, app_id, three_commands):
    found = history(client, auth, app_id, three_commands, limit=10, since=BASE_MS,
                    start=BASE_MS + 2000)
    assert names(found) == ["at2000"]


def test_negative_start_is_relative_to_now(client, auth, app_id, three_commands):
    send(client, auth, app_id, three_commands, name="recent")
    found = history(client, auth, app_id, three_commands, limit=10, start=-60_000)
    assert names(found) == ["recent"]


def test_window_with_start_after_end_is_empty(client, auth, app_id, three_commands):
    assert history(client, auth, app_id, three_commands, limit=10, start=BASE_MS + 2000,
                   end=BASE_MS) == []


def test_future_command_is_outside_the_default_window(client, auth, app_id, device, mock):
    future = mock.backend.clock.now_ms() + 3_600_000
    send(client, auth, app_id, device, name="later", time=future)
    assert history(client, auth, app_id, device) == []
    assert names(history(client, auth, app_id, device, end=future)) == ["later"]


@settings(max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(0, 5), min_size=0, max_size=6),
    bounds=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    limit=st.integers(1, 7),
    direction=st.sampled_from(["asc", "desc"]),
)
def test_history_is_the_window_sorted_then_limited(client, auth, app_id, offsets, bounds, limit,
                                                   direction):
    device = new_device(client, auth, app_id)
    for index, offset in enumerate(offsets):
        send(client, auth, app_id, device, name=f"c{index}", time=BASE_MS + offset * 1000)
    start, end = bounds
    found = history(client, auth, app_id, device, limit=limit, sortDirection=direction,
                    start=BASE_MS + start * 1000, end=BASE_MS + end * 1000)
    expected = sorted((o, i) for i, o in enumerate(offsets) if start <= o <= end)
    if direction == "desc":
        expected.reverse()
    assert names(found) == [f"c{i}" for _, i in expected[:limit]]


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "ten"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"start": "yesterday"}, "start"),
    ({"end": "soon"}, "end"),
    ({"duration": "-5"}, "duration"),
    ({"since": "x"}, "since"),
    ({"sortDirection": "up"}, "sortDirection"),
])
def test_bad_history_parameter_is_400_naming_it(client, auth, app_id, device, params, field):
    response = client.get(f"/applications/{app_id}/devices/{device}/command", headers=auth,
                          params=params)
    assert response.status_code == 400
    assert set(response.json()) == {"type", "message"}
    assert field in response.json()["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"payload": 1}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x", "time": "next tuesday"}, "time"),
    ({"name": "x", "time": {"$date": "nope"}}, "time"),
    ({"name": "x", "time": True}, "time"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_bad_command_is_400_naming_the_field_and_stores_nothing(client, auth, app_id, device,
                                                                mock, body, field):
    response = send(client, auth, app_id, device, **body)
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert stored(mock) == []


def test_command_to_unknown_device_is_404_and_stores_nothing(client, auth, app_id, mock):
    response = send(client, auth, app_id, "5" * 24, name="x")
    assert response.status_code == 404
    assert stored(mock) == []


def test_command_to_device_of_another_application_is_404(client, auth, mock):
    first, second = mock.world_summary["applications"][:2]
    response = send(client, auth, first["id"], second["sampleDeviceId"], name="x")
    assert response.status_code == 404
    assert stored(mock) == []


def test_command_to_deleted_device_is_404(client, auth, app_id, device, mock):
    client.delete(f"/applications/{app_id}/devices/{device}", headers=auth)
    assert send(client, auth, app_id, device, name="x").status_code == 404
    assert stored(mock) == []


def test_thirty_first_command_in_fifteen_seconds_is_throttled_and_not_stored(
        client, auth, app_id, device, mock):
    for index in range(30):
        assert send(client, auth, app_id, device, name=f"c{index}").status_code == 200
    refused = send(client, auth, app_id, device, name="one too many")
    assert refused.status_code == 429
    assert "one too many" not in {c["name"] for c in stored(mock)}


# -- who may send and read ------------------------------------------------------------


def test_device_token_cannot_command_a_device_its_key_does_not_reach(client, auth, app_id, mock):
    me = new_device(client, auth, app_id, name="me")
    other = new_device(client, auth, app_id, name="other")
    token = device_token(client, auth, app_id, me)
    response = send(client, bearer(token), app_id, other, name="x")
    assert response.status_code == 403
    assert stored(mock) == []


def test_device_token_can_command_a_device_its_key_reaches(client, auth, app_id):
    me = new_device(client, auth, app_id, name="me")
    peer = new_device(client, auth, app_id, name="peer")
    token = device_token(client, auth, app_id, me, reaches=[peer])
    assert send(client, bearer(token), app_id, peer, name="x").status_code == 200
    assert names(history(client, auth, app_id, peer)) == ["x"]


def test_device_token_reads_commands_sent_to_itself(client, auth, app_id):
    me = new_device(client, auth, app_id, name="me")
    send(client, auth, app_id, me, name="for you", time=BASE_MS)
    token = device_token(client, auth, app_id, me)
    assert names(history(client, bearer(token), app_id, me)) == ["for you"]


def test_device_token_cannot_read_commands_of_a_device_out_of_reach(client, auth, app_id):
    me = new_device(client, auth, app_id, name="me")
    other = new_device(client, auth, app_id, name="other")
    token = device_token(client, auth, app_id, me)
    response = client.get(f"/applications/{app_id}/devices/{other}/command",
                          headers=bearer(token))
    assert response.status_code == 403


def test_read_only_api_token_cannot_send_commands(client, app_id, device, mock):
    read_only = mock.world_summary["applications"][0]["tokens"][0]["token"]
    assert send(client, bearer(read_only), app_id, device, name="x").status_code == 403
    assert stored(mock) == []


def test_commands_go_when_their_application_is_deleted(client, auth, app_id, device, mock):
    send(client, auth, app_id, device, name="x")
    assert client.delete(f"/applications/{app_id}", headers=auth).status_code == 200
    assert stored(mock) == []


# -- devices.sendCommand -------------------------------------------------------------


@pytest.fixture
def fleet(client, auth, app_id) -> dict[str, str]:
    return {
        "a": new_device(client, auth, app_id, "cmd-a", [{"key": "cmdGroup", "value": "g1"}]),
        "b": new_device(client, auth, app_id, "cmd-b", [{"key": "cmdGroup", "value": "g2"}]),
        "c": new_device(client, auth, app_id, "cmd-c", [{"key": "cmdOther", "value": "g1"}]),
    }


def send_many(client, auth, app_id, **body):
    return client.post(f"/applications/{app_id}/devices/command", headers=auth, json=body)


def test_multi_command_by_ids_reaches_exactly_those_devices(client, auth, app_id, fleet, mock):
    response = send_many(client, auth, app_id, name="go", deviceIds=[fleet["a"], fleet["c"]])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert commanded(mock, "go") == {fleet["a"], fleet["c"]}


def test_multi_command_by_tag_key_and_value(client, auth, app_id, fleet, mock):
    send_many(client, auth, app_id, name="go", deviceTags=[{"key": "cmdGroup", "value": "g1"}])
    assert commanded(mock, "go") == {fleet["a"]}


def test_multi_command_by_tag_key_only(client, auth, app_id, fleet, mock):
    send_many(client, auth, app_id, name="go", deviceTags=[{"key": "cmdGroup"}])
    assert commanded(mock, "go") == {fleet["a"], fleet["b"]}


def test_multi_command_by_advanced_query(client, auth, app_id, fleet, mock):
    send_many(client, auth, app_id, name="go", deviceQuery={"name": {"$in": ["cmd-b", "cmd-c"]}})
    assert commanded(mock, "go") == {fleet["b"], fleet["c"]}


def test_multi_command_selects_the_union_of_ids_tags_and_query(client, auth, app_id, fleet,
                                                               mock):
    send_many(client, auth, app_id, name="go", deviceIds=[fleet["a"]],
              deviceTags=[{"key": "cmdGroup", "value": "g2"}], deviceQuery={"name": "cmd-c"})
    assert commanded(mock, "go") == set(fleet.values())


def test_multi_command_stores_one_record_per_device_with_the_same_time(client, auth, app_id,
                                                                     fleet, mock):
    send_many(client, auth, app_id, name="go", payload=[1, 2], deviceIds=list(fleet.values()))
    reads = [history(client, auth, app_id, d) for d in fleet.values()]
    assert all(r == reads[0] for r in reads)
    assert len(reads[0]) == 1


def test_multi_command_skips_deleted_and_foreign_devices(client, auth, app_id, fleet, mock):
    client.delete(f"/applications/{app_id}/devices/{fleet['c']}", headers=auth)
    foreign = mock.world_summary["applications"][1]["sampleDeviceId"]
    response = send_many(client, auth, app_id, name="go", deviceIds=[fleet["c"], foreign])
    assert response.status_code == 200
    assert stored(mock) == []


def test_multi_command_from_device_token_skips_devices_out_of_reach(client, auth, app_id, fleet,
                                                                    mock):
    token = device_token(client, auth, app_id, fleet["a"])
    send_many(client, bearer(token), app_id, name="go", deviceIds=list(fleet.values()))
    assert commanded(mock, "go") == {fleet["a"]}


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "go"}, "deviceIds"),
    ({"name": "go", "deviceTags": [{}]}, "deviceTags[0]"),
    ({"name": "go", "deviceQuery": {"name": {"$regex": 1}}}, "name"),
    ({"name": "go", "deviceIds": ["not-an-id"]}, "deviceIds"),
    ({"name": "go", "deviceIds": [], "time": "whenever"}, "time"),
])
def test_bad_multi_command_is_400_and_stores_nothing(client, auth, app_id, fleet, mock, body,
                                                     field):
    response = send_many(client, auth, app_id, **body)
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert stored(mock) == []


# -- the official client ------------------------------------------------------------


@pytest.mark.official_client
def test_official_client_sends_and_reads_back_commands(live, mock):
    from losant_rest import Client

    application = mock.world_summary["applications"][0]
    client = Client(url=live.url)
    client.auth_token = client.auth.authenticate_user(credentials=LOGIN)["token"]
    device_id = application["sampleDeviceId"]
    for offset in (0, 1000):
        result = client.device.send_command(
            applicationId=application["id"], deviceId=device_id,
            deviceCommand={"name": f"at{offset}", "payload": {"n": offset},
                           "time": BASE_MS + offset})
        assert result == {"success": True}
    found = client.device.get_command(applicationId=application["id"], deviceId=device_id,
                                      limit=5, sortDirection="asc", start=BASE_MS)
    assert found == [
        {"name": "at0", "payload": {"n": 0}, "time": iso(BASE_MS)},
        {"name": "at1000", "payload": {"n": 1000}, "time": iso(BASE_MS + 1000)},
    ]


@pytest.mark.official_client
def test_official_client_sees_multi_device_command_refusal_as_losant_error(live, mock):
    from losant_rest import Client, LosantError

    application = mock.world_summary["applications"][0]
    client = Client(url=live.url)
    client.auth_token = client.auth.authenticate_user(credentials=LOGIN)["token"]
    with pytest.raises(LosantError) as refused:
        client.devices.send_command(applicationId=application["id"],
                                    multiDeviceCommand={"name": "go"})
    assert refused.value.status == 400
