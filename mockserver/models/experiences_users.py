"""Experience users: the end users of an application's experience, and their tokens.

An experience user belongs to one application. Its tokens are HS256 JWTs of
type ``experienceUser`` signed with the mock's secret, with a lifetime; the
platform API refuses them (their type is not one it knows) and the experience
runtime refuses platform tokens. Setting ``tokenCutoff`` (or the
application's ``expUserTokenCutoff``) invalidates every token issued before
it; deleting the user invalidates all of them.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, Unauthorized, ValidationError
from losant_kit.mockserver.models.base import (
    Record,
    apply_changes,
    collection,
    flag,
    public,
    stamp_new,
    touch,
)
from losant_kit.mockserver.models.users import password_hash
from losant_kit.mockserver.query import compile_experience_user_query
from losant_kit.mockserver.times import parse_state_time

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "experienceUsers"
TOKEN_TYPE = "experienceUser"
# Lifetime of a token issued by the runtime's login reply (the platform's
# Generate Token node lets the workflow choose; a day is the mock's choice).
TOKEN_TTL_S = 24 * 3600
PROFILE_FIELDS = ("email", "firstName", "lastName", "userTags", "tokenCutoff")
MEMBERS = "experienceUserIds"


class ExperienceUsers:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    @property
    def groups(self):
        return self.backend.experience_groups

    # ------------------------------------------------------------ rendering

    def render(self, user: Record) -> Record:
        out = public(user)
        out["experienceGroups"] = [
            self.groups.summary(g)
            for g in self.groups.groups_listing(user["applicationId"], MEMBERS, user["id"])
        ]
        return out

    # ------------------------------------------------------------ actions

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        users = list(self.store.children(KIND, app["id"]))
        extra: dict[str, Any] = {"applicationId": app["id"]}
        group_id = params.get("experienceGroupId")
        if group_id:
            group = self.groups.find(principal, app["id"], group_id)
            wanted = {group["id"]}
            if flag(params.get("includeAncestorGroups", False)):
                wanted |= set(self.groups.ancestor_ids(group))
            members = {u for g in wanted for u in self.store.get("experienceGroups", g)[MEMBERS]}
            users = [u for u in users if u["id"] in members]
            extra["experienceGroupId"] = group["id"]
        membership = {u["id"]: self.groups.direct_group_ids(app["id"], u["id"]) for u in users}
        matches = compile_experience_user_query(params.get("query"))
        return collection(
            users,
            params,
            default_sort="email",
            render=self.render,
            predicate=lambda u: matches({**u, "experienceGroupIds": membership[u["id"]]}),
            extra=extra,
        )

    def create(
        self,
        principal: Principal,
        application_id: str,
        body: dict[str, Any],
        *,
        ident: str | None = None,
    ) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        email = str(body.get("email", "")).lower()
        if not email or not body.get("password"):
            raise ValidationError("body: an experience user needs an email and a password")
        self._check_email(app["id"], email, None)
        group_ids = self.groups.check_ids(
            app["id"], body.get("experienceGroupIds") or [], "experienceGroupIds"
        )
        ident = ident or self.backend.ids.new()
        user: Record = {
            "id": ident,
            "experienceUserId": ident,
            "applicationId": app["id"],
            "firstName": "",
            "lastName": "",
            "userTags": {},
        }
        user.update({k: v for k, v in body.items() if k in PROFILE_FIELDS and v is not None})
        user["email"] = email
        self._check_cutoff(user)
        stamp_new(user, self.backend.clock)
        self._set_password(user, body["password"])
        self.store.put(KIND, user)
        self.groups.set_memberships(app["id"], MEMBERS, ident, group_ids)
        return self.render(user)

    def find(self, principal: Principal, application_id: str, user_id: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        user = self.store.get(KIND, user_id)
        if user is None or user["applicationId"] != app["id"]:
            raise NotFound.resource("Experience user", user_id)
        return user

    def get(self, principal: Principal, application_id: str, user_id: str) -> Record:
        return self.render(self.find(principal, application_id, user_id))

    def patch(
        self, principal: Principal, application_id: str, user_id: str, changes: dict[str, Any]
    ) -> Record:
        user = dict(self.find(principal, application_id, user_id))
        if "email" in changes:
            changes = {**changes, "email": str(changes["email"]).lower()}
            self._check_email(user["applicationId"], changes["email"], user["id"])
        group_ids = None
        if changes.get("experienceGroupIds") is not None:
            group_ids = self.groups.check_ids(
                user["applicationId"], changes["experienceGroupIds"], "experienceGroupIds"
            )
        apply_changes(user, changes, PROFILE_FIELDS)
        self._check_cutoff(user)
        if changes.get("password"):
            self._set_password(user, changes["password"])
        touch(user, self.backend.clock)
        self.store.put(KIND, user)
        if group_ids is not None:
            self.groups.set_memberships(user["applicationId"], MEMBERS, user["id"], group_ids)
        return self.render(user)

    def delete(self, principal: Principal, application_id: str, user_id: str) -> dict:
        user = self.find(principal, application_id, user_id)
        self.remove(user)
        return {"success": True}

    def remove(self, user: Record) -> None:
        self.groups.set_memberships(user["applicationId"], MEMBERS, user["id"], [])
        self.store.delete(KIND, user["id"])

    # ------------------------------------------------------------ logging in

    def by_email(self, application_id: str, email: str) -> Record | None:
        email = email.lower()
        return next(
            (u for u in self.store.children(KIND, application_id) if u["email"] == email), None
        )

    def login(self, application_id: str, email: Any, password: Any) -> dict[str, Any]:
        """Check the credentials; a signed token and the user, or Unauthorized."""
        if not isinstance(email, str) or not isinstance(password, str):
            raise Unauthorized("email and password are required")
        user = self.by_email(application_id, email)
        if user is None or not hmac.compare_digest(
            user["_passwordHash"], password_hash(password, user["_salt"])
        ):
            raise Unauthorized("Invalid email or password")
        user["lastLogin"] = iso(self.backend.clock.now())
        self.store.put(KIND, user)
        return {"token": self.token_for(user), "user": self.render(user)}

    def token_for(self, user: Record, ttl_s: int = TOKEN_TTL_S) -> str:
        now = self.backend.clock.now()
        return self.backend.signer.sign(
            {
                "sub": user["id"],
                "typ": TOKEN_TYPE,
                "app": user["applicationId"],
                # Milliseconds, so a cutoff set in the same second as a login
                # still tells the two apart.
                "iatMs": int(now * 1000),
            },
            now=now,
            ttl_s=ttl_s,
        )

    def user_for_token(self, application_id: str, token: str) -> Record | None:
        """The experience user a token names, or None if it is not a valid one here."""
        backend = self.backend
        try:
            claims = backend.signer.decode(token, now=backend.clock.now())
        except Unauthorized:
            return None
        if claims.get("typ") != TOKEN_TYPE or claims.get("app") != application_id:
            return None
        user = self.store.get(KIND, claims["sub"])
        if user is None or user["applicationId"] != application_id:
            return None
        issued_ms = claims.get("iatMs", claims["iat"] * 1000)
        app = self.store.get("applications", application_id) or {}
        for cutoff in (user.get("tokenCutoff"), app.get("expUserTokenCutoff")):
            if cutoff and issued_ms < _instant_ms(cutoff):
                return None
        return user

    # ------------------------------------------------------------ checks

    def _set_password(self, user: Record, password: str) -> None:
        user["_salt"] = self.backend.ids.secret(8)
        user["_passwordHash"] = password_hash(password, user["_salt"])
        user["passwordLastUpdated"] = iso(self.backend.clock.now())

    def _check_email(self, application_id: str, email: str, own_id: str | None) -> None:
        other = self.by_email(application_id, email)
        if other is not None and other["id"] != own_id:
            raise ValidationError(f"email: an experience user with email {email} already exists")

    @staticmethod
    def _check_cutoff(user: Record) -> None:
        if user.get("tokenCutoff") is not None:
            _instant_ms(user["tokenCutoff"])


def _instant_ms(value: Any) -> int:
    return parse_state_time(value, 0, field="tokenCutoff")
