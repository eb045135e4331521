"""`az monitor metrics list`: per-deployment traffic a scenario scripts over simulated time.

Baseline: REQUESTS_PER_MINUTE requests a minute per model and region, split by each deployment's
share at that minute (foundation models: the App Configuration keys `almgen:active:<model>` and
`almgen:canary:<model>`; custom models: the online endpoint's traffic map), BASELINE_ERROR_PERCENT
5xx, BASELINE_LATENCY_MS latency (per kind). A metric fault `{"kind": "metric", "env", "model", "metric",
"value", "step"}` sets the candidate's error rate or latency to `value` from the moment it received
more traffic for the `step`-th time; a regional outage `{"kind": "outage", "env", "region"}` makes
every deployment of the region answer 5xx only. The window's length is taken from --start-time/--end-time and
ends at the simulated now (callers compute their window from the wall clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from generator.rehearse.world import START, World

REQUESTS_PER_MINUTE = 200.0
BASELINE_ERROR_PERCENT = 0.5
BASELINE_LATENCY_MS = {"foundation": 450.0, "custom": 60.0}  # a chat completion; a scoring call
# a chat completion's tokens (the gateway's language-model log): prompt and completion; a `tokens`
# fault sets the total per request, the prompt staying the same
BASELINE_PROMPT_TOKENS, BASELINE_COMPLETION_TOKENS = 600.0, 250.0

AGGREGATIONS = {  # per metric, what Azure Monitor answers; the first is what the data points carry
    "AzureOpenAIRequests": ("Total", "Count"),
    "AzureOpenAITimeToResponse": ("Average", "Maximum", "Minimum"),
    "RequestsPerMinute": ("Average",),
    "RequestLatency_P95": ("Average",),
}

FOUNDATION = {
    "requests": "AzureOpenAIRequests",
    "status": "StatusCode",
    "latency": "AzureOpenAITimeToResponse",
    "by": "ModelDeploymentName",
    "kind": "foundation",
}
ML = {
    "requests": "RequestsPerMinute",
    "status": "statusCodeClass",
    "latency": "RequestLatency_P95",
    "by": "deployment",
    "kind": "custom",
}


class UnsupportedAggregation(ValueError):
    """Azure Monitor's answer to an aggregation the metric does not have."""


def record_shares(
    world: World, state: dict[str, Any], env: str, region: str, model: str, *, shares: dict[str, int]
) -> None:
    """Note a traffic change; a deployment whose share grows takes one more rollout step."""
    history = [t for t in state["traffic"] if (t["env"], t["region"], t["model"]) == (env, region, model)]
    before = history[-1]["shares"] if history else {}
    minute = round(world.minutes(), 3)
    if shares == before:
        return
    state["traffic"].append(
        {"minute": minute, "env": env, "region": region, "model": model, "shares": shares}
    )
    for deployment, share in shares.items():
        if share > int(before.get(deployment, 0)) and before:
            key = f"{env}/{model}/{deployment}"
            steps = state["steps"].setdefault(key, [])
            if not steps or steps[-1] != minute:
                steps.append(minute)
    world.record("azure-traffic", env=env, region=region, model=model, shares=shares)


def shares_at(state: dict[str, Any], env: str, region: str, model: str, minute: float) -> dict[str, int]:
    """The traffic shares of MODEL's deployments in ENV's REGION at MINUTE (the recorded history)."""
    return _share_at(state, env, region, model, minute)


def _share_at(state: dict[str, Any], env: str, region: str, model: str, minute: float) -> dict[str, int]:
    current: dict[str, int] = {}
    for item in state["traffic"]:
        if (item["env"], item["region"], item["model"]) == (env, region, model) and item["minute"] <= minute:
            current = item["shares"]
    return current


def _fault_value(
    world: World, state: dict[str, Any], *, env: str, model: str, deployment: str, metric: str, minute: float
) -> float | None:
    value = None
    for fault in world.faults():
        if fault.get("kind") != "metric" or fault.get("env") != env or fault.get("model") != model:
            continue
        if fault.get("metric") != metric:
            continue
        steps = state["steps"].get(f"{env}/{model}/{deployment}") or []
        step = int(fault.get("step", 1))
        if len(steps) >= step and minute >= steps[step - 1]:
            value = float(fault["value"])
    return value


def outage(world: World, env: str, region: str) -> bool:
    """A regional outage (`ENV:region=REGION:outage`): every deployment there answers 5xx."""
    return any(
        f.get("kind") == "outage" and (f.get("env"), f.get("region")) == (env, region) for f in world.faults()
    )


@dataclass(frozen=True)
class Minute:
    """One minute of one deployment's simulated traffic."""

    stamp: str
    requests: float
    errors: float
    latency: float | None  # the minute's latency level (ms); None without requests
    tokens: float = BASELINE_PROMPT_TOKENS + BASELINE_COMPLETION_TOKENS  # per answered request


