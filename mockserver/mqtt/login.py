"""Who may connect: the platform's device login over MQTT.

Client id = device id, username = access key, password = access secret. The
credential rules are the access-key model's (``ApplicationKeys.verify_device_login``,
the same check REST ``auth.authenticateDevice`` makes); this module only maps
its refusals onto MQTT 3.1.1 CONNACK return codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.models.backend import Backend
from losant_kit.mockserver.models.base import Record
from losant_kit.mockserver.models.keys import BadCredentials, DeviceNotAuthorized

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_CREDENTIALS = 4
NOT_AUTHORIZED = 5

MQTT_311 = 4  # protocol level of MQTT 3.1.1


class LoginRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    """A device connected with an access key."""

    principal: Principal
    device_id: str
    application_id: str
    key_id: str
    key: str
    pub_topics: tuple[str, ...]
    sub_topics: tuple[str, ...]


def log_in(
    backend: Backend,
    *,
    protocol_level: int,
    client_id: str | None,
    username: str | None,
    password: str | bytes | None,
    locked_out_s: float = 0.0,
) -> DeviceLogin:
    """The login of a CONNECT, or LoginRefused with its CONNACK code."""
    if protocol_level != MQTT_311:
        raise LoginRefused(UNACCEPTABLE_PROTOCOL, f"MQTT protocol level {protocol_level}: "
                           "the broker speaks MQTT 3.1.1 (level 4)")
    if not client_id:
        raise LoginRefused(IDENTIFIER_REJECTED, "the client id must be the device id")
    if isinstance(password, bytes):
        password = password.decode("utf-8", "replace")
    try:
        key, device = backend.keys.verify_device_login(username, password, client_id)
    except BadCredentials as exc:
        raise LoginRefused(BAD_CREDENTIALS, exc.message) from None
    except DeviceNotAuthorized as exc:
        raise LoginRefused(NOT_AUTHORIZED, exc.message) from None
    if locked_out_s > 0:
        raise LoginRefused(
            SERVER_UNAVAILABLE,
            f"device {client_id} went over a message limit and may reconnect in "
            f"{locked_out_s:.0f} s",
        )
    return _login(backend, key, device)


def _login(backend: Backend, key: Record, device: Record) -> DeviceLogin:
    return DeviceLogin(
        principal=backend.keys.device_principal(key, device),
        device_id=device["id"],
        application_id=device["applicationId"],
        key_id=key["id"],
        key=key["key"],
        pub_topics=tuple(key.get("pubTopics") or ()),
        sub_topics=tuple(key.get("subTopics") or ()),
    )
