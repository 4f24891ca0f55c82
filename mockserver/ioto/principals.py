"""Who calls: CloudAPI tokens, login access tokens and device API tokens.

* A CloudAPI token acts for the whole device cloud with the owner role; it
  names the account it acts on with ``accountId`` in the body.
* A login access token (a JWT the mock signs, as Cognito would issue one, 60
  minutes) carries one user: that user's role, limited to the user's account.
* A device API token (handed to a claimed device) acts for that device only.

Which token form a path takes is the spec's: ``/tok`` paths take CloudAPI and
device tokens, bare paths take login tokens (with an Origin header). The role an
operation needs is its ``x-role``; a role a field needs is the field's ``x-role``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from losant_kit.mockserver.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.state import IotoState
    from losant_kit.mockserver.profiles.engine import SpecOperation

LOGIN_TOKEN_TTL_S = 3600
USER_ROLES = ("user", "admin", "owner")
# Operation role -> the caller roles that satisfy it. The docs order
# user < admin < owner without stating a rule; the mock applies it as a hierarchy.
GRANTS: dict[str, frozenset[str]] = {
    "user": frozenset({"user", "admin", "owner"}),
    "admin": frozenset({"admin", "owner"}),
    "owner": frozenset({"owner"}),
    "claimDevice": frozenset({"admin", "owner"}),
    "releaseDevice": frozenset({"admin", "owner"}),
    "device": frozenset({"device", "owner"}),
    "upgrade": frozenset({"device", "owner"}),
}

Kind = Literal["cloud", "login", "device"]


@dataclass(frozen=True)
class Caller:
    kind: Kind
    subject: str  # token id, user id or device id
    role: str  # owner (cloud), the user's role, or device
    account_id: str | None  # a login's or a device's account; None: the whole cloud

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.subject}"

    @property
    def cloud_wide(self) -> bool:
        return self.kind == "cloud"

    def has(self, role: str) -> bool:
        return role == "public" or self.role in GRANTS.get(role, frozenset({role}))


def token_of(headers: Mapping[str, str]) -> str | None:
    """The token of an Authorization header: bare (the docs) or after ``bearer``
    (the samples and the device agent), in any letter case."""
    value = (headers.get("authorization") or "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def authenticate(state: IotoState, operation: SpecOperation, token: str | None,
                 headers: Mapping[str, str]) -> Caller | None:
    if not operation.security:
        return None
    if token is None:
        raise Unauthorized("Authentication failed")
    if operation.form == "tok":
        caller = state.tok_caller(token)
        if caller is None:
            raise Unauthorized("Authentication failed")
        if caller.kind == "device" and not (operation.x("role") in ("device", "upgrade")
                                            or operation.x("device-token")):
            raise Forbidden("Insufficient privilege")
    else:
        caller = state.login_caller(token)
        if not headers.get("origin"):
            raise Unauthorized("Missing Origin header")
    if not caller.has(operation.x("role")):
        raise Forbidden("Insufficient privilege")
    return caller
