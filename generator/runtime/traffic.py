"""Traffic: live state, blue-green swap and canary steps, with health checks and automatic rollback.

Subcommands (`python traffic.py SUBCOMMAND --help` for every flag):

  state    --outputs FILE --env ENV         the live state JSON that Bicep reads from ALMGEN_LIVE_STATE
  plan-ml  --state FILE --models JSON       that state with the `ml` list of the next deploy
  shift    --outputs --env --model --kind --to --percent [--save-previous FILE]
  restore  --outputs FILE --previous FILE   put back what `shift`, `canary` or `swap` saved
  health   --outputs --env --model --kind --deployment --minutes --error-rate-percent [--latency-p95-ms]
           --min-requests --wait-minutes
  canary   --outputs --env --model --kind --to --steps 10,50,100 --bake-minutes --error-rate-percent ...
  swap     --outputs --env --model --kind --to --bake-minutes --error-rate-percent ...  (blue-green)
  standby  --outputs --env --model --capacity N   scale every colour that does not serve down to N

Why the pipeline owns traffic: re-applying Bicep must never move live traffic, so Bicep reads the live
state that `state` prints and writes it back unchanged. Foundation models: the App Configuration
keys `almgen:active:<model>` (the serving deployment) and `almgen:canary:<model>` (`{"deployment",
"percent"}`), label = environment, are written first; where the deployment outputs name an AI
gateway (`gatewayId`), the weights of the model's backend pool `pool-<model>` are then set to match
(`az rest` PATCH) and the gateway moves the traffic. Without a gateway the application must read the
keys and route by itself. Custom models use the Azure ML online endpoint's traffic map between the
`blue` and `green` deployments.

Every region of the deployment outputs (`{"stacks": {"value": [...]}}`) is shifted, primary first,
and a health check fails if any region breaches. `state` reads the primary region (and, with the AI
gateway in several regions, what serves in each region: `regions`, for the pools' priority 2).

Health: the error rate is 5xx requests / all requests of the candidate deployment over the last
`--minutes`. No traffic is not health: with fewer than `--min-requests` requests in a region's
window, the check waits (up to `--wait-minutes` more, measuring again over the grown window), then
fails (`--min-requests 0` judges an idle deployment healthy, with a note). A foundation model behind
the AI gateway (the region's outputs name `gatewayId`) is judged from the gateway's own request logs:
one Log Analytics query (`az rest --method post` to api.loganalytics.io, workspace
`logAnalyticsCustomerId` of the outputs) of `ApiManagementGatewayLogs` rows whose BackendUrl is the
deployment's gives the requests, the 5xx answers and a real p95 of BackendTime. Without a gateway:
custom models have the endpoint metric `RequestLatency_P95`; Azure OpenAI has no percentile metric,
so the average of `AzureOpenAITimeToResponse` stands in for p95 (a lenient proxy: the threshold is
compared with a mean of the per-minute averages). Azure Monitor and Log Analytics lag a few minutes
behind. A failing `az` call fails the check (fails closed). `az` is `$ALMGEN_AZ` when set, else `az`
on PATH.

Exit codes: 0 ok, 1 a breach, a failed `az` call or a rollback, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__:
    from . import common, health, routing
else:  # run as .almgen/scripts/traffic.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    health = importlib.import_module("health")
    routing = importlib.import_module("routing")


# ---- rollouts ----------------------------------------------------------------------------------


def save(path: Path | None, previous: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n", "utf-8")


def snapshot(stacks: list[routing.Stack], args: argparse.Namespace) -> dict[str, Any]:
    """The routing before a move: printed, and saved to --save-previous."""
    previous = routing.snapshot(stacks, args.env, args.model, args.kind)
    print(f"previous: {json.dumps(previous, sort_keys=True)}")
    save(args.save_previous, previous)
    return previous


def rollout(args: argparse.Namespace, steps: list[int], sleep: Callable[[float], None]) -> int:
    """Shift through STEPS, baking and checking health after each; any breach or failure rolls back."""
    stacks = routing.load_stacks(args.outputs)
    previous = snapshot(stacks, args)
    if routing.already_live(previous, args.to):
        print(f"{args.to} already takes all traffic of {args.model}: nothing to do")
        return 0
    health_args = argparse.Namespace(**vars(args), deployment=args.to, minutes=max(args.bake_minutes, 1))
    try:
        for number, percent in enumerate(steps, start=1):
            print(
                f"step {number}/{len(steps)}: {percent}% to {args.to}, then {args.bake_minutes} min of bake"
            )
            routing.shift(stacks, args, percent)
            sleep(args.bake_minutes * 60)
            if not health.check_health(stacks, health_args, sleep):
                return roll_back(stacks, previous, f"breach at {percent}%")
    except common.Failure as exc:
        return roll_back(stacks, previous, str(exc))
    print(f"{args.to} is live for {args.model} in {args.env}")
    return 0


def roll_back(stacks: list[routing.Stack], previous: dict[str, Any], reason: str) -> int:
    print(f"traffic: rolling back ({reason})", file=sys.stderr)
    try:
        routing.restore(stacks, previous)
    except (common.Failure, common.InputError) as exc:
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
    sub.add_argument(
        "--min-requests", required=True, type=whole(0), help="fewer requests in the window: wait, then breach"
    )
    sub.add_argument(
        "--wait-minutes", required=True, type=whole(0), help="the longest wait for --min-requests requests"
    )


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
    pick.add_argument(
        "--candidates", type=Path, help="the file plan-ml (custom) and models.py fine-tune --candidates wrote"
    )
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
    standby = subs.add_parser("standby", help="scale the colours of a model that serve nothing down")
    standby.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    standby.add_argument("--env", required=True, help="environment (the App Configuration label)")
    standby.add_argument("--model", required=True, help="foundation model name from the spec")
    standby.add_argument("--capacity", required=True, type=whole(1), help="the standby capacity")
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
        if not args.outputs.exists() or common.read_json(args.outputs, "deployment outputs") == {}:
            print("{}")  # the first deploy: nothing serves yet
            return 0
        stacks = routing.load_stacks(args.outputs)
        print(
            json.dumps(
                routing.live_state(stacks[0], args.env, stacks),
                sort_keys=True,
                separators=(",", ":"),
            )
        )
        return 0
    if args.command == "plan-ml":
        return run_plan(args)
    if args.command == "candidate":
        print(candidate(args))
        return 0
    if args.command == "endpoint":
        print(routing.load_stacks(args.outputs)[0].ai_services_endpoint)
        return 0
    if args.command == "restore":
        previous = common.read_json(args.previous, "saved routing")
        routing.restore(routing.load_stacks(args.outputs), previous)
        return 0
    if args.command == "standby":
        return run_standby(args)
    if args.command == "health":
        return 0 if health.check_health(routing.load_stacks(args.outputs), args, sleep) else 1
    if args.command == "shift":
        stacks = routing.load_stacks(args.outputs)
        previous = snapshot(stacks, args)
        if routing.already_live(previous, args.to):
            print(f"{args.to} already takes all traffic of {args.model}: nothing to move")
            return 0
        if routing.share_of(previous, args.to) < args.after:
            raise common.InputError(
                f"{args.to} has {routing.share_of(previous, args.to)}% of {args.model}, "
                f"not the {args.after}% the previous canary step gave it: the canary was rolled back. "
                "Re-run all jobs, not only the failed ones, so that every step bakes again."
            )
        routing.shift(stacks, args, args.percent)
        if args.moved is not None:
            args.moved.touch()
        return 0
    return rollout(args, args.steps if args.command == "canary" else [100], sleep)


def run_standby(args: argparse.Namespace) -> int:
    """Scale the standby colours down; a failure is a warning: the release itself is healthy."""
    try:
        for stack in routing.load_stacks(args.outputs):
            scaled = routing.scale_standby(stack, args.env, args.model, args.capacity)
            what = ", ".join(scaled) or "nothing to scale"
            print(f"{stack.location}: {args.model} standby at capacity {args.capacity}: {what}")
    except common.Failure as exc:
        print(f"traffic: WARNING: the standby of {args.model} keeps its capacity: {exc}", file=sys.stderr)
    return 0


def candidate(args: argparse.Namespace) -> str:
    """The deployment that receives the new version (see `routing.candidate`)."""
    state = common.read_json(args.state, "state")
    if not isinstance(state, dict):
        raise common.InputError("--state must hold an object")
    picked = (
        common.read_json(args.candidates, "candidates")
        if args.candidates and args.candidates.exists()
        else {}
    )
    return routing.candidate(
        state, args.model, args.kind, args.version, picked if isinstance(picked, dict) else {}
    )


def run_plan(args: argparse.Namespace) -> int:
    state = common.read_json(args.state, "state")
    try:
        models = json.loads(args.models)
    except json.JSONDecodeError as exc:
        raise common.InputError(f"--models is not valid JSON: {exc}") from exc
    valid = isinstance(models, list) and all(
        isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("version"), str)
        for m in models
    )
    if not isinstance(state, dict) or not valid:
        raise common.InputError(
            '--state must hold an object and --models be [{"name": "...", "version": "..."}]'
        )
    ml, candidates = routing.plan_ml(state, models)
    print(json.dumps({**state, "ml": ml}, sort_keys=True, separators=(",", ":")))
    if args.candidates:  # beside what `models.py fine-tune` put there for the fine-tuned models
        before = common.read_json(args.candidates, "candidates") if args.candidates.exists() else {}
        save(args.candidates, {**(before if isinstance(before, dict) else {}), **candidates})
    return 0


def main(argv: list[str] | None = None, sleep: Callable[[float], None] = common.sleep) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args, sleep)
    except common.InputError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    except common.Failure as exc:
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
