"""GitHub Actions and Azure DevOps, read back from their files (not the Plan): the same
environments, in the same order, with the same gates before each, the same strategy steps and
the same tests after."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import SAMPLE_NAMES
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
