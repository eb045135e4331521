"""Production quality: the spec's evaluation (and safety) gate against what serves in production.

Usage:
  python quality.py evaluate --env ENV --outputs FILE --contracts DIR --gate KIND=VARIABLE [--gate ...]
                             [--commands FILE] [--gates FILE] [--out DIR] [--event NAME]

The lifecycle workflow runs it for the last environment (`monitoring.evaluation` in almgen.yaml).
`--contracts` is the folder `contract.py --out-dir` wrote without `--target`: one contract per region,
naming what serves now (the live deployments and agent versions). For each region and each gate
(`--gate evaluation=ALMGEN_EVAL_RESULTS`: the gate of commands.json and gates.json, and the variable
its command writes the results to) it runs the gate's command (`run.py gate KIND --contract FILE`,
with that variable and ALMGEN_RESULTS set to `OUT/<region>-<kind>.json`) and judges the results with
gate.py: the same dataset, evaluators and thresholds as the release's gate, failing closed (a failed
command or unreadable results are a failed gate).

Then each region's result goes to that region's Application Insights (the connection string of the
deployment outputs' stacks) as one custom event, NAME (`--event`, default almgen.production-evaluation),
properties environment, region, passed ("true" or "false"), gates, failures and run (the CI run's URL),
measurements `<gate>.<metric>`. Local auth is off: the event is sent with an Entra ID token through
`az rest --resource https://monitor.azure.com` (the pipeline identity has Monitoring Metrics Publisher
on the component, monitoring.bicep). alerts.bicep alerts through the action group on an event whose
passed is not "true", and when no event arrived for two schedule intervals.

Writes `OUT/quality.json` (every region's verdicts) and a Markdown summary.

Exit codes: 0 every gate held in every region and every event was accepted; 1 a breach, a failed
command, or an event that could not be sent (every region is still evaluated and reported); 2 bad
input (a missing contract or outputs file, a region the outputs do not have).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__:
    from . import agents, common, gate
else:  # run as .almgen/scripts/quality.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    agents = importlib.import_module("agents")
    common = importlib.import_module("common")
    gate = importlib.import_module("gate")

EVENT = "almgen.production-evaluation"
MONITOR_RESOURCE = "https://monitor.azure.com"  # the audience Application Insights ingestion accepts
VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass
class RegionResult:
    region: str
    verdicts: list[Any] = field(default_factory=list)  # gate.Verdict per gate
    sent: bool = False
    send_error: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(verdict.passed for verdict in self.verdicts)

    @property
    def failures(self) -> list[str]:
        out = []
        for verdict in self.verdicts:
            out += [f"{verdict.gate}: {error}" for error in verdict.errors]
            out += [f"{verdict.gate}.{row.metric}: {row.reason}" for row in verdict.rows if not row.passed]
        return out


def gate_of(text: str) -> tuple[str, str]:
    kind, equals, variable = text.partition("=")
    if not equals or kind not in gate.GATES or not VARIABLE.match(variable):
        raise argparse.ArgumentTypeError(f"expected KIND=VARIABLE, KIND one of {', '.join(gate.GATES)}")
    return kind, variable


def contracts_of(folder: Path) -> list[tuple[str, Path]]:
    """(region, contract file) in contract.py's order (primary first)."""
    found = sorted(folder.glob("*.env"), key=lambda p: (int(p.name.split("-", 1)[0]), p.name))
    if not found:
        raise common.InputError(f"{folder} holds no contract (*.env): run contract.py --out-dir first")
    out = []
    for path in found:
        values = dict(
            line.partition("=")[::2] for line in path.read_text("utf-8").splitlines() if "=" in line
        )
        region = values.get("ALMGEN_REGION", "")
        if not region:
            raise common.InputError(f"{path} does not name ALMGEN_REGION")
        out.append((region, path))
    return out


def connection_strings(outputs: Path) -> dict[str, str]:
    """region -> the Application Insights connection string of the deployment outputs' stacks."""
    return {
        str(stack.get("location")): str(stack.get("appInsightsConnectionString") or "")
        for stack in common.stacks_of(outputs, "appInsightsConnectionString")
    }


def ingestion(connection: str) -> tuple[str, str]:
    """(the track URL, the instrumentation key) of a connection string; InputError when it has none."""
    parts = dict(item.partition("=")[::2] for item in connection.split(";") if "=" in item)
    key, endpoint = parts.get("InstrumentationKey", ""), parts.get("IngestionEndpoint", "")
    if not key or not endpoint.startswith("https://"):
        raise common.InputError(
            "the Application Insights connection string has no key or https ingestion endpoint"
        )
    return endpoint.rstrip("/") + "/v2.1/track", key


def run_gate(kind: str, variable: str, contract: Path, results: Path, args: argparse.Namespace) -> int:
    """The gate's command for one region (run.py: its setup once per job, then the command)."""
    runner = Path(__file__).resolve().parent / "run.py"
    argv = [sys.executable, str(runner), "gate", kind, "--commands", str(args.commands)]
    argv += ["--contract", str(contract), "--setup-done", str(args.out / ".setup-done")]
    env = {**os.environ, variable: str(results), "ALMGEN_RESULTS": str(results)}
    return subprocess.run(argv, check=False, env=env).returncode


