"""Broken experiences, one defect each (and the unbroken one), for the experience suite.

Each factory builds the mock serving ``fixtures/experiences/equipment-monitor.yaml``
(as ``losant-mock serve --experience`` does) and breaks one thing the way a
workflow author could: a missing Device: Verify, a renamed reply field, a
token check that ignores ``tokenCutoff``, an unhandled error on bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.experience.apicheck import RequestRefused
from losant_kit.mockserver.settings import Settings
from tests.faults.middleware import RewriteResponses

API_FILE = Path(__file__).resolve().parents[2] / "fixtures/experiences/equipment-monitor.yaml"
PREFIX = "/_experience/equipment-monitor"


def unbroken() -> Any:
    return create_app(Settings(seed=1, experiences=((str(API_FILE), None),)))


def other_tenant_readable() -> Any:
    """Device: Verify forgotten: a user reads any device of the application by id
    (its own device list stays right)."""
    mock = unbroken()
    mock.backend.experience_groups.user_reaches = (
        lambda application_id, user_id, device: device["applicationId"] == application_id
    )
    return mock


def leaky_device_list() -> Any:
    """The device list shows every device of the application (reads stay verified)."""
    mock = unbroken()
    store = mock.backend.store
    mock.backend.experience_groups.user_devices = lambda application_id, user_id: [
        d for d in store.children("devices", application_id) if not d.get("deletedAt")
    ]
    return mock


def wrong_response_field() -> Any:
    """The device reply calls its name ``deviceName`` (the file says ``name``)."""
    def rewrite(status: int, body: Any, _: bytes) -> tuple[int, Any]:
        if status == 200 and isinstance(body, dict) and "name" in body:
            body["deviceName"] = body.pop("name")
        return status, body

    return RewriteResponses(unbroken(), "GET", PREFIX + r"/api/devices/[0-9a-f]{24}", rewrite)


def token_after_cutoff() -> Any:
    """Experience tokens are checked for signature and expiry only: tokenCutoff ignored."""
    mock = unbroken()
    users = mock.backend.experience_users
    original = users.user_for_token

    def ignoring_cutoff(application_id: str, token: str) -> Any:
        claims_user = original(application_id, token)
        if claims_user is not None:
            return claims_user
        try:
            claims = mock.backend.signer.decode(token, now=mock.backend.clock.now())
        except Exception:
            return None
        user = mock.backend.store.get("experienceUsers", claims.get("sub", ""))
        return user if user and user["applicationId"] == application_id else None

    users.user_for_token = ignoring_cutoff
    return mock


def server_error_on_bad_input() -> Any:
    """Input the file forbids reaches code that does not expect it: an unhandled error."""
    mock = unbroken()
    contracted = mock.experience._contracted
    original = contracted.check

    def crashing_check(operation: Any) -> Any:
        check = original(operation)
        if getattr(check, "crashing", False):
            return check
        validate = check.check_request

        def check_request(*args: Any, **kwargs: Any) -> Any:
            try:
                return validate(*args, **kwargs)
            except RequestRefused as refused:
                raise KeyError(refused.message) from None

        check.check_request = check_request
        check.crashing = True
        return check

    contracted.check = crashing_check
    return mock
