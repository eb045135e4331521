"""Health of a deployment: Azure Monitor metrics over a window, judged against thresholds."""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

if __package__:
    from . import common, routing
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    routing = importlib.import_module("routing")


@dataclass(frozen=True)
class Health:
    """What one region measured; `breaches` empty means healthy."""

    location: str
    requests: float
    errors: float
    latency_ms: float | None
    breaches: list[str]
    notes: list[str]


# ---- health ------------------------------------------------------------------------------------


def odata(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def metric_series(resource: str, metric: str, aggregation: str, filter_: str, minutes: int) -> list[Any]:
    """The timeseries of one metric over the last MINUTES, one-minute grain."""
    end = common.now()
    start = end - timedelta(minutes=minutes)
    query = ["--metric", metric, "--interval", "PT1M", "--aggregation", aggregation, "--filter", filter_]
    window = ["--start-time", start.strftime(routing.ISO), "--end-time", end.strftime(routing.ISO)]
    answer = routing.az(["monitor", "metrics", "list", "--resource", resource, *query, *window])
    values = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(values, list):
        raise common.Failure(f"az monitor metrics list {metric} did not answer a 'value' list")
    return [series for item in values if isinstance(item, dict) for series in item.get("timeseries") or []]


def dimension(series: dict[str, Any], name: str) -> str:
    for meta in series.get("metadatavalues") or []:
        if str((meta.get("name") or {}).get("value", "")).lower() == name.lower():
            return str(meta.get("value", ""))
    return ""


def request_counts(series: list[Any], status_dimension: str) -> tuple[float, float]:
    """(all requests, 5xx requests) summed over the window."""
    total = errors = 0.0
    for one in series:
        count = sum(float(point.get("total") or 0) for point in one.get("data") or [])
        total += count
        if dimension(one, status_dimension).startswith("5"):
            errors += count
    return total, errors


def mean_latency(series: list[Any]) -> float | None:
    points = [
        float(p["average"]) for one in series for p in one.get("data") or [] if p.get("average") is not None
    ]
    return sum(points) / len(points) if points else None


Measured = tuple[float, float, "float | None"]


def measure(stack: routing.Stack, args: argparse.Namespace) -> Measured:
    """(requests, errors, latency ms or None) of `args.deployment` in one region."""
    model, deployment, minutes = args.model, args.deployment, args.minutes
    if args.kind == "foundation":
        shown = routing.az(
            ["cognitiveservices", "account", "show", "-g", stack.resource_group, "-n", stack.ai_services]
        )
        names = ("AzureOpenAIRequests", "StatusCode", "AzureOpenAITimeToResponse", "ModelDeploymentName")
    else:
        shown = routing.endpoint_show(stack, routing.endpoint_of(stack, model))
        names = ("RequestsPerMinute", "statusCodeClass", "RequestLatency_P95", "deployment")
    resource = shown.get("id") if isinstance(shown, dict) else None
    if not resource:
        raise common.Failure(f"no resource id for {model} in {stack.location}")
    requests_metric, status, latency_metric, by = names
    only = f"{by} eq {odata(deployment)}"
    series = metric_series(resource, requests_metric, "Total", f"{only} and {status} eq '*'", minutes)
    total, errors = request_counts(series, status)
    measured = None
    if args.latency_p95_ms is not None:
        measured = mean_latency(metric_series(resource, latency_metric, "Average", only, minutes))
    return total, errors, measured


def judge(stack: routing.Stack, measured: Measured, args: argparse.Namespace) -> Health:
    total, errors, latency = measured
    breaches: list[str] = []
    notes: list[str] = []
    where = f"{args.deployment} in {stack.location} over {args.minutes} min"
    if total <= 0:
        notes.append(f"no requests to {where}: error rate not measurable, not a breach")
    else:
        rate = 100.0 * errors / total
        line = f"error rate {rate:.2f}% ({errors:g} of {total:g} requests 5xx) on {where}"
        (breaches if rate > args.error_rate_percent else notes).append(
            f"{line} {'>' if rate > args.error_rate_percent else '<='} {args.error_rate_percent:g}%"
        )
    if args.latency_p95_ms is not None:
        if latency is None:
            notes.append(f"no latency data for {where}: not a breach")
        else:
            over = latency > args.latency_p95_ms
            line = f"latency {latency:.0f} ms on {where} {'>' if over else '<='} {args.latency_p95_ms} ms"
            (breaches if over else notes).append(line)
    return Health(stack.location, total, errors, latency, breaches, notes)


def check_health(stacks: list[routing.Stack], args: argparse.Namespace) -> bool:
    """Measure every region; print each finding; True when no threshold is breached."""
    healthy = True
    for stack in stacks:
        result = judge(stack, measure(stack, args), args)
        for note in result.notes:
            print(f"health: {note}")
        for breach in result.breaches:
            print(f"health: BREACH: {breach}")
            print(f"traffic: breach: {breach}", file=sys.stderr)
        healthy = healthy and not result.breaches
    return healthy
