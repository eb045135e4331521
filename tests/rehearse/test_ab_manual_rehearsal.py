"""The manual A/B decision rehearsed (`compare.decide: manual`) on both targets: the comparison is
written and both variants keep serving at the split until a person decides: on GitHub the
reviewers of the `staging-ab-decision` environment, on Azure DevOps the approvers of a
ManualValidation@1 task in an agentless job. Approved: the candidate takes all traffic (even one
the rule would not pick: the person decides) and the release record keeps the comparison and the
decision. Rejected (`staging:ab-decision=reject`): the routing saved before the split comes back
exactly and the run stops before prod.

The spec of test_ab_rehearsal.py with `decide: manual` and reviewers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.commands.rehearse import parse_faults
from generator.rehearse.driver import Phase, Stage, fork, next_release, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, first_deploys, records, shares
from tests.rehearse.test_ab_rehearsal import SPEC, pools, summaries

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

MANUAL = SPEC.replace(
    "tolerancePercent: 10}", "tolerancePercent: 10, decide: manual, reviewers: [ab-owners]}"
)
assert MANUAL.count("decide: manual") == 1


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    return first_deploys(tmp_path_factory, "ab-manual", {"almgen.yaml": MANUAL})


def release(first: dict[str, Stage], target: str, into: Path, *faults: str) -> tuple[Stage, Phase, float]:
    stage = fork(first[target], into)
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    return stage, run_phase(stage, "release", parse_faults(faults, stage.spec)), start


def decisions(stage: Stage, since: float) -> list[tuple[str, str]]:
    """Who decided what, in the order asked: GitHub's environment approvals, Azure DevOps's
    ManualValidation tasks (resume: approved)."""
    out = []
    for event in stage.world.timeline():
        if event["minute"] < since:
            continue
        if event["kind"] == "github.approval" and event["env"] == "staging-ab-decision":
            out.append((event["decision"], event["by"]))
        if event["kind"] == "devops.manual-validation" and event["env"] == "staging":
            out.append(({"resume": "approve"}.get(event["decision"], event["decision"]), event["by"]))
    return out


def staging_jobs(stage: Stage, phase: Phase) -> dict[str, str]:
    """Each staging job's result, by the Plan's job id, in GitHub's words."""
    if stage.target == GITHUB:
        return {key.split("/")[-1]: job.result for key, job in phase.run.jobs.items() if "staging" in key}
    words = {"Succeeded": "success", "Failed": "failure", "Skipped": "skipped", "Canceled": "cancelled"}
    ids = {
        "Finish": "finish",
        "AbDecision": "ab-decision",
        "AbPromote": "ab-promote",
        "AbRestore": "ab-restore",
    }
    jobs = phase.run.stages["Deploy_staging"].jobs if "Deploy_staging" in phase.run.stages else {}
    return {ids.get(name, name): words.get(job.result, job.result) for name, job in jobs.items()}


@pytest.mark.parametrize("target", TARGETS)
def test_an_approved_candidate_takes_all_traffic_though_the_rule_favoured_the_serving_version(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage, phase, start = release(first, target, tmp_path, "staging:chat:latency-p95=2000@step=1")
    assert phase.conclusion == "success", phase.report
    assert decisions(stage, start) == [("approve", "ab-owners")]
    moved = shares(stage, "staging", start)
    # the split, then (after the approval, in the ab-promote job) the candidate takes all
    assert moved[0] == {"chat-blue": 50, "chat-green": 50}
    assert moved[-1].get("chat-green") == 100 and not moved[-1].get("chat-blue")
    assert len(moved) == 2
    results = staging_jobs(stage, phase)
    assert results.get("ab-promote") == "success" and results.get("ab-restore") in (None, "skipped"), results
    assert pools(stage, "staging") == {"chat": {"chat-green": 100}}
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert (test["decide"], test["winner"], test["candidate"]) == ("manual", "serving", "chat-green")
    assert test["reasons"] and test["decision"] == {
        "decision": "approved",
        "environment": "staging-ab-decision",
    }
    table = summaries(stage, phase, start)
    assert "### A/B test of chat in staging: the rule favours the serving version, a person decides" in table
    assert "Decision: approved in staging-ab-decision: the candidate chat-green takes all traffic." in table
    # the release went on to prod
    assert (
        records(stage, "prod")[-1]["models"][0]["version"]
        != records(first[target], "prod")[-1]["models"][0]["version"]
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_rejected_candidate_restores_the_saved_routing_and_the_run_stops_before_prod(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    before, prod_before = pools(first[target], "staging"), pools(first[target], "prod")
    prod_records = len(records(first[target], "prod"))
    stage, phase, start = release(
        first, target, tmp_path, "staging:chat:latency-p95=200@step=1", "staging:ab-decision=reject"
    )
    assert phase.conclusion == "failure", phase.report
    assert decisions(stage, start) == [("reject", "ab-owners")]
    assert shares(stage, "staging", start)[0] == {"chat-blue": 50, "chat-green": 50}
    assert pools(stage, "staging") == before  # weight for weight, though the rule favoured the candidate
    assert shares(stage, "prod", start) == [] and pools(stage, "prod") == prod_before
    assert len(records(stage, "prod")) == prod_records
    results = staging_jobs(stage, phase)
    assert {key: results.get(key) for key in ("finish", "ab-decision", "ab-restore")} == {
        "finish": "success",
        "ab-decision": "failure",  # the rejection
        "ab-restore": "failure",  # restored, then failed on purpose
    }, results
    assert results.get("ab-promote") in (None, "skipped"), results
    table = summaries(stage, phase, start)
    assert "### A/B test of chat in staging: the rule favours the candidate, a person decides" in table