def evaluate_region(region: str, contract: Path, args: argparse.Namespace) -> RegionResult:
    result = RegionResult(region)
    for kind, variable in args.gate:
        results = (args.out / f"{region}-{kind}.json").resolve()
        results.unlink(missing_ok=True)  # a stale file must not pass for this run's results
        common.say(f"quality: {kind} in {args.env} {region}")
        code = run_gate(kind, variable, contract, results, args)
        verdict = gate.safe_evaluate(kind, f"{args.env} {region}", args.gates, results)
        if code != 0:
            reason = f"the {kind} command failed (exit {code})"
            verdict = gate.Verdict(
                kind,
                verdict.env,
                False,
                verdict.rows,
                [reason, *verdict.errors],
                verdict.results,
                verdict.results_sha256,
            )
        problems = gate.publish(verdict, gate.table(verdict), gate.verdict_path(results))
        for problem in problems:
            common.say(f"quality: {problem}")
        result.verdicts.append(verdict)
    return result


def envelope(result: RegionResult, env: str, key: str, event: str) -> dict[str, Any]:
    """One Application Insights custom event (the ingestion API's envelope)."""
    server = os.environ.get("GITHUB_SERVER_URL", "")
    repository, run_id = os.environ.get("GITHUB_REPOSITORY", ""), os.environ.get("GITHUB_RUN_ID", "")
    run = f"{server}/{repository}/actions/runs/{run_id}"
    if os.environ.get("TF_BUILD"):
        run = (
            f"{os.environ.get('SYSTEM_COLLECTIONURI', '')}{os.environ.get('SYSTEM_TEAMPROJECT', '')}"
            f"/_build/results?buildId={os.environ.get('BUILD_BUILDID', '')}"
        )
    elif not server:
        run = ""
    measurements = {
        f"{verdict.gate}.{row.metric}": row.actual
        for verdict in result.verdicts
        for row in verdict.rows
        if row.actual is not None
    }
    return {
        "name": "Microsoft.ApplicationInsights.Event",
        "time": common.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": key,
        "data": {
            "baseType": "EventData",
            "baseData": {
                "ver": 2,
                "name": event,
                "properties": {
                    "environment": env,
                    "region": result.region,
                    "passed": "true" if result.passed else "false",
                    "gates": ",".join(verdict.gate for verdict in result.verdicts),
                    "failures": "; ".join(result.failures)[:8000],
                    "run": run,
                },
                "measurements": measurements,
            },
        },
    }


def send(result: RegionResult, env: str, connection: str, event: str) -> None:
    """Send the region's event; a refusal is recorded on RESULT (the job fails, the others still send)."""
    try:
        url, key = ingestion(connection)
        answer = agents.http("POST", url, envelope(result, env, key, event), MONITOR_RESOURCE)
        accepted = answer.get("itemsAccepted") if isinstance(answer, dict) else None
        if accepted != 1:
            raise common.Failure(
                f"Application Insights accepted {accepted!r} of 1 event: {json.dumps(answer)[:300]}"
            )
        result.sent = True
    except (common.Failure, common.InputError) as exc:
        result.send_error = str(exc)


def summary(env: str, results: list[RegionResult]) -> str:
    lines = [f"### Production evaluation ({env})", "", "| region | result | event sent |", "|---|---|---|"]
    for item in results:
        sent = "yes" if item.sent else f"no: {gate.cell(item.send_error)}"
        lines.append(f"| {item.region} | {'PASSED' if item.passed else 'FAILED'} | {sent} |")
    failures = [f"- {item.region}: {gate.cell(f)}" for item in results for f in item.failures]
    return "\n".join(lines + (["", *failures] if failures else [])) + "\n"


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not args.gate:
        raise common.InputError("no --gate: nothing would be evaluated")
    contracts = contracts_of(args.contracts)
    connections = connection_strings(args.outputs)
    missing = [region for region, _ in contracts if region not in connections]
    if missing:
        raise common.InputError(f"the deployment outputs have no stack in {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for region, contract in contracts:
        result = evaluate_region(region, contract, args)
        send(result, args.env, connections[region], args.event)
        results.append(result)
    common.write_json(
        args.out / "quality.json",
        {
            "environment": args.env,
            "passed": all(item.passed for item in results),
            "regions": [
                {
                    "region": item.region,
                    "passed": item.passed,
                    "failures": item.failures,
                    "eventSent": item.sent,
                    "sendError": item.send_error,
                    "verdicts": [json.loads(gate.verdict_json(verdict)) for verdict in item.verdicts],
                }
                for item in results
            ],
        },
    )
    markdown = summary(args.env, results)
    print(markdown)
    common.publish_summary(markdown, "almgen-production-evaluation.md")
    for item in results:
        for failure in item.failures:
            common.say(f"quality: {item.region}: FAIL: {failure}")
        if item.send_error:
            common.say(f"quality: {item.region}: the event was not sent: {item.send_error}")
    return 0 if all(item.passed and item.sent for item in results) else 1


def parser() -> argparse.ArgumentParser:
    result = common.Parser(prog="quality.py", description="Evaluate production with the gates' thresholds.")
    commands = result.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("evaluate", help="run the gates in every region of ENV and report")
    evaluate.add_argument("--env", required=True, help="the environment (the last one: production)")
    evaluate.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    evaluate.add_argument("--contracts", type=Path, required=True, help="contract.py --out-dir folder")
    evaluate.add_argument(
        "--gate",
        type=gate_of,
        action="append",
        default=[],
        help="KIND=VARIABLE, e.g. evaluation=ALMGEN_EVAL_RESULTS",
    )
    evaluate.add_argument("--commands", type=Path, default=Path(".almgen/commands.json"))
    evaluate.add_argument("--gates", type=Path, default=Path(".almgen/gates.json"))
    evaluate.add_argument(
        "--out", type=Path, default=Path("quality"), help="results, verdicts and quality.json"
    )
    evaluate.add_argument("--event", default=EVENT, help="the custom event's name")
    return result


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), {"evaluate": cmd_evaluate}, argv)


if __name__ == "__main__":
    sys.exit(main())
