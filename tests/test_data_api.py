"""Data queries over HTTP: data.timeSeriesQuery (aggregations, buckets, device selection,
the result-size cap) and data.lastValueQuery."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.app import MockApp
from tests.conftest import LOGIN, bearer

BASE_MS = 1465790400000  # 2016-06-13T04:00:00.000Z, a multiple of every resolution used here
BASE_ISO = "2016-06-13T04:00:00.000Z"
ATTRIBUTES = [{"name": "n", "dataType": "number"}, {"name": "s", "dataType": "string"}]
NUMERIC = {"MAX", "MIN", "MEDIAN", "MEAN", "SUM", "STD_DEV"}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_device(client, auth, app_id, name="data-device", **fields) -> str:
    body = {"name": name, "attributes": ATTRIBUTES, **fields}
    response = client.post(f"/applications/{app_id}/devices", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def send(client, auth, app_id, device_id, body) -> None:
    response = client.post(f"/applications/{app_id}/devices/{device_id}/state", headers=auth,
                           json=body)
    assert response.status_code == 200, response.text


def series_query(client, auth, app_id, **body):
    return client.post(f"/applications/{app_id}/data/time-series-query", headers=auth, json=body)


def time_series(client, auth, app_id, **body) -> dict:
    response = series_query(client, auth, app_id, **body)
    assert response.status_code == 200, response.text
    return response.json()


def last_values(client, auth, app_id, **body) -> dict:
    response = client.post(f"/applications/{app_id}/data/last-value-query", headers=auth,
                           json=body)
    assert response.status_code == 200, response.text
    return response.json()


def device_token(client, auth, app_id, device_id) -> str:
    key = client.post(f"/applications/{app_id}/keys", headers=auth,
                      json={"name": "data test key", "filterType": "whitelist",
                            "deviceIds": [device_id]})
    login = client.post("/auth/device", json={"deviceId": device_id, "key": key.json()["key"],
                                              "secret": key.json()["secret"]})
    return login.json()["token"]


@pytest.fixture
def mock(reset_module_mock: MockApp) -> MockApp:
    """One mock for the module (a second to build), reset for each test (milliseconds)."""
    return reset_module_mock


@pytest.fixture
def device(client, auth, app_id) -> str:
    return new_device(client, auth, app_id)


# -- aggregations against a reference -------------------------------------------------------


def reference_points(reports, aggregation, resolution, start, end) -> list[dict]:
    """The expected timeSeriesData points, computed the simple way."""
    rows = sorted(((BASE_MS + offset, data) for offset, data in reports), key=lambda r: r[0])
    rows = [(t, data) for t, data in rows if start <= t <= end]
    if aggregation == "NONE":
        return [{"time": iso(t), "data": data} for t, data in rows]
    buckets: dict[int, dict[str, list]] = {}
    for t, data in rows:
        key = t // resolution if resolution else 0
        for name, value in data.items():
            if aggregation in NUMERIC and isinstance(value, str):
                continue
            buckets.setdefault(key, {}).setdefault(name, []).append(value)
    reduce = {
        "FIRST": lambda v: v[0], "LAST": lambda v: v[-1], "COUNT": len, "MAX": max, "MIN": min,
        "SUM": math.fsum, "MEAN": statistics.fmean, "MEDIAN": statistics.median,
        "STD_DEV": statistics.pstdev,
    }[aggregation]
    return [{"time": iso(key * resolution if resolution else start),
             "data": {name: reduce(values) for name, values in buckets[key].items()}}
            for key in sorted(buckets)]


def assert_points_match(actual: list[dict], expected: list[dict]) -> None:
    assert [p["time"] for p in actual] == [p["time"] for p in expected]
    for got, want in zip(actual, expected, strict=True):
        assert set(got["data"]) == set(want["data"])
        for name, value in want["data"].items():
            if isinstance(value, float):
                assert got["data"][name] == pytest.approx(value, rel=1e-9, abs=1e-6)
            else:
                assert got["data"][name] == value


values = st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.integers(-1000, 1000),
                   st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    "s": st.sampled_from(["on", "off", "idle"]),
}).filter(bool)
series = st.lists(st.tuples(st.integers(0, 20).map(lambda k: k * 500), values),
                  min_size=1, max_size=12)


@settings(max_examples=30,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reports=series,
       aggregation=st.sampled_from(["FIRST", "LAST", "COUNT", "MAX", "MIN", "MEDIAN", "MEAN",
                                    "SUM", "STD_DEV", "NONE"]),
       resolution=st.sampled_from([None, 1000, 2500, 60_000]),
       window=st.tuples(st.integers(0, 4000), st.integers(6000, 12_000)))
def test_time_series_matches_a_reference_computation(client, auth, app_id, reports, aggregation,
                                                     resolution, window):
    device = new_device(client, auth, app_id)
    send(client, auth, app_id, device,
         [{"data": data, "time": BASE_MS + offset} for offset, data in reports])
    start, end = BASE_MS + window[0], BASE_MS + window[1]
    body = {"start": start, "end": end, "aggregation": aggregation, "deviceIds": [device]}
    if resolution:
        body["resolution"] = resolution
    result = time_series(client, auth, app_id, **body)
    expected = reference_points(reports, aggregation, resolution, start, end)
    assert_points_match(result["devices"][device]["points"], expected)


def test_time_at_value_counts_milliseconds_at_the_value_per_bucket(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"s": "on"}, "time": BASE_MS},
                                        {"data": {"s": "off"}, "time": BASE_MS + 3000},
                                        {"data": {"s": "on"}, "time": BASE_MS + 7000}])
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 10_000,
                         resolution=5000, deviceIds=[device], attributes=["s"],
                         aggregation={"type": "TIMEATVALUE", "options": {"value": "on"}})
    assert result["devices"][device]["points"] == [
        {"time": BASE_ISO, "data": {"s": 3000}},
        {"time": iso(BASE_MS + 5000), "data": {"s": 3000}},
    ]


def test_envelope_echoes_the_query(client, auth, app_id, device):
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 600_000,
                         resolution=300_000, aggregation="MEAN", deviceIds=[device], limit=5,
                         order="desc")
    assert {k: result[k] for k in ("start", "end", "resolution", "aggregation", "limit", "order")
            } == {"start": BASE_ISO, "end": iso(BASE_MS + 600_000), "resolution": 300_000,
                  "aggregation": "MEAN", "limit": 5, "order": "desc"}


def test_order_and_limit_cut_the_newest_buckets(client, auth, app_id, device):
    send(client, auth, app_id, device,
         [{"data": {"n": i}, "time": BASE_MS + i * 1000} for i in range(5)])
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 5000,
                         resolution=1000, aggregation="LAST", deviceIds=[device], limit=2,
                         order="desc")
    assert result["devices"][device]["points"] == [
        {"time": iso(BASE_MS + 4000), "data": {"n": 4}},
        {"time": iso(BASE_MS + 3000), "data": {"n": 3}},
    ]


def test_only_the_requested_attributes_are_aggregated(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"n": 1, "s": "on"}, "time": BASE_MS})
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 1000,
                         aggregation="COUNT", deviceIds=[device], attributes=["s"])
    assert result["devices"][device]["points"] == [{"time": BASE_ISO, "data": {"s": 1}}]


def test_default_window_is_the_last_24_hours(client, auth, app_id, device, mock):
    now = mock.backend.clock.now_ms()
    send(client, auth, app_id, device, [{"data": {"n": 1}, "time": now - 2 * 86_400_000},
                                        {"data": {"n": 5}, "time": now - 3_600_000}])
    result = time_series(client, auth, app_id, aggregation="SUM", deviceIds=[device])
    assert [p["data"] for p in result["devices"][device]["points"]] == [{"n": 5}]


def test_default_aggregation_is_mean(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1}, "time": BASE_MS},
                                        {"data": {"n": 4}, "time": BASE_MS + 1}])
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 10,
                         deviceIds=[device])
    assert result["aggregation"] == "MEAN"
    assert result["devices"][device]["points"][0]["data"] == {"n": 2.5}


@pytest.mark.parametrize("body, field", [
    ({"resolution": 0.5}, "resolution"),
    ({"limit": 0}, "limit"),
    ({"aggregation": {"type": "TIMEATVALUE", "options": {}}}, "aggregation"),
    ({"deviceTags": [{}]}, "deviceTags"),
])
def test_bad_query_is_400_naming_the_field(client, auth, app_id, device, body, field):
    response = series_query(client, auth, app_id, deviceIds=[device], **body)
    assert response.status_code == 400
    assert field in response.json()["message"]


# -- device selection ----------------------------------------------------------------------


@pytest.fixture
def tagged(client, auth, app_id) -> dict[str, str]:
    ids = {
        "red": new_device(client, auth, app_id, name="red one",
                          tags=[{"key": "color", "value": "red"}]),
        "blue": new_device(client, auth, app_id, name="blue one",
                           tags=[{"key": "color", "value": "blue"},
                                 {"key": "color", "value": "navy"}]),
        "plain": new_device(client, auth, app_id, name="plain one"),
    }
    for device in ids.values():
        send(client, auth, app_id, device, {"data": {"n": 1}, "time": BASE_MS})
    return ids


def selected(client, auth, app_id, **selector) -> set[str]:
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 1, **selector)
    return set(result["devices"])


def test_devices_are_selected_by_tag(client, auth, app_id, tagged):
    assert selected(client, auth, app_id, deviceTags=[{"key": "color", "value": "red"}]) == {
        tagged["red"]}
    assert selected(client, auth, app_id, deviceTags=[{"key": "color"}]) == {
        tagged["red"], tagged["blue"]}


def test_devices_are_selected_by_advanced_query(client, auth, app_id, tagged):
    assert selected(client, auth, app_id, deviceQuery={"name": {"$startsWith": "plain"}}) == {
        tagged["plain"]}


def test_selectors_combine_as_a_union(client, auth, app_id, tagged):
    assert selected(client, auth, app_id, deviceIds=[tagged["plain"]],
                    deviceTags=[{"value": "navy"}]) == {tagged["plain"], tagged["blue"]}


def test_without_a_selector_every_device_of_the_application_is_queried(client, auth, app_id,
                                                                       tagged):
    listed = client.get(f"/applications/{app_id}/devices", headers=auth,
                        params={"perPage": 1000}).json()["items"]
    assert selected(client, auth, app_id) == {d["id"] for d in listed}


def test_devices_carry_their_name_and_tags_as_lists(client, auth, app_id, tagged):
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 1,
                         deviceIds=[tagged["blue"]])
    device = result["devices"][tagged["blue"]]
    assert device["name"] == "blue one"
    assert device["tags"] == {"color": ["blue", "navy"]}


def test_ids_from_elsewhere_are_skipped_not_refused(client, auth, app_id, tagged):
    assert selected(client, auth, app_id, deviceIds=[tagged["red"], "5" * 24]) == {tagged["red"]}


def test_device_token_queries_only_devices_it_reaches(client, auth, app_id, tagged):
    token = bearer(device_token(client, auth, app_id, tagged["red"]))
    assert selected(client, token, app_id) == {tagged["red"]}
    assert selected(client, token, app_id, deviceIds=[tagged["blue"], tagged["red"]]) == {
        tagged["red"]}
    assert set(last_values(client, token, app_id, deviceIds=[tagged["blue"]])) == set()


# -- the result-size cap ----------------------------------------------------------------------


def test_result_over_the_size_cap_is_refused_with_400(client, auth, app_id, device, mock):
    text = "x" * 3000
    for i in range(12_000):  # ~36 MB of points: seeded directly, too much to send over HTTP
        mock.backend.series.record(device, BASE_MS + i, {"s": text})
    response = series_query(client, auth, app_id, start=BASE_MS, end=BASE_MS + 20_000,
                            aggregation="NONE", deviceIds=[device])
    assert response.status_code == 400
    assert "30MB" in response.json()["message"]


def test_result_whose_estimate_is_over_the_cap_but_whose_size_is_not_is_served(client, auth,
                                                                              app_id, device):
    # One long string makes every point's estimate long; the real result is ~100 kB.
    body = [{"data": {"s": "y" * 64_000}, "time": BASE_MS}]
    body += [{"data": {"s": "z"}, "time": BASE_MS + i} for i in range(1, 500)]
    send(client, auth, app_id, device, body)
    result = time_series(client, auth, app_id, start=BASE_MS, end=BASE_MS + 1000,
                         aggregation="NONE", deviceIds=[device])
    assert len(result["devices"][device]["points"]) == 500


def test_time_at_value_over_millions_of_buckets_is_refused_with_400(client, auth, app_id,
                                                                   device):
    send(client, auth, app_id, device, {"data": {"s": "on"}, "time": BASE_MS})
    response = series_query(client, auth, app_id, start=BASE_MS, end=BASE_MS + 10 * 86_400_000,
                            resolution=1, deviceIds=[device],
                            aggregation={"type": "TIMEATVALUE", "options": {"value": "on"}})
    assert response.status_code == 400
    assert "30MB" in response.json()["message"]


# -- last values ------------------------------------------------------------------------------


def test_last_value_of_one_attribute_per_device(client, auth, app_id, tagged):
    send(client, auth, app_id, tagged["red"], {"data": {"n": 7, "s": "later"},
                                               "time": BASE_MS + 5000})
    found = last_values(client, auth, app_id, attribute="n",
                        deviceIds=[tagged["red"], tagged["blue"]])
    assert found == {tagged["red"]: {"time": iso(BASE_MS + 5000), "data": {"n": 7}},
                     tagged["blue"]: {"time": BASE_ISO, "data": {"n": 1}}}


def test_last_values_without_an_attribute_give_every_attribute(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1, "s": "a"}, "time": BASE_MS},
                                        {"data": {"n": 2}, "time": BASE_MS + 1000}])
    assert last_values(client, auth, app_id, deviceIds=[device]) == {
        device: {"time": iso(BASE_MS + 1000), "data": {"n": 2, "s": "a"}}}


def test_last_values_respect_end(client, auth, app_id, device):
    send(client, auth, app_id, device, [{"data": {"n": 1}, "time": BASE_MS},
                                        {"data": {"n": 2}, "time": BASE_MS + 1000}])
    assert last_values(client, auth, app_id, deviceIds=[device], end=BASE_MS + 500) == {
        device: {"time": BASE_ISO, "data": {"n": 1}}}


def test_devices_without_the_attribute_are_left_out(client, auth, app_id, device):
    send(client, auth, app_id, device, {"data": {"s": "a"}, "time": BASE_MS})
    assert last_values(client, auth, app_id, attribute="n", deviceIds=[device]) == {}


# -- the official client ---------------------------------------------------------------------


@pytest.mark.official_client
def test_official_client_runs_time_series_and_last_value_queries(live, mock):
    from losant_rest import Client

    application = mock.world_summary["applications"][0]
    client = Client(url=live.url)
    client.auth_token = client.auth.authenticate_user(credentials=LOGIN)["token"]
    device = client.devices.post(applicationId=application["id"],
                                 device={"name": "official", "attributes": ATTRIBUTES})["id"]
    client.device.send_state(applicationId=application["id"], deviceId=device,
                             deviceState=[{"data": {"n": 10}, "time": BASE_MS},
                                          {"data": {"n": 20}, "time": BASE_MS + 60_000}])
    series_result = client.data.time_series_query(
        applicationId=application["id"],
        query={"start": BASE_MS, "end": BASE_MS + 600_000, "resolution": 300_000,
               "aggregation": "MEAN", "deviceIds": [device]})
    assert series_result["devices"][device]["points"] == [{"time": BASE_ISO, "data": {"n": 15}}]
    last = client.data.last_value_query(applicationId=application["id"],
                                        query={"attribute": "n", "deviceIds": [device]})
    assert last == {device: {"time": iso(BASE_MS + 60_000), "data": {"n": 20}}}