def per_minute(
    world: World,
    state: dict[str, Any],
    *,
    env: str,
    region: str,
    model: str,
    deployment: str,
    minutes: int,
    kind: str,
) -> list[Minute]:
    """The last MINUTES minutes (ending at the simulated now) of DEPLOYMENT's traffic, faults applied."""
    now_minute = world.minutes()
    points = []
    for i in range(minutes, 0, -1):
        minute = now_minute - i + 1
        stamp = datetime.fromtimestamp(START + minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:00Z")
        share = _share_at(state, env, region, model, minute).get(deployment, 0)
        count = REQUESTS_PER_MINUTE * share / 100
        faulted = {
            metric: _fault_value(
                world, state, env=env, model=model, deployment=deployment, metric=metric, minute=minute
            )
            for metric in ("requests", "error-rate", "latency-p95", "tokens")
        }
        calls, rate, slow = faulted["requests"], faulted["error-rate"], faulted["latency-p95"]
        tokens = BASELINE_PROMPT_TOKENS + BASELINE_COMPLETION_TOKENS
        tokens = tokens if faulted["tokens"] is None else faulted["tokens"]
        rate = 100.0 if outage(world, env, region) else rate
        count = count if calls is None or share == 0 else calls
        errors = count * (BASELINE_ERROR_PERCENT if rate is None else rate) / 100
        level = (BASELINE_LATENCY_MS[kind] if slow is None else slow) if count > 0 else None
        points.append(Minute(stamp, count, errors, level, tokens))
    return points


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


def _filter(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"(\w+) eq '((?:[^']|'')*)'", text or "")}


def metrics_list(
    world: World, state: dict[str, Any], target: dict[str, Any], flags: dict[str, str]
) -> dict[str, Any]:
    """The answer for one resource (`target`: {"id", "kind": "foundation"|"ml", "env", "region",
    "models": {deployment: model}})."""
    names = FOUNDATION if target["kind"] == "foundation" else ML
    metric = flags.get("--metric", flags.get("--metrics", ""))
    if metric not in (names["requests"], names["latency"]):
        raise ValueError(metric)
    aggregation = flags.get("--aggregation", AGGREGATIONS[metric][0])
    if aggregation.lower() not in (a.lower() for a in AGGREGATIONS[metric]):
        raise UnsupportedAggregation(
            f"(BadRequest) Metric: {metric} does not support requested aggregation: {aggregation}"
        )
    key = AGGREGATIONS[metric][0].lower() if metric == names["requests"] else "average"
    minutes = 5
    if flags.get("--start-time") and flags.get("--end-time"):
        span = parse_time(flags["--end-time"]) - parse_time(flags["--start-time"])
        minutes = max(1, round(span / 60))
    elif flags.get("--offset", "").startswith("PT") and flags["--offset"].endswith("M"):
        minutes = int(flags["--offset"][2:-1])
    wanted = _filter(flags.get("--filter", "")).get(names["by"].lower())
    series: list[dict[str, Any]] = []
    for deployment, model in sorted(target["models"].items()):
        if wanted not in (None, "*") and wanted != deployment:
            continue
        ok, bad, latency = [], [], []
        for point in per_minute(
            world,
            state,
            env=target["env"],
            region=target["region"],
            model=model,
            deployment=deployment,
            minutes=minutes,
            kind=names["kind"],
        ):
            ok.append({"timeStamp": point.stamp, key: round(point.requests - point.errors, 3)})
            bad.append({"timeStamp": point.stamp, key: round(point.errors, 3)})
            latency.append({"timeStamp": point.stamp, "average": point.latency})
        by = {"name": {"value": names["by"], "localizedValue": names["by"]}, "value": deployment}
        if metric == names["requests"]:
            codes = ("200", "500") if target["kind"] == "foundation" else ("2xx", "5xx")
            for code, data in zip(codes, (ok, bad), strict=True):
                status = {
                    "name": {"value": names["status"], "localizedValue": names["status"]},
                    "value": code,
                }
                series.append({"metadatavalues": [by, status], "data": data})
        else:
            series.append({"metadatavalues": [by], "data": latency})
    unit = "Count" if metric == names["requests"] else "MilliSeconds"
    return {
        "cost": minutes,
        "interval": flags.get("--interval", "PT1M"),
        "namespace": "",
        "resourceregion": target["region"],
        "value": [
            {
                "id": f"{target['id']}/providers/Microsoft.Insights/metrics/{metric}",
                "name": {"value": metric, "localizedValue": metric},
                "type": "Microsoft.Insights/metrics",
                "unit": unit,
                "timeseries": series,
                "errorCode": "Success",
            }
        ],
    }
