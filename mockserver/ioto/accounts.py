"""Accounts of the device cloud and their users.

A login token acts on its user's account only; a field the docs reserve for a
role (``id``/``email`` that pick another account or user) counts only for a
caller holding it, and even then never outside what the caller reaches: a
login owner still stays in its own account, a CloudAPI token reaches all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.errors import Forbidden, NotFound, ValidationError
from losant_kit.mockserver.ioto import paging
from losant_kit.mockserver.ioto.principals import USER_ROLES

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.principals import Caller
    from losant_kit.mockserver.ioto.state import IotoState

Record = dict[str, Any]
ACCOUNT_FIELDS = ("id", "name", "email", "cloudId", "created", "activity", "closed")
USER_FIELDS = ("id", "accountId", "cloudId", "email", "first", "last", "role", "activity")


def account_view(account: Record) -> Record:
    return {k: account[k] for k in ACCOUNT_FIELDS if account.get(k) is not None}


def user_view(user: Record) -> Record:
    return {k: user[k] for k in USER_FIELDS if user.get(k) is not None}


class Accounts:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def _reachable(self, caller: Caller) -> list[Record]:
        return [a for a in self.state.accounts.values()
                if caller.cloud_wide or a["id"] == caller.account_id]

    def _pick(self, caller: Caller, body: Record, role: str) -> Record:
        """The account named by id/email (honoured for ``role``), else the caller's."""
        wanted = {k: body[k] for k in ("id", "email") if k in body and caller.has(role)}
        if not wanted:
            if body.get("accountId") is not None or caller.account_id is None:
                account_id = self.state.account_for(caller, body, required=True)
            else:
                account_id = caller.account_id
            return self.state.accounts[account_id]
        for account in self._reachable(caller):
            if all(account.get(k) == v for k, v in wanted.items()):
                return account
        raise NotFound("Cannot find account")

    def get(self, caller: Caller, body: Record) -> Record:
        return account_view(self._pick(caller, body, "owner"))

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        wanted = {k: body[k] for k in ("id", "email") if k in body}
        found = [account_view(a) for a in self._reachable(caller)
                 if all(a.get(k) == v for k, v in wanted.items())]
        return paging.page(found, lambda a: [a["id"]], params)

    def update_identity(self, caller: Caller, body: Record) -> Record:
        account = self._pick(caller, {k: v for k, v in body.items() if k != "email"}, "owner")
        for name in ("name", "email"):
            if name in body:
                account[name] = body[name]
        return account_view(account)

    def close(self, caller: Caller, body: Record) -> bool:
        account = self._pick(caller, body, "owner")
        state, account_id = self.state, account["id"]
        # Closing removes the account with its users, devices' claims, dashboards and data.
        for user_id in [u for u, r in state.users.items() if r["accountId"] == account_id]:
            del state.users[user_id]
        for device in state.devices.values():
            if device.get("accountId") == account_id:
                release(state, device)
        for table in (state.dashboards, state.alerts):
            for ident in [i for i, r in table.items() if r.get("accountId") == account_id]:
                del table[ident]
        del state.accounts[account_id]
        return True


def release(state: IotoState, device: Record) -> None:
    """A device leaves its account: its synced items and metrics go with the claim."""
    account_id, device_id = device.get("accountId"), device["id"]
    for key in [k for k, item in state.items.items()
                if item["accountId"] == account_id and item["deviceId"] == device_id]:
        del state.items[key]
    for key in [k for k in state.metrics if k[0] == account_id and k[1] == device_id]:
        del state.metrics[key]
    device["accountId"] = None


class Users:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def _account(self, caller: Caller, body: Record) -> str:
        return self.state.account_for(caller, body, required=True)

    def _members(self, account_id: str) -> list[Record]:
        return [u for u in self.state.users.values() if u["accountId"] == account_id]

    def _pick(self, caller: Caller, body: Record) -> Record:
        account_id = self._account(caller, body)
        wanted = {k: body[k] for k in ("id", "email") if k in body and caller.has("admin")}
        if not wanted:
            if caller.kind != "login":
                raise ValidationError("give id or email")
            return self.state.users[caller.subject]
        for user in self._members(account_id):
            if all(user.get(k) == v for k, v in wanted.items()):
                return user
        raise NotFound("Cannot find user")

    def create(self, caller: Caller, body: Record) -> Record:
        account_id = self._account(caller, body)
        self._may_grant(caller, body["role"])
        if any(u["email"].lower() == body["email"].lower() for u in self.state.users.values()):
            raise ValidationError("A user with this email already exists")
        user = {"id": self.state.ids.ulid(self.state.clock.now_ms()), "accountId": account_id,
                "cloudId": self.state.cloud["id"], "email": body["email"],
                "role": body["role"], "activity": self.state.now_iso()}
        self.state.users[user["id"]] = user
        return user_view(user)

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        account_id = self._account(caller, body)
        wanted = {k: body[k] for k in ("id", "email") if k in body and caller.has("admin")}
        found = [user_view(u) for u in self._members(account_id)
                 if all(u.get(k) == v for k, v in wanted.items())]
        return paging.page(found, lambda u: [u["id"]], params)

    def get(self, caller: Caller, body: Record) -> Record:
        return user_view(self._pick(caller, body))

    def update(self, caller: Caller, body: Record) -> Record:
        user = self._pick(caller, body)
        if caller.kind == "login" and user["id"] != caller.subject and not caller.has("admin"):
            raise Forbidden("Insufficient privilege")
        for name in ("first", "last", "preferences"):
            if name in body:
                user[name] = body[name]
        return user_view(user)

    def update_role(self, caller: Caller, body: Record) -> Record:
        user = self._pick(caller, body)
        if "role" in body:
            self._may_grant(caller, body["role"])
            user["role"] = body["role"]
        return user_view(user)

    def remove(self, caller: Caller, body: Record) -> bool:
        user = self._pick(caller, body)
        if caller.kind == "login" and user["id"] == caller.subject:
            raise ValidationError("A user cannot remove themself")
        del self.state.users[user["id"]]
        return True

    def roles(self, caller: Caller) -> Record:
        from losant_kit.mockserver.ioto.principals import GRANTS

        return {"role": caller.role,
                "roles": [r for r in USER_ROLES if caller.role in GRANTS[r]]}

    def login(self, caller: Caller, body: Record) -> Record:
        user = self.state.users[caller.subject]
        user["activity"] = self.state.now_iso()
        account = self.state.accounts[user["accountId"]]
        return {"account": account_view(account), "user": user_view(user),
                "roles": self.roles(caller), "schema": {}}

    @staticmethod
    def _may_grant(caller: Caller, role: str) -> None:
        if role not in USER_ROLES:
            raise ValidationError(f"role must be one of {', '.join(USER_ROLES)}")
        # Only owners (and CloudAPI tokens, which hold the owner role) make owners.
        if role == "owner" and not caller.has("owner"):
            raise Forbidden("Only an owner may grant the owner role")
