"""operationId -> handler for the Ioto spec: thin, the models hold the behaviour.

Every action is served on both of its path forms (``x`` for the login form,
``tok.x`` for the token form) by the same handler; the caller (and so the
account it reaches) is what differs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from losant_kit.mockserver.ioto import metrics
from losant_kit.mockserver.ioto.accounts import Accounts, Users
from losant_kit.mockserver.ioto.cloud import Actions, Alerts, Dashboards
from losant_kit.mockserver.ioto.devices import Devices
from losant_kit.mockserver.ioto.generic import Generic
from losant_kit.mockserver.profiles.engine import Call

Handler = Callable[[Call], Any]


@cache
def _item_schemas() -> dict[str, Any]:
    from losant_kit.specs.ioto import load_ioto_spec

    return load_ioto_spec()["components"]["schemas"]


def _body(call: Call) -> dict[str, Any]:
    return call.body if isinstance(call.body, dict) else {}


def _paging(call: Call) -> dict[str, Any]:
    return {k: call.params.get(k) for k in ("limit", "next", "prev")}


def _exists(call: Call) -> bool:
    # ?exists (bare, as samples/api/set-item.sh sends it) or any value but false/null.
    value = call.params.get("exists")
    return value is not None and str(value).lower() not in ("false", "null")


ACTIONS: dict[str, Handler] = {
    "account.close": lambda c: Accounts(c.state).close(c.caller, _body(c)),
    "account.find": lambda c: Accounts(c.state).find(c.caller, _body(c), _paging(c)),
    "account.get": lambda c: Accounts(c.state).get(c.caller, _body(c)),
    "account.updateIdentity": lambda c: Accounts(c.state).update_identity(c.caller, _body(c)),
    "action.find": lambda c: Actions(c.state).find(c.caller, _body(c), _paging(c)),
    "action.get": lambda c: Actions(c.state).get(c.caller, _body(c)),
    "action.invoke": lambda c: Actions(c.state).invoke(c.caller, _body(c)),
    "alert.find": lambda c: Alerts(c.state).find(c.caller, _body(c), _paging(c)),
    "alert.get": lambda c: Alerts(c.state).get(c.caller, _body(c)),
    "alert.remove": lambda c: Alerts(c.state).remove(c.caller, _body(c)),
    "alert.update": lambda c: Alerts(c.state).update(c.caller, _body(c)),
    "dashboard.create": lambda c: Dashboards(c.state).create(c.caller, _body(c)),
    "dashboard.find": lambda c: Dashboards(c.state).find(c.caller, _body(c), _paging(c)),
    "dashboard.get": lambda c: Dashboards(c.state).get(c.caller, _body(c)),
    "dashboard.remove": lambda c: Dashboards(c.state).remove(c.caller, _body(c)),
    "dashboard.update": lambda c: Dashboards(c.state).update(c.caller, _body(c)),
    "device.claim": lambda c: Devices(c.state).claim(c.caller, _body(c)),
    "device.find": lambda c: Devices(c.state).find(c.caller, _body(c), _paging(c)),
    "device.get": lambda c: Devices(c.state).get(c.caller, _body(c)),
    "device.release": lambda c: Devices(c.state).release(c.caller, _body(c)),
    "device.getCreds": lambda c: Devices(c.state).creds(c.caller, c.body),
    "device.getSignedUrl": lambda c: Devices(c.state).signed_url(c.caller, _body(c)),
    "device.provision": lambda c: Devices(c.state).provision(c.caller, _body(c)),
    "provision.getCerts": lambda c: Devices(c.state).provision(c.caller, _body(c)),
    "provision.update": lambda c: Devices(c.state).update(c.caller, _body(c)),
    "provision.updateReport": lambda c: Devices(c.state).update_report(c.caller, _body(c)),
    "generic.create": lambda c: _generic(c).create(c.caller, _body(c)),
    "generic.find": lambda c: _generic(c).find(c.caller, _body(c), _paging(c)),
    "generic.get": lambda c: _generic(c).get(c.caller, _body(c)),
    "generic.remove": lambda c: _generic(c).remove(c.caller, _body(c)),
    "generic.update": lambda c: _generic(c).update(c.caller, _body(c), must_exist=_exists(c)),
    "metric.fetch": lambda c: {"data": metrics.fetch(c.state, c.caller, _body(c)),
                               "paged": False},
    "metric.getDeviceSchema": lambda c: _device_schema(),
    "metric.getMetricList": lambda c: metrics.metric_list(c.state, c.caller, _body(c)),
    "test.ping": lambda c: "pinged\n",
    "user.create": lambda c: Users(c.state).create(c.caller, _body(c)),
    "user.find": lambda c: Users(c.state).find(c.caller, _body(c), _paging(c)),
    "user.get": lambda c: Users(c.state).get(c.caller, _body(c)),
    "user.getRoles": lambda c: Users(c.state).roles(c.caller),
    "user.login": lambda c: Users(c.state).login(c.caller, _body(c)),
    "user.remove": lambda c: Users(c.state).remove(c.caller, _body(c)),
    "user.update": lambda c: Users(c.state).update(c.caller, _body(c)),
    "user.updateRole": lambda c: Users(c.state).update_role(c.caller, _body(c)),
}


def _generic(call: Call) -> Generic:
    return Generic(call.state, _item_schemas())


def _device_schema() -> dict[str, Any]:
    """The device-synced models, as the spec describes their items."""
    schemas = _item_schemas()
    return {"models": {name.removesuffix("Item"): schemas[name] for name in
                       ("DeviceItem", "StoreItem", "LogItem", "CommandItem")}}


def registry() -> dict[str, Handler]:
    """Both path forms of every action."""
    return {**ACTIONS, **{f"tok.{name}": handler for name, handler in ACTIONS.items()}}
