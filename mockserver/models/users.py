"""Users: logging in, the ``/me`` resource and token refresh."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import USER_TOKEN_TTL_S, Principal
from losant_kit.mockserver.errors import BadRequest, Unauthorized, ValidationError
from losant_kit.mockserver.models.base import Record, public, stamp_new, touch

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "users"
# Fields of mePatch that are plain profile data, copied as given.
PROFILE_FIELDS = (
    "email",
    "firstName",
    "lastName",
    "companyName",
    "title",
    "phoneNumber",
    "location",
    "url",
)
MAX_TOKEN_TTL_S = 365 * 24 * 3600


def password_hash(password: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


class Users:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ records

    def create(
        self,
        *,
        email: str,
        password: str,
        first_name: str = "",
        last_name: str = "",
        ident: str | None = None,
    ) -> Record:
        if self.by_email(email) is not None:
            raise ValidationError(f"email: a user with email {email} already exists")
        ident = ident or self.backend.ids.new()
        salt = self.backend.ids.secret(8)
        record: Record = {
            "id": ident,
            "userId": ident,
            "email": email.lower(),
            "firstName": first_name,
            "lastName": last_name,
            "fullName": f"{first_name} {last_name}".strip(),
            "emailVerified": True,
            "needsToVerifyEmail": False,
            "twoFactorAuthEnabled": False,
            "_salt": salt,
            "_password": password_hash(password, salt),
            "_tokenCutoff": 0,
        }
        stamp_new(record, self.backend.clock)
        record["passwordLastUpdated"] = record["creationDate"]
        self.store.put(KIND, record)
        return record

    def find(self, ident: str) -> Record | None:
        return self.store.get(KIND, ident)

    def by_email(self, email: str) -> Record | None:
        wanted = email.lower()
        return next((u for u in self.store.all(KIND) if u["email"] == wanted), None)

    # ------------------------------------------------------------ auth actions

    def authenticate(self, credentials: dict[str, Any]) -> dict[str, Any]:
        email, password = credentials.get("email"), credentials.get("password")
        if not email or not password:
            raise ValidationError("body: email and password are required")
        user = self.by_email(email)
        if user is None or not hmac.compare_digest(
            user["_password"], password_hash(password, user["_salt"])
        ):
            # One message for both cases: the platform does not reveal which emails exist.
            raise Unauthorized("Invalid email or password")
        scopes = credentials.get("requestedScopes") or ["all.User"]
        ttl = credentials.get("tokenTTL") or USER_TOKEN_TTL_S
        if not 0 < ttl <= MAX_TOKEN_TTL_S:
            raise ValidationError(f"body.tokenTTL: must be between 1 and {MAX_TOKEN_TTL_S}")
        return {"token": self.token_for(user, scopes=scopes, ttl_s=ttl), "userId": user["id"]}

    def token_for(
        self, user: Record, *, scopes: list[str] | None = None, ttl_s: int = USER_TOKEN_TTL_S
    ) -> str:
        return self.backend.signer.sign(
            {"sub": user["id"], "typ": "user", "scope": scopes or ["all.User"]},
            now=self.backend.clock.now(),
            ttl_s=ttl_s,
        )

    def refresh_token(self, principal: Principal) -> dict[str, Any]:
        user = self._me(principal)
        # A refreshed token never carries more scopes than the one refreshed.
        token = self.token_for(user, scopes=sorted(principal.scopes))
        return {"token": token, "userId": user["id"]}

    # ------------------------------------------------------------ /me

    def _me(self, principal: Principal) -> Record:
        user = self.find(principal.user_id or "")
        if user is None:
            raise Unauthorized("The token's user no longer exists")
        return user

    def me(self, principal: Principal) -> Record:
        return self.render(self._me(principal))

    def patch_me(self, principal: Principal, changes: dict[str, Any]) -> Record:
        user = self._me(principal)
        if (
            "email" in changes
            and changes["email"].lower() != user["email"]
            and self.by_email(changes["email"]) is not None
        ):
            raise ValidationError(f"body.email: {changes['email']} is already in use")
        if "password" in changes:
            current = changes.get("currentCredentials") or {}
            given = current.get("password", "") if isinstance(current, dict) else ""
            if not hmac.compare_digest(user["_password"], password_hash(given, user["_salt"])):
                raise BadRequest(
                    "body.currentCredentials: the current password is required "
                    "to change the password"
                )
        for field in PROFILE_FIELDS:
            if field in changes:
                user[field] = changes[field].lower() if field == "email" else changes[field]
        user["fullName"] = f"{user.get('firstName', '')} {user.get('lastName', '')}".strip()
        touch(user, self.backend.clock)
        if "password" in changes:
            user["_password"] = password_hash(changes["password"], user["_salt"])
            user["passwordLastUpdated"] = user["lastUpdated"]
        if "tokenCutoff" in changes:
            # Tokens issued before the cutoff stop working (a "log out everywhere").
            cutoff = datetime.fromisoformat(changes["tokenCutoff"].replace("Z", "+00:00"))
            user["tokenCutoff"] = changes["tokenCutoff"]
            user["_tokenCutoff"] = int(cutoff.timestamp())
        self.store.put(KIND, user)
        return self.render(user)

    def render(self, user: Record) -> Record:
        return public(user)
