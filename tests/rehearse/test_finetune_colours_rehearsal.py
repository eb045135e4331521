"""Fine-tuned models through colours, rehearsed: a new fine-tuned model goes to the colour that does
not serve and the canary moves traffic to it; a breach restores the previous fine-tuned model at 100;
the same commit again fine-tunes nothing and moves nothing.

Colours are told apart by the fine-tuned model's id (every fine-tuned model is version 1), see
docs/architecture.md "Fine-tuned foundation models". A test-local spec (dev direct, prod canary) keeps
the samples' matrix as it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import parse_faults
from generator.rehearse.driver import Stage, commit_change, fork, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, azure_state, first_deploys

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: tuned-chat, description: Answers in the house style}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
  - name: prod
    strategy:
      type: canary
      steps: [10, 50, 100]
      bakeMinutes: 10
      rollback: {errorRatePercent: 5, minRequests: 0}
models:
  - name: chat
    model: gpt-4o-mini
    version: "2024-07-18"
    sku: Standard
    capacity: {dev: 10, prod: 40}
    standbyCapacity: 2
    fineTune:
      trainingData: {asset: support-chats, version: "3"}
      hyperparameters: {epochs: 3, learningRateMultiplier: 0.1}
      seed: 42
"""


def prod(stage: Stage) -> dict[str, Any]:
    (account,) = [a for a in azure_state(stage)["accounts"].values() if a["group"] == "rg-tuned-chat-prod"]
    return dict(account)


def dev_jobs(stage: Stage) -> dict[str, Any]:
    (account,) = [a for a in azure_state(stage)["accounts"].values() if a["group"] == "rg-tuned-chat-dev"]
    return dict(account["fineTuning"])


def keys(stage: Stage) -> dict[str, str]:
    """prod's routing keys of chat."""
    (store,) = [s for s in azure_state(stage)["stores"].values() if s.get("env") == "prod"]
    return {v["key"]: v["value"] for v in store["kv"].values() if v["key"].endswith(":chat")}


def serving(stage: Stage) -> tuple[str, str]:
    """(the active deployment, the fine-tuned model it serves) in prod; the canary is cleared."""
    routing = keys(stage)
    assert json.loads(routing["almgen:canary:chat"])["percent"] == 0, routing
    active = routing["almgen:active:chat"]
    return active, str(prod(stage)["deployments"][active]["properties"]["model"]["name"])


def pool(stage: Stage) -> dict[str, int]:
    """prod's gateway pool of chat: deployment -> weight (what the gateway sends where)."""
    (gateway,) = [g for g in (azure_state(stage).get("gateways") or {}).values() if g["env"] == "prod"]
    return dict(gateway["pools"]["chat"])


def traffic(stage: Stage, since: float) -> list[dict[str, int]]:
    return [
        e["shares"]
        for e in stage.world.timeline()
        if e["kind"] == "azure-traffic" and e["env"] == "prod" and e["minute"] >= since
    ]


def events(stage: Stage, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == kind and e["minute"] >= since]


def new_training_data(data: Any) -> None:
    data["models"][0]["fineTune"]["trainingData"]["version"] = "4"


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    return first_deploys(tmp_path_factory, "tuned-chat-colours", {"almgen.yaml": SPEC})


@pytest.mark.parametrize("target", TARGETS)
def test_a_first_deploy_serves_the_fine_tuned_model_from_blue(target: str, first: dict[str, Stage]) -> None:
    stage = first[target]
    (job,) = dev_jobs(stage).values()
    assert serving(stage) == ("chat-blue", job["fine_tuned_model"])
    assert "chat-green" not in prod(stage)["deployments"]  # nothing to stand by with yet
    assert pool(stage) == {"chat-blue": 100}
    assert prod(stage)["deployments"]["chat-blue"]["sku"]["capacity"] == 40


