"""models.py against a fake Azure CLI: train, register, retire and the scheduled lifecycle checks."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import common, lifecycle, models, registration
from tests.rehearse.az_ml_table import check_ml

RUNTIME = Path(models.__file__).resolve().parent

# The fake `az`: logs its argv as a JSON line and answers from a canned JSON file. A canned key is the
# subcommand words ("ml model show"), optionally followed by "|" and tokens that must all be in argv
# ("ml model show | ws-west"); the most specific key wins. A list of answers is consumed in order (the
# last one repeats). An answer is {"stdout": text or JSON value, "stderr": text, "rc": int}.
FAKE_AZ = """\
import json, os, sys
args = sys.argv[1:]
log = os.environ["FAKE_AZ_LOG"]
with open(log, "a", encoding="utf-8") as handle:
    handle.write(json.dumps(args) + "\\n")
with open(os.environ["FAKE_AZ_CANNED"], encoding="utf-8") as handle:
    canned = json.load(handle)
words = []
for arg in args:
    if arg.startswith("-"):
        break
    words.append(arg)
key = " ".join(words)
best = None
for rule, answer in canned.items():
    command, _, need = rule.partition("|")
    tokens = need.split()
    if command.strip() == key and all(token in args for token in tokens):
        if best is None or len(tokens) > best[0]:
            best = (len(tokens), rule, answer)
if best is None:
    sys.stderr.write("ERROR: the fake az has no answer for: " + key + "\\n")
    sys.exit(3)
