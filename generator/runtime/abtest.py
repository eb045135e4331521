"""A/B test: compare the candidate with the serving version, write the table, promote the winner.

Usage:
  python abtest.py compare --outputs FILE --env ENV --model MODEL --candidate DEPLOYMENT
                           --previous FILE --split PERCENT --minutes N --metric METRIC
                           --tolerance-percent P --error-rate-percent E [--latency-p95-ms MS]
                           --min-requests N --out FILE
                           [--gates FILE --evaluation-serving FILE --evaluation-candidate FILE]
                           [--decide rule|manual]
  python abtest.py promote --outputs FILE --env ENV --model MODEL --comparison FILE
                           --approved-in ENVIRONMENT [--approved-by WHO] --out FILE

Before this runs, the pipeline sent `--split` % of MODEL's traffic to the candidate through the AI
gateway's pool (`traffic.py shift --save-previous FILE`) and waited `--minutes`. `compare` reads
each variant's requests, 5xx and a real p95 of BackendTime from the gateway's request logs (the
health check's Log Analytics query, `health.measure`), per region: variant A is the deployment
that served before the test (`active` in the saved routing), variant B the candidate. Each
variant's token use comes from the gateway's language-model log (`ApiManagementGatewayLlmLog`,
joined to the variant's requests in `ApiManagementGatewayLogs` by CorrelationId): the requests
that logged tokens and their prompt, completion and total tokens, hence tokens per request.
With `--gates`, the evaluation gate's results of each variant (the pipeline ran the gate's own
command against each, as the gate runs it: `run.py gate evaluation` with a contract naming the
serving deployment, then the candidate) are compared on every metric the gate's thresholds name.

The rule (`decide`): in every region both variants served at least `--min-requests` requests, the
candidate's error rate is at most `--error-rate-percent` and its p95 at most `--latency-p95-ms`,
and its METRIC (latencyP95Ms, errorRatePercent or tokensPerRequest, lower is better) is at most the
serving version's plus `--tolerance-percent` of it; with the evaluation, on every gated metric the candidate
meets the gate's threshold and is no worse than the serving version by more than
`--tolerance-percent` of the serving version's score (lower for `>=`/`>` thresholds, higher for
`<=`/`<`; an `==` threshold is only checked). Then the candidate wins and takes all traffic,
as a blue-green swap; otherwise the saved routing is restored exactly (the candidate keeps weight
0), `ALMGEN_AB_LOST=true` is set for the job's later steps (`$GITHUB_ENV`, or an Azure DevOps
`task.setvariable`: the release record still runs and keeps the comparison), and the command
exits 1, failing the run.

With `--decide manual` (`compare.decide`), `compare` only measures and reports (the rule's verdict
is advice), both variants keep serving, and a person decides (the `<env>-ab-decision` job); once
approved, `promote` sends all traffic to the compared candidate and writes the comparison with the
decision (`--out`, for the release record); a rejection restores the saved routing.

Output: the comparison as JSON (`--out`, for the release record: `release.py --ab-test`) and as a
Markdown table on stdout, appended to `$GITHUB_STEP_SUMMARY` or, on Azure DevOps, uploaded as a
summary (`##vso[task.uploadsummary]`). A candidate that already serves (a first deploy, the same
commit again) has nothing to be compared with: exit 0, nothing written but a note.

Exit codes: 0 the candidate won (or nothing to compare, or a manual decision follows), 1 the
serving version won (rolled back) or a failed `az` call, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__:
    from . import abscores, common, health, routing
else:  # run as .almgen/scripts/abtest.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    abscores = importlib.import_module("abscores")
    common = importlib.import_module("common")
    health = importlib.import_module("health")
    routing = importlib.import_module("routing")

SCHEMA = "almgen.abtest/v1"
METRICS = ("latencyP95Ms", "errorRatePercent", "tokensPerRequest")
LOST = "ALMGEN_AB_LOST"  # set for the job's later steps when the serving version won
# gateway.bicep's diagnostic setting sends GatewayLlmLogs to this resource-specific table.
LLM_TABLE = "ApiManagementGatewayLlmLog"
TOKEN_COLUMNS = ("requests", "promptTokens", "completionTokens", "totalTokens")


@dataclass(frozen=True)
class Tokens:
    """One variant's token use: the requests that logged tokens, and their tokens."""

    requests: float
    prompt: float
    completion: float
    total: float

    @property
    def per_request(self) -> float | None:
        return self.total / self.requests if self.requests > 0 else None


