"""The A/B test rehearsed: both variants serve through the gateway, the rule picks the winner, and
the comparison table is written to the run summary and the release record.

A small spec (dev direct, staging an A/B test of 50 % for 30 minutes on p95 latency within 10 %,
prod direct) on both targets. The candidate's latency is set by a metric fault from its first
traffic step on (the split is that step): 200 ms beats the serving version's 450 ms, 2000 ms loses.
Each variant's tokens per request come from the gateway's language-model log (850 by default), and
its scores from the evaluation gate's command run against it (`ENV:ab-evaluation:worse` makes the
candidate's 20 % worse); a loss is still written to the release record, which the audit keeps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.commands.rehearse import parse_faults
from generator.rehearse.driver import Phase, Stage, fork, next_release, run_phase
from tests.rehearse import azcli
from tests.rehearse.conftest import GITHUB, TARGETS, first_deploys, records, shares

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: ab-chat, description: Chat with an A/B test in staging}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
  - name: staging
    gates: [evaluation]
    strategy:
      type: ab
      split: 50
      durationMinutes: 30
      compare: {metric: latencyP95Ms, tolerancePercent: 10}
  - name: prod
models:
  - {name: chat, model: gpt-4o, version: "2024-11-20"}
evaluation:
  command: "python -m evals.run --out $ALMGEN_EVAL_RESULTS"
  thresholds: {groundedness: ">= 4.0", relevance: ">= 3.8"}
"""


