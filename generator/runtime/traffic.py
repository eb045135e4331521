"""Traffic: live state, blue-green swap and canary steps, with health checks and automatic rollback.

Subcommands (`python traffic.py SUBCOMMAND --help` for every flag):

  state    --outputs FILE --env ENV         the live state JSON that Bicep reads from ALMGEN_LIVE_STATE
  plan-ml  --state FILE --models JSON       that state with the `ml` list of the next deploy
  shift    --outputs --env --model --kind --to --percent [--save-previous FILE]
  restore  --outputs FILE --previous FILE   put back what `shift`, `canary` or `swap` saved
  health   --outputs --env --model --kind --deployment --minutes --error-rate-percent [--latency-p95-ms]
  canary   --outputs --env --model --kind --to --steps 10,50,100 --bake-minutes --error-rate-percent ...
  swap     --outputs --env --model --kind --to --bake-minutes --error-rate-percent ...  (blue-green)

Why the pipeline owns traffic: re-applying Bicep must never move live traffic, so Bicep reads the live
state that `state` prints and writes it back unchanged. Foundation models have no traffic primitive:
the application reads App Configuration keys `almgen:active:<model>` (the serving deployment) and
`almgen:canary:<model>` (`{"deployment", "percent"}`), label = environment. Custom models use the
Azure ML online endpoint's traffic map between the `blue` and `green` deployments.

Every region of the deployment outputs (`{"stacks": {"value": [...]}}`) is shifted, primary first,
and a health check fails if any region breaches. `state` reads the primary region.

Health: the error rate is 5xx requests / all requests of the candidate deployment over the last
`--minutes` (no requests: it passes, with a note). Latency: custom models have the endpoint metric
`RequestLatency_P95`; Azure OpenAI has no percentile metric, so the average of
`AzureOpenAITimeToResponse` stands in for p95 (a lenient proxy: the threshold is compared with a mean).
Per-minute values are averaged over the window. Azure Monitor lags a few minutes behind. A failing
`az` call fails the check (fails closed). `az` is `$ALMGEN_AZ` when set, else `az` on PATH.

Exit codes: 0 ok, 1 a breach, a failed `az` call or a rollback, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

COLOURS = ("blue", "green")
CLEARED_CANARY: dict[str, Any] = {"deployment": "", "percent": 0}
ISO = "%Y-%m-%dT%H:%M:%SZ"


class AzError(Exception):
    """An `az` call failed or answered something unusable: exit 1."""


class UsageError(Exception):
    """Bad arguments or input files: exit 2."""


@dataclass(frozen=True)
class Stack:
    """One region of the deployment outputs."""

    location: str
    resource_group: str
    primary: bool
    ai_services: str
    app_configuration: str
    workspace: str
    online_endpoints: dict[str, str] = field(default_factory=dict)  # model -> endpoint name
    ai_services_endpoint: str = ""


@dataclass(frozen=True)
class Health:
    """What one region measured; `breaches` empty means healthy."""

    location: str
    requests: float
    errors: float
    latency_ms: float | None
    breaches: list[str]
    notes: list[str]


def az(args: list[str]) -> Any:
    """Run `az ARGS -o json` without a shell and return the parsed output (None when empty)."""
    exe = os.environ.get("ALMGEN_AZ") or "az"
    command = [shutil.which(exe) or exe, *args, "-o", "json"]
    words = " ".join(arg for arg in args[:4] if not arg.startswith("-"))
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AzError(f"cannot run {exe}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise AzError(f"az {words} failed (exit {done.returncode}): {lines[-1] if lines else 'no message'}")
    if not done.stdout.strip():
        return None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AzError(f"az {words} did not answer JSON: {exc}") from exc


# ---- inputs ----------------------------------------------------------------------------------


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text("utf-8-sig"))
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from exc


def stack_of(item: dict[str, Any]) -> Stack:
    endpoints = {e["model"]: e["name"] for e in item.get("onlineEndpoints") or [] if isinstance(e, dict)}
    return Stack(
        location=str(item.get("location", "")),
        resource_group=str(item["resourceGroup"]),
        primary=bool(item.get("primary")),
        ai_services=str(item.get("aiServicesName", "")),
        app_configuration=str(item.get("appConfigurationEndpoint", "")),
        workspace=str(item.get("workspaceName", "")),
        online_endpoints=endpoints,
        ai_services_endpoint=str(item.get("aiServicesEndpoint", "")),
    )


def load_stacks(path: Path) -> list[Stack]:
    """The regions of ARM deployment outputs, primary first."""
    document = read_json(path, "deployment outputs")
    stacks = document.get("stacks") if isinstance(document, dict) else None
    if isinstance(stacks, dict):
        stacks = stacks.get("value")
    if not isinstance(stacks, list) or not stacks or not all(isinstance(s, dict) for s in stacks):
        raise UsageError(f"deployment outputs {path} have no 'stacks' array")
    try:
        parsed = [stack_of(item) for item in stacks]
    except (KeyError, TypeError) as exc:
        raise UsageError(f"deployment outputs {path}: a stack lacks {exc}") from exc
    return sorted(parsed, key=lambda stack: not stack.primary)


def endpoint_of(stack: Stack, model: str) -> str:
    if model not in stack.online_endpoints:
        raise UsageError(f"no online endpoint for model {model!r} in {stack.location} (deployment outputs)")
    if not stack.workspace:
        raise UsageError(f"no workspaceName in {stack.location} (deployment outputs)")
    return stack.online_endpoints[model]


# ---- foundation models: App Configuration keys -------------------------------------------------


def routing_keys(stack: Stack, env: str) -> dict[str, str]:
    """Every `almgen:*` key-value of the environment's label in the region's store."""
    store = ["--endpoint", stack.app_configuration, "--auth-mode", "login"]
    items = az(["appconfig", "kv", "list", *store, "--label", env, "--key", "almgen:*"])
    if not isinstance(items, list):
        raise AzError("az appconfig kv list did not answer a list")
    return {str(i["key"]): str(i.get("value") or "") for i in items if isinstance(i, dict) and "key" in i}


def parse_canary(model: str, value: str | None) -> dict[str, Any]:
    """`{"deployment", "percent"}`; an unreadable value fails rather than being silently reset."""
    if not value:
        return dict(CLEARED_CANARY)
    try:
        canary = json.loads(value)
        return {"deployment": str(canary["deployment"]), "percent": int(canary["percent"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise AzError(f"almgen:canary:{model} holds {value!r}, not {{deployment, percent}}") from exc


def set_key(stack: Stack, env: str, key: str, value: str, json_value: bool = False) -> None:
    args = ["appconfig", "kv", "set", "--endpoint", stack.app_configuration, "--auth-mode", "login"]
    args += ["--key", key, "--label", env, "--value", value, "--yes"]
    az(args + (["--content-type", "application/json"] if json_value else []))


def foundation_routing(stack: Stack, env: str, model: str) -> dict[str, Any]:
    keys = routing_keys(stack, env)
    return {
        "active": keys.get(f"almgen:active:{model}"),
        "canary": parse_canary(model, keys.get(f"almgen:canary:{model}")),
    }


def apply_foundation(stack: Stack, env: str, model: str, to: str, percent: int) -> None:
    if percent == 100:
        set_key(stack, env, f"almgen:active:{model}", to)
        set_key(stack, env, f"almgen:canary:{model}", json.dumps(CLEARED_CANARY), json_value=True)
    else:
        canary = json.dumps({"deployment": to, "percent": percent})
        set_key(stack, env, f"almgen:canary:{model}", canary, json_value=True)


# ---- custom models: the online endpoint's traffic map -----------------------------------------


def ml_scope(stack: Stack) -> list[str]:
    return ["-g", stack.resource_group, "-w", stack.workspace]


def endpoint_show(stack: Stack, endpoint: str) -> dict[str, Any]:
    shown = az(["ml", "online-endpoint", "show", "--name", endpoint, *ml_scope(stack)])
    if not isinstance(shown, dict):
        raise AzError(f"az ml online-endpoint show {endpoint} did not answer an object")
    return shown


def traffic_of(stack: Stack, endpoint: str) -> dict[str, int]:
    traffic = endpoint_show(stack, endpoint).get("traffic") or {}
    return {str(name): int(share) for name, share in traffic.items()}


def live_colour(traffic: dict[str, int]) -> str | None:
    """The deployment with the most traffic (ties: alphabetical), None when nothing serves."""
    serving = sorted((-share, name) for name, share in traffic.items() if share > 0)
    return serving[0][1] if serving else None


def compose_traffic(current: dict[str, int], to: str, percent: int) -> dict[str, int]:
    """`to` gets PERCENT, the live deployment the rest, any other 0; nothing live yet: `to` gets 100."""
    others = {name: share for name, share in current.items() if name != to}
    live = live_colour(others)
    if live is None:
        return {**{name: 0 for name in others}, to: 100}
    return {**{name: 0 for name in others}, live: 100 - percent, to: percent}


def set_traffic(stack: Stack, endpoint: str, traffic: dict[str, int]) -> None:
    split = " ".join(f"{name}={share}" for name, share in sorted(traffic.items()))
    az(["ml", "online-endpoint", "update", "--name", endpoint, *ml_scope(stack), "--traffic", split])


def model_version(reference: str) -> str:
    """The version of a deployment's model reference: the last path segment (or `azureml:n:v`)."""
    tail = reference.rstrip("/").rsplit("/", 1)[-1]
    return tail.rsplit(":", 1)[-1] if tail.startswith("azureml:") else tail


