"""Fine-tuned foundation models (`models[].fineTune`): the resolved value, the rules a schema cannot
say, what the generated files carry, and the runtime's hash and job matching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.errors import SpecInvalid
from generator.plan import plan
from generator.runtime import common as runtime_common
from generator.runtime import finetuning, routing
from generator.spec.validate import load_spec
from generator.targets.bicep.files import lineage_tags
from generator.targets.scripts.files import release_facts
from tests.helpers import write_tree

SPEC = """\
apiVersion: almgen/v1
service: {name: tuned-chat}
targets: {pipelines: [github-actions, azure-devops]}
environments:
  - name: dev
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


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    write_tree(tmp_path, {"almgen.yaml": text})
    return tmp_path / "almgen.yaml"


def _issues(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalid) as caught:
        load_spec(_spec(tmp_path, text))
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_the_resolved_fine_tune(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    (model,) = spec.fine_tuned_models
    tune = model.fine_tune
    assert tune is not None
    assert (tune.training_data.asset, tune.training_data.version, tune.validation_data) == (
        "support-chats",
        "3",
        None,
    )
    assert tune.hyperparameters() == {"n_epochs": 3, "learning_rate_multiplier": 0.1}  # batch size: Azure's
    assert tune.seed == 42


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            ("sku: Standard", "sku: GlobalBatch"),
            "models[0].sku",
            "a fine-tuned model is not served on GlobalBatch",
        ),
        (("sku: Standard", "sku: Standard\n    format: Meta"), "models[0].format", "its format is 'Meta'"),
        (
            ("model: gpt-4o-mini", "model: text-embedding-3-small"),
            "models[0].model",
            "'text-embedding-3-small' is an embedding model, which Azure OpenAI does not fine-tune",
        ),
    ],
)
def test_what_is_not_generated_for_a_fine_tuned_model_is_refused(
    tmp_path: Path, edit: tuple[str, str], path: str, message: str
) -> None:
    issues = _issues(tmp_path, SPEC.replace(*edit))
    assert any(p == path and message in m for p, m in issues), issues


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        ("epochs: 3", "models[0].fineTune.hyperparameters.epochs"),
        ("learningRateMultiplier: 0.1", "models[0].fineTune.hyperparameters.learningRateMultiplier"),
    ],
)
def test_hyperparameters_out_of_range(tmp_path: Path, edit: str, path: str) -> None:
    key = edit.split(":", maxsplit=1)[0]
    issues = _issues(tmp_path, SPEC.replace(edit, f"{key}: 0"))
    assert [p for p, _ in issues] == [path]


def test_fine_tune_on_a_custom_model_does_not_apply(tmp_path: Path) -> None:
    tune = "fineTune: {trainingData: {asset: a, version: '1'}}"
    scorer = f"{{name: scorer, kind: custom, version: 1.0.0, path: model, {tune}}}"
    text = SPEC + f"  - {scorer}\n"
    write_tree(tmp_path, {"model/MLmodel": "flavors: {}\n"})
    issues = _issues(tmp_path, text)
    assert ("models[1].fineTune", "fineTune does not apply to a custom model") in issues


