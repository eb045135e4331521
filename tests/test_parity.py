"""GitHub Actions and Azure DevOps, read back from their files (not the Plan): the same
environments, in the same order, with the same gates before each, the same strategy steps and
the same tests after."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import SAMPLE_NAMES, SAMPLES
from tests.generated import outputs


def _files(sample: str) -> dict[str, Any]:
    return {f.path: YAML(typ="safe").load(f.text) for f in outputs(sample) if f.path.endswith(".yml")}


def github_view(files: dict[str, Any]) -> list[dict[str, Any]]:
    cds = [doc for path, doc in files.items() if path.endswith("-cd.yml")]
    if not cds:
        return []
    (cd,) = cds
    view = []
    for job in cd["jobs"].values():
        if "uses" not in job:
            continue
        given = job["with"]
        view.append(
            {
                "environment": given["environment"],
                "gates": json.loads(given["gates"]),
                "strategy": given["strategy"],
                "steps": json.loads(given["canary-steps"]),
                "tests": json.loads(given["tests"]),
            }
        )
    return view


def devops_view(files: dict[str, Any]) -> list[dict[str, Any]]:
    pipelines = [
        doc
        for path, doc in files.items()
        if path.count("/") == 1 and path.startswith(".azure-pipelines/") and "lifecycle" not in path
    ]
    if not pipelines:
        return []
    (pipeline,) = pipelines
    view = []
    for stage in pipeline["stages"]:
        if not stage["template"].endswith("environment.yml"):
            continue
        given = stage["parameters"]
        view.append(
            {
                "environment": given["environment"],
                "gates": list(given["gates"]),
                "strategy": given["strategy"],
                "steps": list(given["canarySteps"]),
                "tests": list(given["tests"]),
            }
        )
    return view


BOTH = [s for s in SAMPLE_NAMES if github_view(_files(s)) and devops_view(_files(s))]


def test_some_sample_targets_both() -> None:
    assert "enterprise" in BOTH


@pytest.mark.parametrize("sample", BOTH)
def test_same_environments_gates_strategy_and_tests(sample: str) -> None:
    files = _files(sample)
    github, devops = github_view(files), devops_view(files)
    assert github == devops
    assert [e["environment"] for e in github] == ["dev", "staging", "prod"]
    assert github[-1]["steps"] == [10, 25, 50, 100]


# ---- the whole job graph, read back through the rehearsal's interpreters of each target ---------

SCRIPT = re.compile(r'python "?(?:\$ALMGEN_SCRIPTS|release/\.almgen/scripts)/(\w+)\.py"? (\S+)([^\n]*)')


class _Status:
    """Jobs see every job before succeeded; steps see a status that lets every status-guarded
    step through (Azure DevOps's runtime conditions are not evaluated either): inputs alone
    decide what an environment runs."""

    def __init__(self, failure: bool) -> None:
        self._failure = failure

    def success(self) -> bool:
        return True

    def failure(self) -> bool:
        return self._failure

    def cancelled(self) -> bool:
        return False


def _calls(script: str, env: dict[str, str] | None = None) -> list[str]:
    """Each runtime script a step runs, with its subcommand and flag names (values differ by syntax).

    A subcommand the step's environment names (`"$ALMGEN_GATE"`) reads as its value.
    """
    for name, value in (env or {}).items():
        script = script.replace(f'"${name}"', str(value)).replace(f"${name}", str(value))
    return [
        f"{name} {sub} " + " ".join(sorted(set(re.findall(r"--[\w-]+", rest))))
        for name, sub, rest in SCRIPT.findall(script)
    ]


def _github_graph(repo: Path, service: str) -> dict[str, list[tuple[str, int, list[str]]]]:
    from generator.rehearse.github.expressions import Scope
    from generator.rehearse.github.templates import condition, interpolate

    yaml = YAML(typ="safe")
    cd = yaml.load((repo / f".github/workflows/{service}-cd.yml").read_text("utf-8"))
    deploy = yaml.load((repo / f".github/workflows/{service}-deploy.yml").read_text("utf-8"))
    graphs = {}
    for caller in cd["jobs"].values():
        if "uses" not in caller:
            continue
        inputs = dict(caller["with"])
        contexts = {"inputs": inputs, "github": {"run_attempt": "1"}, "needs": {}, "vars": {}}
        scope, steps_scope = Scope(contexts, _Status(False)), Scope(contexts, _Status(True))
        # the rollback job runs after a failure of a rollout whose jobs ran: it is in the graph too
        ran = {"needs": {job_id: {"result": "success"} for job_id in deploy["jobs"]}}
        failed_scope = Scope({**contexts, **ran}, _Status(True))
        jobs = []
        for job_id, job in deploy["jobs"].items():
            if job_id == "approval":  # GitHub's reviewers, once; Azure DevOps checks the stage
                assert not [s for s in job["steps"] if "python" in s.get("run", "")]
                continue
            if not (condition(job.get("if"), scope) or condition(job.get("if"), failed_scope)):
                continue
            steps = [s for s in job["steps"] if "run" in s and condition(s.get("if"), steps_scope)]
            calls = [c for s in steps for c in _calls(interpolate(s["run"], scope), s.get("env"))]
            jobs.append(
                (job_id.replace("-", ""), int(interpolate(str(job["timeout-minutes"]), scope)), calls)
            )
        graphs[inputs["environment"]] = jobs
    return graphs


def _script(step: dict[str, Any]) -> str:
    return str((step.get("inputs") or {}).get("inlineScript") or step.get("script") or "")


def _devops_graph(repo: Path, service: str) -> dict[str, list[tuple[str, int, list[str]]]]:
    from generator.rehearse.devops import expand

    expanded = expand(repo, f".azure-pipelines/{service}.yml")
    graphs: dict[str, list[tuple[str, int, list[str]]]] = {}
    for stage in expanded["stages"]:
        name = str(stage["stage"])
        if name == "Build":
            continue
        env = name.split("_", 1)[1]
        for job in stage["jobs"]:
            job_id = str(job.get("deployment") or job.get("job")).lower()
            steps = job.get("strategy", {}).get("runOnce", {}).get("deploy", {}).get("steps") or job["steps"]
            calls = [c for step in steps for c in _calls(_script(step), step.get("env"))]
            graphs.setdefault(env, []).append((job_id, int(job["timeoutInMinutes"]), calls))
    return graphs


@pytest.mark.parametrize("sample", BOTH)
def test_both_targets_run_the_same_job_graph(sample: str, tmp_path: Path) -> None:
    """Jobs in order, their timeouts, and every runtime script call with its flags: the same."""
    import shutil
    import subprocess
    import sys

    repo = tmp_path / sample
    shutil.copytree(SAMPLES / sample, repo, ignore=shutil.ignore_patterns("__pycache__"))
    generate = [sys.executable, "-m", "generator", "generate", str(repo / "almgen.yaml")]
    subprocess.run(generate, check=True, capture_output=True)
    service = YAML(typ="safe").load((repo / "almgen.yaml").read_text("utf-8"))["service"]["name"]
    github, devops = _github_graph(repo, service), _devops_graph(repo, service)
    assert github == devops
    prod = [job for job, _, _ in github["prod"]]
    assert prod == ["gates", "provision", "canary1", "canary2", "canary3", "canary4", "finish", "rollback"]
    assert any("traffic shift" in call for job in github["prod"] for call in job[2])
