"""The manual A/B decision rehearsed (`compare.decide: manual`, GitHub Actions): the comparison is
written and both variants keep serving at the split until the `staging-ab-decision` environment's
reviewer decides. Approved: the candidate takes all traffic (even one the rule would not pick: the
person decides) and the release record keeps the comparison and the decision. Rejected
(`staging:ab-decision=reject`): the routing saved before the split comes back exactly and the run
stops before prod.

The spec of test_ab_rehearsal.py with `decide: manual` and the github-actions target only (a
manual decision is refused with azure-devops for now).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.commands.rehearse import parse_faults
from generator.rehearse.driver import Phase, Stage, first_deploy, fork, next_release, run_phase
from generator.spec.validate import load_spec
from tests.helpers import write_tree
from tests.rehearse.test_ab_rehearsal import SPEC, pools, records, shares

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

MANUAL = SPEC.replace("[github-actions, azure-devops]", "[github-actions]").replace(
    "tolerancePercent: 10}", "tolerancePercent: 10, decide: manual, reviewers: [ab-owners]}"
)
assert MANUAL.count("decide: manual") == 1 and "azure-devops" not in MANUAL


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Stage:
    folder = tmp_path_factory.mktemp("ab-manual-spec")
    write_tree(folder, {"almgen.yaml": MANUAL})
    spec = load_spec(folder / "almgen.yaml")
    stage, phase = first_deploy(spec, "github-actions", tmp_path_factory.mktemp("ab-manual-github"))
    assert phase.conclusion == "success", phase.report
    return stage


def release(first: Stage, into: Path, *faults: str) -> tuple[Stage, Phase, float]:
    stage = fork(first, into)
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    return stage, run_phase(stage, "release", parse_faults(faults, stage.spec)), start


def decisions(stage: Stage, since: float) -> list[tuple[str, str, str]]:
    return [
        (event["env"], event["decision"], event["by"])
        for event in stage.world.timeline()
        if event["kind"] == "github.approval" and event["minute"] >= since
    ]


def test_an_approved_candidate_takes_all_traffic_though_the_rule_favoured_the_serving_version(
    first: Stage, tmp_path: Path
) -> None:
    stage, phase, start = release(first, tmp_path, "staging:chat:latency-p95=2000@step=1")
    assert phase.conclusion == "success", phase.report
    assert ("staging-ab-decision", "approve", "ab-owners") in decisions(stage, start)
    moved = shares(stage, "staging", start)
    # the split, then (after the approval, in the ab-promote job) the candidate takes all
    assert moved[0] == {"chat-blue": 50, "chat-green": 50}
    assert moved[-1].get("chat-green") == 100 and not moved[-1].get("chat-blue")
    assert len(moved) == 2
    results = {key.split("/")[-1]: job.result for key, job in phase.run.jobs.items() if "staging" in key}
    assert results.get("ab-promote") == "success" and results.get("ab-restore") in (None, "skipped"), results
    assert pools(stage, "staging") == {"chat": {"chat-green": 100}}
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert (test["decide"], test["winner"], test["candidate"]) == ("manual", "serving", "chat-green")
    assert test["reasons"] and test["decision"] == {
        "decision": "approved",
        "environment": "staging-ab-decision",
    }
    table = "\n".join(phase.run.summaries.values())
    assert "### A/B test of chat in staging: the rule favours the serving version, a person decides" in table
    assert "Decision: approved in staging-ab-decision: the candidate chat-green takes all traffic." in table
    # the release went on to prod
    assert (
        records(stage, "prod")[-1]["models"][0]["version"]
        != records(first, "prod")[-1]["models"][0]["version"]
    )


def test_a_rejected_candidate_restores_the_saved_routing_and_the_run_stops_before_prod(
    first: Stage, tmp_path: Path
) -> None:
    before, prod_before = pools(first, "staging"), pools(first, "prod")
    prod_records = len(records(first, "prod"))
    stage, phase, start = release(
        first, tmp_path, "staging:chat:latency-p95=200@step=1", "staging:ab-decision=reject"
    )
    assert phase.conclusion == "failure", phase.report
    assert ("staging-ab-decision", "reject", "ab-owners") in decisions(stage, start)
    assert shares(stage, "staging", start)[0] == {"chat-blue": 50, "chat-green": 50}
    assert pools(stage, "staging") == before  # weight for weight, though the rule favoured the candidate
    assert shares(stage, "prod", start) == [] and pools(stage, "prod") == prod_before
    assert len(records(stage, "prod")) == prod_records
    results = {key.split("/")[-1]: job.result for key, job in phase.run.jobs.items() if "staging" in key}
    assert {key: results.get(key) for key in ("finish", "ab-decision", "ab-restore")} == {
        "finish": "success",
        "ab-decision": "failure",  # the rejection
        "ab-restore": "failure",  # restored, then failed on purpose
    }, results
    assert "ab-promote" not in results or results["ab-promote"] == "skipped"
    table = "\n".join(phase.run.summaries.values())
    assert "### A/B test of chat in staging: the rule favours the candidate, a person decides" in table
