"""The opt-in data clean-up, rehearsed: retire a custom model version, its training data goes (and
only its), so does what its deployment collected while it served (in every environment; the kept
version's collected data stays), a deletion certificate is kept in each record store, and a re-run
deletes and certifies nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.azure import collector
from generator.rehearse.driver import commit_change, fork, run_phase
from tests.rehearse.conftest import DEVOPS, Deployed

pytestmark = pytest.mark.slow  # four pipeline runs

REGISTRY = "mlr-fraud-scoring"
DATA = "https://stmlrfraudscoring.blob.core.windows.net/data/fraud-transactions/{}/train.jsonl"


def _state(stage: Any) -> dict[str, Any]:
    return dict(json.loads(stage.world.azure_file.read_text("utf-8")))


def _certificates(state: dict[str, Any], env: str = "prod") -> dict[str, dict[str, Any]]:
    (account,) = [a for a in state["storage"].values() if a["name"].startswith("strec") and env in a["group"]]
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
    stage.world.set_now(stage.world.now() + 3 * 3600)  # 1.3.0 serves (and its data is collected) a while
    released = run_phase(stage, "release", [])
    assert released.conclusion == "success", released.report
    assert _state(stage).get("deletedData", []) == []  # nothing retired yet: nothing deleted

    def retire(data: Any) -> None:
        data["registry"]["retired"].append(
            {"model": "fraud", "version": "1.3.0", "reason": "superseded by 1.4.0", "date": "2026-12-01"}
        )

    commit_change(stage.repo, "almgen.yaml", retire, "retire fraud 1.3.0")
    stage.world.set_now(stage.world.now() + 3 * 3600)
    before = _collected(stage)
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
    (item,) = [i for i in certificate["deleted"] if i["kind"] == "training-data"]
    assert (item["asset"], item["version"], item["registry"]) == ("fraud-transactions", "12", REGISTRY)
    assert item["trainedVersions"] == ["fraud 1.3.0"]
    (blob,) = item["blobs"]
    assert blob["url"] == DATA.format("12") and blob["contentMd5"]
    # dev and staging deleted nothing: the registry's data goes once every environment retired it
    calls = [
        json.loads(line)["argv"]
        for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    deletes = [argv for argv in calls if argv[:3] == ["storage", "blob", "delete"] and "data" in argv]
    assert len(deletes) == 1
    collected = _collected_deletions(stage, state, before)

    # lineage --live shows the certificate from the record store
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    env = stage.world.environ()
    shown = subprocess.run(
        [*command, "--env", "prod", "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (prod,) = json.loads(shown.stdout)["environments"]
    (deletion,) = prod["deletions"]
    (training,) = [i for i in deletion["deleted"] if i["kind"] == "training-data"]
    assert deletion["record"] == name and training["blobs"][0]["url"] == DATA.format("12")
    text = subprocess.run([*command, "--env", "prod"], env=env, capture_output=True, text=True, check=False)
    assert f"{DATA.format('12')} (Content-MD5 {blob['contentMd5']})" in text.stdout
    assert "collected-data of fraud 1.3.0 (fraud-scoring-fraud-" in text.stdout

    _rerun_deletes_nothing(stage, name, collected)


def _rerun_deletes_nothing(stage: Any, name: str, collected: list[str]) -> None:
    """A re-run of the same commit: nothing new deleted, no second certificate anywhere."""
    again = run_phase(stage, "again", [])
    assert again.conclusion == "success", again.report
    state = _state(stage)
    assert state["deletedData"] == [DATA.format("12")]
    assert list(_certificates(state)) == [name]
    assert sorted(state["deletedCollected"]) == collected
    for environment in ("dev", "staging"):
        assert len(_certificates(state, environment)) == 1


def _collected(stage: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Per workspace (`<group>/<name>`): the collected blobs the simulated collector shows now."""
    state = _state(stage)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for key, ws in state["workspaces"].items():
        account, container = collector.store_of(ws)
        flags = {"--account-name": account, "--container-name": container}
        found[key] = {blob["name"]: blob for blob in collector.blob_list(stage.world, state, flags)}
    return found


def _collected_deletions(stage: Any, state: dict[str, Any], before: dict[str, Any]) -> list[str]:
    """Check what the retirement deleted of the collected data, environment by environment: only
    blue's (1.3.0), written after its release record, each certified once; green's (1.4.0) stays."""
    gone = set(state["deletedCollected"])
    everything: list[str] = []
    for key, blobs in before.items():
        ws = state["workspaces"][key]
        account, container = collector.store_of(ws)
        env = next(e for e in ("dev", "staging", "prod") if e in ws["group"])
        where = f"{account}/{container}/"
        deleted = {n.removeprefix(where) for n in gone if n.startswith(where)}  # some written during the run
        assert deleted, f"{env}: nothing collected deleted"
        assert all("/blue/" in n for n in deleted), f"{env}: a kept version's data deleted"
        # 1.3.0's first hour (before its release record, when a candidate could have written) stays
        kept_blue = {n for n in blobs if "/blue/" in n} - deleted
        assert kept_blue and all(n in _collected(stage)[key] for n in kept_blue)
        assert any("/green/" in n for n in _collected(stage)[key])
        (certificate,) = _certificates(state, env).values()
        items = [i for i in certificate["deleted"] if i["kind"] == "collected-data"]
        assert items and all(i["colour"] == "blue" and i["model"] == "fraud" for i in items)
        assert all(w["versions"] == ["1.3.0"] for i in items for w in i["windows"])
        certified = sorted(b["url"].rsplit(f"/{container}/", 1)[1] for i in items for b in i["blobs"])
        assert certified == sorted(deleted) and all(b["contentMd5"] for i in items for b in i["blobs"])
        everything += [f"{account}/{container}/{n}" for n in deleted]
    return sorted(everything)