NO_TOKENS = Tokens(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Variant:
    """One variant's traffic in one region over the test's window."""

    deployment: str
    requests: float
    errors: float
    p95_ms: float | None
    tokens: Tokens = NO_TOKENS

    @property
    def error_rate(self) -> float | None:
        return 100.0 * self.errors / self.requests if self.requests > 0 else None

    def value(self, metric: str) -> float | None:
        if metric == "tokensPerRequest":
            return self.tokens.per_request
        return self.p95_ms if metric == "latencyP95Ms" else self.error_rate

    def as_json(self) -> dict[str, Any]:
        rate, per_request = self.error_rate, self.tokens.per_request
        return {
            "deployment": self.deployment,
            "requests": self.requests,
            "errors": self.errors,
            "errorRatePercent": None if rate is None else round(rate, 4),
            "latencyP95Ms": None if self.p95_ms is None else round(self.p95_ms, 1),
            "tokens": {
                "requests": self.tokens.requests,
                "prompt": self.tokens.prompt,
                "completion": self.tokens.completion,
                "total": self.tokens.total,
            },
            "tokensPerRequest": None if per_request is None else round(per_request, 1),
        }


@dataclass(frozen=True)
class Rule:
    metric: str
    tolerance_percent: float
    error_rate_percent: float
    latency_p95_ms: int | None
    min_requests: int

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "tolerancePercent": self.tolerance_percent,
            "errorRatePercent": self.error_rate_percent,
            "latencyP95Ms": self.latency_p95_ms,
            "minRequests": self.min_requests,
        }


UNITS = {"latencyP95Ms": " ms", "errorRatePercent": "%", "tokensPerRequest": " tokens"}


def _show(value: float | None, unit: str) -> str:
    return "no data" if value is None else f"{value:.2f}{unit}" if unit == "%" else f"{value:.0f}{unit}"


def region_reasons(location: str, serving: Variant, candidate: Variant, rule: Rule) -> list[str]:
    """Why the candidate loses in one region; empty when it wins there."""
    needed = max(rule.min_requests, 1)  # no traffic compares nothing
    reasons = [
        f"{location}: {variant.deployment} served {variant.requests:g} requests, fewer than the "
        f"{needed} needed to compare"
        for variant in (serving, candidate)
        if variant.requests < needed
    ]
    if reasons:
        return reasons
    rate = candidate.error_rate or 0.0
    if rate > rule.error_rate_percent:
        reasons.append(f"{location}: the candidate's error rate {rate:.2f}% > {rule.error_rate_percent:g}%")
    p95 = candidate.p95_ms
    if rule.latency_p95_ms is not None and p95 is not None and p95 > rule.latency_p95_ms:
        reasons.append(f"{location}: the candidate's p95 {p95:.0f} ms > {rule.latency_p95_ms} ms")
    mine, theirs = candidate.value(rule.metric), serving.value(rule.metric)
    if mine is None or theirs is None:
        reasons.append(f"{location}: no {rule.metric} for both variants")
    elif mine > theirs * (1 + rule.tolerance_percent / 100.0):
        unit = UNITS[rule.metric]
        reasons.append(
            f"{location}: the candidate's {rule.metric} {_show(mine, unit)} is worse than the serving "
            f"version's {_show(theirs, unit)} by more than {rule.tolerance_percent:g}%"
        )
    return reasons


def decide(regions: list[tuple[str, Variant, Variant]], rule: Rule) -> list[str]:
    """The reasons the serving version wins; none: the candidate wins (in every region)."""
    if not regions:
        return ["no region to compare"]
    return [reason for where, a, b in regions for reason in region_reasons(where, a, b, rule)]


