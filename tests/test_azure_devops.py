"""The generated Azure DevOps pipelines, checked by the tools their users run, and by our own
test where no tool looks: template references and template parameters."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests import tools
from tests.conftest import SAMPLE_NAMES
from tests.generated import outputs, write_tree

DEVOPS_SAMPLES = [s for s in SAMPLE_NAMES if any(f.path.startswith(".azure-pipelines/") for f in outputs(s))]


def test_the_samples_cover_azure_devops() -> None:
    assert {"custom-model-devops", "enterprise"} <= set(DEVOPS_SAMPLES)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("devops")
    return {sample: write_tree(sample, root / sample) for sample in DEVOPS_SAMPLES}


def _pipelines(repo: Path) -> list[Path]:
    return sorted((repo / ".azure-pipelines").rglob("*.yml"))


@pytest.mark.parametrize("sample", DEVOPS_SAMPLES)
def test_yamllint(sample: str, repos: dict[str, Path]) -> None:
    assert tools.yamllint(_pipelines(repos[sample])) == []


@pytest.mark.parametrize("sample", DEVOPS_SAMPLES)
def test_azure_pipelines_schema(sample: str, repos: dict[str, Path]) -> None:
    assert tools.check_jsonschema(_pipelines(repos[sample]), "vendor.azure-pipelines") == []


def test_checkov_azure_pipelines(repos: dict[str, Path], tmp_path: Path) -> None:
    # checkov's azure_pipelines framework reads only files named *azure-pipelines.yml
    for sample, repo in repos.items():
        for path in _pipelines(repo):
            name = path.relative_to(repo).as_posix().replace("/", "_").removesuffix(".yml")
            shutil.copy(path, tmp_path / f"{sample}_{name}.azure-pipelines.yml")
    report = tools.checkov(tmp_path, "azure_pipelines")
    assert report["summary"]["parsing_errors"] == 0
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["passed"] > 0


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def _template_calls(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every `template: x` with its parameters, through ${{ if }} and ${{ each }} blocks."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if isinstance(node.get("template"), str):
            found.append((node["template"], node.get("parameters") or {}))
        for value in node.values():
            found.extend(_template_calls(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_template_calls(value))
    return found


@pytest.mark.parametrize("sample", DEVOPS_SAMPLES)
def test_every_template_reference_resolves_with_declared_parameters(
    sample: str, repos: dict[str, Path]
) -> None:
    repo = repos[sample]
    calls = 0
    for path in _pipelines(repo):
        for reference, parameters in _template_calls(_load(path)):
            target = (path.parent / reference).resolve()
            assert target.is_file(), f"{path.name}: template {reference} does not exist"
            declared = {p["name"]: p for p in _load(target)["parameters"]}
            given = {k for k in parameters if not str(k).startswith("${{")}
            assert given <= set(declared), f"{path.name} -> {reference}: unknown {given - set(declared)}"
            required = {n for n, p in declared.items() if "default" not in p}
            assert required <= given, f"{path.name} -> {reference}: missing {required - given}"
            calls += 1
    assert calls >= 5


@pytest.mark.parametrize("sample", DEVOPS_SAMPLES)
def test_deployment_jobs_are_bound_to_environments_and_canary_is_unrolled(
    sample: str, repos: dict[str, Path]
) -> None:
    repo = repos[sample]
    jobs = repo / ".azure-pipelines" / "templates" / "jobs"
    names = ["provision.yml", "finish.yml"] + (["canary-step.yml"] if sample == "enterprise" else [])
    for name in names:
        (job,) = _load(jobs / name)["jobs"]
        assert "deployment" in job and job["environment"] == "${{ parameters.environment }}"
        assert set(job["strategy"]) == {"runOnce"}  # never the native canary strategy
        assert job["deployment"] != "Deploy"  # reserved by Azure DevOps
    for name in ["finish.yml"] + (["canary-step.yml"] if sample == "enterprise" else []):
        steps = _load(jobs / name)["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
        restores = [s for s in steps if str(s.get("displayName", "")).startswith("Roll back")]
        assert restores and all(s["condition"] == "or(failed(), canceled())" for s in restores)


def test_the_service_connection_is_known_at_compile_time(repos: dict[str, Path]) -> None:
    pipeline = _load(repos["enterprise"] / ".azure-pipelines" / "support-agent.yml")
    stages = [s for s in pipeline["stages"] if s["template"].endswith("environment.yml")]
    assert [s["parameters"]["serviceConnection"] for s in stages] == [
        "azure-support-agent-dev",
        "azure-support-agent-staging",
        "azure-support-agent-prod",
    ]
    for path in _pipelines(repos["enterprise"]):
        for match in re.finditer(r"azureSubscription: (.+)", path.read_text("utf-8")):
            assert "$(" not in match.group(1), f"{path.name}: a runtime variable as service connection"


def test_no_spec_text_in_pipelines(repos: dict[str, Path]) -> None:
    commands = outputs("enterprise")
    table = next(f for f in commands if f.path == ".almgen/commands.json").text
    import json

    for command in json.loads(table)["tests"].values():
        for path in _pipelines(repos["enterprise"]):
            assert command not in path.read_text("utf-8")


@pytest.mark.parametrize("sample", DEVOPS_SAMPLES)
def test_every_parameter_a_template_reads_is_declared(sample: str, repos: dict[str, Path]) -> None:
    """Azure DevOps expands an undeclared `${{ parameters.x }}` to nothing, silently."""
    for path in _pipelines(repos[sample]):
        document = _load(path)
        declared = {p["name"] for p in document.get("parameters") or [] if isinstance(p, dict)}
        used = set(re.findall(r"\$\{\{[^}]*?parameters\.(\w+)", path.read_text("utf-8")))
        assert used <= declared, f"{path.name}: {sorted(used - declared)} read but not declared"


def test_a_manual_ab_decision_on_azure_devops(tmp_path: Path) -> None:
    """The chat sample with `decide: manual` on Azure DevOps: the decision is an agentless job with
    a ManualValidation@1 task (onTimeout: reject), ab-promote and ab-restore are their own job
    templates, the restore runs when the comparison succeeded and the decision did not; Microsoft's
    schema, yamllint and the template references hold (a slow test)."""
    from generator.render.all import render
    from generator.spec.validate import load_spec
    from tests.conftest import SAMPLES

    spec_dir = tmp_path / "spec"
    shutil.copytree(SAMPLES / "openai-chat-github", spec_dir)
    text = (spec_dir / "almgen.yaml").read_text("utf-8")
    rule = "compare: {metric: latencyP95Ms, tolerancePercent: 10}"
    text = text.replace(rule, rule[:-1] + ", decide: manual, reviewers: [ab-owners, qa]}")
    text = text.replace("pipelines: [github-actions]", "pipelines: [github-actions, azure-devops]")
    assert "decide: manual" in text and "azure-devops" in text
    (spec_dir / "almgen.yaml").write_text(text, "utf-8")
    repo = tmp_path / "repo"
    for output in render(load_spec(spec_dir / "almgen.yaml")):
        path = repo / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output.text, "utf-8", newline="\n")
    jobs = repo / ".azure-pipelines" / "templates" / "jobs"
    (decision,) = _load(jobs / "ab-decision.yml")["jobs"]
    assert decision["pool"] == "server" and decision["job"] == "AbDecision"
    (task,) = decision["steps"]
    assert task["task"] == "ManualValidation@1" and task["inputs"]["onTimeout"] == "reject"
    assert task["inputs"]["approvers"] == task["inputs"]["notifyUsers"] == "${{ parameters.reviewers }}"
    assert int(decision["timeoutInMinutes"]) > int(task["timeoutInMinutes"])
    (restore,) = _load(jobs / "ab-restore.yml")["jobs"]
    assert restore["condition"] == (
        "and(or(failed(), canceled()), eq(dependencies.Finish.result, 'Succeeded'), "
        "ne(dependencies.AbDecision.result, 'Succeeded'))"
    )
    (promote,) = _load(jobs / "ab-promote.yml")["jobs"]
    assert promote["deployment"] == "AbPromote" and "condition" not in promote
    pipeline = (repo / ".azure-pipelines" / "chat-assist.yml").read_text("utf-8")
    assert 'abReviewers: "ab-owners,qa"' in pipeline
    assert "AbRestore: [Finish, AbDecision, AbPromote, Provision]" in pipeline
    repos = {"manual": repo}
    test_every_template_reference_resolves_with_declared_parameters("manual", repos)
    test_every_parameter_a_template_reads_is_declared("manual", repos)
    assert tools.yamllint(_pipelines(repo)) == []
    assert tools.check_jsonschema(_pipelines(repo), "vendor.azure-pipelines") == []