def pools(stage: Stage, env: str) -> dict[str, dict[str, int]]:
    """ENV's gateway pool weights of chat (one region)."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    (gateway,) = [g for g in state["gateways"].values() if g["env"] == env]
    return dict(gateway["pools"])


def summaries(stage: Stage, phase: Phase, since: float) -> str:
    """Every run summary the phase wrote: GitHub's step summaries, Azure DevOps's uploaded files."""
    if stage.target == GITHUB:
        return "\n".join(phase.run.summaries.values())
    return "\n".join(
        event["text"]
        for event in stage.world.timeline()
        if event["kind"] == "devops-summary" and event["minute"] >= since
    )


def az_calls(stage: Stage) -> list[list[str]]:
    lines = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["argv"] for line in lines]


def compared_through_the_gateway(stage: Stage, calls_before: int) -> None:
    """Both variants were measured from the gateway's logs (requests and tokens), and the real az
    parses every rest line."""
    calls = [c for c in az_calls(stage)[calls_before:] if c[:1] == ["rest"]]
    bodies = " ".join(
        " ".join(c) for c in calls if any(a.startswith("https://api.loganalytics.io/") for a in c)
    )
    assert "/openai/deployments/chat-blue/" in bodies and "/openai/deployments/chat-green/" in bodies
    assert "ApiManagementGatewayLlmLog" in bodies
    if azcli.available():
        assert azcli.rejected(calls) == []


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    return first_deploys(tmp_path_factory, "ab-chat", {"almgen.yaml": SPEC})


def release(first: dict[str, Stage], target: str, into: Path, *faults: str) -> tuple[Stage, Phase, float]:
    stage = fork(first[target], into)
    start, calls_before = stage.world.minutes(), len(az_calls(stage))
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(faults, stage.spec))
    compared_through_the_gateway(stage, calls_before)
    return stage, phase, start


@pytest.mark.parametrize("target", TARGETS)
def test_a_first_deploy_has_nothing_to_compare(target: str, first: dict[str, Stage]) -> None:
    stage = first[target]
    assert pools(stage, "staging") == {"chat": {"chat-blue": 100}}
    assert "abTests" not in records(stage, "staging")[-1]


@pytest.mark.parametrize("target", TARGETS)
def test_a_faster_candidate_wins_and_goes_on_to_prod(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage, phase, start = release(first, target, tmp_path, "staging:chat:latency-p95=200@step=1")
    assert phase.conclusion == "success", phase.report
    # the split, then the winner takes all: the gateway's pool moved twice
    moved = shares(stage, "staging", start)
    assert len(moved) == 2 and moved[0] == {"chat-blue": 50, "chat-green": 50}
    assert moved[1].get("chat-green") == 100 and not moved[1].get("chat-blue")
    assert pools(stage, "staging") == {"chat": {"chat-green": 100}}
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert (test["winner"], test["candidate"], test["split"], test["minutes"]) == (
        "candidate",
        "chat-green",
        50,
        30,
    )
    (region,) = test["regions"]
    assert (
        region["serving"]["deployment"] == "chat-blue" and region["candidate"]["deployment"] == "chat-green"
    )
    assert region["candidate"]["latencyP95Ms"] < region["serving"]["latencyP95Ms"]
    assert region["serving"]["requests"] >= 100 and region["candidate"]["requests"] >= 100
    # the token log: every answered request logged 850 tokens (600 prompt, 250 completion)
    for variant in (region["serving"], region["candidate"]):
        tokens = variant["tokens"]
        assert 0 < tokens["requests"] <= variant["requests"] - variant["errors"] + 1
        assert variant["tokensPerRequest"] == pytest.approx(850, abs=1)
        assert tokens["prompt"] + tokens["completion"] == tokens["total"]
    table = summaries(stage, phase, start)
    assert "### A/B test of chat in staging: the candidate wins" in table
    assert "| eastus2 | B (candidate) | chat-green | 50% |" in table
    assert "| p95 latency | tokens per request |" in table and " ms | 850 |" in table
    assert "| A/B test | region | deployment |" in table  # the release record's summary too
    assert "| tokens/request | won |" in table
    # the evaluation gate's command ran against each variant, with a contract naming it
    evaluated = [e for e in stage.world.timeline() if e["kind"] == "ab-evaluation" and e["minute"] >= start]
    assert [(e["variant"], e["contract"]["AZURE_OPENAI_DEPLOYMENT"]) for e in evaluated] == [
        ("live", "chat-blue"),
        ("candidate", "chat-green"),
    ]
    assert [(row["metric"], row["serving"] == row["candidate"]) for row in test["evaluation"]] == [
        ("groundedness", True),
        ("relevance", True),
    ]
    assert "| groundedness | >= 4.0 | 4.2 | 4.2 |" in table
    # prod deployed the release after staging promoted it
    assert (
        records(stage, "prod")[-1]["models"][0]["version"]
        != records(first[target], "prod")[-1]["models"][0]["version"]
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_slower_candidate_loses_the_weights_are_restored_and_prod_is_untouched(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    before = pools(first[target], "staging")
    prod_before = pools(first[target], "prod")
    prod_records = len(records(first[target], "prod"))
    staging_records = len(records(first[target], "staging"))
    stage, phase, start = release(first, target, tmp_path, "staging:chat:latency-p95=2000@step=1")
    assert phase.conclusion == "failure", phase.report
    assert pools(stage, "staging") == before  # weight for weight
    # the audit shows the test: the release record was written and kept though the job failed
    assert len(records(stage, "staging")) == staging_records + 1
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert test["winner"] == "serving" and test["reasons"]
    assert test["regions"][0]["candidate"]["tokensPerRequest"] == pytest.approx(850, abs=1)
    assert shares(stage, "staging", start)[0] == {"chat-blue": 50, "chat-green": 50}
    assert shares(stage, "staging", start)[-1] in ({"chat-blue": 100}, {"chat-blue": 100, "chat-green": 0})
    assert shares(stage, "prod", start) == [] and pools(stage, "prod") == prod_before
    assert len(records(stage, "prod")) == prod_records
    table = summaries(stage, phase, start)
    assert "### A/B test of chat in staging: the serving version wins" in table
    assert "| eastus2 | A (serving) | chat-blue | 50% |" in table
    assert "the candidate's latencyP95Ms" in table and "worse than the serving version's" in table
    assert "The serving version of chat won: this release went no further." in table


@pytest.mark.parametrize("target", TARGETS)
def test_a_faster_candidate_with_worse_evaluation_scores_loses(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    before = pools(first[target], "staging")
    stage, phase, start = release(
        first, target, tmp_path, "staging:chat:latency-p95=200@step=1", "staging:ab-evaluation:worse"
    )
    assert phase.conclusion == "failure", phase.report
    assert pools(stage, "staging") == before
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert test["winner"] == "serving"
    assert test["regions"][0]["candidate"]["latencyP95Ms"] < test["regions"][0]["serving"]["latencyP95Ms"]
    assert [r for r in test["reasons"] if not r.startswith("evaluation: ")] == []  # faster, less grounded
    assert any("groundedness" in r and "worse than the serving version's" in r for r in test["reasons"])
    table = summaries(stage, phase, start)
    assert "| groundedness | >= 4.0 | 4.2 | 3.36 |" in table


@pytest.mark.parametrize("target", TARGETS)
def test_each_variant_s_token_use_comes_from_the_gateway_s_language_model_log(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    """A candidate that answers with more tokens a request: reported per variant (the rule here
    compares latency, a tie the candidate wins)."""
    stage, phase, start = release(first, target, tmp_path, "staging:chat:tokens=1200@step=1")
    assert phase.conclusion == "success", phase.report
    (test,) = records(stage, "staging")[-1]["abTests"]
    (region,) = test["regions"]
    assert region["serving"]["tokensPerRequest"] == pytest.approx(850, abs=1)
    assert region["candidate"]["tokensPerRequest"] == pytest.approx(1200, abs=1)
    tokens = region["candidate"]["tokens"]
    assert tokens["prompt"] == pytest.approx(600 * tokens["requests"], abs=600)  # the prompt is the same
    assert " ms | 1200 |" in summaries(stage, phase, start)
