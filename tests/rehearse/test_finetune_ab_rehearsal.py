"""An A/B test of a fine-tuned model, rehearsed: a new fine-tune (new training data) is deployed in
staging on the colour that does not serve, both fine-tuned models serve side by side through the
gateway, and the spec's rule promotes the new one (it is faster) or restores the previous one (it is
slower), which keeps serving and goes no further.

Colours are told apart by the fine-tuned model's id (every fine-tuned model is version 1), see
docs/architecture.md "Fine-tuned foundation models". A test-local spec (dev direct, staging A/B,
prod direct) keeps the samples' matrix as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import parse_faults
from generator.rehearse.driver import Phase, Stage, commit_change, fork, run_phase
from tests.rehearse.conftest import TARGETS, azure_state, first_deploys, records, shares

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: tuned-ab, description: A fine-tuned chat model compared in staging}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
  - name: staging
    strategy:
      type: ab
      split: 50
      durationMinutes: 30
      compare: {metric: latencyP95Ms, tolerancePercent: 10}
  - name: prod
models:
  - name: chat
    model: gpt-4o-mini
    version: "2024-07-18"
    sku: Standard
    capacity: {dev: 10, staging: 20, prod: 40}
    fineTune:
      trainingData: {asset: support-chats, version: "3"}
      hyperparameters: {epochs: 3, learningRateMultiplier: 0.1}
      seed: 42
"""


def account(stage: Stage, env: str) -> dict[str, Any]:
    (found,) = [a for a in azure_state(stage)["accounts"].values() if a["group"] == f"rg-tuned-ab-{env}"]
    return dict(found)


def model_of(stage: Stage, env: str, deployment: str) -> str:
    return str(account(stage, env)["deployments"][deployment]["properties"]["model"]["name"])


def pool(stage: Stage, env: str) -> dict[str, int]:
    (gateway,) = [g for g in azure_state(stage)["gateways"].values() if g["env"] == env]
    return dict(gateway["pools"]["chat"])


def new_training_data(data: Any) -> None:
    data["models"][0]["fineTune"]["trainingData"]["version"] = "4"


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    return first_deploys(tmp_path_factory, "tuned-ab", {"almgen.yaml": SPEC})


def release(first: dict[str, Stage], target: str, into: Path, fault: str) -> tuple[Stage, Phase, float]:
    """A release with new training data, the candidate's p95 latency set by FAULT."""
    stage = fork(first[target], into)
    start = stage.world.minutes()
    commit_change(stage.repo, "almgen.yaml", new_training_data, "chat: support chats v4")
    return stage, run_phase(stage, "new training data", parse_faults((fault,), stage.spec)), start


@pytest.mark.parametrize("target", TARGETS)
def test_a_faster_new_fine_tune_wins_the_ab_test_and_reaches_prod(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    old = model_of(first[target], "staging", "chat-blue")
    assert pool(first[target], "staging") == {"chat-blue": 100}
    stage, phase, start = release(first, target, tmp_path, "staging:chat:latency-p95=200@step=1")
    assert phase.conclusion == "success", phase.report
    new = model_of(stage, "staging", "chat-green")
    assert new != old and ".ft-" in new  # the candidate colour serves dev's new fine-tuned model
    assert model_of(stage, "staging", "chat-blue") == old
    moved = shares(stage, "staging", start)
    assert moved[0] == {"chat-blue": 50, "chat-green": 50} and moved[-1].get("chat-green") == 100, moved
    assert pool(stage, "staging") == {"chat-green": 100}
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert (test["winner"], test["candidate"]) == ("candidate", "chat-green")
    (tuned,) = records(stage, "staging")[-1]["fineTuned"]
    assert (tuned["fineTunedModel"], tuned["deployment"]) == (new, "chat-green")
    assert new in {model_of(stage, "prod", d) for d in account(stage, "prod")["deployments"]}


@pytest.mark.parametrize("target", TARGETS)
def test_a_slower_new_fine_tune_loses_and_the_previous_one_keeps_serving(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    before = pool(first[target], "staging")
    old = model_of(first[target], "staging", "chat-blue")
    prod_before = account(first[target], "prod")["deployments"]
    stage, phase, _ = release(first, target, tmp_path, "staging:chat:latency-p95=2000@step=1")
    assert phase.conclusion == "failure", phase.report
    assert pool(stage, "staging") == before  # weight for weight
    assert model_of(stage, "staging", "chat-blue") == old
    (test,) = records(stage, "staging")[-1]["abTests"]
    assert test["winner"] == "serving" and test["reasons"]
    assert account(stage, "prod")["deployments"] == prod_before  # the release went no further