def ml_deployments(stack: Stack, model: str, endpoint: str) -> list[dict[str, Any]]:
    live = live_colour(traffic_of(stack, endpoint))
    listed = az(["ml", "online-deployment", "list", "--endpoint-name", endpoint, *ml_scope(stack)])
    if not isinstance(listed, list):
        raise AzError(f"az ml online-deployment list {endpoint} did not answer a list")
    entries = [
        {
            "model": model,
            "colour": str(d["name"]),
            "version": model_version(str(d.get("model") or "")),
            "live": False,
        }
        for d in listed
        if isinstance(d, dict) and "name" in d
    ]
    for entry in entries:
        entry["live"] = entry["colour"] == live
    return sorted(entries, key=lambda entry: entry["colour"])


# ---- state and plan ----------------------------------------------------------------------------


def live_state(stack: Stack, env: str) -> dict[str, Any]:
    """The state Bicep needs so that a re-deploy changes no live traffic and no serving version."""
    keys = routing_keys(stack, env)
    active = {k.removeprefix("almgen:active:"): v for k, v in keys.items() if k.startswith("almgen:active:")}
    canary = {}
    for key, value in keys.items():
        if key.startswith("almgen:canary:"):
            model = key.removeprefix("almgen:canary:")
            parsed = parse_canary(model, value)
            if parsed["deployment"] and parsed["percent"] > 0:
                canary[model] = parsed
    listed = az(
        [
            "cognitiveservices",
            "account",
            "deployment",
            "list",
            "-g",
            stack.resource_group,
            "-n",
            stack.ai_services,
        ]
    )
    versions = {}
    for item in listed if isinstance(listed, list) else []:
        version = ((item.get("properties") or {}).get("model") or {}).get("version")
        if item.get("name") and version:
            versions[str(item["name"])] = str(version)
    ml = [d for model, ep in sorted(stack.online_endpoints.items()) for d in ml_deployments(stack, model, ep)]
    return {"active": active, "versions": versions, "canary": canary, "ml": ml}