_, rule, answer = best
if isinstance(answer, list):
    state_file = log + ".state"
    state = {}
    if os.path.exists(state_file):
        with open(state_file, encoding="utf-8") as handle:
            state = json.load(handle)
    index = state.get(rule, 0)
    state[rule] = index + 1
    with open(state_file, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    answer = answer[min(index, len(answer) - 1)]
out = answer.get("stdout", "")
sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""

NOT_FOUND = {"rc": 1, "stderr": "ERROR: (UserError) The specified resource was not found.\n"}


class FakeAz:
    def __init__(self, folder: Path) -> None:
        self.script = folder / "fake_az.py"
        self.script.write_text(f"#!{sys.executable}\n{FAKE_AZ}", "utf-8")
        self.script.chmod(self.script.stat().st_mode | stat.S_IXUSR)
        self.log = folder / "az.log"
        self.canned_file = folder / "az.json"
        self.canned: dict[str, Any] = {}
        self.answer("version", {"stdout": "{}"})

    def answer(self, rule: str, *answers: dict[str, Any]) -> None:
        self.canned[rule] = answers[0] if len(answers) == 1 else list(answers)
        self.canned_file.write_text(json.dumps(self.canned), "utf-8")

    def calls(self, prefix: str = "") -> list[list[str]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text("utf-8").splitlines()]
        return [c for c in calls if " ".join(c).startswith(prefix)]


@pytest.fixture
def az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAz:
    fake = FakeAz(tmp_path)
    monkeypatch.setenv("ALMGEN_AZ", str(fake.script))
    monkeypatch.setenv("FAKE_AZ_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_AZ_CANNED", str(fake.canned_file))
    for name in ("GITHUB_STEP_SUMMARY", "TF_BUILD", "GITHUB_RUN_ID", "BUILD_BUILDID", "BUILD_SOURCEVERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_SHA", "c0ffee")
    fake.answer("rest", {"stdout": {"data": [], "has_more": False}})  # the versions of an agent: none
    fake.answer("appconfig kv list", {"stdout": []})  # no key: no agent version is live
    return fake


CHAT = {
    "name": "chat",
    "kind": "foundation",
    "version": "2024-11-20",
    "model": "gpt-4o",
    "format": "OpenAI",
    "sku": "GlobalStandard",
    "versionUpgrade": "NoAutoUpgrade",
}
CHURN = {
    "name": "churn",
    "kind": "custom",
    "version": "1.4.0",
    "trainingData": {"asset": "churn-training", "version": "12"},
    "preprocessing": ["drop-null-rows", "standard-scaler@2"],
    "featureEngineering": ["tenure-buckets"],
    "hyperparameters": {"file": "models/churn/params.yaml"},
    "path": "models/churn",
    "trainingJob": "ml/train-job.yml",
}
RELEASE: dict[str, Any] = {
    "service": "support-agent",
    "specSha256": "ab" * 32,
    "generator": "almgen 0.1.0",
    "modelRegistry": {"name": "mlr-support-agent", "home": "dev"},
    "environments": {env: {"models": [CHAT, CHURN], "agents": []} for env in ("dev", "staging", "prod")},
    "retired": [
        {
            "kind": "model",
            "name": "churn",
            "version": "1.2.0",
            "reason": "accuracy regression",
            "date": "2026-10-01",
        },
        {"kind": "agent", "name": "support", "version": "1.0.0", "reason": "old", "date": "2026-10-01"},
    ],
}
STACKS = [  # the secondary first: the scripts must put the primary first
    {
        "location": "swedencentral",
        "resourceGroup": "rg-west",
        "primary": False,
        "aiServicesName": "ais-west",
        "appConfigurationEndpoint": "https://appcs-west.azconfig.io",
        "workspaceName": "ws-west",
        "onlineEndpoints": [{"model": "churn", "name": "ep-churn-west", "scoringUri": "https://x"}],
    },
    {
        "location": "eastus2",
        "resourceGroup": "rg-east",
        "primary": True,
        "aiServicesName": "ais-east",
        "appConfigurationEndpoint": "https://appcs-east.azconfig.io",
        "workspaceName": "ws-east",
        "onlineEndpoints": [{"model": "churn", "name": "ep-churn-east", "scoringUri": "https://y"}],
    },
]
PARAMS = b"learning_rate: 0.1\nmax_depth: 6\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".almgen").mkdir(parents=True)
    (root / "models/churn").mkdir(parents=True)
    (root / "models/churn/MLmodel").write_text("flavors: {}\n", "utf-8")
    (root / "models/churn/params.yaml").write_bytes(PARAMS)
    (root / "ml").mkdir()
    (root / "ml/train-job.yml").write_text("command: python train.py\n", "utf-8")
    write(root / ".almgen/release.json", RELEASE)
    write(root / "outputs.json", {"stacks": {"type": "Array", "value": STACKS}})
    monkeypatch.chdir(root)
    return root


def write(path: Path, document: object) -> None:
    path.write_text(json.dumps(document), "utf-8")


def run(*argv: str) -> int:
    return models.main(list(argv))


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def properties(call: list[str]) -> dict[str, str]:
    values = call[call.index("--set") + 1 :]
    return dict(v.removeprefix("properties.").split("=", 1) for v in values)


# --------------------------------------------------------------------------- train


def test_train_submits_in_the_primary_workspace_waits_and_saves(
    az: FakeAz, repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml job create", {"stdout": "job-123\n"})
    az.answer("ml job show", {"stdout": "Queued\n"}, {"stdout": "Running\n"}, {"stdout": "Completed\n"})
    slept: list[float] = []
    monkeypatch.setattr(common, "sleep", slept.append)
    code = run("train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json", "--save", "t.json")
    assert code == 0
    assert capsys.readouterr().out == "job-123\n"
    create = az.calls("ml job create")[0]
    assert option(create, "-f") == str(repo / "ml/train-job.yml")
    assert (option(create, "-g"), option(create, "-w")) == ("rg-east", "ws-east")
    assert len(az.calls("ml job show")) == 3 and len(slept) == 2
    assert json.loads((repo / "t.json").read_text("utf-8"))["job"] == "job-123"
    assert json.loads((repo / "t.json").read_text("utf-8"))["model"] == "churn"


@pytest.mark.parametrize("status", ["Failed", "Canceled"])
def test_train_fails_unless_the_job_completed(
    az: FakeAz, repo: Path, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml job create", {"stdout": "job-9\n"})
    az.answer("ml job show", {"stdout": f"{status}\n"})
    code = run(
        "train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json", "--poll-seconds", "0"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"ended {status}" in err and "Traceback" not in err


def test_train_refuses_a_model_without_a_job(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("train", "--env", "dev", "--model", "chat", "--outputs", "outputs.json") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert az.calls("ml") == []


def test_train_submission_failure_is_exit_1(az: FakeAz, repo: Path) -> None:
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml job create", {"rc": 1, "stderr": "WARNING: x\nERROR: quota exceeded\n"})
    assert run("train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json") == 1


def test_train_trains_nothing_when_the_version_is_registered_with_the_same_inputs(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", {"stdout": registered()})
    code = run("train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json", "--save", "t.json")
    assert code == 0
    assert az.calls("ml job create") == [] and not (repo / "t.json").exists()
    assert "not trained" in capsys.readouterr().err
    # the registry answers, not the workspace: a version another workspace published trains nothing
    (show,) = az.calls("ml model show")
    assert option(show, "--registry-name") == "mlr-support-agent" and "-w" not in show


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "ml/train-job.yml").write_text("command: python train.py --epochs 3\n", "utf-8"),
        lambda root: (root / "ml/src/train.py").write_text("print('changed')\n", "utf-8"),
        lambda root: (root / "ml/src/features.py").write_text("X = 1\n", "utf-8"),
    ],
    ids=["job file", "code file", "new code file"],
)
def test_train_warns_when_the_code_of_a_registered_version_changed(
    az: FakeAz, repo: Path, change: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The version number says when a model is new: changed code trains nothing, and says to bump."""
    (repo / "ml/train-job.yml").write_text("code: ./src\ncommand: python train.py\n", "utf-8")
    (repo / "ml/src").mkdir()
    (repo / "ml/src/train.py").write_text("print('train')\n", "utf-8")
    az.answer("ml model show", {"stdout": registered()})  # registered from the code as it is now
    change(repo)
    assert run("train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json") == 0
    err = capsys.readouterr().err
    assert "trainingCodeSha256" in err and "almgen bump churn --patch" in err
    assert az.calls("ml job create") == []


def test_train_refuses_the_same_version_with_other_training_data(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", {"stdout": registered(trainingDataVersion="11")})
    assert run("train", "--env", "dev", "--model", "churn", "--outputs", "outputs.json") == 1
    err = capsys.readouterr().err
    assert "trainingDataVersion: registered '11', release '12'" in err and "almgen bump churn" in err
    assert az.calls("ml job create") == []


def test_training_code_hash_ignores_files_outside_the_code_folder(repo: Path) -> None:
    (repo / "ml/train-job.yml").write_text("code: src  # the trainer\ncommand: python train.py\n", "utf-8")
    (repo / "ml/src").mkdir()
    (repo / "ml/src/train.py").write_text("print('train')\n", "utf-8")
    before = registration.training_code_sha256(CHURN, repo)
    (repo / "ml/notes.md").write_text("unrelated\n", "utf-8")
    (repo / "ml/src/__pycache__").mkdir()
    (repo / "ml/src/__pycache__/train.cpython-312.pyc").write_bytes(b"\0")
    assert registration.training_code_sha256(CHURN, repo) == before


# --------------------------------------------------------------------------- retain


def test_retain_archives_past_keep_but_never_what_deploys_or_is_deployed(az: FakeAz, repo: Path) -> None:
    versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.10.0", "latest"]
    az.answer("ml model list", {"stdout": [{"name": "churn", "version": v} for v in versions]})
    az.answer("ml online-deployment list", {"stdout": [{"name": "blue", "model": "x/versions/1.10.0"}]})
    az.answer(  # in the other region the standby colour still runs 1.0.0 (a rollback needs it)
        "ml online-deployment list | ws-west",
        {
            "stdout": [
                {"name": "blue", "model": "azureml://registries/r/models/churn/versions/1.0.0"},
                {"name": "green", "model": "x/versions/1.10.0"},
            ]
        },
    )
    az.answer("ml model archive", {"stdout": ""})
    assert run("retain", "--env", "dev", "--outputs", "outputs.json", "--keep", "2", "--out", "k.json") == 0
    calls = az.calls("ml model archive")
    assert all(check_ml(call) is None for call in az.calls("ml"))
    assert all(option(c, "--registry-name") == "mlr-support-agent" and "-w" not in c for c in calls)
    # kept: 1.10.0 and 1.4.0 (the two highest, semver order), 1.4.0 deploys, 1.0.0 is referenced;
    # "latest" is not semver: never archived; once, in the registry, not once per workspace
    assert [option(c, "--version") for c in calls] == ["1.3.0", "1.2.0", "1.1.0"]
    record = json.loads((repo / "k.json").read_text("utf-8"))
    assert record["keepVersions"] == 2 and record["environment"] == "dev"
    (entry,) = record["entries"]
    assert entry["registry"] == "mlr-support-agent" and entry["archived"] == ["1.3.0", "1.2.0", "1.1.0"]
    assert entry["inUse"] == ["1.0.0", "1.10.0", "1.4.0"]
    assert entry["kept"] == ["1.0.0", "1.4.0", "1.10.0", "latest"]


def test_retain_in_a_later_environment_archives_nothing(az: FakeAz, repo: Path) -> None:
    """Later environments only read the registry (a read-only role): dev archives."""
    assert run("retain", "--env", "prod", "--outputs", "outputs.json", "--keep", "1", "--out", "k.json") == 0
    assert az.calls("ml") == []
    assert json.loads((repo / "k.json").read_text("utf-8"))["entries"] == []


def test_retain_refuses_keep_below_one(az: FakeAz, repo: Path) -> None:
    assert run("retain", "--env", "prod", "--outputs", "outputs.json", "--keep", "0") == 2
    assert az.calls("ml") == []


# --------------------------------------------------------------------------- register


def _publish_trained(az: FakeAz, repo: Path, job: str) -> list[str]:
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml model create", {"stdout": "{}"})
    az.answer("account show", {"stdout": "sub-1\n"})
    write(
        repo / "trained.json",
        {"model": "churn", "job": job, "workspace": "ws-east", "resourceGroup": "rg-east"},
    )
    code = run(
        "register",
        "--env",
        "dev",
        "--outputs",
        "outputs.json",
        "--trained",
        "trained.json",
        "--out",
        "r.json",
    )
    assert code == 0
    (create,) = az.calls("ml model create")  # once, into the registry: not once per workspace
    assert [check_ml(call) for call in az.calls("ml")] == [None, None]  # flags of the ml extension
    az.log.unlink()
    return create


def test_register_publishes_the_trained_version_once_into_the_registry(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = _publish_trained(az, repo, "job-123")
    assert option(create, "--registry-name") == "mlr-support-agent"
    assert "-w" not in create and "-g" not in create
    assert option(create, "--path") == (
        "azureml://subscriptions/sub-1/resourceGroups/rg-east/workspaces/ws-east/datastores/"
        "workspaceartifactstore/paths/ExperimentRun/dcid.job-123/model"
    )
    assert (option(create, "--name"), option(create, "--version"), option(create, "--type")) == (
        "churn",
        "1.4.0",
        "mlflow_model",
    )
    assert option(create, "--tags") == "publishedBy=dev"
    props = properties(create)
    content = props.pop("contentSha256")
    assert props == {
        "trainingDataAsset": "churn-training",
        "trainingDataVersion": "12",
        "preprocessing": "drop-null-rows,standard-scaler@2",
        "featureEngineering": "tenure-buckets",
        "hyperparametersSha256": hashlib.sha256(PARAMS).hexdigest(),
        "trainingCodeSha256": registration.training_code_sha256(CHURN, repo),
        "gitCommit": "c0ffee",
        "specSha256": "ab" * 32,
        "trainingJob": "job-123",
    }
    assert len(content) == 64 and content != props["trainingCodeSha256"]
    assert properties(_publish_trained(az, repo, "job-124"))["contentSha256"] != content  # another output
    summary = json.loads((repo / "r.json").read_text("utf-8"))
    assert summary[0]["asset"] == "azureml://registries/mlr-support-agent/models/churn/versions/1.4.0"
    assert summary[0]["created"] is True and summary[0]["registry"] == "mlr-support-agent"


def registered(**overrides: str) -> dict[str, Any]:
    props = {
        "trainingCodeSha256": registration.training_code_sha256(CHURN, Path.cwd()) or "",
        "trainingDataAsset": "churn-training",
        "trainingDataVersion": "12",
        "preprocessing": "drop-null-rows,standard-scaler@2",
        "featureEngineering": "tenure-buckets",
        "hyperparametersSha256": hashlib.sha256(PARAMS).hexdigest(),
        "gitCommit": "0ld",
        "specSha256": "cd" * 32,
        "mlflow.modelSourceUri": "x",
    }
    props.update(overrides)
    return {"name": "churn", "version": "1.4.0", "properties": props, "tags": {"stage": "dev"}}


def test_later_environments_deploy_the_registry_version_and_register_nothing(az: FakeAz, repo: Path) -> None:
    az.answer("ml model show", {"stdout": registered(contentSha256="c1" * 32)})
    assert run("register", "--env", "prod", "--outputs", "outputs.json", "--out", "r.json") == 0
    assert az.calls("ml model create") == [] and az.calls("ml model update") == []
    (show,) = az.calls("ml model show")
    assert option(show, "--registry-name") == "mlr-support-agent"
    (entry,) = json.loads((repo / "r.json").read_text("utf-8"))
    assert entry["created"] is False and entry["contentSha256"] == "c1" * 32
    assert entry["asset"] == "azureml://registries/mlr-support-agent/models/churn/versions/1.4.0"


def test_a_later_environment_fails_when_the_registry_lacks_the_version(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staging and prod never register the repository folder: dev's asset or nothing."""
    az.answer("ml model show", NOT_FOUND)
    assert run("register", "--env", "staging", "--outputs", "outputs.json") == 1
    err = capsys.readouterr().err
    assert "not in the registry mlr-support-agent" in err and "through dev" in err and "Traceback" not in err
    assert az.calls("ml model create") == []


def test_register_refuses_an_existing_version_with_other_content_naming_both_hashes(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = copy.deepcopy(RELEASE)
    path_only = {k: v for k, v in CHURN.items() if k != "trainingJob"}  # the folder is the model
    release["environments"]["dev"]["models"][1] = path_only
    write(repo / ".almgen/release.json", release)
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml model create", {"stdout": "{}"})
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 0
    published = properties(az.calls("ml model create")[0])
    az.log.unlink()
    az.answer("ml model show", {"stdout": registered(**published)})
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 0  # same bytes: nothing to do
    assert az.calls("ml model create") == []
    (repo / "models/churn/MLmodel").write_text("flavors: {python_function: {}}\n", "utf-8")
    capsys.readouterr()
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 1
    err = capsys.readouterr().err
    now = [w for w in err.replace(",", " ").split() if len(w) == 64 and w != published["contentSha256"]]
    assert published["contentSha256"] in err and now, err
    assert "almgen bump" in err and az.calls("ml model create") == []


def test_register_refuses_an_existing_version_with_other_lineage(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", {"stdout": registered(trainingDataVersion="11")})
    assert run("register", "--env", "prod", "--outputs", "outputs.json") == 1
    err = capsys.readouterr().err
    assert "trainingDataVersion: registered '11', release '12'" in err and "mlr-support-agent" in err
    assert az.calls("ml model create") == [] and az.calls("ml model update") == []  # nothing anywhere


def test_register_fails_on_a_lookup_error_that_is_not_not_found(az: FakeAz, repo: Path) -> None:
    az.answer("ml model show", {"rc": 1, "stderr": "ERROR: AuthorizationFailed\n"})
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 1
    assert az.calls("ml model create") == []


def test_inline_hyperparameters_hash_the_canonical_json(az: FakeAz, repo: Path) -> None:
    release = copy.deepcopy(RELEASE)
    inline = {"max_depth": 6, "learning_rate": 0.1}
    release["environments"]["dev"]["models"][1] = {**CHURN, "hyperparameters": inline}
    write(repo / ".almgen/release.json", release)
    az.answer("ml model show", NOT_FOUND)
    az.answer("ml model create", {"stdout": "{}"})
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 0
    digest = properties(az.calls("ml model create")[0])["hyperparametersSha256"]
    assert digest == hashlib.sha256(b'{"learning_rate":0.1,"max_depth":6}').hexdigest()
    assert digest != hashlib.sha256(PARAMS).hexdigest()
    # key order does not matter; a file is hashed by its bytes
    assert (
        registration.hyperparameters_sha256(
            {"name": "m", "hyperparameters": dict(reversed(inline.items()))}, repo
        )
        == digest
    )
    file_model = {"name": "m", "hyperparameters": {"file": "models/churn/params.yaml"}}
    expected = hashlib.sha256(PARAMS).hexdigest()
    assert registration.hyperparameters_sha256(file_model, repo) == expected


def test_register_refuses_paths_outside_the_repository(az: FakeAz, repo: Path) -> None:
    release = copy.deepcopy(RELEASE)
    release["environments"]["dev"]["models"][1] = {**CHURN, "hyperparameters": {"file": "../secret.yaml"}}
    write(repo / ".almgen/release.json", release)
    assert run("register", "--env", "dev", "--outputs", "outputs.json") == 2
    assert az.calls("ml") == []


# --------------------------------------------------------------------------- retire

DEPLOYMENTS = [
    {"name": "blue", "model": "/subscriptions/s/resourceGroups/rg/providers/x/models/churn/versions/1.4.0"},
    {"name": "green", "model": "/subscriptions/s/resourceGroups/rg/providers/x/models/churn/versions/1.2.0"},
]


def test_retire_refuses_a_deployment_that_still_has_traffic(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", {"stdout": registered()})
    az.answer("ml online-deployment list", {"stdout": DEPLOYMENTS})
    az.answer("ml online-endpoint show", {"stdout": {"traffic": {"blue": 0, "green": 0}}})
    az.answer("ml online-endpoint show | ep-churn-west", {"stdout": {"traffic": {"blue": 90, "green": 10}}})
    assert run("retire", "--env", "prod", "--outputs", "outputs.json", "--out", "retired.json") == 1
    assert "green of ep-churn-west serves churn 1.2.0 with 10% traffic" in capsys.readouterr().err
    for verb in ("ml online-deployment delete", "ml model archive", "ml model update"):
        assert az.calls(verb) == []  # nothing anywhere, not even in the region without traffic
    record = json.loads((repo / "retired.json").read_text("utf-8"))
    assert record["entries"][0]["status"] == "refused"


def test_retire_deletes_idle_deployments_then_tags_and_archives(
    az: FakeAz, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    az.answer("ml model show", {"stdout": registered()})
    az.answer("ml online-deployment list", {"stdout": DEPLOYMENTS})
    az.answer("ml online-endpoint show", {"stdout": {"traffic": {"blue": 100, "green": 0}}})
    for verb in ("ml online-deployment delete", "ml model update", "ml model archive"):
        az.answer(verb, {"stdout": ""})
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_REPOSITORY", "contoso/support")
    assert run("retire", "--env", "prod", "--outputs", "outputs.json", "--out", "retired.json") == 0
    assert len(az.calls("ml online-deployment delete")) == 2
    assert az.calls("ml model") == []  # prod only reads the registry: dev tags and archives
    az.log.unlink()
    assert run("retire", "--env", "dev", "--outputs", "outputs.json", "--out", "retired.json") == 0
    deletes = az.calls("ml online-deployment delete")
    assert [(option(d, "--name"), option(d, "--endpoint-name")) for d in deletes] == [
        ("green", "ep-churn-east"),
        ("green", "ep-churn-west"),
    ]
    archives = az.calls("ml model archive")  # once, in the registry
    assert [(option(a, "--version"), option(a, "--registry-name")) for a in archives] == [
        ("1.2.0", "mlr-support-agent")
    ]
    assert all(check_ml(call) is None for call in az.calls("ml"))
    assert "tags.retire-reason=accuracy regression" in az.calls("ml model update")[0]
    log = [" ".join(c[:3]) for c in az.calls() if c[0] == "ml"]
    assert log.index("ml online-deployment delete") < log.index("ml model archive")
    record = json.loads((repo / "retired.json").read_text("utf-8"))
    assert record["commit"] == "c0ffee"
    assert record["runUrl"] == "https://github.com/contoso/support/actions/runs/77"
    churn, agent = record["entries"]
    assert churn["status"] == "retired" and churn["modelKind"] == "custom"
    assert agent["status"] == "retired"  # checked in each region: no agent serves 1.0.0
    assert [r["done"] for r in agent["regions"]] == [
        ["checked that agent support has no version made for 1.0.0 (live: none)"]
    ] * 2
    lists = [c for c in az.calls("rest") if "get" in c]
    assert ["/agents/support/versions?" in option(c, "--url") for c in lists] == [True, True]


@pytest.mark.parametrize(
    ("trained_on", "expected"),
    [
        ("11", {"known": True, "releasable": {"asset": "churn-training", "version": "11"}}),
        ("12", {"known": True, "kept": {"asset": "churn-training", "version": "12"}}),
    ],
)
def test_the_retirement_record_says_whether_the_training_data_may_be_deleted(
    az: FakeAz, repo: Path, trained_on: str, expected: dict[str, Any]
) -> None:
    """1.2.0 was trained on version 11 of the data (no current model needs it: releasable) or on
    12, which the current churn 1.4.0 was trained on too (kept, and by whom)."""
    az.answer("ml model show", {"stdout": registered(trainingDataVersion=trained_on)})
    az.answer("ml online-deployment list", {"stdout": DEPLOYMENTS})
    az.answer("ml online-endpoint show", {"stdout": {"traffic": {"blue": 100, "green": 0}}})
    for verb in ("ml online-deployment delete", "ml model update", "ml model archive"):
        az.answer(verb, {"stdout": ""})
    assert run("retire", "--env", "dev", "--outputs", "outputs.json", "--out", "retired.json") == 0
    churn = json.loads((repo / "retired.json").read_text("utf-8"))["entries"][0]
    data = churn["trainingData"]
    assert {k: v for k, v in data.items() if k in expected} == expected
    if "kept" in expected:
        assert data["neededBy"] == ["churn 1.4.0 (dev)", "churn 1.4.0 (prod)", "churn 1.4.0 (staging)"]
    else:
        assert "kept" not in data and "neededBy" not in data


def test_retire_refuses_an_agent_version_that_still_serves(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("ml model show", {"stdout": registered()})
    az.answer("ml online-deployment list", {"stdout": DEPLOYMENTS})
    az.answer("ml online-endpoint show", {"stdout": {"traffic": {"blue": 100, "green": 0}}})
    serving = {"id": "support:1", "name": "support", "version": "1", "metadata": {"version": "1.0.0"}}
    az.answer("rest", {"stdout": {"data": [serving], "has_more": False}})
    az.answer("appconfig kv list", {"stdout": [{"key": "almgen:agent:support", "value": "1"}]})
    assert run("retire", "--env", "prod", "--outputs", "outputs.json", "--out", "retired.json") == 1
    said = capsys.readouterr()
    assert (
        "agent support serves version 1.0.0 (Foundry version 1) in eastus2: release a newer version first"
        in said.out + said.err
    )
    assert az.calls("ml online-deployment delete") == []  # a refusal anywhere changes nothing
    record = json.loads((repo / "retired.json").read_text("utf-8"))
    assert [e["status"] for e in record["entries"]] == ["not-attempted", "refused"]


def test_retire_deletes_the_agent_versions_made_for_the_retired_semver_that_are_not_live(
    az: FakeAz, repo: Path
) -> None:
    """Versions are immutable: a release leaves the earlier ones in the project, so retiring removes them."""
    release = copy.deepcopy(RELEASE)
    release["retired"] = [
        {"kind": "agent", "name": "support", "version": "1.0.0", "reason": "r", "date": "d"}
    ]
    write(repo / ".almgen/release.json", release)
    versions = [
        {"id": "support:3", "version": "3", "metadata": {"version": "2.0.0"}},
        {"id": "support:2", "version": "2", "metadata": {"version": "1.0.0"}},
        {"id": "support:1", "version": "1", "metadata": {"version": "1.0.0"}},
    ]
    az.answer("rest", {"stdout": {"data": versions, "has_more": False}})
    az.answer("appconfig kv list", {"stdout": [{"key": "almgen:agent:support", "value": "3"}]})
    assert run("retire", "--env", "prod", "--outputs", "outputs.json", "--out", "retired.json") == 0
    deleted = [option(c, "--url").split("?")[0].rsplit("/", 1)[1] for c in az.calls("rest") if "delete" in c]
    assert deleted == ["2", "1", "2", "1"]  # in each region; version 3 serves and stays
    record = json.loads((repo / "retired.json").read_text("utf-8"))
    assert (
        record["entries"][0]["regions"][0]["done"][0] == "deleted version 2 of agent support (made for 1.0.0)"
    )


def test_retire_foundation_deletes_only_the_inactive_colour(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = copy.deepcopy(RELEASE)
    release["retired"] = [
        {"kind": "model", "name": "chat", "version": "2024-08-06", "reason": "r", "date": "d"}
    ]
    write(repo / ".almgen/release.json", release)
    write(repo / "live.json", {"active": {"chat": "chat-blue"}})
    old = {"properties": {"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"}}}
    new = {"properties": {"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-11-20"}}}
    az.answer(
        "cognitiveservices account deployment list",
        {"stdout": [{"name": "chat-blue", **old}, {"name": "chat-green", **old}, {"name": "other", **old}]},
    )
    az.answer(
        "cognitiveservices account deployment list | ais-west", {"stdout": [{"name": "chat-blue", **new}]}
    )
    az.answer("cognitiveservices account deployment delete", {"stdout": ""})
    code = run(
        "retire", "--env", "prod", "--outputs", "outputs.json", "--out", "r.json", "--live-state", "live.json"
    )
    assert code == 0
    deletes = az.calls("cognitiveservices account deployment delete")
    assert [(option(d, "-n"), option(d, "--deployment-name")) for d in deletes] == [
        ("ais-east", "chat-green")
    ]
    assert "chat-blue is the active deployment of chat: kept" in capsys.readouterr().err


# --------------------------------------------------------------------------- check-retirements


def catalog(**model: Any) -> dict[str, Any]:
    entry = {
        "format": "OpenAI",
        "name": "gpt-4o",
        "version": "2024-11-20",
        "lifecycleStatus": "GenerallyAvailable",
        "deprecation": {"inference": "2027-06-01T00:00:00Z"},
        "skus": [{"name": "GlobalStandard", "usageName": "OpenAI.GlobalStandard.gpt-4o"}],
    }
    entry.update(model)
    return {"kind": "AIServices", "model": entry}


def check(*extra: str) -> int:
    return run("check-retirements", "--regions", "eastus2, swedencentral", "--today", "2026-05-01", *extra)


def test_check_retirements_passes_far_from_retirement(
    az: FakeAz,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    az.answer("cognitiveservices model list", {"stdout": [catalog(version="2024-08-06"), catalog()]})
    assert check() == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and out.count("| PASS |") == 2
    assert summary.read_text("utf-8").strip() == out.strip()
    regions = [option(c, "-l") for c in az.calls("cognitiveservices model list")]
    assert regions == ["eastus2", "swedencentral"]


def test_check_retirements_fails_when_deprecating_soon(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soon = catalog(lifecycleStatus="Deprecating", deprecation={"inference": "2026-06-15T00:00:00Z"})
    az.answer("cognitiveservices model list", {"stdout": [soon]})
    assert check() == 1
    out = capsys.readouterr().out
    assert "lifecycle status Deprecating" in out and "retires 2026-06-15 (in 45 days)" in out
    assert "NoAutoUpgrade" in out


def test_check_retirements_fails_on_a_date_within_the_window_only(az: FakeAz, repo: Path) -> None:
    az.answer("cognitiveservices model list", {"stdout": [catalog(deprecation={"inference": "2026-08-01"})]})
    assert check("--days", "30") == 0
    assert check("--days", "92") == 1


def test_check_retirements_fails_when_not_offered_in_a_region(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("cognitiveservices model list", {"stdout": [catalog()]})
    az.answer("cognitiveservices model list | swedencentral", {"stdout": [catalog(version="2024-05-13")]})
    assert check() == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if "gpt-4o" in line]
    assert [("eastus2" in r, "FAIL: not offered in this region" in r) for r in rows] == [
        (True, False),
        (False, True),
    ]


def test_check_retirements_names_the_missing_region(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer("cognitiveservices model list", {"stdout": [catalog()]})
    az.answer("cognitiveservices model list | swedencentral", {"stdout": []})
    assert check() == 1
    row = next(line for line in capsys.readouterr().out.splitlines() if "swedencentral" in line)
    assert "FAIL: not offered in this region" in row


def test_check_retirements_bad_today_is_usage(az: FakeAz, repo: Path) -> None:
    assert run("check-retirements", "--regions", "eastus2", "--today", "tomorrow") == 2


# --------------------------------------------------------------------------- check-quota


def usage(name: str, current: float, limit: float) -> dict[str, Any]:
    return {"name": {"value": name, "localizedValue": name}, "currentValue": current, "limit": limit}


def test_check_quota_fails_at_or_above_the_percentage(
    az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    az.answer(
        "cognitiveservices usage list",
        {
            "stdout": [
                usage("openai.globalstandard.gpt-4o", 400, 1000),
                usage("OpenAI.GlobalStandard.gpt-4o-mini", 99, 100),
            ]
        },
    )
    az.answer(
        "cognitiveservices usage list | swedencentral",
        {"stdout": [usage("OpenAI.GlobalStandard.gpt-4o", 80, 100)]},
    )
    assert run("check-quota", "--regions", "eastus2,swedencentral", "--percent", "80") == 1
    out = capsys.readouterr().out
    assert "gpt-4o-mini" not in out
    assert "| 40.0% | PASS |" in out and "| 80.0% | FAIL: at or above 80% |" in out


def test_check_quota_passes_below_the_percentage(az: FakeAz, repo: Path) -> None:
    az.answer("cognitiveservices usage list", {"stdout": [usage("OpenAI.GlobalStandard.gpt-4o", 10, 100)]})
    assert run("check-quota", "--regions", "eastus2", "--percent", "80") == 0


def test_check_quota_fails_when_no_usage_matches(az: FakeAz, repo: Path) -> None:
    az.answer("cognitiveservices usage list", {"stdout": [usage("OpenAI.Standard.gpt-4o", 10, 100)]})
    assert run("check-quota", "--regions", "eastus2", "--percent", "80") == 1


def test_usage_name_without_a_sku_matches_any_single_sku() -> None:
    model = {"format": "OpenAI", "model": "gpt-4.1", "sku": ""}
    assert lifecycle.usage_matches("OpenAI.DataZoneStandard.gpt-4.1", model)
    assert not lifecycle.usage_matches("OpenAI.Standard.gpt-4.1-mini", model)
    assert not lifecycle.usage_matches("OpenAI.gpt-4.1", model)


# --------------------------------------------------------------------------- standalone and input errors


def test_missing_release_is_a_one_line_usage_error(
    az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("check-quota", "--regions", "eastus2", "--percent", "80") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "release.json" in err


def test_unknown_environment_is_usage(az: FakeAz, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("register", "--env", "qa", "--outputs", "outputs.json") == 2
    assert "known: dev, prod, staging" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["models.py", "agents.py"])
def test_script_runs_standalone(tmp_path: Path, script: str) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    for module in RUNTIME.glob("*.py"):  # a script's helper modules are shipped beside it
        if module.name != "__init__.py":
            shutil.copy(module, alone / module.name)
    env = {**os.environ, "PYTHONPATH": ""}
    for args, code in ((["--help"], 0), (["candidate" if script == "agents.py" else "train"], 2)):
        result = subprocess.run(
            [sys.executable, str(alone / script), *args],
            cwd=alone,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == code, result.stderr
        assert "Traceback" not in result.stderr
    assert (
        "usage:"
        in subprocess.run(
            [sys.executable, "-I", str(alone / script), "--help"], check=False, capture_output=True, text=True
        ).stdout
    )
