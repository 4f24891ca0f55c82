"""API tokens, owned by an application or by a user.

The token string is a signed JWT naming the token record; the record decides
whether it still works (deleted, ``status: inactive`` or past its
``expirationDate`` -> 401 on the next request).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import Forbidden, NotFound, Unauthorized, ValidationError
from losant_kit.mockserver.models.base import (
    Record,
    apply_changes,
    collection,
    public,
    stamp_new,
    touch,
)

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "apiTokens"
OwnerType = Literal["application", "user"]
PATCHABLE = ("name", "description", "status", "defaultRole", "orgRoles")


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class ApiTokens:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    def _owner(
        self,
        principal: Principal,
        owner_type: OwnerType,
        owner_id: str | None,
        managing: bool = True,
    ) -> str:
        """Resolve and authorise the owner (an application id, or the calling user)."""
        if owner_type == "application":
            return self.backend.applications.visible(principal, owner_id or "")["id"]
        if principal.user_id is None:
            raise Forbidden("Only users have user API tokens")
        # denyOauthTokens marks post, patch and delete only: reading stays allowed.
        if principal.kind == "apiToken" and managing:
            # A token may not mint or manage tokens of its user (platform: denyOauthTokens).
            raise Forbidden("User API tokens cannot manage user API tokens")
        return principal.user_id

    # ------------------------------------------------------------ collection

    def list(
        self,
        principal: Principal,
        owner_type: OwnerType,
        owner_id: str | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        owner = self._owner(principal, owner_type, owner_id, managing=False)
        records = [t for t in self.store.children(KIND, owner) if t["ownerType"] == owner_type]
        extra = {"ownerId": owner, "ownerType": owner_type}
        return collection(records, params, render=public, extra=extra)

    def create(
        self,
        principal: Principal,
        owner_type: OwnerType,
        owner_id: str | None,
        body: dict[str, Any],
        *,
        ident: str | None = None,
        token: str | None = None,
    ) -> Record:
        """Create a token; ``token`` pins its string (world files use it for CI secrets)."""
        owner = self._owner(principal, owner_type, owner_id)
        ident = ident or self.backend.ids.new()
        default_scope = ["all.Application"] if owner_type == "application" else ["all.User"]
        record: Record = {
            "id": ident,
            "apiTokenId": ident,
            "ownerId": owner,
            "ownerType": owner_type,
            "creatorId": principal.subject,
            "creatorType": "apiToken" if principal.kind == "apiToken" else "user",
            "name": body.get("name", "API token"),
            "description": body.get("description", ""),
            "scope": body.get("scope") or default_scope,
            "status": body.get("status", "active"),
        }
        for field in ("expirationDate", "defaultRole", "orgRoles"):
            if field in body:
                record[field] = body[field]
        ttl = None
        if "expirationDate" in record:
            ttl = int(_epoch(record["expirationDate"]) - self.backend.clock.now())
            if ttl <= 0:
                raise ValidationError("body.expirationDate: must be in the future")
        stamp_new(record, self.backend.clock)
        if token is not None:
            record["_pinned"] = token
        self.store.put(KIND, record)
        token = token or self.backend.signer.sign(
            {"sub": ident, "typ": "apiToken", "scope": record["scope"]},
            now=self.backend.clock.now(),
            ttl_s=ttl,
        )
        # The token string is returned here and never again.
        return {**public(record), "token": token}

    # ------------------------------------------------------------ one token

    def _find(
        self,
        principal: Principal,
        owner_type: OwnerType,
        owner_id: str | None,
        token_id: str,
        managing: bool = True,
    ) -> Record:
        owner = self._owner(principal, owner_type, owner_id, managing)
        record = self.store.get(KIND, token_id)
        if record is None or record["ownerId"] != owner or record["ownerType"] != owner_type:
            raise NotFound.resource("API token", token_id)
        return record

    def get(
        self, principal: Principal, owner_type: OwnerType, owner_id: str | None, token_id: str
    ) -> Record:
        return public(self._find(principal, owner_type, owner_id, token_id, managing=False))

    def patch(
        self,
        principal: Principal,
        owner_type: OwnerType,
        owner_id: str | None,
        token_id: str,
        changes: dict[str, Any],
    ) -> Record:
        record = self._find(principal, owner_type, owner_id, token_id)
        apply_changes(record, changes, PATCHABLE)
        touch(record, self.backend.clock)
        self.store.put(KIND, record)
        return public(record)

    def delete(
        self, principal: Principal, owner_type: OwnerType, owner_id: str | None, token_id: str
    ) -> dict[str, bool]:
        record = self._find(principal, owner_type, owner_id, token_id)
        self.store.delete(KIND, record["id"])
        return {"success": True}

    # ------------------------------------------------------------ verification

    def pinned(self, token: str) -> dict[str, Any] | None:
        """Claims for a token string pinned by a world file, if it is one."""
        for record in self.store.all(KIND):
            if record.get("_pinned") == token:
                return {"sub": record["id"], "typ": "apiToken"}
        return None

    def principal_for(self, claims: dict[str, Any]) -> Principal:
        record = self.store.get(KIND, claims["sub"])
        if record is None:
            raise Unauthorized("API token has been deleted")
        if record.get("status") != "active":
            raise Unauthorized("API token is inactive")
        expires = record.get("expirationDate")
        if expires and self.backend.clock.now() >= _epoch(expires):
            raise Unauthorized("API token has expired")
        scopes = frozenset(record["scope"])
        if record["ownerType"] == "application":
            return Principal("apiToken", record["id"], scopes, application_id=record["ownerId"])
        return Principal("apiToken", record["id"], scopes, user_id=record["ownerId"])
