"""Experience endpoints: the routes an application's experience answers, and their stats.

One endpoint per method and route shape (``/a/{x}`` and ``/a/{y}`` are the
same route). The runtime (mockserver/experience/) picks the most specific
enabled endpoint for a request and records every reply it sends in the
``experienceRequests`` records that ``stats`` and ``requestCount`` read.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.experience.routing import Route, parse_route
from losant_kit.mockserver.list_filters import compile_field_filter
from losant_kit.mockserver.models.base import Record, int_param, public, stamp_new, touch
from losant_kit.mockserver.paging import sort_and_page
from losant_kit.mockserver.times import iso_from_ms, resolve_window

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "experienceEndpoints"
REQUESTS = "experienceRequests"
MEMBERS = "experienceEndpointIds"
FIELDS = (
    "description",
    "route",
    "enabled",
    "method",
    "access",
    "deviceIdTemplate",
    "endpointTags",
    "staticReply",
    "unauthorizedReply",
)
DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
# Stats keep a bounded history per application (oldest dropped first).
MAX_REQUEST_RECORDS = 100_000


class ExperienceEndpoints:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self._routes: dict[str, Route] = {}

    @property
    def groups(self):
        return self.backend.experience_groups

    # ------------------------------------------------------------ rendering

    def route(self, endpoint: Record) -> Route:
        cached = self._routes.get(endpoint["route"])
        if cached is None:
            cached = self._routes[endpoint["route"]] = parse_route(endpoint["route"])
        return cached

    def group_ids(self, endpoint: Record) -> list[str]:
        return [
            g["id"]
            for g in self.groups.groups_listing(endpoint["applicationId"], MEMBERS, endpoint["id"])
        ]

    def render(self, endpoint: Record) -> Record:
        out = public(endpoint)
        out["experienceGroups"] = [
            {"id": g["id"], "name": g["name"]}
            for g in self.groups.groups_listing(endpoint["applicationId"], MEMBERS, endpoint["id"])
        ]
        return out

    def order_key(self, endpoint: Record) -> tuple[Any, ...]:
        """The platform's ``order``: most specific route first, then by method."""
        return (self.route(endpoint).specificity, endpoint["method"])

    # ------------------------------------------------------------ actions

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self.backend.applications.visible(principal, application_id)
        endpoints = list(self.store.children(KIND, app["id"]))
        extra: dict[str, Any] = {"applicationId": app["id"]}
        group_id = params.get("experienceGroupId")
        if group_id:
            group = self.groups.find(principal, app["id"], group_id)
            endpoints = [e for e in endpoints if e["id"] in group.get(MEMBERS, ())]
            extra["experienceGroupId"] = group["id"]
        counts = None
        if params.get("requestCountDuration") or params.get("sortField") == "requestCount":
            counts = self._request_counts(app["id"], params.get("requestCountDuration"))
            extra["notFoundRequestCount"] = counts.get(None, 0)
        sort_field = params.get("sortField") or "order"
        direction = params.get("sortDirection") or "asc"
        computed = {
            "order": self.order_key,
            "requestCount": lambda e: (counts or {}).get(e["id"], 0),
        }
        matches = compile_field_filter(params.get("filterField"), params.get("filter"))
        selected = [e for e in endpoints if matches(e)]
        # The collection is not paged (the schema has no page or perPage).
        ordered, total = sort_and_page(
            selected,
            sort_field=sort_field,
            sort_direction=direction,
            page=0,
            per_page=max(1, len(selected)),
            key=computed.get(sort_field),
        )
        items = []
        for endpoint in ordered:
            out = self.render(endpoint)
            if counts is not None:
                out["requestCount"] = counts.get(endpoint["id"], 0)
            items.append(out)
        body = {
            "items": items,
            "count": len(items),
            "totalCount": total,
            "sortField": sort_field,
            "sortDirection": direction,
            **extra,
        }
        if params.get("filterField") and params.get("filter"):
            body["filterField"] = params["filterField"]
            body["filter"] = params["filter"]
        return body

    def create(
        self,
        principal: Principal,
        application_id: str,
        body: dict[str, Any],
        *,
        ident: str | None = None,
    ) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        group_ids = self.groups.check_ids(
            app["id"], body.get("experienceGroupIds") or [], "experienceGroupIds"
        )
        ident = ident or self.backend.ids.new()
        endpoint: Record = {
            "id": ident,
            "experienceEndpointId": ident,
            "applicationId": app["id"],
            "description": "",
            "enabled": True,
            "access": "public",
            "endpointTags": {},
            "createdById": principal.subject,
            "createdByType": _actor_type(principal),
        }
        endpoint.update({k: v for k, v in body.items() if k in FIELDS and v is not None})
        self._check(endpoint)
        endpoint["lastUpdatedById"] = endpoint["createdById"]
        endpoint["lastUpdatedByType"] = endpoint["createdByType"]
        stamp_new(endpoint, self.backend.clock)
        self.store.put(KIND, endpoint)
        self.groups.set_memberships(app["id"], MEMBERS, ident, group_ids)
        return self.render(endpoint)

    def find(self, principal: Principal, application_id: str, endpoint_id: str) -> Record:
        app = self.backend.applications.visible(principal, application_id)
        endpoint = self.store.get(KIND, endpoint_id)
        if endpoint is None or endpoint["applicationId"] != app["id"]:
            raise NotFound.resource("Experience endpoint", endpoint_id)
        return endpoint

    def get(self, principal: Principal, application_id: str, endpoint_id: str) -> Record:
        return self.render(self.find(principal, application_id, endpoint_id))

    def patch(
        self,
        principal: Principal,
        application_id: str,
        endpoint_id: str,
        changes: dict[str, Any],
    ) -> Record:
        endpoint = dict(self.find(principal, application_id, endpoint_id))
        group_ids = None
        if changes.get("experienceGroupIds") is not None:
            group_ids = self.groups.check_ids(
                endpoint["applicationId"], changes["experienceGroupIds"], "experienceGroupIds"
            )
        for field in FIELDS:
            if field in changes:
                if changes[field] is None and field not in ("staticReply", "unauthorizedReply"):
                    endpoint.pop(field, None)
                else:
                    endpoint[field] = changes[field]
        self._check(endpoint)
        endpoint["lastUpdatedById"] = principal.subject
        endpoint["lastUpdatedByType"] = _actor_type(principal)
        touch(endpoint, self.backend.clock)
        self.store.put(KIND, endpoint)
        if group_ids is not None:
            self.groups.set_memberships(
                endpoint["applicationId"], MEMBERS, endpoint["id"], group_ids
            )
        return self.render(endpoint)

    def delete(self, principal: Principal, application_id: str, endpoint_id: str) -> dict:
        endpoint = self.find(principal, application_id, endpoint_id)
        self.remove(endpoint)
        return {"success": True}

    def remove(self, endpoint: Record) -> None:
        self.groups.set_memberships(endpoint["applicationId"], MEMBERS, endpoint["id"], [])
        self.store.delete(KIND, endpoint["id"])

    def linked_resources(
        self, principal: Principal, application_id: str, endpoint_id: str
    ) -> dict[str, Any]:
        """Views and workflows the endpoint uses: the mock runs neither, so none."""
        endpoint = self.find(principal, application_id, endpoint_id)
        app_id = endpoint["applicationId"]
        empty = {"items": [], "count": 0, "totalCount": 0, "applicationId": app_id}
        return {
            "experienceViews": dict(empty),
            "flows": dict(empty),
            "flowVersions": dict(empty),
            "experienceEndpoints": {
                **empty,
                "items": [self.render(endpoint)],
                "count": 1,
                "totalCount": 1,
            },
        }

    # ------------------------------------------------------------ runtime lookups

    def enabled_for(self, application_id: str, method: str) -> list[Record]:
        method = method.lower()
        return [
            e
            for e in self.store.children(KIND, application_id)
            if e.get("enabled", True) and e["method"] == method
        ]

    def resolve(
        self, application_id: str, method: str, parts: list[str]
    ) -> tuple[Record, dict[str, str]] | None:
        """The most specific enabled endpoint matching the request, with its path params."""
        best: tuple[tuple[Any, ...], Record, dict[str, str]] | None = None
        for endpoint in self.enabled_for(application_id, method):
            params = self.route(endpoint).match(parts)
            if params is None:
                continue
            key = (self.route(endpoint).specificity, endpoint["id"])
            if best is None or key < best[0]:
                best = (key, endpoint, params)
        return None if best is None else (best[1], best[2])

    # ------------------------------------------------------------ stats

    def record_request(
        self,
        application_id: str,
        endpoint_id: str | None,
        status: int,
        *,
        version: str,
        domain: str,
    ) -> None:
        ident = self.backend.ids.new()
        self.store.put(
            REQUESTS,
            {
                "id": ident,
                "applicationId": application_id,
                "endpointId": endpoint_id,
                "statusCode": status,
                "version": version,
                "domain": domain,
                "timeMs": self.backend.clock.now_ms(),
            },
        )
        if self.store.count(REQUESTS, application_id) > MAX_REQUEST_RECORDS:
            oldest = next(iter(self.store.children(REQUESTS, application_id)))
            self.store.delete(REQUESTS, oldest["id"])

    def _request_counts(self, application_id: str, duration: Any) -> Counter:
        now = self.backend.clock.now_ms()
        window = int_param(duration, "requestCountDuration", default=DAY_MS, minimum=0)
        return Counter(
            r["endpointId"]
            for r in self.store.children(REQUESTS, application_id)
            if now - window <= r["timeMs"] <= now
        )

    def stats(
        self, principal: Principal, application_id: str, params: dict[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """Request counts per bucket, grouped by ``statGrouping``; empty buckets left out."""
        app = self.backend.applications.visible(principal, application_id)
        grouping = params.get("statGrouping") or "statusCode"
        if grouping not in ("statusCode", "endpointId", "version", "domain"):
            raise ValidationError("statGrouping: one of statusCode, endpointId, version, domain")
        resolution = int_param(params.get("resolution"), "resolution", default=HOUR_MS, minimum=1)
        start_ms, end_ms = resolve_window(
            self.backend.clock.now_ms(),
            None,
            params.get("end"),
            params.get("duration") if params.get("duration") not in (None, "") else DAY_MS,
        )
        filters = {
            field: str(params[f"{field}Filter"])
            for field in ("version", "domain", "statusCode", "endpointId")
            if params.get(f"{field}Filter") not in (None, "")
        }
        buckets: dict[str, Counter] = {}
        for request in self.store.children(REQUESTS, app["id"]):
            if not start_ms <= request["timeMs"] <= end_ms:
                continue
            if any(str(request[field]) != value for field, value in filters.items()):
                continue
            label = str(request[grouping]) if request[grouping] is not None else "notFound"
            bucket = request["timeMs"] - request["timeMs"] % resolution
            buckets.setdefault(label, Counter())[bucket] += 1
        return {
            label: [{"time": iso_from_ms(t), "count": n} for t, n in sorted(counter.items())]
            for label, counter in sorted(buckets.items())
        }

    # ------------------------------------------------------------ checks

    def _check(self, endpoint: Record) -> None:
        for field in ("route", "method"):
            if not endpoint.get(field):
                raise ValidationError(f"body.{field}: an experience endpoint needs a {field}")
        shape = parse_route(endpoint["route"]).shape
        for other in self.store.children(KIND, endpoint["applicationId"]):
            if (
                other["id"] != endpoint["id"]
                and other["method"] == endpoint["method"]
                and self.route(other).shape == shape
            ):
                raise ValidationError(
                    f"body.route: {endpoint['method'].upper()} {other['route']} already exists "
                    "(one endpoint per method and route)"
                )


def _actor_type(principal: Principal) -> str:
    return "apiToken" if principal.kind == "apiToken" else "user"
