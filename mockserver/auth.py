"""Credentials: signed tokens, who holds them, and what they may reach.

Three kinds of bearer token exist, as on the platform:

* user tokens (``POST /auth/user``): scope ``all.User``; reach the user's own
  applications;
* device tokens (``POST /auth/device``): scope ``all.Device`` (or the requested
  narrower scopes); reach the device itself, widened to the devices its access
  key allows, never outside its application;
* API tokens (application or user API tokens): the scopes they were created
  with; an application token never leaves its application.

Every token is an HS256 JWT. Verification checks the signature and expiry and
then the store, so revoking or deleting a key or token takes effect on the
very next request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import jwt
from connexion.security import BearerSecurityHandler

from losant_kit.mockserver.errors import Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.spec import Operation

ISSUER = "losant-mock"
ALGORITHM = "HS256"
USER_TOKEN_TTL_S = 30 * 24 * 3600
DEVICE_TOKEN_TTL_S = 365 * 24 * 3600
VERIFIED_CACHE_SIZE = 10_000

Kind = Literal["user", "device", "apiToken"]


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established from a verified token."""

    kind: Kind
    subject: str  # user id, device id or API token id
    scopes: frozenset[str]
    user_id: str | None = None  # user tokens and user API tokens
    application_id: str | None = None  # device tokens and application API tokens
    key_id: str | None = None  # device tokens: the access key used

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.subject}"


class TokenSigner:
    """Signs and decodes the mock's JWTs."""

    def __init__(self, secret: str | None = None) -> None:
        # Random per run unless pinned, so tokens from a previous run are refused.
        self.secret = secret or secrets.token_urlsafe(32)
        # token -> claims whose signature, issuer and required claims checked out.
        # Those checks depend on nothing but the token string and the secret, so
        # their verdict is cached (PyJWT costs ~0.3 ms a call); expiry is judged on
        # every call against the mock's clock, and the store (revocation, deleted
        # keys and users) is consulted on every call by Authenticator.
        self._verified: dict[str, dict[str, Any]] = {}

    def sign(self, claims: dict[str, Any], *, now: float, ttl_s: int | None) -> str:
        payload = {"iss": ISSUER, "iat": int(now), **claims}
        if ttl_s:
            payload["exp"] = int(now) + ttl_s
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str, *, now: float) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        if "exp" in claims and now >= claims["exp"]:
            raise Unauthorized("Authorization token has expired")
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Time claims are checked against the mock's clock below, not the
                # wall clock: after a clock advance, iat lies in the real future.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "typ", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Authorization token is invalid: {exc}") from None
        return claims


class Authenticator:
    """Turns a bearer token into a Principal, consulting the store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def principal(self, token: str) -> Principal:
        backend = self.backend
        # Pinned API token strings from world files are not JWTs.
        claims = backend.tokens.pinned(token) if token.count(".") != 2 else None
        if claims is None:
            claims = backend.signer.decode(token, now=backend.clock.now())
        kind = claims["typ"]
        if kind == "user":
            user = backend.users.find(claims["sub"])
            if user is None or claims["iat"] < user.get("_tokenCutoff", 0):
                raise Unauthorized("Authorization token is no longer valid")
            # requestedScopes at login narrow the token; the default is all.User.
            scopes = frozenset(claims.get("scope") or ["all.User"])
            return Principal("user", user["id"], scopes, user_id=user["id"])
        if kind == "device":
            return backend.keys.principal_for_device_token(claims)
        if kind == "apiToken":
            return backend.tokens.principal_for(claims)
        raise Unauthorized("Authorization token is invalid: unknown token type")


def bearer_handler_class(authenticator: Authenticator) -> type[BearerSecurityHandler]:
    """A Connexion bearer handler bound to this app's authenticator.

    Connexion's extension point (``security_map``) instantiates handler
    classes itself, so the binding happens in a class built per app.
    """

    def token_info(token: str) -> dict[str, Any]:
        return {"principal": authenticator.principal(token)}

    class PlatformBearerHandler(BearerSecurityHandler):
        def _resolve_func(self, security_scheme):
            return token_info

    return PlatformBearerHandler


# ---------------------------------------------------------------- authorization


def require_scope(principal: Principal, operation: Operation) -> None:
    """403 unless the token carries one of the scopes the operation accepts."""
    if not principal.scopes & operation.scopes:
        raise Forbidden(f"Token scopes {sorted(principal.scopes)} do not permit {operation.id}")


def require_application(
    principal: Principal, application: dict[str, Any] | None, application_id: str
) -> dict[str, Any]:
    """The application, if this principal may reach it.

    A user asking for another user's application gets the same 404 as for one
    that does not exist (the platform does not reveal other tenants' ids).
    Device and application tokens know which application they belong to, so
    for them a foreign application is a 403.
    """
    if principal.kind in ("device",) or principal.application_id:
        if principal.application_id != application_id:
            raise Forbidden(f"Token is not valid for application {application_id}")
        if application is None:
            raise NotFound.resource("Application", application_id)
        return application
    if application is None or application.get("ownerId") != principal.user_id:
        raise NotFound.resource("Application", application_id)
    return application
