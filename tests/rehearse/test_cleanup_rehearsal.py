"""The opt-in data clean-up, rehearsed: retire a custom model version, its training data goes (and
only its), a deletion certificate is kept in prod's record store, and a re-run deletes and
certifies nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.driver import commit_change, fork, run_phase
from tests.rehearse.conftest import DEVOPS, Deployed

pytestmark = pytest.mark.slow  # four pipeline runs

REGISTRY = "mlr-fraud-scoring"
DATA = "https://stmlrfraudscoring.blob.core.windows.net/data/fraud-transactions/{}/train.jsonl"


def _state(stage: Any) -> dict[str, Any]:
    return dict(json.loads(stage.world.azure_file.read_text("utf-8")))


def _certificates(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (account,) = [
        a for a in state["storage"].values() if a["name"].startswith("strec") and "prod" in a["group"]
    ]
    blobs = account["containers"]["release-records"]["blobs"]
    return {
        name: json.loads(blob["content"])
        for name, blob in blobs.items()
        if name.endswith("/deletion-certificate.json")
    }


def test_retiring_a_version_deletes_the_data_only_it_needed_and_certifies_it_once(
    deployed: Deployed, tmp_path: Path
) -> None:
    stage, first = deployed("custom-model-devops", DEVOPS)
    assert first.conclusion == "success", first.report
    stage = fork(stage, tmp_path)
    # the sample retires 1.1.0, never registered: the first deploy had nothing to clean up
    assert _state(stage).get("deletedData", []) == [] and _certificates(_state(stage)) == {}

    def newer(data: Any) -> None:  # 1.4.0, trained on the next data version
        model = data["models"][0]
        model["version"] = "1.4.0"
        model["trainingData"]["version"] = "13"

    commit_change(stage.repo, "almgen.yaml", newer, "fraud 1.4.0 on fraud-transactions 13")
    released = run_phase(stage, "release", [])
    assert released.conclusion == "success", released.report
    assert _state(stage).get("deletedData", []) == []  # nothing retired yet: nothing deleted

    def retire(data: Any) -> None:
        data["registry"]["retired"].append(
            {"model": "fraud", "version": "1.3.0", "reason": "superseded by 1.4.0", "date": "2026-12-01"}
        )

    commit_change(stage.repo, "almgen.yaml", retire, "retire fraud 1.3.0")
    retired = run_phase(stage, "retire", [])
    assert retired.conclusion == "success", retired.report
    state = _state(stage)
    # 1.3.0's data (12) is gone; 1.4.0's (13), which serves, stays; the asset itself still shows
    assert state["deletedData"] == [DATA.format("12")]
    (certified,) = _certificates(state).items()
    name, certificate = certified
    assert name.startswith("prod/")
    assert certificate["environment"] == "prod" and certificate["rule"].startswith("registry.retention")
    assert certificate["runUrl"] and certificate["commit"]
    (item,) = certificate["deleted"]
    assert (item["asset"], item["version"], item["registry"]) == ("fraud-transactions", "12", REGISTRY)
    assert item["trainedVersions"] == ["fraud 1.3.0"]
    (blob,) = item["blobs"]
    assert blob["url"] == DATA.format("12") and blob["contentMd5"]
    # dev and staging deleted nothing: the registry's data goes once every environment retired it
    calls = [
        json.loads(line)["argv"]
        for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    deletes = [argv for argv in calls if argv[:3] == ["storage", "blob", "delete"]]
    assert len(deletes) == 1

    # lineage --live shows the certificate from the record store
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    env = stage.world.environ()
    shown = subprocess.run(
        [*command, "--env", "prod", "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (prod,) = json.loads(shown.stdout)["environments"]
    (deletion,) = prod["deletions"]
    assert deletion["record"] == name and deletion["deleted"][0]["blobs"][0]["url"] == DATA.format("12")
    text = subprocess.run([*command, "--env", "prod"], env=env, capture_output=True, text=True, check=False)
    assert f"{DATA.format('12')} (Content-MD5 {blob['contentMd5']})" in text.stdout

    # a re-run of the same commit: nothing new deleted, no second certificate
    again = run_phase(stage, "again", [])
    assert again.conclusion == "success", again.report
    state = _state(stage)
    assert state["deletedData"] == [DATA.format("12")]
    assert list(_certificates(state)) == [name]
