"""Protocol-level mistakes: 405 with the Allow header RFC 9110 requires, broken multipart 400."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.spec import PlatformSpec


def test_405_lists_the_methods_the_spec_declares_for_the_path(client, app_id, auth):
    response = client.put(f"/applications/{app_id}/devices", headers=auth)
    assert response.status_code == 405
    assert response.json()["type"] == "MethodNotAllowed"
    assert response.headers["allow"] == "GET, PATCH, POST"


def test_405_on_a_public_path_lists_its_one_method(client):
    response = client.request("TRACE", "/auth/user")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_concrete_path_is_not_taken_for_a_templated_one(client, auth):
    """OpenAPI matches /applications/import before /applications/{applicationId}."""
    response = client.patch("/applications/import", headers=auth, json={"name": "x"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_malformed_multipart_body_is_a_400_not_a_500(client, auth):
    headers = {**auth, "Content-Type": "multipart/form-data; boundary=x"}
    response = client.post("/applications/import", headers=headers, content=b"--x\r\nbroken")
    assert response.status_code == 400
    assert response.json()["type"] == "Validation"


# Any JSON value where the import's options schema has a scalar or a list.
_NESTED = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                       max_leaves=6)


@given(key=st.sampled_from(["importUrl", "callbackUrl", "include", "forceJob", "other"]),
       value=st.dictionaries(st.text(max_size=5), _NESTED, min_size=1, max_size=3))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_misshapen_json_form_parts_are_refused_with_4xx_and_change_nothing(
    client, auth, key, value
):
    before = len(client.get("/applications", headers=auth).json()["items"])
    response = client.post("/applications/import", headers=auth,
                           files={"options": (None, json.dumps({key: value}), "application/json")},
                           data={"email": "someone@example.com"})
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"type", "message"}
    assert len(client.get("/applications", headers=auth).json()["items"]) == before


def _reference_allowed(document: dict, path: str) -> list[str] | None:
    """The plain reading of OpenAPI path matching: every template as a regex,
    the fewest parameters wins."""
    matches = [
        (template.count("{"), sorted(m.upper() for m in item if m != "parameters"))
        for template, item in document["paths"].items()
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), path)
    ]
    return min(matches)[1] if matches else None


_SPEC = PlatformSpec()
_TEMPLATES = sorted(_SPEC.document["paths"])
_SEGMENT = st.sampled_from(["import", "devices", "x", "", "575ec8687ae143cd83dc4a97", "me"])


@given(template=st.sampled_from(_TEMPLATES), fill=st.lists(_SEGMENT, min_size=8, max_size=8),
       tail=st.sampled_from(["", "/", "/extra"]))
@settings(max_examples=300)
def test_allowed_methods_match_the_plain_reading_of_openapi_paths(template, fill, tail):
    values = iter(fill)
    path = re.sub(r"\{\w+\}", lambda _: next(values), template) + tail
    assert _SPEC.allowed_methods(path) == _reference_allowed(_SPEC.document, path)
