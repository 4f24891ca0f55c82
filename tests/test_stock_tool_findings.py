"""What stock Schemathesis found on the mock (issue 19), each pinned down.

Each test is one finding of a stock ``st run`` over ``/openapi-3.1.json``:
where the mock was wrong it is fixed here; where a documented constraint was
missing from the spec, the spec now states it and the mock accepts exactly
what the stated pattern admits.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.sse import keep_alive_seconds
from losant_kit.specs import constraints

# Plain decimal numbers (what the pattern's syntax can admit at all).
SECONDS = st.one_of(
    st.decimals(0, 4000, places=3).map(str),
    st.integers(-5, 4000).map(str),
    st.sampled_from(["0.01", "0.009", "3600", "3600.0", "3600.001", "00.5", "0.0100"]),
)


def _keep_alive_accepted(value: str) -> bool:
    try:
        keep_alive_seconds(value)
    except ValidationError:
        return False
    return True


@given(value=SECONDS)
def test_keep_alive_pattern_admits_exactly_the_seconds_the_mock_accepts(value):
    """Same bounds in the spec and in the stream handler (the mock's 0.01 to 3600 s)."""
    admitted = re.search(constraints.KEEP_ALIVE_PATTERN, value) is not None
    assert admitted == _keep_alive_accepted(value), value


def test_a_json_null_body_is_judged_by_the_schema_not_taken_for_no_body(client, auth, app_id):
    """application.clone's body is optional, but `null` is not an object: 400, nothing cloned."""
    before = client.get("/applications", headers=auth).json()["totalCount"]
    response = client.post(
        f"/applications/{app_id}/clone", headers={**auth, "content-type": "application/json"},
        content=b"null",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["type"] == "Validation"
    assert client.get("/applications", headers=auth).json()["totalCount"] == before


def test_an_absent_optional_body_is_still_no_body(client, auth, app_id):
    response = client.post(f"/applications/{app_id}/clone", headers=auth)
    assert response.status_code in (201, 202), response.text


def test_a_parent_filter_that_is_not_an_id_is_refused_by_the_stated_pattern(client, auth, app_id):
    response = client.get(
        f"/applications/{app_id}/devices", headers=auth, params={"parentId": "not-an-id"}
    )
    assert response.status_code == 400
    assert "parentId" in response.json()["message"]


def test_a_parent_filter_of_null_lists_the_devices_without_a_parent(client, auth, app_id):
    response = client.get(
        f"/applications/{app_id}/devices", headers=auth, params={"parentId": "null"}
    )
    assert response.status_code == 200
    assert all(not d.get("parentId") for d in response.json()["items"])


def test_a_log_limit_of_zero_is_refused_by_the_stated_pattern(client, auth, app_id):
    response = client.get(f"/applications/{app_id}/importLogs", headers=auth, params={"limit": "0"})
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


def test_period_summaries_bound_the_buckets_of_the_whole_answer(client, auth):
    """A 60,000-day window is within one application's bound, not within two applications'."""
    client.post("/applications", headers=auth, json={"name": "second"})
    assert client.get("/applications", headers=auth).json()["totalCount"] >= 2
    response = client.get(
        "/applications/periodSummaries", headers=auth,
        params={"start": str(-60_000 * 86_400_000), "include": "deviceCounts"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "start/end" in response.json()["message"]
