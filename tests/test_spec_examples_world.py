"""Swagger UI at first try: the spec's example ids exist in the default world.

"Try it out" prefills each path parameter with the spec's example; the default
world gives those ids to the first login's resources (fixtures/examples.py),
so every read the examples address answers, rather than 404.
"""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from losant_kit.fixtures.examples import spec_examples
from losant_kit.mockserver.spec import PlatformSpec

EXAMPLES = spec_examples()
# What no world document can seed, and the one example id two kinds share.
NOT_SEEDED = {
    "eventId": "the generated world raises no events",
    "experienceDomainId": "a domain is the customer's own DNS name: the generated world has none",
    # The spec's one example id for every experience kind goes to the first group.
    "experienceUserId": "shares the experience group's example id",
    "experienceEndpointId": "shares the experience group's example id",
    "experienceSlugId": "shares the experience group's example id",
}
# /me/tokens/{apiTokenId} and /applications/{id}/tokens/{apiTokenId} share one
# example id; it is the application's token (the world seeds no user token).
SHARED_EXAMPLE_ELSEWHERE = {"userApiToken.get"}


def _reads() -> list:
    reads = []
    for op in sorted(PlatformSpec().operations.values(), key=lambda op: op.id):
        names = re.findall(r"\{([^}]+)\}", op.path)
        if op.method != "get" or op.sse or not names or op.id in SHARED_EXAMPLE_ELSEWHERE:
            continue
        if any(name in NOT_SEEDED or name not in EXAMPLES for name in names):
            continue
        reads.append(op)
    return reads


@pytest.fixture(scope="module")
def shared_client(module_mock) -> TestClient:
    with TestClient(module_mock) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def user_auth(shared_client: TestClient) -> dict[str, str]:
    from tests.conftest import LOGIN

    token = shared_client.post("/auth/user", json=LOGIN).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_examples_cover_the_main_path_parameters() -> None:
    assert {"applicationId", "deviceId", "applicationKeyId", "apiTokenId",
            "deviceRecipeId"} <= set(EXAMPLES)


@pytest.mark.parametrize("operation", _reads(), ids=lambda op: op.id)
def test_a_read_with_the_spec_examples_reaches_a_real_resource(
    shared_client: TestClient, user_auth, operation
) -> None:
    path = re.sub(r"\{([^}]+)\}", lambda m: EXAMPLES[m.group(1)], operation.path)
    response = shared_client.get(path, headers=user_auth)
    # Found and the first login's (a 400 for a missing required query is fine).
    assert response.status_code not in (401, 403, 404), response.text
