"""Fine-tuned models promoted, rehearsed: dev fine-tunes once, staging and both regions of prod deploy
the very model dev made (the deployment's `model.source` names dev's account), never a retrain.

A test-local spec (dev, staging, prod in two regions, direct) keeps the samples' matrix as it is; the
one-environment cases are in test_finetune_rehearsal.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.azure.store import locked
from generator.rehearse.driver import Stage, fork, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, azure_state, first_deploys

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: tuned-chat, description: Answers in the house style}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
  - name: staging
  - name: prod
    regions: [eastus2, swedencentral]
models:
  - name: chat
    model: gpt-4o-mini
    version: "2024-07-18"
    sku: Standard
    fineTune:
      trainingData: {asset: support-chats, version: "3"}
      hyperparameters: {epochs: 3, learningRateMultiplier: 0.1}
      seed: 42
"""


def accounts(stage: Stage) -> dict[str, dict[str, Any]]:
    """The AI Services accounts by resource group."""
    return {str(a["group"]): a for a in azure_state(stage)["accounts"].values()}


def served(stage: Stage, group: str) -> dict[str, str]:
    return dict(accounts(stage)[group]["deployments"]["chat"]["properties"]["model"])


def events(stage: Stage, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == kind and e["minute"] >= since]


def release_record(stage: Stage, env: str) -> dict[str, Any]:
    """The newest release record of ENV the runs kept."""
    paths = sorted(stage.world.root.rglob("release-record.json"), key=lambda p: p.stat().st_mtime)
    records = [json.loads(p.read_text("utf-8")) for p in paths]
    records = [r for r in records if r.get("environment") == env]
    assert records, f"no release record of {env}"
    return dict(records[-1])


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    return first_deploys(tmp_path_factory, "tuned-chat-promoted", {"almgen.yaml": SPEC})


@pytest.mark.parametrize("target", TARGETS)
def test_dev_fine_tunes_once_and_every_later_region_deploys_that_model(
    target: str, first: dict[str, Stage]
) -> None:
    stage = first[target]
    home = accounts(stage)["rg-tuned-chat-dev"]
    (job,) = home["fineTuning"].values()  # one job, in dev
    assert job["status"] == "succeeded"
    assert [g for g, a in accounts(stage).items() if a.get("fineTuning")] == ["rg-tuned-chat-dev"]
    assert len(events(stage, "azure-fine-tune-start")) == 1
    assert served(stage, "rg-tuned-chat-dev") == {
        "format": "OpenAI",
        "name": job["fine_tuned_model"],
        "version": "1",
    }
    for group in ("rg-tuned-chat-staging", "rg-tuned-chat-prod-eus2", "rg-tuned-chat-prod-swc"):
        assert served(stage, group) == {
            "format": "OpenAI",
            "name": job["fine_tuned_model"],
            "version": "1",
            "source": home["id"],
        }, group
    for env in ("staging", "prod"):
        (lineage,) = release_record(stage, env)["fineTuned"]
        assert lineage["fineTunedModel"] == job["fine_tuned_model"] and lineage["job"] == job["id"]
        assert lineage["sourceAccount"] == home["id"] and lineage["fineTunedIn"] == "dev"
        assert lineage["created"] is False
    (dev,) = release_record(stage, "dev")["fineTuned"]
    assert dev["created"] is True and dev["inputsSha256"] == lineage["inputsSha256"]


def test_the_same_commit_again_trains_nothing_anywhere(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    before = {group: served(stage, group) for group in accounts(stage)}
    start = stage.world.minutes()
    phase = run_phase(stage, "same inputs again", [])
    assert phase.conclusion == "success", phase.report
    assert events(stage, "azure-fine-tune-start", start) == []
    assert events(stage, "azure-file-import", start) == []
    # deploy-infra only in each environment: the live state names the model and its source already
    assert len(events(stage, "azure-deployment", start)) == 3
    assert {group: served(stage, group) for group in accounts(stage)} == before
    assert sum(len(a.get("fineTuning") or {}) for a in accounts(stage).values()) == 1


def test_without_the_role_over_dev_prod_cannot_deploy_the_model(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    """The simulated Azure refuses a deployment from another account without a role over it."""
    stage = fork(first[GITHUB], tmp_path)
    with locked(stage.world.azure_file) as azure:
        azure["roles"] = [r for r in azure["roles"] if r.get("principalId") != "pipeline:staging"]
        for account in azure["accounts"].values():
            if account["group"] == "rg-tuned-chat-staging":
                account["deployments"].pop("chat")
    phase = run_phase(stage, "staging lost its role over dev", [])
    assert phase.conclusion == "failure"
    assert "AuthorizationFailed" in phase.report


def test_lineage_live_of_prod_names_the_model_dev_fine_tuned(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    done = subprocess.run(
        [*command, "--env", "prod", "--format", "json"],
        env=stage.world.environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (prod,) = json.loads(done.stdout)["environments"]
    home = accounts(stage)["rg-tuned-chat-dev"]
    (job,) = home["fineTuning"].values()
    assert len(prod["regions"]) == 2
    for region in prod["regions"]:
        (model,) = [m for m in region["models"] if m["name"] == "chat"]
        (serving,) = model["serving"]
        assert serving["fineTunedModel"] == job["fine_tuned_model"] and serving["fineTuningJob"] == job["id"]
        assert serving["fineTunedIn"] == home["name"]
    assert prod["differences"] == []
    text = subprocess.run(
        [*command, "--env", "prod"], env=stage.world.environ(), capture_output=True, text=True, check=False
    )
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"fine-tuned model: {job['fine_tuned_model']} (job {job['id']})" in text.stdout
    assert f"fine-tuned in: {home['name']}" in text.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_every_az_line_of_the_promotion_parses_with_the_real_azure_cli(
    target: str, first: dict[str, Stage]
) -> None:
    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("the azure-cli tools environment is not installed (scripts/test.sh installs it)")
    calls = (first[target].world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    lines = [json.loads(line)["argv"] for line in calls]
    assert any(argv[:3] == ["cognitiveservices", "account", "show"] for argv in lines)
    assert azcli.rejected(lines) == []