@pytest.mark.parametrize("target", TARGETS)
def test_a_new_fine_tune_goes_to_green_and_the_canary_moves_prod_to_it(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[target], tmp_path)
    _, old = serving(stage)
    start = stage.world.minutes()
    commit_change(stage.repo, "almgen.yaml", new_training_data, "chat: support chats v4")
    phase = run_phase(stage, "new training data", [])
    assert phase.conclusion == "success", phase.report
    (started,) = events(stage, "azure-fine-tune-start", start)  # in dev only; prod deploys dev's model
    new = dev_jobs(stage)[started["job"]]["fine_tuned_model"]
    assert serving(stage) == ("chat-green", new) and new != old
    deployments = prod(stage)["deployments"]
    assert deployments["chat-blue"]["properties"]["model"]["name"] == old  # blue keeps the old model
    assert deployments["chat-blue"]["sku"]["capacity"] == 2  # and stands by, scaled down
    # the candidate ran at full capacity before any traffic moved to it
    (scaled,) = [e for e in events(stage, "azure-capacity", start) if e["deployment"] == "chat-green"]
    assert scaled["capacity"] == 40
    green = [shares.get("chat-green", 0) for shares in traffic(stage, start)]
    assert green == [10, 50, 100], traffic(stage, start)
    assert all(e["minute"] >= scaled["minute"] for e in events(stage, "azure-traffic", start))
    records = sorted(stage.world.root.rglob("release-record.json"), key=lambda p: p.stat().st_mtime)
    prods = [json.loads(p.read_text("utf-8")) for p in records]
    (lineage,) = [r for r in prods if r.get("environment") == "prod"][-1]["fineTuned"]
    assert lineage["fineTunedModel"] == new and lineage["deployment"] == "chat-green"
    assert pool(stage) == {"chat-green": 100}  # the gateway sends it all to the new fine-tuned model
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    done = subprocess.run(
        [*command, "--env", "prod", "--format", "json"],
        env=stage.world.environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (environment,) = json.loads(done.stdout)["environments"]
    (region,) = environment["regions"]
    (model,) = [m for m in region["models"] if m["name"] == "chat"]
    (live,) = model["serving"]
    assert (live["deployment"], live["fineTunedModel"], live["fineTuningJob"]) == (
        "chat-green",
        new,
        started["job"],
    )
    assert live["release"] is not None and live["release"]["since"] and environment["differences"] == []
    from tests.rehearse import azcli

    if azcli.available():  # the rollout's az lines (pool PATCH, App Configuration, deploys) parse
        calls = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
        assert azcli.rejected([json.loads(line)["argv"] for line in calls]) == []


@pytest.mark.parametrize("target", TARGETS)
def test_a_breach_at_a_canary_step_restores_the_previous_fine_tuned_model(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[target], tmp_path)
    before = serving(stage)
    start = stage.world.minutes()
    commit_change(stage.repo, "almgen.yaml", new_training_data, "chat: support chats v4")
    faults = parse_faults(("prod:chat:error-rate=20@step=2",), stage.spec)
    phase = run_phase(stage, "the canary breaches", faults)
    assert phase.conclusion == "failure"
    assert serving(stage) == before  # blue serves the previous fine-tuned model at 100
    assert pool(stage) == {"chat-blue": 100}
    green = [shares.get("chat-green", 0) for shares in traffic(stage, start)]
    assert green[:2] == [10, 50] and green[-1] == 0, traffic(stage, start)
    assert prod(stage)["deployments"]["chat-green"]["properties"]["model"]["name"] != before[1]


def test_the_same_commit_again_fine_tunes_nothing_and_moves_nothing(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[GITHUB], tmp_path)
    before = serving(stage)
    deployments = prod(stage)["deployments"]
    start = stage.world.minutes()
    phase = run_phase(stage, "same inputs again", [])
    assert phase.conclusion == "success", phase.report
    assert events(stage, "azure-fine-tune-start", start) == []
    assert traffic(stage, start) == []
    assert len(events(stage, "azure-deployment", start)) == 2  # deploy-infra of dev and prod: nothing new
    assert serving(stage) == before and prod(stage)["deployments"] == deployments


def test_blue_green_swaps_to_the_colour_with_the_new_fine_tuned_model(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    """The same candidate under blue-green: the tests call green, then one swap moves all traffic."""
    stage = fork(first[GITHUB], tmp_path)
    _, old = serving(stage)
    start = stage.world.minutes()

    def blue_green(data: Any) -> None:
        new_training_data(data)
        data["environments"][1]["strategy"] = {"type": "blue-green", "bakeMinutes": 10}

    commit_change(stage.repo, "almgen.yaml", blue_green, "chat: support chats v4, blue-green")
    phase = run_phase(stage, "blue-green", [])
    assert phase.conclusion == "success", phase.report
    (started,) = events(stage, "azure-fine-tune-start", start)
    new = dev_jobs(stage)[started["job"]]["fine_tuned_model"]
    assert serving(stage) == ("chat-green", new) and new != old
    assert [shares.get("chat-green", 0) for shares in traffic(stage, start)] == [100]
    assert pool(stage) == {"chat-green": 100}
    assert prod(stage)["deployments"]["chat-blue"]["properties"]["model"]["name"] == old
