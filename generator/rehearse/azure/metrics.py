"""Azure Monitor metrics of model deployments, from the traffic they get and the injected faults.

A deployment's share of a model's traffic in a region comes from the App Configuration
routing keys (almgen:active:<model>, almgen:canary:<model>); requests are BASE_RPM per region
times that share. Healthy: ERROR_RATE percent 5xx and LATENCY_MS. A fault
`{"kind": "metric", "env", "model", "metric": "error-rate"|"latency-p95", "value", "step"}` sets
the value for the model's candidate once the rollout gave it traffic `step` times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

BASE_RPM = 120.0
ERROR_RATE = 0.5
LATENCY_MS = 700.0


def share(store: dict[str, Any], env: str, model: str, deployment: str) -> float:
    keys = store["keys"]
    active = keys.get(f"almgen:active:{model}\u0000{env}", {}).get("value")
    canary = json.loads(keys.get(f"almgen:canary:{model}\u0000{env}", {}).get("value") or "{}")
    percent = int(canary.get("percent") or 0)
    if canary.get("deployment") == deployment and percent:
        return float(percent)
    if active == deployment:
        return 100.0 - (percent if canary.get("deployment") not in (None, "", active) else 0)
    return 0.0


def _fault_value(
    faults: list[dict[str, Any]], rollout: dict[str, Any], env: str, model: str, metric: str
) -> Any:
    for fault in faults:
        if (fault.get("kind"), fault.get("env"), fault.get("model"), fault.get("metric")) == (
            "metric",
            env,
            model,
            metric,
        ) and int(rollout.get("steps", 0)) >= int(fault.get("step", 1)):
            return float(fault["value"])
    return None


@dataclass(frozen=True)
class Query:
    metric: str
    filter_: str  # OData: ModelDeploymentName eq '<deployment>' [and ...]
    minutes: float


def series(
    state: dict[str, Any], faults: list[dict[str, Any]], account: str, query: Query
) -> list[dict[str, Any]]:
    """The `timeseries` of one metric for the deployment the OData filter names."""
    metric, filter_, minutes = query.metric, query.filter_, query.minutes
    info = state["accounts"][account]
    env, region = info["environment"], info["region"]
    deployment = filter_.split("'")[1] if "'" in filter_ else ""
    model = info["deployments"].get(deployment, {}).get("model", "")
    store = next(
        (s for s in state["stores"].values() if (s["environment"], s["region"]) == (env, region)), None
    )
    traffic = share(store, env, model, deployment) if store else 0.0
    rollout = state["rollouts"].get(f"{env}/{region}/{model}", {})
    candidate = rollout.get("candidate") == deployment
    if metric == "AzureOpenAIRequests":
        total = BASE_RPM * traffic / 100.0 * minutes
        rate = (_fault_value(faults, rollout, env, model, "error-rate") if candidate else None) or ERROR_RATE
        errors = round(total * rate / 100.0)
        return [
            _one("StatusCode", "200", total - errors, "total"),
            _one("StatusCode", "500", errors, "total"),
        ]
    latency = (_fault_value(faults, rollout, env, model, "latency-p95") if candidate else None) or LATENCY_MS
    return [{"metadatavalues": [], "data": [{"average": latency if traffic else None}]}]


def _one(dimension: str, value: str, count: float, aggregation: str) -> dict[str, Any]:
    return {
        "metadatavalues": [
            {"name": {"value": dimension.lower(), "localizedValue": dimension}, "value": value}
        ],
        "data": [{aggregation: count}],
    }
