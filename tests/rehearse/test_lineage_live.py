"""`almgen lineage --live` answers the audit question from the simulated Azure, not from the spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.rehearse.driver import fork
from tests.rehearse.conftest import DEVOPS, Deployed

pytestmark = pytest.mark.slow  # a whole pipeline runs first

REGISTRY = "mlr-fraud-scoring"  # the sample's one Azure ML registry (generator/plan/model_registry.py)


def _lineage(stage_root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "generator", "lineage", str(stage_root / "almgen.yaml"), "--live", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_lineage_live_reads_what_serves_and_names_what_differs(deployed: Deployed, tmp_path: Path) -> None:
    stage, first = deployed("custom-model-devops", DEVOPS)
    assert first.conclusion == "success", first.report
    stage = fork(stage, tmp_path)
    env = stage.world.environ()

    done = _lineage(stage.repo, env, "--env", "prod", "--format", "json")
    assert done.returncode == 0, done.stderr
    (prod,) = json.loads(done.stdout)["environments"]
    (region,) = prod["regions"]
    (serving,) = region["models"][0]["serving"]
    assert (serving["version"], serving["share"]) == ("1.3.0", 100)
    assert serving["lineage"]["trainingDataAsset"] == "fraud-transactions"
    assert serving["lineage"]["trainingDataVersion"] == "12"
    git = ["git", "-C", str(stage.repo), "rev-parse", "HEAD"]
    head = subprocess.run(git, check=True, capture_output=True, text=True)
    assert serving["lineage"]["gitCommit"] == head.stdout.strip()  # the commit the pipeline built
    # since when: the release record the pipeline kept unchangeable in prod's record store
    release = serving["release"]
    assert release["commit"] == head.stdout.strip() and release["since"]
    assert release["record"].startswith("prod/") and release["record"].endswith("/release-record.json")
    assert prod["differences"] == []

    # Someone re-registered what serves with other data (the simulated Azure, edited behind almgen)
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    state["registries"][REGISTRY]["models"]["fraud:1.3.0"]["properties"]["trainingDataVersion"] = "11"
    stage.world.azure_file.write_text(json.dumps(state), "utf-8")

    done = _lineage(stage.repo, env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "trainingDataVersion: 11" in done.stdout  # what Azure says, not the spec
    assert "trainingDataVersion: registered '11', release '12'" in done.stdout


def test_a_kept_record_can_be_neither_overwritten_nor_deleted(deployed: Deployed, tmp_path: Path) -> None:
    """The record store is WORM: the simulated Azure refuses to overwrite a kept record."""
    stage, _ = deployed("custom-model-devops", DEVOPS)
    stage = fork(stage, tmp_path)
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    (account,) = [
        a for a in state["storage"].values() if a["name"].startswith("strec") and "prod" in a["group"]
    ]
    container = account["containers"]["release-records"]
    assert container["immutabilityDays"] == 2555  # the spec's default for production: 7 years
    (kept,) = [name for name in container["blobs"] if name.endswith("release-record.json")]
    record = tmp_path / "forged.json"
    record.write_text("{}", "utf-8")
    upload = ["storage", "blob", "upload", "--account-name", account["name"], "--container-name"]
    upload += ["release-records", "--name", kept, "--file", str(record), "--auth-mode", "login"]
    env = stage.world.environ()
    done = subprocess.run([env["ALMGEN_AZ"], *upload], env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "BlobImmutableDueToPolicy" in done.stderr


def test_lineage_live_without_a_deployment_is_a_clear_error(deployed: Deployed, tmp_path: Path) -> None:
    stage, _ = deployed("custom-model-devops", DEVOPS)
    stage = fork(stage, tmp_path)
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    state["deployments"] = {}
    stage.world.azure_file.write_text(json.dumps(state), "utf-8")
    done = _lineage(stage.repo, stage.world.environ())
    assert done.returncode == 2
    assert "cannot read what serves from Azure" in done.stderr and "Traceback" not in done.stderr


def test_prod_serves_the_registry_asset_dev_published(deployed: Deployed, tmp_path: Path) -> None:
    """Train in dev, promote: staging and prod register nothing, they deploy dev's registry asset,
    so prod serves the very version (and content hash) dev published and the gates evaluated."""
    stage, first = deployed("custom-model-devops", DEVOPS)
    assert first.conclusion == "success", first.report
    stage = fork(stage, tmp_path)
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    calls = [
        json.loads(line)["argv"]
        for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    creates = [argv for argv in calls if argv[:3] == ["ml", "model", "create"]]
    (create,) = creates  # once, by dev, into the registry; never the repository folder elsewhere
    assert create[create.index("--registry-name") + 1] == REGISTRY
    assert create[create.index("--tags") + 1] == "publishedBy=dev"
    sets = create[create.index("--set") + 1 :]
    published = dict(v.removeprefix("properties.").split("=", 1) for v in sets)
    assert "dcid." in create[create.index("--path") + 1]  # the output of dev's training job
    assert len(published["contentSha256"]) == 64 and published["trainingJob"]

    registry = state["registries"][REGISTRY]
    assert registry["group"] == "rg-fraud-scoring-dev"  # the first environment's primary group
    assert registry["models"]["fraud:1.3.0"]["properties"]["contentSha256"] == published["contentSha256"]
    asset = f"azureml://registries/{REGISTRY}/models/fraud/versions/1.3.0"
    serving = {}
    for ws in state["workspaces"].values():
        assert ws["models"] == {}, ws["name"]  # no workspace holds a copy of its own
        for endpoint in ws["endpoints"].values():
            live = [name for name, share in endpoint["traffic"].items() if share > 0]
            serving[ws["name"]] = {endpoint["deployments"][name]["model"] for name in live}
    assert serving == {name: {asset} for name in serving} and len(serving) == 3

    done = _lineage(stage.repo, stage.world.environ(), "--env", "prod", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    (prod,) = json.loads(done.stdout)["environments"]
    (entry,) = prod["regions"][0]["models"][0]["serving"]
    assert entry["asset"] == asset and entry["publishedBy"] == "dev"
    assert entry["lineage"]["contentSha256"] == published["contentSha256"]
    assert entry["lineage"]["trainingJob"] == published["trainingJob"]
    text = _lineage(stage.repo, stage.world.environ(), "--env", "prod")
    assert f"asset: {asset}" in text.stdout and f"contentSha256: {published['contentSha256']}" in text.stdout
