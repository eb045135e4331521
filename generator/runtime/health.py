"""Health of a deployment over a window, judged against thresholds.

Behind the AI gateway (a foundation model whose region's outputs name `gatewayId`), from the
gateway's own request logs: one Log Analytics query of `ApiManagementGatewayLogs` gives the
deployment's requests, 5xx responses and a real p95 of the backend time. Otherwise from Azure
Monitor metrics: the AI Services account's (latency: the mean of `AzureOpenAITimeToResponse`, a
proxy) or the online endpoint's (`RequestLatency_P95`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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


def request_counts(series: list[Any], status_dimension: str, aggregation: str) -> tuple[float, float]:
    """(all requests, 5xx requests) summed over the window.

    One-minute points: a count metric's `total`, or a per-minute rate's `average` (the requests of
    that minute), so either sums to the window's requests.
    """
    key = aggregation.lower()
    total = errors = 0.0
    for one in series:
        count = sum(float(point.get(key) or 0) for point in one.get("data") or [])
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

# (requests metric, its aggregation, status dimension, latency metric, deployment dimension).
# Azure ML's RequestsPerMinute is a per-minute rate whose only aggregation is Average: asked for
# Total, Azure Monitor refuses the query.
METRICS = {
    "foundation": (
        "AzureOpenAIRequests",
        "Total",
        "StatusCode",
        "AzureOpenAITimeToResponse",
        "ModelDeploymentName",
    ),
    "custom": ("RequestsPerMinute", "Average", "statusCodeClass", "RequestLatency_P95", "deployment"),
}


# ---- behind the AI gateway: its request logs in Log Analytics -----------------------------------

LOGS_API = "https://api.loganalytics.io"
# gateway.bicep's diagnostic setting sends GatewayLogs to the resource-specific table.
GATEWAY_TABLE = "ApiManagementGatewayLogs"
# An Azure OpenAI deployment name: letters, digits, '-', '_' and '.'; anything else never reaches KQL.
DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WORKSPACE_ID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def kql_string(value: str) -> str:
    """VALUE as a KQL string literal (double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gateway_query(deployment: str, start: datetime, end: datetime) -> str:
    """The KQL of one deployment's requests through the gateway between START and END.

    The backend URL is `<account>/openai/deployments/<deployment>/<operation>`: the trailing
    slash keeps `chat-green` from matching `chat-green2`. 5xx counts the gateway's own answer too
    (a backend that did not answer has no backend code); the p95 is of BackendTime, the time the
    model deployment took, which is what the latency threshold judges.
    """
    if not DEPLOYMENT_NAME.fullmatch(deployment):
        raise common.InputError(f"--deployment {deployment!r} is not an Azure OpenAI deployment name")
    path = kql_string(f"/openai/deployments/{deployment}/")
    window = f"datetime({start.strftime(routing.ISO)}) .. datetime({end.strftime(routing.ISO)})"
    return (
        f"{GATEWAY_TABLE}\n"
        f"| where TimeGenerated between ({window})\n"
        f"| where BackendUrl contains {path}\n"
        "| summarize requests = count(), "
        "errors = countif(ResponseCode >= 500 or BackendResponseCode >= 500), "
        "p95 = percentile(BackendTime, 95)"
    )


def number(value: Any) -> float | None:
    """A KQL answer cell as a number; None for null and NaN (the percentile of no rows)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        parsed = float(value)
    except (TypeError, ValueError) as exc:
        raise common.Failure(f"the gateway log query answered {value!r}, not a number") from exc
    return None if math.isnan(parsed) else parsed


def parse_gateway_answer(answer: Any) -> Measured:
    """(requests, errors, p95 ms or None) from a Log Analytics query answer
    `{"tables": [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]}`."""
    tables = answer.get("tables") if isinstance(answer, dict) else None
    if not isinstance(tables, list) or not tables or not isinstance(tables[0], dict):
        raise common.Failure("the gateway log query did not answer a 'tables' list")
    columns = [str((c or {}).get("name", "")) for c in tables[0].get("columns") or []]
    rows = tables[0].get("rows") or []
    if not {"requests", "errors", "p95"} <= set(columns):
        raise common.Failure(f"the gateway log query answered the columns {columns}")
    if not rows:
        return 0.0, 0.0, None
    row = dict(zip(columns, rows[0], strict=False))
    return number(row["requests"]) or 0.0, number(row["errors"]) or 0.0, number(row["p95"])


def measure_gateway(stack: routing.Stack, args: argparse.Namespace) -> Measured:
    """One Log Analytics query of the region's gateway logs over the last `args.minutes`."""
    if not WORKSPACE_ID.fullmatch(stack.log_workspace):
        raise common.Failure(
            f"the deployment outputs of {stack.location} name a gateway but no logAnalyticsCustomerId "
            f"(got {stack.log_workspace!r}): deploy the infrastructure again"
        )
    end = common.now()
    start = end - timedelta(minutes=args.minutes)
    body = json.dumps({"query": gateway_query(args.deployment, start, end)})
    url = f"{LOGS_API}/v1/workspaces/{stack.log_workspace}/query"
    answer = routing.az(["rest", "--method", "post", "--url", url, "--resource", LOGS_API, "--body", body])
    return parse_gateway_answer(answer)


def through_gateway(stack: routing.Stack, args: argparse.Namespace) -> bool:
    """Whether the gateway's logs judge this deployment (a foundation model behind a gateway)."""
    return args.kind == "foundation" and bool(stack.gateway_id)


def measure(stack: routing.Stack, args: argparse.Namespace) -> Measured:
    """(requests, errors, latency ms or None) of `args.deployment` in one region."""
    if through_gateway(stack, args):
        return measure_gateway(stack, args)
    model, deployment, minutes = args.model, args.deployment, args.minutes
    if args.kind == "foundation":
        shown = routing.az(
            ["cognitiveservices", "account", "show", "-g", stack.resource_group, "-n", stack.ai_services]
        )
    else:
        shown = routing.endpoint_show(stack, routing.endpoint_of(stack, model))
    resource = shown.get("id") if isinstance(shown, dict) else None
    if not resource:
        raise common.Failure(f"no resource id for {model} in {stack.location}")
    requests_metric, aggregation, status, latency_metric, by = METRICS[args.kind]
    only = f"{by} eq {odata(deployment)}"
    series = metric_series(resource, requests_metric, aggregation, f"{only} and {status} eq '*'", minutes)
    total, errors = request_counts(series, status, aggregation)
    measured = None
    if args.latency_p95_ms is not None:
        measured = mean_latency(metric_series(resource, latency_metric, "Average", only, minutes))
    return total, errors, measured


def judge(stack: routing.Stack, measured: Measured, args: argparse.Namespace) -> Health:
    total, errors, latency = measured
    breaches: list[str] = []
    notes: list[str] = []
    where = f"{args.deployment} in {stack.location} over {args.minutes} min"
    if total < args.min_requests:
        breaches.append(
            f"{total:g} requests to {where}, fewer than the {args.min_requests} needed to judge it: "
            "no traffic is not health"
        )
    elif total <= 0:
        notes.append(f"no requests to {where}: error rate not measurable (--min-requests 0)")
    else:
        rate = 100.0 * errors / total
        line = f"error rate {rate:.2f}% ({errors:g} of {total:g} requests 5xx) on {where}"
        (breaches if rate > args.error_rate_percent else notes).append(
            f"{line} {'>' if rate > args.error_rate_percent else '<='} {args.error_rate_percent:g}%"
        )
    if args.latency_p95_ms is not None:
        # behind the gateway a real p95 (gateway logs); else what the metrics have (traffic.py)
        what = "p95 latency (gateway logs)" if through_gateway(stack, args) else "latency"
        if latency is None:
            notes.append(f"no latency data for {where}: not a breach")
        else:
            over = latency > args.latency_p95_ms
            line = f"{what} {latency:.0f} ms on {where} {'>' if over else '<='} {args.latency_p95_ms} ms"
            (breaches if over else notes).append(line)
    return Health(stack.location, total, errors, latency, breaches, notes)


WAIT_STEP_MINUTES = 5  # how often a window with too few requests is measured again


def measure_enough(
    stack: routing.Stack, args: argparse.Namespace, sleep: Callable[[float], None]
) -> tuple[Measured, argparse.Namespace]:
    """Measure; while the window has fewer than --min-requests, wait (at most --wait-minutes in
    all, in steps of WAIT_STEP_MINUTES) and measure again over a window grown by the wait."""
    measured = measure(stack, args)
    waited = 0
    while measured[0] < args.min_requests and waited < args.wait_minutes:
        step = min(WAIT_STEP_MINUTES, args.wait_minutes - waited)
        print(
            f"health: {measured[0]:g} requests to {args.deployment} in {stack.location} over "
            f"{args.minutes} min, fewer than {args.min_requests}: waiting {step} min more"
        )
        sleep(step * 60)
        waited += step
        args = argparse.Namespace(**{**vars(args), "minutes": args.minutes + step})
        measured = measure(stack, args)
    return measured, args


def check_health(
    stacks: list[routing.Stack], args: argparse.Namespace, sleep: Callable[[float], None] = common.sleep
) -> bool:
    """Measure every region; print each finding; True when no threshold is breached.

    A region with fewer than --min-requests requests in the window is waited on (see
    `measure_enough`), then judged a breach: too little traffic proves nothing (fails closed).
    """
    healthy = True
    for stack in stacks:
        measured, window = measure_enough(stack, args, sleep)
        result = judge(stack, measured, window)
        for note in result.notes:
            print(f"health: {note}")
        for breach in result.breaches:
            print(f"health: BREACH: {breach}")
            print(f"traffic: breach: {breach}", file=sys.stderr)
        healthy = healthy and not result.breaches
    return healthy
