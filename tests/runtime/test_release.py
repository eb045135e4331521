"""The release and retirement records: contents, hashes, CI context, summary and bad input."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import release

RELEASE: dict[str, Any] = {
    "service": "support-bot",
    "specSha256": "ab" * 32,
    "generator": "almgen 0.3.0",
    "environments": {
        "prod": {
            "models": [
                {
                    "name": "chat",
                    "kind": "foundation",
                    "version": "2024-08-06",
                    "model": "gpt-4o",
                    "sku": "GlobalStandard",
                    "capacity": 50,
                    "deployments": ["chat-blue", "chat-green"],
                },
                {
                    "name": "churn",
                    "kind": "custom",
                    "version": "1.4.0",
                    "trainingData": {"asset": "churn-training", "version": "12"},
                    "preprocessing": ["dedupe@1", "impute"],
                    "featureEngineering": ["tenure-buckets"],
                    "hyperparameters": {"file": "train/hyper.yaml"},
                    "deployments": ["blue", "green"],
                },
            ],
            "agents": [{"name": "support", "version": "2.1.0", "model": "chat"}],
            "evaluationDataset": "eval/support-qa.jsonl",
        },
        "dev": {"models": [], "agents": []},
    },
    "retired": [
        {
            "kind": "model",
            "name": "churn",
            "version": "1.2.0",
            "reason": "accuracy regression",
            "date": "2026-10-01",
        }
    ],
}

OUTPUTS = {
    "stacks": {
        "type": "Array",
        "value": [
            {
                "location": "eastus2",
                "resourceGroup": "rg-support-bot-prod-eastus2",
                "primary": True,
                "aiServicesName": "ais-support-bot-prod-abc123",
                "aiServicesEndpoint": "https://ais-support-bot-prod.cognitiveservices.azure.com/",
                "appConfigurationEndpoint": "https://appcs-support-bot-prod.azconfig.io",
                "keyVaultUri": "https://kv-support-bot-prod.vault.azure.net/",
                "workspaceName": "mlw-support-bot-prod",
                "onlineEndpoints": [
                    {"model": "churn", "name": "support-bot-churn-prod", "scoringUri": "https://churn/score"}
                ],
            },
            {
                "location": "westus3",
                "resourceGroup": "rg-support-bot-prod-westus3",
                "primary": False,
                "aiServicesName": "ais-support-bot-prod-def456",
                "aiServicesEndpoint": "https://ais-west.cognitiveservices.azure.com/",
                "appConfigurationEndpoint": "https://appcs-west.azconfig.io",
                "keyVaultUri": "https://kv-west.vault.azure.net/",
            },
        ],
    }
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with release.json, the dataset, a hyperparameters file and a gate verdict."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".almgen").mkdir()
    (tmp_path / ".almgen" / "release.json").write_text(json.dumps(RELEASE), "utf-8")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "support-qa.jsonl").write_text('{"query": "hi"}\n', "utf-8")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "hyper.yaml").write_text("lr: 0.01\n", "utf-8")
    verdict = {"gate": "evaluation", "env": "prod", "passed": True, "resultsSha256": "cd" * 32, "rows": []}
    (tmp_path / "results.gate.json").write_text(json.dumps(verdict), "utf-8")
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS), "utf-8")
    return tmp_path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def github(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GITHUB_SHA": "0123abc",
        "GITHUB_RUN_ID": "987",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "contoso/support-bot",
        "GITHUB_ACTOR": "octocat",
    }.items():
        monkeypatch.setenv(name, value)


def record_argv(*extra: str) -> list[str]:
    return ["--env", "prod", "--out", "out/release.json", "--gate-verdict", "results.gate.json", *extra]


def test_record_contents(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    github(monkeypatch)
    assert release.main(record_argv("--outputs", "outputs.json")) == 0
    record = json.loads((repo / "out" / "release.json").read_text("utf-8"))
    assert record["schema"] == "almgen.release/v1"
    assert (record["service"], record["environment"], record["generator"]) == (
        "support-bot",
        "prod",
        "almgen 0.3.0",
    )
    assert record["commit"] == "0123abc"
    assert record["provider"] == "github-actions"
    assert record["run"] == {
        "id": "987",
        "attempt": "2",
        "url": "https://github.com/contoso/support-bot/actions/runs/987",
    }
    assert record["actor"] == "octocat"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["timestamp"])
    churn = record["models"][1]
    assert churn["trainingData"] == {"asset": "churn-training", "version": "12"}
    assert churn["preprocessing"] == ["dedupe@1", "impute"]
    assert churn["hyperparameters"] == {
        "file": "train/hyper.yaml",
        "sha256": sha(repo / "train" / "hyper.yaml"),
    }
    assert record["agents"] == [{"name": "support", "version": "2.1.0", "model": "chat"}]
    assert record["evaluationDataset"] == {
        "path": "eval/support-qa.jsonl",
        "sha256": sha(repo / "eval" / "support-qa.jsonl"),
    }
    assert record["gates"][0]["gate"] == "evaluation"
    assert record["gates"][0]["verdictSha256"] == sha(repo / "results.gate.json")
    assert record["gatesPassed"] is True
    assert [s["location"] for s in record["endpoints"]] == ["eastus2", "westus3"]
    assert record["endpoints"][0]["onlineEndpoints"][0]["scoringUri"] == "https://churn/score"


def test_inline_hyperparameters_are_kept(repo: Path) -> None:
    document = json.loads((repo / ".almgen" / "release.json").read_text("utf-8"))
    document["environments"]["prod"]["models"][1]["hyperparameters"] = {"lr": 0.01, "depth": 6}
    (repo / ".almgen" / "release.json").write_text(json.dumps(document), "utf-8")
    assert release.main(record_argv()) == 0
    record = json.loads((repo / "out" / "release.json").read_text("utf-8"))
    assert record["models"][1]["hyperparameters"] == {"lr": 0.01, "depth": 6}
    assert record["endpoints"] == []


def test_the_colours_each_version_serves_go_into_the_record(repo: Path) -> None:
    """The data clean-up tells which version collected what by these (colours are reused)."""
    state = {
        "active": {},
        "ml": [
            {"model": "churn", "colour": "blue", "version": "1.3.0", "live": True},
            {"model": "churn", "colour": "green", "version": "1.4.0", "live": False},
            {"model": "churn", "colour": "", "version": "1.5.0"},  # not a deployment: left out
        ],
    }
    (repo / "live-state-next.json").write_text(json.dumps(state), "utf-8")
    assert release.main([*record_argv(), "--live-state", str(repo / "live-state-next.json")]) == 0
    record = json.loads((repo / "out" / "release.json").read_text("utf-8"))
    assert record["deployments"] == [
        {"model": "churn", "colour": "blue", "version": "1.3.0"},
        {"model": "churn", "colour": "green", "version": "1.4.0"},
    ]
    assert release.main(record_argv()) == 0  # without custom models' live state: not said
    assert "deployments" not in json.loads((repo / "out" / "release.json").read_text("utf-8"))
    (repo / "live-state-next.json").write_text("{}", "utf-8")
    assert release.main([*record_argv(), "--live-state", str(repo / "live-state-next.json")]) == 2


def test_azure_devops_context(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_BUILDID", "42")
    monkeypatch.setenv("BUILD_SOURCEVERSION", "fedcba9")
    monkeypatch.setenv("BUILD_REQUESTEDFOR", "Ada Lovelace")
    monkeypatch.setenv("SYSTEM_COLLECTIONURI", "https://dev.azure.com/contoso/")
    monkeypatch.setenv("SYSTEM_TEAMPROJECT", "Support Bot")
    assert release.main(record_argv()) == 0
    record = json.loads((repo / "out" / "release.json").read_text("utf-8"))
    assert record["commit"] == "fedcba9"
    assert record["actor"] == "Ada Lovelace"
    assert record["run"]["url"] == "https://dev.azure.com/contoso/Support%20Bot/_build/results?buildId=42"


def test_summary(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    github(monkeypatch)
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert release.main(record_argv("--outputs", "outputs.json")) == 0
    text = summary.read_text("utf-8")
    assert "### Release of support-bot to prod" in text
    assert "[987](https://github.com/contoso/support-bot/actions/runs/987)" in text
    assert "| foundation | chat | 2024-08-06 | gpt-4o |  |" in text
    assert "| custom | churn | 1.4.0 |  | churn-training:12 |" in text
    assert "| agent | support | 2.1.0 | chat |  |" in text
    assert "| evaluation | prod | PASS |" in text
    endpoint = "https://ais-support-bot-prod.cognitiveservices.azure.com/"
    assert f"| eastus2 | yes | {endpoint} | churn: https://churn/score |" in text


def test_the_ab_tests_comparisons_go_into_the_record_and_its_summary(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """abtest.py compare's JSON, as written, and one row per region and variant in the summary."""
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    variant = {"requests": 3000, "errors": 15, "errorRatePercent": 0.5}
    compared = {
        "schema": "almgen.abtest/v1",
        "model": "chat",
        "winner": "candidate",
        "regions": [
            {
                "location": "eastus2",
                "serving": {
                    **variant,
                    "deployment": "chat-blue",
                    "latencyP95Ms": 900.0,
                    "tokensPerRequest": 850.0,
                },
                "candidate": {
                    **variant,
                    "deployment": "chat-green",
                    "latencyP95Ms": 600.0,
                    "tokensPerRequest": 700.0,
                },
            }
        ],
    }
    (repo / "ab-test-chat.json").write_text(json.dumps(compared), "utf-8")
    assert release.main(record_argv("--ab-test", "ab-test-chat.json")) == 0
    record = json.loads((repo / "out" / "release.json").read_text("utf-8"))
    assert record["abTests"] == [compared]
    text = summary.read_text("utf-8")
    assert "| chat | eastus2 | chat-blue | 3000 | 0.5 | 900.0 | 850.0 |  |" in text
    assert "| chat | eastus2 | chat-green | 3000 | 0.5 | 600.0 | 700.0 | yes |" in text
    assert release.main(record_argv()) == 0  # no A/B test: no key
    assert "abTests" not in json.loads((repo / "out" / "release.json").read_text("utf-8"))


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        (lambda r: (r / ".almgen" / "release.json").unlink(), record_argv(), "does not exist"),
        (
            lambda r: (r / ".almgen" / "release.json").write_text("{", "utf-8"),
            record_argv(),
            "not valid JSON",
        ),
        (lambda r: (r / ".almgen" / "release.json").write_text("[]", "utf-8"), record_argv(), "JSON object"),
        (
            lambda r: None,
            ["--env", "qa", "--out", "o.json"],
            "'qa' is not in release.json (known: dev, prod)",
        ),
        (lambda r: (r / "results.gate.json").unlink(), record_argv(), "gate verdict"),
        (lambda r: (r / "results.gate.json").write_text("{}", "utf-8"), record_argv(), "written by gate.py"),
        (lambda r: None, record_argv("--outputs", "absent.json"), "deployment outputs"),
    ],
    ids=[
        "missing",
        "bad-json",
        "not-object",
        "unknown-env",
        "missing-verdict",
        "bad-verdict",
        "missing-outputs",
    ],
)
def test_bad_input_exits_2(
    repo: Path, capsys: pytest.CaptureFixture[str], setup: Any, argv: list[str], message: str
) -> None:
    setup(repo)
    assert release.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_dataset_fails_the_step(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "eval" / "support-qa.jsonl").unlink()
    assert release.main(record_argv()) == 1
    assert "lineage incomplete" in capsys.readouterr().err
    assert not (repo / "out" / "release.json").exists()


def test_paths_must_stay_in_the_repository(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((repo / ".almgen" / "release.json").read_text("utf-8"))
    document["environments"]["prod"]["evaluationDataset"] = "../outside.jsonl"
    (repo / ".almgen" / "release.json").write_text(json.dumps(document), "utf-8")
    assert release.main(record_argv()) == 2
    assert "leaves the repository" in capsys.readouterr().err


def test_retirement_record(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    github(monkeypatch)
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert release.main(["retire", "--out", "retired.json"]) == 0
    record = json.loads((repo / "retired.json").read_text("utf-8"))
    assert record["schema"] == "almgen.retirement/v1"
    assert record["commit"] == "0123abc"
    assert record["retired"] == RELEASE["retired"]
    assert "| model | churn | 1.2.0 | accuracy regression | 2026-10-01 |" in summary.read_text("utf-8")


def test_retirement_with_missing_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["retire", "--out", "r.json", "--release", "nope.json"]) == 2
    assert "does not exist" in capsys.readouterr().err
