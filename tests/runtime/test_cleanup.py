"""models.py clean-up: the decision is a pure function of the facts; the command deletes and certifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.runtime.cleanup import Data, data_needs, decide
from tests.rehearse.az_ml_table import check_ml
from tests.runtime.test_models import FakeAz, az, option, repo, run

__all__ = ["az", "repo"]  # the fixtures

DATA = "https://stmlrsupportagent.blob.core.windows.net/data/churn-training/11/train.jsonl"


def test_only_data_that_every_version_trained_on_it_left_behind_is_deleted() -> None:
    registered: dict[str, dict[str, Data | None]] = {
        "churn": {
            "1.0.0": ("churn-training", "10"),  # archived by keepVersions, not retired: retained
            "1.1.0": ("churn-training", "10"),
            "1.2.0": ("churn-training", "11"),
            "1.3.0": ("churn-training", "12"),  # retired, but a deployment here still serves it
            "1.4.0": ("churn-training", "13"),
            "1.5.0": None,  # retired, published without its lineage: nothing known, nothing deleted
        },
        "fraud": {"2.0.0": ("shared", "1"), "2.1.0": ("declared", "1")},
    }
    decision = decide(
        registered=registered,
        retired={"churn": {"1.1.0", "1.2.0", "1.3.0", "1.5.0"}, "fraud": {"2.0.0", "2.1.0"}},
        served={"churn": {"1.3.0"}},
        declared={("declared", "1"): {"fraud 3.0.0 (prod)"}, ("churn-training", "13"): {"churn 1.4.0 (dev)"}},
    )
    assert decision["delete"] == [
        {"asset": "churn-training", "version": "11", "trainedVersions": ["churn 1.2.0"]},
        {"asset": "shared", "version": "1", "trainedVersions": ["fraud 2.0.0"]},
    ]
    assert decision["kept"] == [
        {"asset": "churn-training", "version": "10", "neededBy": ["churn 1.0.0 (registered, not retired)"]},
        {
            "asset": "churn-training",
            "version": "12",
            "neededBy": ["churn 1.3.0 (retired, still serves here)"],
        },
        {"asset": "declared", "version": "1", "neededBy": ["fraud 3.0.0 (prod)"]},
    ]


def test_a_version_that_stays_with_unknown_training_data_keeps_everything() -> None:
    registered: dict[str, dict[str, Data | None]] = {
        "churn": {"1.0.0": ("churn-training", "10")},
        "other": {"2.0.0": None},  # registered without lineage: it may need any data
    }
    decision = decide(registered=registered, retired={"churn": {"1.0.0"}}, served={}, declared={})
    assert decision == {
        "delete": [],
        "kept": [
            {
                "asset": "churn-training",
                "version": "10",
                "neededBy": ["other 2.0.0 (registered, training data unknown)"],
            }
        ],
    }


def test_nothing_retired_deletes_nothing() -> None:
    registered: dict[str, dict[str, Data | None]] = {"churn": {"1.0.0": ("churn-training", "10")}}
    assert decide(registered=registered, retired={}, served={}, declared={}) == {"delete": [], "kept": []}


def test_the_data_a_model_entry_names_anywhere() -> None:
    model = {
        "name": "tuned",
        "version": "1",
        "trainingData": {"asset": "a", "version": 3},
        "fineTuning": {"trainingFile": {"asset": "b", "version": "7"}, "validationFile": {"asset": ""}},
    }
    assert data_needs(model) == {("a", "3"), ("b", "7")}


def _facts(az: FakeAz, *, blobs: list[object], serving: str = "x/versions/1.4.0") -> None:
    az.answer(
        "ml model list",
        {
            "stdout": [
                {"name": "churn", "version": v, "properties": p}
                for v, p in (
                    ("1.1.0", {"trainingDataAsset": "churn-training", "trainingDataVersion": "10"}),
                    ("1.2.0", {"trainingDataAsset": "churn-training", "trainingDataVersion": "11"}),
                    ("1.4.0", {"trainingDataAsset": "churn-training", "trainingDataVersion": "12"}),
                )
            ]
        },
    )
    az.answer("ml online-deployment list", {"stdout": [{"name": "blue", "model": serving}]})
    az.answer("ml data show", {"stdout": {"name": "churn-training", "version": "11", "path": DATA}})
    az.answer("storage blob list", {"stdout": blobs})
    az.answer("storage blob delete", {"stdout": ""})


BLOB = {
    "name": "churn-training/11/train.jsonl",
    "properties": {"contentLength": 4096, "etag": '"0x1"', "contentSettings": {"contentMd5": "q1w2e3=="}},
}


def test_clean_up_deletes_the_retired_versions_data_and_certifies_it(az: FakeAz, repo: Path) -> None:
    _facts(az, blobs=[BLOB])
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert all(check_ml(call) is None for call in az.calls("ml"))
    (listed,) = az.calls("ml model list")
    assert option(listed, "--registry-name") == "mlr-support-agent" and "--include-archived" in listed
    (shown,) = az.calls("ml data show")
    assert (option(shown, "--name"), option(shown, "--version")) == ("churn-training", "11")
    (blobs,) = az.calls("storage blob list")
    assert option(blobs, "--account-name") == "stmlrsupportagent"
    assert option(blobs, "--container-name") == "data"
    assert option(blobs, "--prefix") == "churn-training/11/train.jsonl"
    (deleted,) = az.calls("storage blob delete")
    assert option(deleted, "--name") == "churn-training/11/train.jsonl"
    assert option(deleted, "--auth-mode") == "login"
    certificate = json.loads((repo / "cert.json").read_text("utf-8"))
    assert certificate["environment"] == "prod" and certificate["commit"] == "c0ffee"
    assert certificate["rule"].startswith("registry.retention.cleanup")
    assert certificate["retired"] == ["churn 1.2.0"]
    (item,) = certificate["deleted"]
    assert (item["asset"], item["version"], item["registry"]) == ("churn-training", "11", "mlr-support-agent")
    assert item["trainedVersions"] == ["churn 1.2.0"]
    (blob,) = item["blobs"]
    assert blob["url"] == DATA and blob["contentMd5"] == "q1w2e3==" and blob["contentLength"] == 4096
    # 10 (1.1.0, archived but not retired) and 12 (1.4.0: declared, serving) were never candidates
    assert certificate["kept"] == []


def test_a_rerun_deletes_nothing_and_certifies_nothing(az: FakeAz, repo: Path) -> None:
    _facts(az, blobs=[])  # the first run deleted the blob
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert az.calls("storage blob delete") == []
    assert not (repo / "cert.json").exists()


def test_a_retired_version_still_served_keeps_its_data(az: FakeAz, repo: Path) -> None:
    _facts(az, blobs=[BLOB], serving="azureml://registries/mlr-support-agent/models/churn/versions/1.2.0")
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert az.calls("storage blob") == [] and az.calls("ml data") == []
    assert not (repo / "cert.json").exists()


def test_only_the_last_environment_cleans_up_the_shared_registry_data(az: FakeAz, repo: Path) -> None:
    for env in ("dev", "staging"):
        assert run("clean-up", "--env", env, "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert az.calls("ml") == [] and az.calls("storage") == []
    assert not (repo / "cert.json").exists()


def test_a_refused_delete_warns_certifies_what_went_and_never_fails_the_release(
    az: FakeAz, repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TF_BUILD", "True")
    _facts(az, blobs=[BLOB])
    az.answer("storage blob delete", {"rc": 1, "stderr": "ERROR: AuthorizationPermissionMismatch\n"})
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert "##vso[task.logissue type=warning]" in capsys.readouterr().out
    assert not (repo / "cert.json").exists()  # nothing went: nothing certified
    second = dict(BLOB, name="churn-training/11/part-2.jsonl")
    _facts(az, blobs=[BLOB, second])
    az.answer("storage blob delete", {"stdout": ""}, {"rc": 1, "stderr": "ERROR: ServerBusy\n"})
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    certificate = json.loads((repo / "cert.json").read_text("utf-8"))
    (item,) = certificate["deleted"]
    assert [b["url"].rsplit("/", 1)[1] for b in item["blobs"]] == ["train.jsonl"]
    assert "ServerBusy" in certificate["error"]


def test_a_version_listed_without_its_properties_is_read_on_its_own(az: FakeAz, repo: Path) -> None:
    _facts(az, blobs=[BLOB])
    listed = az.canned["ml model list"]["stdout"]
    listed[2] = {"name": "churn", "version": "1.4.0"}  # the list left its properties out
    az.answer("ml model list", {"stdout": listed})
    az.answer("ml model show", {"stdout": {"name": "churn", "version": "1.4.0", "properties": {}}})
    assert run("clean-up", "--env", "prod", "--outputs", "outputs.json", "--out", "cert.json") == 0
    (shown,) = az.calls("ml model show")
    assert check_ml(shown) is None and option(shown, "--version") == "1.4.0"
    assert az.calls("storage blob delete") == []  # 1.4.0 stays and could need any data: none goes
    assert not (repo / "cert.json").exists()
