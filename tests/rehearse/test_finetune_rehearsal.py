"""Fine-tuning rehearsed: a foundation model is fine-tuned only when its inputs change, and the
deployment serves the fine-tuned model Azure OpenAI made.

A test-local spec (one environment, direct; promotion to later environments and regions is in
test_finetune_promotion_rehearsal.py, see docs/architecture.md "Fine-tuned foundation models") keeps
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
from generator.rehearse.driver import Stage, commit_change, edit_spec, fork, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, first_deploys

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: tuned-chat, description: Answers in the house style}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
models:
  - name: chat
    model: gpt-4o-mini
    version: "2024-07-18"
    sku: Standard
    fineTune:
      trainingData: {asset: support-chats, version: "3"}
      validationData: {asset: support-chats-holdout, version: "3"}
      hyperparameters: {epochs: 3, batchSize: 8, learningRateMultiplier: 0.1}
      seed: 42
"""


def account(stage: Stage) -> dict[str, Any]:
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    (only,) = state["accounts"].values()
    return dict(only)


def served(stage: Stage) -> dict[str, str]:
    return dict(account(stage)["deployments"]["chat"]["properties"]["model"])


def events(stage: Stage, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == kind and e["minute"] >= since]


def release_record(stage: Stage) -> dict[str, Any]:
    """The newest release record the run kept as an artifact."""
    records = sorted(stage.world.root.rglob("release-record.json"), key=lambda p: p.stat().st_mtime)
    assert records, "no release record"
    return dict(json.loads(records[-1].read_text("utf-8")))


def more_epochs(data: Any) -> None:
    data["models"][0]["fineTune"]["hyperparameters"]["epochs"] = 4


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    """The spec's first deploy on each target, from an empty subscription (once per module)."""
    return first_deploys(tmp_path_factory, "tuned-chat", {"almgen.yaml": SPEC})


@pytest.mark.parametrize("target", TARGETS)
def test_a_first_deploy_fine_tunes_once_and_deploys_the_fine_tuned_model(
    target: str, first: dict[str, Stage]
) -> None:
    stage = first[target]
    (job,) = account(stage)["fineTuning"].values()
    assert job["status"] == "succeeded"
    assert job["model"] == "gpt-4o-mini-2024-07-18"  # the base, as the fine-tuning API names it
    assert job["hyperparameters"] == {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 0.1}
    assert job["seed"] == 42 and job["suffix"].startswith("almgen-")
    files = account(stage)["files"]
    assert {files[job["training_file"]]["filename"], files[job["validation_file"]]["filename"]} == {
        "support-chats-3.jsonl",
        "support-chats-holdout-3.jsonl",
    }
    assert served(stage) == {"format": "OpenAI", "name": job["fine_tuned_model"], "version": "1"}
    tags = account(stage)["deployments"]["chat"]["tags"]
    assert tags["fine-tune-base"] == "gpt-4o-mini:2024-07-18"
    assert (tags["training-data-asset"], tags["training-data-version"]) == ("support-chats", "3")
    # the deployment exists only after the job succeeded: never a base model under the fine-tuned name
    start = next(e["minute"] for e in events(stage, "azure-fine-tune-end"))
    capacity = events(stage, "azure-capacity")
    assert capacity and all(e["minute"] >= start for e in capacity if e["deployment"] == "chat")
    (lineage,) = release_record(stage)["fineTuned"]
    assert lineage["job"] == job["id"] and lineage["fineTunedModel"] == job["fine_tuned_model"]
    assert lineage["trainingData"] == {"asset": "support-chats", "version": "3"} and lineage["created"]


def test_the_same_commit_again_fine_tunes_nothing(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    before = served(stage)
    start = stage.world.minutes()
    phase = run_phase(stage, "same inputs again", [])
    assert phase.conclusion == "success", phase.report
    assert events(stage, "azure-fine-tune-start", start) == []
    assert events(stage, "azure-file-import", start) == []
    assert len(events(stage, "azure-deployment", start)) == 1  # deploy-infra only: nothing new to deploy
    assert len(account(stage)["fineTuning"]) == 1
    assert served(stage) == before
    (lineage,) = release_record(stage)["fineTuned"]
    assert lineage["fineTunedModel"] == before["name"] and lineage["created"] is False


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_hyperparameter_fine_tunes_again_and_deploys_the_new_model(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[target], tmp_path)
    before = served(stage)["name"]
    start = stage.world.minutes()
    commit_change(stage.repo, "almgen.yaml", more_epochs, "chat: four epochs")
    phase = run_phase(stage, "more epochs", [])
    assert phase.conclusion == "success", phase.report
    (started,) = events(stage, "azure-fine-tune-start", start)
    assert started["hyperparameters"]["n_epochs"] == 4
    new = account(stage)["fineTuning"][started["job"]]
    assert new["suffix"] != account(stage)["fineTuning"][next(iter(account(stage)["fineTuning"]))]["suffix"]
    assert served(stage)["name"] == new["fine_tuned_model"] != before


def test_a_failed_fine_tuning_job_keeps_the_model_that_serves(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[GITHUB], tmp_path)
    before = served(stage)
    commit_change(stage.repo, "almgen.yaml", more_epochs, "chat: four epochs")
    phase = run_phase(stage, "the job fails", parse_faults(("dev:fine-tune:fail",), stage.spec))
    assert phase.conclusion == "failure"
    assert "ended failed: The training failed." in phase.report
    assert served(stage) == before  # nothing was deployed after the failed job
    statuses = sorted(job["status"] for job in account(stage)["fineTuning"].values())
    assert statuses == ["failed", "succeeded"]
    again = run_phase(stage, "the next run", [])  # a failed job is not reused: a new one is started
    assert again.conclusion == "success", again.report
    assert sorted(job["status"] for job in account(stage)["fineTuning"].values()) == [
        "failed",
        "succeeded",
        "succeeded",
    ]
    assert served(stage) != before


def test_lineage_live_reads_the_fine_tuned_model_that_serves(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    done = subprocess.run(
        [*command, "--format", "json"], env=stage.world.environ(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (dev,) = json.loads(done.stdout)["environments"]
    (region,) = dev["regions"]
    (model,) = [m for m in region["models"] if m["name"] == "chat"]
    (serving,) = model["serving"]
    (job,) = account(stage)["fineTuning"].values()
    assert serving["fineTunedModel"] == served(stage)["name"] and serving["fineTuningJob"] == job["id"]
    assert serving["release"] is not None and serving["release"]["since"]  # the kept release record
    assert model["fineTune"]["trainingData"] == {"asset": "support-chats", "version": "3"}
    assert dev["differences"] == []
    edit_spec(stage.repo / "almgen.yaml", more_epochs)  # changed, not fine-tuned yet
    again = subprocess.run(command, env=stage.world.environ(), capture_output=True, text=True, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"fine-tuned model: {job['fine_tuned_model']} (job {job['id']})" in again.stdout
    assert "was fine-tuned from other inputs than the spec's" in again.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_every_az_line_of_the_first_deploy_parses_with_the_real_azure_cli(
    target: str, first: dict[str, Stage]
) -> None:
    """Fine-tuning goes through `az ml data show`, `az storage blob generate-sas` and `az rest`."""
    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("the azure-cli tools environment is not installed (scripts/test.sh installs it)")
    calls = (first[target].world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    lines = [json.loads(line)["argv"] for line in calls]
    assert any(argv[:3] == ["storage", "blob", "generate-sas"] for argv in lines)
    assert any(argv[:3] == ["ml", "data", "show"] for argv in lines)
    assert azcli.rejected(lines) == []
