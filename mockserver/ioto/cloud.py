"""Alerts and dashboards (per account) and actions (per cloud).

Invoking an action records the invocation (``GET /_mock/invocations``) and
answers its name and merged context; it runs nothing: the mock has no email,
SMS or lambda to reach, and the docs promise no other effect to the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.ioto import paging

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.principals import Caller
    from losant_kit.mockserver.ioto.state import IotoState

Record = dict[str, Any]
DASHBOARD_FIELDS = ("name", "type", "layout", "css", "widgetCss", "widgets", "range", "refresh",
                    "live", "fixed", "framed", "toolbar", "emulate")


def _public(record: Record) -> Record:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Alerts:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def _reachable(self, caller: Caller, body: Record) -> list[Record]:
        account = self.state.account_for(caller, body)
        return [a for a in self.state.alerts.values()
                if account is None or a["accountId"] == account]

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        found = [_public(a) for a in self._reachable(caller, body)]
        return paging.page(found, lambda a: [a.get("timestamp", ""), a["id"]], params)

    def _one(self, caller: Caller, body: Record) -> Record:
        if "id" not in body:
            raise ValidationError("id names the alert")
        for alert in self._reachable(caller, body):
            if alert["id"] == body["id"]:
                return alert
        raise NotFound("Cannot find alert")

    def get(self, caller: Caller, body: Record) -> Record:
        return _public(self._one(caller, body))

    def update(self, caller: Caller, body: Record) -> Record:
        alert = self._one(caller, body)
        if "resolved" in body:
            alert["resolved"] = body["resolved"]
        return _public(alert)

    def remove(self, caller: Caller, body: Record) -> bool:
        del self.state.alerts[self._one(caller, body)["id"]]
        return True


class Dashboards:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def _reachable(self, caller: Caller, body: Record) -> list[Record]:
        account = self.state.account_for(caller, body)
        return [d for d in self.state.dashboards.values()
                if account is None or d["accountId"] == account]

    def create(self, caller: Caller, body: Record) -> Record:
        account = self.state.account_for(caller, body, required=True)
        if any(d["name"] == body["name"] for d in self._reachable(caller, body)):
            raise ValidationError("A dashboard with this name already exists")
        dashboard = {"id": self.state.ids.ulid(self.state.clock.now_ms()), "accountId": account,
                     "layout": "grid", "widgets": [],
                     **{k: body[k] for k in DASHBOARD_FIELDS if k in body}}
        self.state.dashboards[dashboard["id"]] = dashboard
        return dict(dashboard)

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        found = [dict(d) for d in self._reachable(caller, body)]
        return paging.page(found, lambda d: [d["id"]], params)

    def _one(self, caller: Caller, body: Record) -> Record:
        wanted = {k: body[k] for k in ("id", "name") if k in body}
        if not wanted:
            raise ValidationError("id or name names the dashboard")
        for dashboard in self._reachable(caller, body):
            if all(dashboard.get(k) == v for k, v in wanted.items()):
                return dashboard
        raise NotFound("Cannot find dashboard")

    def get(self, caller: Caller, body: Record) -> Record:
        return dict(self._one(caller, body))

    def update(self, caller: Caller, body: Record) -> Record:
        dashboard = self._one(caller, {k: v for k, v in body.items() if k != "name"})
        dashboard.update({k: body[k] for k in DASHBOARD_FIELDS if k in body})
        return dict(dashboard)

    def remove(self, caller: Caller, body: Record) -> bool:
        del self.state.dashboards[self._one(caller, body)["id"]]
        return True


class Actions:
    def __init__(self, state: IotoState) -> None:
        self.state = state

    def _cloud(self, body: Record) -> None:
        if body.get("cloudId") != self.state.cloud["id"]:
            raise NotFound("Cannot find cloud")

    def find(self, caller: Caller, body: Record, params: Record) -> Record:
        self._cloud(body)
        found = [_public(a) for a in self.state.actions.values()
                 if "type" not in body or a.get("type") == body["type"]]
        return paging.page(found, lambda a: [a["id"]], params)

    def get(self, caller: Caller, body: Record) -> Record:
        self._cloud(body)
        for action in self.state.actions.values():
            if action.get("type") == body["type"] and body.get("id") in (None, action["id"]):
                return _public(action)
        raise NotFound("Cannot find action")

    def invoke(self, caller: Caller, body: Record) -> Record:
        if "id" in body:
            action = self.state.actions.get(body["id"])
        else:
            action = next((a for a in self.state.actions.values()
                           if a.get("name") == body.get("name")), None)
        if action is None:
            raise NotFound("Cannot find action")
        context = {**(action.get("context") or {}), **(body.get("context") or {})}
        self.state.invocations.append({
            "time": self.state.now_iso(), "action": action["id"], "name": action["name"],
            "context": context, "caller": caller.label,
            "accountId": self.state.account_for(caller, body)})
        return {"name": action["name"], "context": context}
