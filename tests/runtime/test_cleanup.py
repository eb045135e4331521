"""models.py clean-up: the decision is a pure function of the facts; the command deletes and certifies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import records
from generator.runtime.cleanup import Data, data_needs, decide
from generator.runtime.collected import collected_to_delete, collected_windows, observations
from tests.rehearse.az_ml_table import check_ml
from tests.runtime.test_models import FakeAz, az, option, repo, run

__all__ = ["az", "repo"]  # the fixtures

DATA = "https://stmlrsupportagent.blob.core.windows.net/data/churn-training/11/train.jsonl"
COLLECTED = "azureml-blobstore-1"


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


def _facts(
    az: FakeAz,
    *,
    blobs: list[object],
    serving: str = "x/versions/1.4.0",
    collected: Sequence[object] | None = None,
) -> None:
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
    az.answer("ml datastore show", {"stdout": {"account_name": "stws", "container_name": COLLECTED}})
    az.answer(f"storage blob list | {COLLECTED}", {"stdout": list(collected or [])})


def _training(az: FakeAz, prefix: str) -> list[list[str]]:
    """The calls with PREFIX on the registry's data, not on a workspace's collected data."""
    return [call for call in az.calls(prefix) if COLLECTED not in call]


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
    (blobs,) = _training(az, "storage blob list")
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
    assert _training(az, "storage blob") == [] and az.calls("ml data show") == []
    assert not (repo / "cert.json").exists()


def test_only_the_last_environment_cleans_up_the_shared_registry_data(az: FakeAz, repo: Path) -> None:
    _facts(az, blobs=[BLOB])
    for env in ("dev", "staging"):
        assert run("clean-up", "--env", env, "--outputs", "outputs.json", "--out", "cert.json") == 0
    # each environment looks at the data its own deployments collected (none here), never the registry's
    assert az.calls("ml model") == [] and az.calls("ml data show") == []
    assert all(option(call, "--container-name") == COLLECTED for call in az.calls("storage blob list"))
    assert az.calls("storage blob delete") == []
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


# --------------------------------------------------------------------------- collected data

T = [datetime(2026, 11, day, 12, tzinfo=timezone.utc) for day in range(1, 8)]


def _record(when: datetime, **colours: str) -> dict[str, Any]:
    deployments = [{"model": "churn", "colour": c, "version": v} for c, v in colours.items()]
    return {"timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "deployments": deployments}


def test_a_retired_version_s_window_runs_from_its_record_to_its_deployment_s_deletion() -> None:
    history = [  # newest first, as the record store gives them
        _record(T[2], blue="1.3.0", green="1.4.0"),  # 1.4.0 released on green
        _record(T[1], blue="1.3.0"),  # 1.3.0 released on blue
    ]
    seen = observations(history, T[3], {("churn", "green"): "1.4.0"})  # retire deleted blue
    windows = collected_windows(seen, {"churn": {"1.3.0"}})
    # before its first record, blue may have served another version's candidate: not 1.3.0's for sure
    assert windows == {("churn", "blue"): [(T[1], T[3], ["1.3.0"])]}


def test_a_colour_handed_to_a_version_that_stays_keeps_the_handover() -> None:
    history = [
        _record(T[1], blue="1.1.0"),
        _record(T[2], blue="1.2.0"),  # retired too: the handover is retired data either way
        _record(T[3], blue="1.3.0"),  # stays: between T2 and T3 its candidate may have written
        _record(T[4], blue="1.3.0"),
    ]
    seen = observations(history, T[5], {("churn", "blue"): "1.3.0"})
    assert collected_windows(seen, {"churn": {"1.1.0", "1.2.0"}}) == {
        ("churn", "blue"): [(T[1], T[2], ["1.1.0", "1.2.0"])]
    }


def test_a_record_that_does_not_say_what_the_colours_served_breaks_every_window() -> None:
    history = [
        _record(T[1], blue="1.1.0"),
        {"timestamp": "2026-11-03T12:00:00Z"},
        _record(T[3], blue="1.1.0"),
    ]
    seen = observations(history, T[4], {})
    assert collected_windows(seen, {"churn": {"1.1.0"}}) == {("churn", "blue"): [(T[3], T[4], ["1.1.0"])]}
    # nothing retired, nothing recorded: no window
    assert collected_windows(seen, {}) == {}
    assert collected_windows(observations([], T[4], {("churn", "blue"): "1.1.0"}), {"churn": {"1.1.0"}}) == {}


def _collected(colour: str, start: datetime, end: datetime | None = None, name: str = "") -> dict[str, Any]:
    path = name or f"modelDataCollector/ep/{colour}/model_inputs/{start:%Y/%m/%d/%H}/{start:%M%S}.jsonl"
    properties: dict[str, Any] = {
        "contentLength": 10,
        "etag": '"0x2"',
        "contentSettings": {"contentMd5": "m=="},
    }
    if end is not None:
        properties |= {"creationTime": start.isoformat(), "lastModified": end.isoformat()}
    return {"name": path, "properties": properties}


def test_a_blob_goes_only_when_it_was_written_wholly_inside_its_colour_s_window() -> None:
    window = (T[1], T[3], ["1.3.0"])
    windows = {("churn", "blue"): [window]}
    inside = _collected("blue", T[1] + timedelta(minutes=5), T[1] + timedelta(minutes=50))
    straddles = _collected("blue", T[1] - timedelta(minutes=5), T[1] + timedelta(minutes=50))
    after = _collected("blue", T[3] - timedelta(minutes=1), T[3] + timedelta(minutes=1))
    green = _collected("green", T[2], T[2] + timedelta(minutes=1))
    by_hour = _collected("blue", T[2])  # no times listed: its hour partition decides
    hour_out = _collected("blue", T[3])  # the hour from T3 ends after the window
    other = _collected("blue", T[2], T[2], name="modelDataCollector/other-ep/blue/model_inputs/x.jsonl")
    blobs = [inside, straddles, after, green, by_hour, hour_out, other]
    chosen, kept = collected_to_delete("ep", "churn", blobs, windows)
    assert chosen == [(inside, window), (by_hour, window)]
    assert kept == 4  # the other endpoint's blob is not this one's to count


def _clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    clock = tmp_path / "clock.json"
    clock.write_text(json.dumps({"now": when.timestamp()}), "utf-8")
    monkeypatch.setenv("ALMGEN_CLOCK_FILE", str(clock))


def test_every_environment_deletes_what_its_deployments_collected_for_a_retired_version(
    az: FakeAz, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = json.loads((repo / "outputs.json").read_text("utf-8"))
    outputs["stacks"]["value"][1]["recordsAccount"] = "strecords"
    (repo / "outputs.json").write_text(json.dumps(outputs), "utf-8")
    history = [_record(T[2], blue="1.2.0", green="1.4.0"), _record(T[1], blue="1.2.0")]
    asked: list[tuple[str, str]] = []

    def records_of(env: str, account: str, record: str = "release-record.json") -> list[dict[str, Any]]:
        asked.append((env, account))
        return history

    monkeypatch.setattr(records, "history", records_of)
    _clock(tmp_path, monkeypatch, T[3])
    old = _collected("blue", T[1] + timedelta(hours=1), T[1] + timedelta(hours=2))
    old = {**old, "name": old["name"].replace("/ep/", "/ep-churn-east/")}
    candidate = _collected("green", T[2] - timedelta(hours=1), T[2] + timedelta(hours=1))
    candidate = {**candidate, "name": candidate["name"].replace("/ep/", "/ep-churn-east/")}
    _facts(az, blobs=[BLOB], serving="x/versions/1.4.0", collected=[old, candidate])
    az.answer("ml online-deployment list", {"stdout": [{"name": "green", "model": "x/versions/1.4.0"}]})
    assert run("clean-up", "--env", "dev", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert asked == [("dev", "strecords")]
    shown = az.calls("ml datastore show")
    assert shown and all(
        check_ml(call) is None and option(call, "--name") == "workspaceblobstore" for call in shown
    )
    deletes = az.calls("storage blob delete")
    assert [option(call, "--name") for call in deletes] == [old["name"]]  # east; west lists the east names
    assert all(option(call, "--container-name") == COLLECTED for call in deletes)
    certificate = json.loads((repo / "cert.json").read_text("utf-8"))
    assert certificate["environment"] == "dev" and certificate["kept"] == []
    (item,) = certificate["deleted"]
    assert item["kind"] == "collected-data" and item["rule"].startswith("registry.retention.cleanup")
    assert (item["endpoint"], item["colour"], item["region"]) == ("ep-churn-east", "blue", "eastus2")
    assert item["windows"] == [
        {"from": "2026-11-02T12:00:00Z", "to": "2026-11-04T12:00:00Z", "versions": ["1.2.0"]}
    ]
    (blob,) = item["blobs"]
    assert blob["url"] == f"https://stws.blob.core.windows.net/{COLLECTED}/{old['name']}"
    assert (blob["contentMd5"], blob["contentLength"], blob["etag"]) == ("m==", 10, '"0x2"')

    # a re-run finds the blob gone: nothing deleted, nothing certified again
    (repo / "cert.json").unlink()
    _facts(az, blobs=[BLOB], collected=[candidate])
    az.answer("ml online-deployment list", {"stdout": [{"name": "green", "model": "x/versions/1.4.0"}]})
    assert run("clean-up", "--env", "dev", "--outputs", "outputs.json", "--out", "cert.json") == 0
    assert len(az.calls("storage blob delete")) == 1
    assert not (repo / "cert.json").exists()


def test_a_refused_collected_delete_certifies_what_went_before_it(
    az: FakeAz, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = json.loads((repo / "outputs.json").read_text("utf-8"))
    outputs["stacks"]["value"][1]["recordsAccount"] = "strecords"
    (repo / "outputs.json").write_text(json.dumps(outputs), "utf-8")
    monkeypatch.setattr(records, "history", lambda *_: [_record(T[1], blue="1.2.0")])
    _clock(tmp_path, monkeypatch, T[3])
    first, second = (
        _collected("blue", T[1] + timedelta(hours=h), T[1] + timedelta(hours=h, minutes=30)) for h in (1, 2)
    )
    blobs = [{**b, "name": b["name"].replace("/ep/", "/ep-churn-east/")} for b in (first, second)]
    _facts(az, blobs=[], collected=blobs)
    az.answer("ml online-deployment list", {"stdout": []})  # retire deleted blue
    az.answer("storage blob delete", {"stdout": ""}, {"rc": 1, "stderr": "ERROR: ServerBusy\n"})
    assert run("clean-up", "--env", "dev", "--outputs", "outputs.json", "--out", "cert.json") == 0
    certificate = json.loads((repo / "cert.json").read_text("utf-8"))
    (item,) = certificate["deleted"]
    assert [b["url"].rsplit("/", 1)[1] for b in item["blobs"]] == [blobs[0]["name"].rsplit("/", 1)[1]]
    assert "ServerBusy" in certificate["error"]