def test_the_generated_facts_step_and_deployment(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    (model,) = release_facts(spec)["environments"]["dev"]["models"]
    assert model["fineTune"] == {
        "registry": "mlr-tuned-chat",
        "home": {"environment": "dev", "deployment": "tuned-chat-dev", "resourceGroup": "rg-tuned-chat-dev"},
        "trainingData": {"asset": "support-chats", "version": "3"},
        "hyperparameters": {"n_epochs": 3, "learning_rate_multiplier": 0.1},
        "seed": 42,
        "deployments": ["chat"],  # direct: the one deployment
    }
    provision = next(job for job in plan(spec).jobs if job.kind == "provision")
    kinds = [step.kind for step in provision.steps]
    assert kinds[kinds.index("deploy-infra") + 1] == "fine-tune"  # after the account exists
    tags = lineage_tags(spec.models[0])
    assert tags["fine-tune-base"] == "gpt-4o-mini:2024-07-18"
    assert tags["hyperparameters"] == "learning_rate_multiplier=0.1,n_epochs=3,seed=42"


def test_the_inputs_hash_is_the_suffix_and_changes_with_every_input() -> None:
    tune: dict[str, Any] = {
        "trainingData": {"asset": "a", "version": "1"},
        "hyperparameters": {"n_epochs": 3},
    }
    model: dict[str, Any] = {
        "name": "chat",
        "model": "gpt-4o-mini",
        "version": "2024-07-18",
        "fineTune": tune,
    }
    sha = finetuning.inputs_sha256(model)
    suffix = finetuning.suffix_of(sha)
    assert len(suffix) <= 40 and suffix == "almgen-" + sha[:16]
    changed = [
        {**model, "version": "2024-08-01"},
        {**model, "fineTune": {**tune, "trainingData": {"asset": "a", "version": "2"}}},
        {**model, "fineTune": {**tune, "hyperparameters": {"n_epochs": 4}}},
        {**model, "fineTune": {**tune, "seed": 7}},
        {**model, "fineTune": {**tune, "validationData": {"asset": "v", "version": "1"}}},
    ]
    assert len({finetuning.inputs_sha256(m) for m in changed} | {sha}) == len(changed) + 1
    reordered = json.loads(json.dumps(model, sort_keys=True))
    assert finetuning.inputs_sha256(reordered) == sha


def test_a_job_is_reused_only_when_it_succeeded_or_may_still_succeed() -> None:
    base, suffix = "gpt-4o-mini-2024-07-18", "almgen-0123456789abcdef"
    failed = {"id": "ftjob-2", "suffix": suffix, "model": base, "status": "failed"}
    done = {"id": "ftjob-1", "suffix": suffix, "model": base, "status": "succeeded", "fine_tuned_model": "m"}
    running = {"id": "ftjob-3", "suffix": suffix, "model": base, "status": "running"}
    other = {"id": "ftjob-4", "suffix": "almgen-ffffffffffffffff", "model": base, "status": "succeeded"}
    assert finetuning.matching_job([failed, other], suffix, base) is None
    assert finetuning.matching_job([failed, done], suffix, base) == done
    assert finetuning.matching_job([running, done], suffix, base) == running  # newest first
    assert finetuning.matching_job([done], suffix, "gpt-4o-2024-11-20") is None


def test_the_live_state_names_the_fine_tuned_model_a_deployment_serves() -> None:
    assert routing.FINE_TUNED.search("gpt-4o-mini-2024-07-18.ft-0123abcd")
    assert not routing.FINE_TUNED.search("gpt-4o-mini")


def test_the_live_state_names_the_account_that_holds_each_fine_tuned_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = "/subscriptions/s/resourceGroups/rg-dev/providers/Microsoft.CognitiveServices/accounts/ais-dev"
    own = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.CognitiveServices/accounts/ais-prod"
    listed = [
        {
            "name": "chat",
            "id": f"{own}/deployments/chat",
            "properties": {"model": {"name": "gpt-4o-mini-2024-07-18.ft-1", "version": "1", "source": home}},
        },
        {
            "name": "own",
            "id": f"{own}/deployments/own",
            "properties": {"model": {"name": "gpt-4o-mini-2024-07-18.ft-2", "version": "1"}},
        },
        {"name": "base", "id": f"{own}/deployments/base", "properties": {"model": {"name": "gpt-4o"}}},
    ]
    monkeypatch.setattr(routing, "routing_keys", lambda stack, env: {})
    monkeypatch.setattr(routing, "model_deployments", lambda stack: listed)
    stack = routing.Stack("eastus2", "rg-prod", True, "ais-prod", "appcs", "")
    state = routing.live_state(stack, "prod")
    assert state["fineTunedSource"] == {"chat": home, "own": own}  # a re-deploy keeps where it comes from
    assert state["fineTuned"] == {"chat": "gpt-4o-mini-2024-07-18.ft-1", "own": "gpt-4o-mini-2024-07-18.ft-2"}


def _promoting(monkeypatch: pytest.MonkeyPatch, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A later environment's `models.py fine-tune`, dev's account answering JOBS; what it wrote."""
    model: dict[str, Any] = {
        "name": "chat",
        "kind": "foundation",
        "model": "gpt-4o-mini",
        "version": "2024-07-18",
        "fineTune": {
            "registry": "mlr-x",
            "home": {"environment": "dev", "deployment": "svc-dev", "resourceGroup": "rg-dev"},
            "trainingData": {"asset": "a", "version": "1"},
        },
    }
    suffix = finetuning.suffix_of(finetuning.inputs_sha256(model))
    for job in jobs:
        job.setdefault("suffix", suffix)
    home = "/subscriptions/s/resourceGroups/rg-dev/providers/Microsoft.CognitiveServices/accounts/ais-dev"
    asked: list[list[str]] = []

    def az_json(args: list[str], what: str) -> Any:
        asked.append(args)
        return {
            "stacks": {"value": [{"primary": True, "aiServicesName": "ais-dev", "resourceGroup": "rg-dev"}]}
        }

    def az_text(args: list[str], what: str) -> str:
        asked.append(args)
        return home

    monkeypatch.setattr(runtime_common, "az_json", az_json)
    monkeypatch.setattr(runtime_common, "az_text", az_text)
    monkeypatch.setattr(finetuning, "list_jobs", lambda account: jobs if account == "ais-dev" else [])
    monkeypatch.setattr(finetuning, "fine_tune", lambda *a, **k: pytest.fail("a later environment trained"))
    stack = {"aiServicesName": "ais-prod", "resourceGroup": "rg-prod"}
    where, account, group = finetuning.home_account(model, "prod", stack)
    assert (where, account, group) == ("dev", "ais-dev", "rg-dev")
    assert asked[0][:4] == ["deployment", "sub", "show", "--name"] and asked[0][4] == "svc-dev"
    job = finetuning.promoted(model, account, where, "prod")
    return {"job": job, "source": finetuning.account_id(account, group)}


def test_a_later_environment_deploys_the_model_dev_fine_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    done = {
        "id": "ftjob-1",
        "model": "gpt-4o-mini-2024-07-18",
        "status": "succeeded",
        "fine_tuned_model": "m.ft-1",
    }
    found = _promoting(monkeypatch, [done])
    assert found["job"]["fine_tuned_model"] == "m.ft-1" and found["job"]["created"] is False
    assert found["source"].endswith("/accounts/ais-dev")


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([], "dev has not fine-tuned them: run the pipeline through dev first"),
        ([{"id": "ftjob-2", "model": "gpt-4o-mini-2024-07-18", "status": "running"}], "still fine-tuning"),
        ([{"id": "ftjob-3", "model": "gpt-4o-mini-2024-07-18", "status": "failed"}], "has not fine-tuned"),
    ],
)
def test_a_later_environment_never_retrains_when_dev_has_no_model(
    monkeypatch: pytest.MonkeyPatch, jobs: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(runtime_common.Failure, match=message):
        _promoting(monkeypatch, jobs)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fine-tuned spec generated into a repository (no sample fine-tunes), with a prod that rolls
    out by canary: colours of a fine-tuned model, the gateway's pool, the candidate's capacity rule."""
    from generator.regen.generate import generate_spec

    root = tmp_path_factory.mktemp("tuned-chat")
    canary = "  - name: prod\n    strategy: {type: canary, steps: [10, 100], bakeMinutes: 10}\n"
    generate_spec(_spec(root, SPEC.replace("  - name: dev\n", "  - name: dev\n" + canary)))
    return root


def test_the_generated_files_pass_the_validators(generated: Path) -> None:
    """actionlint with shellcheck, zizmor, both pipeline schemas, yamllint, pycep and checkov."""
    from pycep import BicepParser

    from tests import tools

    workflows = sorted((generated / ".github" / "workflows").glob("*.yml"))
    pipelines = sorted((generated / ".azure-pipelines").rglob("*.yml"))
    assert tools.yamllint([*workflows, *pipelines]) == []
    assert tools.actionlint(generated) == []
    assert tools.zizmor(generated) == []
    assert tools.check_jsonschema(workflows, "vendor.github-workflows") == []
    assert tools.check_jsonschema(pipelines, "vendor.azure-pipelines") == []
    for bicep in sorted((generated / "infra").rglob("*.bicep")):
        BicepParser().parse(text=bicep.read_text("utf-8"))
    report = tools.checkov(generated / "infra", "bicep")
    assert report["results"]["failed_checks"] == [], [
        c["check_id"] for c in report["results"]["failed_checks"]
    ]


def test_the_fine_tuning_identity_may_run_jobs(tmp_path: Path) -> None:
    from generator.commands.setup.roles import OPENAI_CONTRIBUTOR, grants

    spec = load_spec(_spec(tmp_path))
    (grant,) = [g for g in grants(spec, spec.environments[0]) if g.role_id == OPENAI_CONTRIBUTOR]
    assert grant.scope == "rg-tuned-chat-dev" and "Storage Blob Data Reader" in grant.why


def test_later_environments_may_deploy_the_model_dev_fine_tuned(tmp_path: Path) -> None:
    from generator.commands.setup.roles import OPENAI_CONTRIBUTOR, grants

    text = SPEC.replace(
        "  - name: dev\n", "  - name: dev\n  - name: prod\n    regions: [eastus2, swedencentral]\n"
    )
    spec = load_spec(_spec(tmp_path, text))
    (grant,) = [g for g in grants(spec, spec.environments[1]) if g.role_id == OPENAI_CONTRIBUTOR]
    assert grant.scope == "rg-tuned-chat-dev" and "never a retrain" in grant.why  # once, not per region


def test_explain_and_lineage_name_what_the_model_is_fine_tuned_on(tmp_path: Path) -> None:
    from generator.commands.explain import explain_text
    from generator.commands.lineage import lineage_text

    spec = load_spec(_spec(tmp_path))
    assert "chat (gpt-4o-mini 2024-07-18, Standard, capacity 10, fine-tuned on support-chats:3)" in (
        explain_text(spec)
    )
    assert (
        "fine-tuned on support-chats:3; hyperparameters learning_rate_multiplier 0.1, n_epochs 3, seed 42"
        in lineage_text(spec)
    )


def test_a_running_job_with_the_same_inputs_is_waited_for_not_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model: dict[str, Any] = {
        "name": "chat",
        "model": "gpt-4o-mini",
        "version": "2024-07-18",
        "fineTune": {"trainingData": {"asset": "a", "version": "1"}},
    }
    suffix = finetuning.suffix_of(finetuning.inputs_sha256(model))
    running = {"id": "ftjob-1", "suffix": suffix, "model": "gpt-4o-mini-2024-07-18", "status": "running"}
    answers = [dict(running), {**running, "status": "succeeded", "fine_tuned_model": "m.ft-1"}]
    calls: list[tuple[str, str]] = []

    def http(method: str, address: str, body: dict[str, Any] | None = None) -> Any:
        calls.append((method, address))
        return answers.pop(0)

    monkeypatch.setattr(finetuning, "list_jobs", lambda account: [running])
    monkeypatch.setattr(finetuning, "http", http)
    monkeypatch.setattr(runtime_common, "sleep", lambda seconds: None)
    job = finetuning.fine_tune(model, "ais-x", "mlr-x", poll=1.0, minutes=60.0)
    assert job["fine_tuned_model"] == "m.ft-1" and job["created"] is False
    assert [method for method, _ in calls] == ["GET", "GET"]  # no file import, no new job
    assert all("/fine_tuning/jobs/ftjob-1?api-version=2024-10-21" in address for _, address in calls)


def test_the_simulated_azure_deploys_from_another_account_only_what_it_holds_to_whom_may() -> None:
    from generator.rehearse.azure import arm
    from generator.rehearse.azure.store import AzFailure

    home = "/subscriptions/s/resourceGroups/rg-dev/providers/Microsoft.CognitiveServices/accounts/ais-dev"
    job = {"status": "succeeded", "fine_tuned_model": "m.ft-1"}
    grant = {"principalId": "pipeline:prod", "roleDefinitionName": arm.OPENAI_CONTRIBUTOR}
    state: dict[str, Any] = {
        "accounts": {home: {"id": home, "fineTuning": {"ftjob-1": job}}},
        "roles": [{**grant, "scope": "/subscriptions/s/resourceGroups/rg-dev"}],
    }
    arm._check_source(state, "prod", home.upper(), "m.ft-1", "target")  # IDs compare without case
    with pytest.raises(AzFailure, match="was not found in the source account"):
        arm._check_source(state, "prod", home, "m.ft-2", "target")
    job["status"] = "failed"
    with pytest.raises(AzFailure, match="was not found in the source account"):
        arm._check_source(state, "prod", home, "m.ft-1", "target")
    job["status"] = "succeeded"
    with pytest.raises(AzFailure, match="AuthorizationFailed"):
        arm._check_source(state, "staging", home, "m.ft-1", "target")
    state["roles"] = [{**grant, "scope": "/subscriptions/s/resourceGroups/rg-de"}]  # a prefix, not a scope
    with pytest.raises(AzFailure, match="AuthorizationFailed"):
        arm._check_source(state, "prod", home, "m.ft-1", "target")


def _coloured(deployments: list[str]) -> dict[str, Any]:
    return {"name": "chat", "fineTune": {"deployments": deployments}}


@pytest.mark.parametrize(
    ("state", "wanted", "colour"),
    [
        ({}, "m.ft-new", "chat-blue"),  # a first deploy: blue serves first
        ({"active": {"chat": "chat-blue"}, "fineTuned": {"chat-blue": "m.ft-new"}}, "m.ft-new", "chat-blue"),
        ({"active": {"chat": "chat-blue"}, "fineTuned": {"chat-blue": "m.ft-old"}}, "m.ft-new", "chat-green"),
        (
            {
                "active": {"chat": "chat-green"},
                "fineTuned": {"chat-green": "m.ft-old", "chat-blue": "m.ft-x"},
            },
            "m.ft-new",
            "chat-blue",
        ),
        # a re-run after a rollback: green has the new model already, blue still serves the old one
        (
            {
                "active": {"chat": "chat-blue"},
                "fineTuned": {"chat-blue": "m.ft-old", "chat-green": "m.ft-new"},
            },
            "m.ft-new",
            "chat-green",
        ),
    ],
)
def test_a_new_fine_tuned_model_goes_to_the_colour_that_does_not_serve(
    state: dict[str, Any], wanted: str, colour: str
) -> None:
    assert finetuning.colour_for(_coloured(["chat-blue", "chat-green"]), state, wanted) == colour
    assert finetuning.colour_for(_coloured(["chat"]), state, wanted) == "chat"  # direct: the one


def test_the_rollout_and_the_tests_aim_at_the_colour_the_fine_tune_picked() -> None:
    state = {"active": {"chat": "chat-blue"}, "versions": {"chat-blue": "1"}}
    # by version the candidate would be blue itself (every fine-tuned model is version 1)
    assert routing.candidate(state, "chat", "foundation", "1", {}) == "chat-blue"
    assert routing.candidate(state, "chat", "foundation", "1", {"chat": "chat-green"}) == "chat-green"