def plan_ml(
    state: dict[str, Any], models: list[dict[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The `ml` list of the next deploy, and the colour each model's new version goes to."""
    current = [e for e in state.get("ml") or [] if isinstance(e, dict)]
    planned: list[dict[str, Any]] = []
    candidates: dict[str, str] = {}
    for model in models:
        name, version = model["name"], model["version"]
        entries = [e for e in current if e.get("model") == name]
        live = next((e for e in entries if e.get("live")), None)
        if live is None:
            planned.append({"model": name, "colour": COLOURS[0], "version": version, "live": True})
            candidates[name] = COLOURS[0]
        elif live.get("version") == version:
            planned.extend(sorted(entries, key=lambda e: str(e.get("colour"))))
        else:
            other = COLOURS[1] if live.get("colour") == COLOURS[0] else COLOURS[0]
            planned.append({**live, "live": True})
            planned.append({"model": name, "colour": other, "version": version, "live": False})
            candidates[name] = other
    return planned, candidates


# ---- shift and restore -------------------------------------------------------------------------


def snapshot(stacks: list[Stack], env: str, model: str, kind: str) -> dict[str, Any]:
    """The routing of MODEL in every region, in the form `restore` puts back."""
    regions = []
    for stack in stacks:
        region: dict[str, Any] = {"location": stack.location, "resourceGroup": stack.resource_group}
        if kind == "foundation":
            region.update(foundation_routing(stack, env, model))
        else:
            endpoint = endpoint_of(stack, model)
            region.update({"endpoint": endpoint, "traffic": traffic_of(stack, endpoint)})
        regions.append(region)
    return {"kind": kind, "model": model, "env": env, "stacks": regions}


def shift(stacks: list[Stack], args: argparse.Namespace, percent: int) -> None:
    """Send PERCENT of the model's traffic to `args.to` in every region, primary first."""
    for stack in stacks:
        if args.kind == "foundation":
            apply_foundation(stack, args.env, args.model, args.to, percent)
        else:
            endpoint = endpoint_of(stack, args.model)
            set_traffic(stack, endpoint, compose_traffic(traffic_of(stack, endpoint), args.to, percent))
        print(f"{stack.location}: {args.model} sends {percent}% to {args.to}")


def restore(stacks: list[Stack], previous: dict[str, Any]) -> None:
    """Put back the saved routing in every region it names."""
    by_region = {(s.location, s.resource_group): s for s in stacks}
    model, env = str(previous["model"]), str(previous["env"])
    for saved in previous["stacks"]:
        stack = by_region.get((saved["location"], saved["resourceGroup"]))
        if stack is None:
            raise UsageError(
                f"region {saved['location']} of the saved state is not in the deployment outputs"
            )
        if previous["kind"] == "foundation":
            if saved.get("active"):
                set_key(stack, env, f"almgen:active:{model}", str(saved["active"]))
            set_key(
                stack, env, f"almgen:canary:{model}", json.dumps(saved.get("canary") or CLEARED_CANARY), True
            )
        else:
            endpoint = str(saved["endpoint"])
            wanted = {str(k): int(v) for k, v in (saved.get("traffic") or {}).items()}
            current = traffic_of(stack, endpoint)
            set_traffic(stack, endpoint, {**{name: 0 for name in current}, **wanted})
        print(f"{stack.location}: {model} restored to {json.dumps(saved, sort_keys=True)}")


def share_of(previous: dict[str, Any], to: str) -> int:
    """The smallest share of traffic TO has in any region of a snapshot."""
    shares = []
    for region in previous["stacks"]:
        if previous["kind"] == "foundation":
            canary = region["canary"]
            share = 100 if region.get("active") == to and canary["percent"] == 0 else 0
            shares.append(int(canary["percent"]) if canary.get("deployment") == to else share)
        else:
            shares.append(int((region.get("traffic") or {}).get(to, 0)))
    return min(shares, default=0)


def already_live(previous: dict[str, Any], to: str) -> bool:
    """Whether TO already takes all traffic in every region (a re-run has nothing to do)."""
    for region in previous["stacks"]:
        if previous["kind"] == "foundation":
            if region.get("active") != to or region["canary"]["percent"] > 0:
                return False
        elif region["traffic"].get(to, 0) != 100:
            return False
    return True


# ---- health ------------------------------------------------------------------------------------


def odata(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def metric_series(resource: str, metric: str, aggregation: str, filter_: str, minutes: int) -> list[Any]:
    """The timeseries of one metric over the last MINUTES, one-minute grain."""
    end = datetime.now(timezone.utc)
    start = end - timedelta(minutes=minutes)
    query = ["--metric", metric, "--interval", "PT1M", "--aggregation", aggregation, "--filter", filter_]
    window = ["--start-time", start.strftime(ISO), "--end-time", end.strftime(ISO)]
    answer = az(["monitor", "metrics", "list", "--resource", resource, *query, *window])
    values = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(values, list):
        raise AzError(f"az monitor metrics list {metric} did not answer a 'value' list")
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


def measure(stack: Stack, args: argparse.Namespace) -> Measured:
    """(requests, errors, latency ms or None) of `args.deployment` in one region."""
    model, deployment, minutes = args.model, args.deployment, args.minutes
    if args.kind == "foundation":
        shown = az(
            ["cognitiveservices", "account", "show", "-g", stack.resource_group, "-n", stack.ai_services]
        )
        names = ("AzureOpenAIRequests", "StatusCode", "AzureOpenAITimeToResponse", "ModelDeploymentName")
    else:
        shown = endpoint_show(stack, endpoint_of(stack, model))
        names = ("RequestsPerMinute", "statusCodeClass", "RequestLatency_P95", "deployment")
    resource = shown.get("id") if isinstance(shown, dict) else None
    if not resource:
        raise AzError(f"no resource id for {model} in {stack.location}")
    requests_metric, status, latency_metric, by = names
    only = f"{by} eq {odata(deployment)}"
    series = metric_series(resource, requests_metric, "Total", f"{only} and {status} eq '*'", minutes)
    total, errors = request_counts(series, status)
    measured = None
    if args.latency_p95_ms is not None:
        measured = mean_latency(metric_series(resource, latency_metric, "Average", only, minutes))
    return total, errors, measured


def judge(stack: Stack, measured: Measured, args: argparse.Namespace) -> Health:
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


def check_health(stacks: list[Stack], args: argparse.Namespace) -> bool:
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


# ---- rollouts ----------------------------------------------------------------------------------


def save(path: Path | None, previous: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n", "utf-8")


def rollout(args: argparse.Namespace, steps: list[int], sleep: Callable[[float], None]) -> int:
    """Shift through STEPS, baking and checking health after each; any breach or failure rolls back."""
    stacks = load_stacks(args.outputs)
    previous = snapshot(stacks, args.env, args.model, args.kind)
    print(f"previous: {json.dumps(previous, sort_keys=True)}")
    save(args.save_previous, previous)
    if already_live(previous, args.to):
        print(f"{args.to} already takes all traffic of {args.model}: nothing to do")
        return 0
    health_args = argparse.Namespace(**vars(args), deployment=args.to, minutes=max(args.bake_minutes, 1))
    try:
        for number, percent in enumerate(steps, start=1):
            print(
                f"step {number}/{len(steps)}: {percent}% to {args.to}, then {args.bake_minutes} min of bake"
            )
            shift(stacks, args, percent)
            sleep(args.bake_minutes * 60)
            if not check_health(stacks, health_args):
                return roll_back(stacks, previous, f"breach at {percent}%")
    except AzError as exc:
        return roll_back(stacks, previous, str(exc))
    print(f"{args.to} is live for {args.model} in {args.env}")
    return 0


def roll_back(stacks: list[Stack], previous: dict[str, Any], reason: str) -> int:
    print(f"traffic: rolling back ({reason})", file=sys.stderr)
    try:
        restore(stacks, previous)
    except (AzError, UsageError) as exc:
        print(f"traffic: ROLLBACK FAILED: {exc}; restore by hand: {json.dumps(previous)}", file=sys.stderr)
        return 1
    print("traffic: rolled back to the previous state", file=sys.stderr)
    return 1


# ---- command line ------------------------------------------------------------------------------


def percent_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percentage from 1 to 100")
    return value


def steps_arg(text: str) -> list[int]:
    steps = [percent_arg(part.strip()) for part in text.split(",")]
    if steps != sorted(set(steps)) or steps[-1] != 100:
        raise argparse.ArgumentTypeError(f"{text!r}: steps must strictly increase and end at 100")
    return steps


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage above 0 and at most 100")
    return value


def whole(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {minimum}")
        return value

    return parse


def add_target(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    sub.add_argument("--env", required=True, help="environment (the App Configuration label)")
    sub.add_argument("--model", required=True, help="model name from the spec")
    sub.add_argument("--kind", required=True, choices=("foundation", "custom"), help="model kind")


def add_thresholds(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--error-rate-percent", required=True, type=positive, help="breach above this 5xx rate")
    sub.add_argument("--latency-p95-ms", type=whole(1), help="breach above this latency (see the docstring)")


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="traffic.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    subs = result.add_subparsers(dest="command", required=True)
    state = subs.add_parser("state", help="print the live state JSON (ALMGEN_LIVE_STATE)")
    state.add_argument(
        "--outputs", required=True, type=Path, help="outputs of the last deploy ({} if absent)"
    )
    state.add_argument("--env", required=True, help="environment (the App Configuration label)")
    plan = subs.add_parser("plan-ml", help="print the live state with the ml list of the next deploy")
    plan.add_argument("--state", required=True, type=Path, help="the state JSON printed by `state`")
    plan.add_argument(
        "--models", required=True, help='JSON: [{"name": ..., "version": ...}] of custom models'
    )
    plan.add_argument("--candidates", type=Path, help="write {model: colour getting the new version} here")
    pick = subs.add_parser("candidate", help="print the deployment (or colour) a rollout moves traffic to")
    pick.add_argument("--state", required=True, type=Path, help="the state JSON printed by `state`")
    pick.add_argument("--model", required=True, help="model name from the spec")
    pick.add_argument("--kind", required=True, choices=("foundation", "custom"), help="model kind")
    pick.add_argument("--candidates", type=Path, help="the file plan-ml --candidates wrote (custom models)")
    pick.add_argument("--version", help="the version the spec wants (foundation models)")
    where = subs.add_parser("endpoint", help="print the primary region's AI Services endpoint")
    where.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    shift_cmd = subs.add_parser("shift", help="send PERCENT of a model's traffic to a deployment")
    add_target(shift_cmd)
    shift_cmd.add_argument("--to", required=True, help="deployment (foundation) or colour (custom)")
    shift_cmd.add_argument("--percent", required=True, type=percent_arg, help="1-100; 100 makes it active")
    shift_cmd.add_argument("--save-previous", type=Path, help="save the previous routing here")
    shift_cmd.add_argument("--moved", type=Path, help="touch this file when traffic moved (bakes follow it)")
    shift_cmd.add_argument(
        "--after", type=whole(0), default=0, help="the share the previous canary step gave (checked first)"
    )
    back = subs.add_parser("restore", help="restore routing saved by shift, canary or swap")
    back.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    back.add_argument("--previous", required=True, type=Path, help="the saved routing")
    health = subs.add_parser("health", help="check a deployment's live metrics against thresholds")
    add_target(health)
    health.add_argument("--deployment", required=True, help="deployment (foundation) or colour (custom)")
    health.add_argument("--minutes", required=True, type=whole(1), help="window: the last N minutes")
    add_thresholds(health)
    for name, text in (
        ("canary", "step traffic to a deployment"),
        ("swap", "blue-green: swap to a deployment"),
    ):
        sub = subs.add_parser(name, help=f"{text}, with bake, health checks and rollback")
        add_target(sub)
        sub.add_argument("--to", required=True, help="deployment (foundation) or colour (custom)")
        if name == "canary":
            sub.add_argument("--steps", required=True, type=steps_arg, help="percentages, e.g. 10,50,100")
        sub.add_argument(
            "--bake-minutes", required=True, type=whole(0), help="wait and watch after each step"
        )
        add_thresholds(sub)
        sub.add_argument("--save-previous", type=Path, help="save the routing before the rollout here")
    return result


def run(args: argparse.Namespace, sleep: Callable[[float], None]) -> int:
    if args.command == "state":
        if not args.outputs.exists() or read_json(args.outputs, "deployment outputs") == {}:
            print("{}")  # the first deploy: nothing serves yet
            return 0
        print(
            json.dumps(
                live_state(load_stacks(args.outputs)[0], args.env), sort_keys=True, separators=(",", ":")
            )
        )
        return 0
    if args.command == "plan-ml":
        return run_plan(args)
    if args.command == "candidate":
        print(candidate(args))
        return 0
    if args.command == "endpoint":
        print(load_stacks(args.outputs)[0].ai_services_endpoint)
        return 0
    if args.command == "restore":
        previous = read_json(args.previous, "saved routing")
        restore(load_stacks(args.outputs), previous)
        return 0
    if args.command == "health":
        return 0 if check_health(load_stacks(args.outputs), args) else 1
    if args.command == "shift":
        stacks = load_stacks(args.outputs)
        previous = snapshot(stacks, args.env, args.model, args.kind)
        print(f"previous: {json.dumps(previous, sort_keys=True)}")
        save(args.save_previous, previous)
        if already_live(previous, args.to):
            print(f"{args.to} already takes all traffic of {args.model}: nothing to move")
            return 0
        if share_of(previous, args.to) < args.after:
            raise UsageError(
                f"{args.to} has {share_of(previous, args.to)}% of {args.model}, not the {args.after}% the "
                "previous canary step gave it: the canary was rolled back. Re-run all jobs, not only "
                "the failed ones, so that every step bakes again."
            )
        shift(stacks, args, args.percent)
        if args.moved is not None:
            args.moved.touch()
        return 0
    return rollout(args, args.steps if args.command == "canary" else [100], sleep)


def candidate(args: argparse.Namespace) -> str:
    """The deployment that receives the new version: the colour that does not serve now.

    Foundation models: `<model>-blue` serves first. When nothing serves yet (a first deploy) or
    the active deployment already serves `--version`, the active deployment itself: the rollout
    has nothing to move. Otherwise the other colour, which the deploy gave the new version.
    Custom models: the colour plan-ml gave the new version, else the live one (which already
    serves it: the rollout then has nothing to move).
    """
    state = read_json(args.state, "state")
    if not isinstance(state, dict):
        raise UsageError("--state must hold an object")
    if args.kind == "foundation":
        live = (state.get("active") or {}).get(args.model)
        active = str(live or f"{args.model}-blue")
        serving = (state.get("versions") or {}).get(active)
        if live is None or (args.version is not None and serving == args.version):
            return active
        return f"{args.model}-green" if active.endswith("-blue") else f"{args.model}-blue"
    if args.candidates and args.candidates.exists():
        picked = read_json(args.candidates, "candidates")
        if isinstance(picked, dict) and isinstance(picked.get(args.model), str):
            return str(picked[args.model])
    for entry in state.get("ml") or []:
        if isinstance(entry, dict) and entry.get("model") == args.model and entry.get("live"):
            return str(entry.get("colour"))
    return "blue"


def run_plan(args: argparse.Namespace) -> int:
    state = read_json(args.state, "state")
    try:
        models = json.loads(args.models)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--models is not valid JSON: {exc}") from exc
    valid = isinstance(models, list) and all(
        isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("version"), str)
        for m in models
    )
    if not isinstance(state, dict) or not valid:
        raise UsageError('--state must hold an object and --models be [{"name": "...", "version": "..."}]')
    ml, candidates = plan_ml(state, models)
    print(json.dumps({**state, "ml": ml}, sort_keys=True, separators=(",", ":")))
    if args.candidates:
        save(args.candidates, candidates)
    return 0


def main(argv: list[str] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args, sleep)
    except UsageError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    except AzError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        print(
            f"traffic: unexpected shape of input or az output ({type(exc).__name__}: {exc})", file=sys.stderr
        )
        return 1
    except OSError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
