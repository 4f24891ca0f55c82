"""Device metrics: raw points the mock stores, and what /metric/fetch makes of them.

A series is one (account, device, namespace, metric, dimensions); it holds raw
(timestamp, value) points, timestamps in epoch seconds (the cloud API docs'
unit). Points come from the world file (``metrics:``) or the control API
(``POST /_mock/metrics``).

``fetch`` reads ``period`` seconds ending now on the mock's clock (or starting
at ``start``), cuts that span into ``POINTS_PER_SPAN`` equal buckets (the docs
give 10-12 points per span) and reports, per non-empty bucket, the
``statistic`` of its raw points, the bucket's end as ``timestamp`` and its
``count``. ``accumulate`` folds the whole span into one point; ``limit`` keeps
the newest points.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.errors import ValidationError

if TYPE_CHECKING:
    from losant_kit.mockserver.ioto.principals import Caller
    from losant_kit.mockserver.ioto.state import IotoState

DEVICE_NAMESPACE = "Embedthis/Device"
POINTS_PER_SPAN = 12
STATISTICS = {
    "avg": lambda values: sum(values) / len(values),
    "min": min,
    "max": max,
    "count": len,
    "sum": sum,
}


def dimensions_key(dimensions: dict[str, Any] | None) -> str:
    return json.dumps(dimensions or {}, sort_keys=True, separators=(",", ":"))


def feed(state: IotoState, series: dict[str, Any], *, now: float) -> int:
    """Store a series' points (world file or control API); returns how many."""
    device = state.devices.get(series.get("deviceId", ""))
    if device is None or not device.get("accountId"):
        raise ValidationError(f"metrics: no claimed device {series.get('deviceId')!r}")
    namespace = series.get("namespace", DEVICE_NAMESPACE)
    metric = series.get("metric")
    if not isinstance(metric, str) or not metric:
        raise ValidationError("metrics: metric must be a non-empty string")
    dimensions = series.get("dimensions") or {"Device": device["id"]}
    key = (device["accountId"], device["id"], namespace, metric, dimensions_key(dimensions))
    points = []
    for point in series.get("points", []):
        value = point.get("value")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ValidationError("metrics: every point needs a finite number value")
        if "timestamp" in point:
            stamp = float(point["timestamp"])
        else:  # world files may place points relative to start-up
            stamp = now - float(point.get("ago", 0))
        points.append((stamp, float(value)))
    # Only a series whose every point is good is stored: a refusal changes nothing.
    stored = state.metrics.setdefault(key, [])
    stored.extend(points)
    stored.sort()
    return len(points)


def fetch(state: IotoState, caller: Caller, body: dict[str, Any]) -> list[dict[str, Any]]:
    account = state.account_for(caller, body)
    device = state.device_of(caller, body["deviceId"], account)
    now = state.clock.now()
    results = []
    for item in body["items"]:
        namespace = item["namespace"]
        if namespace != DEVICE_NAMESPACE:
            raise ValidationError(f"namespace must be {DEVICE_NAMESPACE}")
        statistic = item.get("statistic", "avg")
        if statistic not in STATISTICS:
            raise ValidationError(f"statistic must be one of {', '.join(STATISTICS)}")
        period = float(item.get("period", 300))
        if period <= 0:
            raise ValidationError("period must be positive")
        dimensions = item.get("dimensions") or {"Device": device["id"]}
        metric = item.get("metric")
        result: dict[str, Any] = {"namespace": namespace, "metric": metric or "",
                                  "dimensions": dimensions, "owner": "device",
                                  "period": period}
        raw = state.metrics.get((device["accountId"], device["id"], namespace, metric,
                                 dimensions_key(dimensions)))
        if raw is None:
            result.update(samples=0, points=[], error="Cannot find metric")
            results.append(result)
            continue
        start = float(item["start"]) if "start" in item else now - period
        end = start + period
        inside = [(t, v) for t, v in raw if start < t <= end]
        buckets = 1 if item.get("accumulate") else POINTS_PER_SPAN
        width = period / buckets
        grouped: dict[int, list[float]] = {}
        for stamp, value in inside:
            index = min(buckets - 1, int((stamp - start) / width))
            grouped.setdefault(index, []).append(value)
        points = [{"value": STATISTICS[statistic](values),
                   "timestamp": int(start + (index + 1) * width), "count": len(values)}
                  for index, values in sorted(grouped.items())]
        if item.get("limit"):
            points = points[-int(item["limit"]):]
        result.update(samples=len(inside), points=points)
        results.append(result)
    return results


def metric_list(state: IotoState, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("cloudId") != state.cloud["id"]:
        raise ValidationError("Cannot find cloud")
    account = state.account_for(caller, body)
    keys = [k for k in state.metrics if account is None or k[0] == account]
    namespace, metric = body.get("namespace"), body.get("metric")
    result: dict[str, Any] = {"namespaces": sorted({k[2] for k in keys})}
    if namespace is not None:
        result["metrics"] = sorted({k[3] for k in keys if k[2] == namespace})
        if metric is not None:
            result["dimensions"] = [json.loads(d) for d in sorted(
                {k[4] for k in keys if k[2] == namespace and k[3] == metric})]
    return result