def comparison(
    args: argparse.Namespace,
    rule: Rule,
    regions: list[tuple[str, Variant, Variant]],
    evaluation: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    reasons = decide(regions, rule)
    if evaluation is not None:
        reasons += abscores.reasons(evaluation, rule.tolerance_percent)
    manual = getattr(args, "decide", "rule") == "manual"
    return {
        "schema": SCHEMA,
        "environment": args.env,
        "model": args.model,
        "candidate": args.candidate,
        "split": args.split,
        "minutes": args.minutes,
        "rule": rule.as_json(),
        "regions": [
            {"location": where, "serving": a.as_json(), "candidate": b.as_json()} for where, a, b in regions
        ],
        **({"evaluation": evaluation} if evaluation is not None else {}),
        "winner": "serving" if reasons else "candidate",
        "reasons": reasons,
        # a person decides: the rule's winner is a recommendation, the decision comes with `promote`
        **({"decide": "manual"} if manual else {}),
    }


def cell(value: object) -> str:
    """A value in a Markdown table cell: no pipes, no line breaks."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(result: dict[str, Any]) -> str:
    """The comparison as Markdown: one row per region and variant, the rule and the verdict."""
    rule, split = result["rule"], int(result["split"])
    winner = "the candidate" if result["winner"] == "candidate" else "the serving version"
    verdict = f"the rule favours {winner}, a person decides" if _manual(result) else f"{winner} wins"
    lines = [
        f"### A/B test of {cell(result['model'])} in {cell(result['environment'])}: {verdict}",
        "",
        f"{split}% of the traffic to the candidate for {result['minutes']} min. Rule: the candidate's "
        f"{rule['metric']} at most the serving version's + {rule['tolerancePercent']:g}%, its error rate "
        f"at most {rule['errorRatePercent']:g}%"
        + (f", its p95 at most {rule['latencyP95Ms']} ms" if rule["latencyP95Ms"] is not None else "")
        + f", at least {rule['minRequests']} requests each.",
        "",
        "| region | variant | deployment | traffic | requests | error rate | p95 latency "
        "| tokens per request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for region in result["regions"]:
        for label, key, share in (
            ("A (serving)", "serving", 100 - split),
            ("B (candidate)", "candidate", split),
        ):
            v = region[key]
            rate, p95, tokens = v["errorRatePercent"], v["latencyP95Ms"], v.get("tokensPerRequest")
            lines.append(
                f"| {cell(region['location'])} | {label} | {cell(v['deployment'])} | {share}% | "
                f"{v['requests']:g} | {_show(rate, '%')} | {_show(p95, ' ms')} | {_show(tokens, '')} |"
            )
    if result.get("evaluation"):
        lines += [
            "",
            "Evaluation: the evaluation gate's command run against each variant.",
            "",
            "| metric | gate threshold | A (serving) | B (candidate) |",
            "| --- | --- | --- | --- |",
        ]
        for row in result["evaluation"]:
            a, b = row["serving"], row["candidate"]
            lines.append(
                f"| {cell(row['metric'])} | {cell(row['threshold'])} | "
                f"{'no data' if a is None else f'{a:g}'} | {'no data' if b is None else f'{b:g}'} |"
            )
    lines.append("")
    if _manual(result):
        lines += _manual_lines(result)
    elif result["reasons"]:
        lines += ["The serving version keeps all traffic:", ""]
        lines += [f"- {cell(reason)}" for reason in result["reasons"]]
    else:
        lines.append(f"The candidate {cell(result['candidate'])} takes all traffic.")
    return "\n".join(lines) + "\n"


def _manual(result: dict[str, Any]) -> bool:
    return result.get("decide") == "manual"


def _manual_lines(result: dict[str, Any]) -> list[str]:
    """A manual decision: the rule's reasons as advice, then the decision when one was made."""
    lines = [f"Against the candidate, by the rule: {cell(reason)}" for reason in result["reasons"]]
    lines += ["", "Both variants keep serving at the split until a person approves or rejects the candidate."]
    decision = result.get("decision")
    if isinstance(decision, dict):
        by = f" by {cell(decision['by'])}" if decision.get("by") else ""
        where = f"{cell(decision['decision'])} in {cell(decision['environment'])}{by}"
        lines += ["", f"Decision: {where}: the candidate {cell(result['candidate'])} takes all traffic."]
    return lines


# ---- measuring and acting ----------------------------------------------------------------------


def tokens_query(deployment: str, minutes: int) -> str:
    """The KQL of one deployment's token use through the gateway over the last MINUTES.

    The language-model log names the deployment the client called (the gateway's API), not the
    pool member that answered: its rows are joined by CorrelationId to the request log's rows whose
    backend is DEPLOYMENT (the health check's filter). A large request is logged as several rows
    (SequenceNumber); each request's tokens are taken once (max per CorrelationId).
    """
    if not health.DEPLOYMENT_NAME.fullmatch(deployment):
        raise common.InputError(f"--candidate {deployment!r} is not an Azure OpenAI deployment name")
    end = common.now()
    start = end - timedelta(minutes=minutes)
    window = f"datetime({start.strftime(routing.ISO)}) .. datetime({end.strftime(routing.ISO)})"
    path = health.kql_string(f"/openai/deployments/{deployment}/")
    return (
        f"{health.GATEWAY_TABLE}\n"
        f"| where TimeGenerated between ({window})\n"
        f"| where BackendUrl contains {path}\n"
        "| distinct CorrelationId\n"
        f"| join kind=inner ({LLM_TABLE}\n"
        f"    | where TimeGenerated between ({window})\n"
        "    | summarize prompt = max(PromptTokens), completion = max(CompletionTokens), "
        "total = max(TotalTokens) by CorrelationId) on CorrelationId\n"
        "| summarize requests = count(), promptTokens = sum(prompt), completionTokens = sum(completion), "
        "totalTokens = sum(total)"
    )


def parse_tokens(answer: Any) -> Tokens:
    """A Log Analytics answer of `tokens_query` as Tokens (no rows, nulls: none)."""
    tables = answer.get("tables") if isinstance(answer, dict) else None
    if not isinstance(tables, list) or not tables or not isinstance(tables[0], dict):
        raise common.Failure("the token log query did not answer a 'tables' list")
    columns = [str((c or {}).get("name", "")) for c in tables[0].get("columns") or []]
    if not set(TOKEN_COLUMNS) <= set(columns):
        raise common.Failure(f"the token log query answered the columns {columns}")
    rows = tables[0].get("rows") or []
    if not rows:
        return NO_TOKENS
    row = dict(zip(columns, rows[0], strict=False))
    values = [health.number(row[name]) or 0.0 for name in TOKEN_COLUMNS]
    return Tokens(*values)


def measure_tokens(stack: routing.Stack, deployment: str, minutes: int) -> Tokens:
    body = json.dumps({"query": tokens_query(deployment, minutes)})
    url = f"{health.LOGS_API}/v1/workspaces/{stack.log_workspace}/query"
    answer = routing.az(
        ["rest", "--method", "post", "--url", url, "--resource", health.LOGS_API, "--body", body]
    )
    return parse_tokens(answer)


def measure(stack: routing.Stack, args: argparse.Namespace, deployment: str) -> Variant:
    """One variant's requests, errors, p95 and token use in one region, from the gateway's logs."""
    if not stack.gateway_id:
        raise common.Failure(
            f"the deployment outputs of {stack.location} name no AI gateway: an A/B test needs one"
        )
    window = argparse.Namespace(
        kind="foundation", model=args.model, deployment=deployment, minutes=args.minutes
    )
    requests, errors, p95 = health.measure(stack, window)  # checks the workspace ID first
    return Variant(deployment, requests, errors, p95, measure_tokens(stack, deployment, args.minutes))


def mark_lost(environ: Mapping[str, str] | None = None) -> None:
    """Tell the job's later steps that the serving version won (the release record keeps the test)."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ENV"):
        with open(environ["GITHUB_ENV"], "a", encoding="utf-8") as handle:
            handle.write(f"{LOST}=true\n")
    if environ.get("TF_BUILD"):
        print(f"##vso[task.setvariable variable={LOST}]true")


def serving_of(previous: dict[str, Any], location: str) -> str:
    for region in previous.get("stacks") or []:
        if isinstance(region, dict) and region.get("location") == location and region.get("active"):
            return str(region["active"])
    raise common.InputError(f"the saved routing names no serving deployment in {location}")


def run_compare(args: argparse.Namespace) -> int:
    stacks = routing.load_stacks(args.outputs)
    previous = common.read_json(args.previous, "saved routing")
    if not isinstance(previous, dict) or previous.get("kind") != "foundation":
        raise common.InputError("--previous must be the saved routing of a foundation model")
    if routing.already_live(previous, args.candidate):
        print(f"{args.candidate} already takes all traffic of {args.model}: nothing to compare")
        return 0
    to_candidate = argparse.Namespace(kind="foundation", env=args.env, model=args.model, to=args.candidate)
    if not any(isinstance(r, dict) and r.get("active") for r in previous.get("stacks") or []):
        print(
            f"nothing serves {args.model} in {args.env} yet: {args.candidate} goes live without a comparison"
        )
        routing.shift(stacks, to_candidate, 100)
        return 0
    rule = Rule(
        args.metric, args.tolerance_percent, args.error_rate_percent, args.latency_p95_ms, args.min_requests
    )
    evaluation = abscores.evaluated(args.gates, args.evaluation_serving, args.evaluation_candidate)
    regions = [
        (s.location, measure(s, args, serving_of(previous, s.location)), measure(s, args, args.candidate))
        for s in stacks
    ]
    result = comparison(args, rule, regions, evaluation)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", "utf-8")
    markdown = table(result)
    print(markdown)
    common.publish_summary(markdown, f"ab-test-{args.env}-{args.model}.md")
    if args.decide == "manual":  # both variants keep serving: a person decides in the next job
        print(f"abtest: both variants of {args.model} serve at the split until a person decides")
        return 0
    if result["winner"] == "candidate":
        routing.shift(stacks, to_candidate, 100)
        print(f"abtest: {args.candidate} won and is live for {args.model} in {args.env}")
        return 0
    routing.restore(stacks, previous)
    mark_lost()
    print(
        f"abtest: the serving version keeps {args.model} in {args.env}; the release stops here",
        file=sys.stderr,
    )
    return 1


def run_promote(args: argparse.Namespace) -> int:
    """A person approved: the candidate of the comparison takes all traffic; the record says who."""
    stacks = routing.load_stacks(args.outputs)
    result = common.read_object(args.comparison, "A/B test comparison")
    ours = (SCHEMA, args.model, args.env)
    if (result.get("schema"), result.get("model"), result.get("environment")) != ours:
        raise common.InputError(f"{args.comparison} is not the A/B test of {args.model} in {args.env}")
    candidate = str(result.get("candidate") or "")
    to_candidate = argparse.Namespace(kind="foundation", env=args.env, model=args.model, to=candidate)
    routing.shift(stacks, to_candidate, 100)
    by = {"by": args.approved_by} if args.approved_by else {}
    result["decision"] = {"decision": "approved", "environment": args.approved_in, **by}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", "utf-8")
    markdown = table(result)
    print(markdown)
    common.publish_summary(markdown, f"ab-decision-{args.env}-{args.model}.md")
    print(f"abtest: {candidate}, approved in {args.approved_in}, is live for {args.model} in {args.env}")
    return 0


# ---- command line ------------------------------------------------------------------------------

_number, _whole = common.number_in, common.whole_in


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="abtest.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    subs = result.add_subparsers(dest="command", required=True)
    cmp = subs.add_parser("compare", help="compare both variants, write the table, promote or restore")
    cmp.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    cmp.add_argument("--env", required=True, help="environment (the App Configuration label)")
    cmp.add_argument("--model", required=True, help="foundation model name from the spec")
    cmp.add_argument("--candidate", required=True, help="the candidate deployment (variant B)")
    cmp.add_argument("--previous", required=True, type=Path, help="the routing saved before the split")
    cmp.add_argument("--split", required=True, type=_whole(1, 99), help="the candidate's share, percent")
    cmp.add_argument("--minutes", required=True, type=_whole(1, 100000), help="the test's window")
    cmp.add_argument("--metric", required=True, choices=METRICS, help="the metric compared")
    cmp.add_argument("--tolerance-percent", required=True, type=_number(0, 100), help="allowed regression")
    cmp.add_argument("--error-rate-percent", required=True, type=_number(0, 100), help="candidate's limit")
    cmp.add_argument("--latency-p95-ms", type=_whole(1, 10**9), help="candidate's p95 limit")
    cmp.add_argument("--min-requests", required=True, type=_whole(0, 10**9), help="per variant and region")
    cmp.add_argument("--out", required=True, type=Path, help="the comparison JSON to write")
    cmp.add_argument("--gates", type=Path, help="gates.json: the evaluation gate's thresholds")
    cmp.add_argument("--evaluation-serving", type=Path, help="the evaluation's results of variant A")
    cmp.add_argument("--evaluation-candidate", type=Path, help="the evaluation's results of variant B")
    cmp.add_argument(
        "--decide", choices=("rule", "manual"), default="rule", help="manual: measure and report only"
    )
    promote = subs.add_parser("promote", help="a person approved: the compared candidate takes all traffic")
    promote.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    promote.add_argument("--env", required=True, help="environment (the App Configuration label)")
    promote.add_argument("--model", required=True, help="foundation model name from the spec")
    promote.add_argument("--comparison", required=True, type=Path, help="compare's JSON (--decide manual)")
    promote.add_argument("--approved-in", required=True, help="where the approval was given")
    promote.add_argument("--approved-by", default="", help="who approved, when known")
    promote.add_argument("--out", required=True, type=Path, help="the comparison with the decision")
    return result


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), {"compare": run_compare, "promote": run_promote}, argv)


if __name__ == "__main__":
    sys.exit(main())
