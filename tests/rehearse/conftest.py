"""What the rehearsal scenario modules share: one first deploy per sample and target per worker.

A first deploy is the most expensive part of a scenario; every scenario starts from a copy of it
(`generator.rehearse.driver.fork`). Under `pytest -n auto --dist loadfile` (scripts/test.sh) a
module's scenarios run on one worker and share its deploys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from generator.rehearse.driver import Phase, Stage, first_deploy
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES
from tests.helpers import write_tree

GITHUB, DEVOPS = "github-actions", "azure-devops"
TARGETS = [GITHUB, DEVOPS]

Deployed = Callable[[str, str], tuple[Stage, Phase]]


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """`deployed(sample, target)`: the sample's first deploy on the target, run once per worker."""
    cache: dict[tuple[str, str], tuple[Stage, Phase]] = {}

    def get(sample: str, target: str) -> tuple[Stage, Phase]:
        if (sample, target) not in cache:
            spec = load_spec(SAMPLES / sample / "almgen.yaml")
            cache[sample, target] = first_deploy(spec, target, tmp_path_factory.mktemp(f"{sample}-{target}"))
        return cache[sample, target]

    yield get


def first_deploys(
    factory: pytest.TempPathFactory, name: str, files: dict[str, str | bytes]
) -> dict[str, Stage]:
    """A test-local spec's first deploy on each target, from an empty subscription: FILES (its
    `almgen.yaml` and what it names) in a folder of its own, NAME in the folders' names."""
    folder = factory.mktemp(f"{name}-spec")
    write_tree(folder, files)
    spec = load_spec(folder / "almgen.yaml")
    stages = {}
    for target in TARGETS:
        stage, phase = first_deploy(spec, target, factory.mktemp(f"{name}-{target}"))
        assert phase.conclusion == "success", phase.report
        stages[target] = stage
    return stages


def shares(stage: Stage, env: str, since: float) -> list[dict[str, int]]:
    """Every traffic split the simulated Azure applied in ENV since minute SINCE, in order."""
    return [
        event["shares"]
        for event in stage.world.timeline()
        if event["kind"] == "azure-traffic" and event["env"] == env and event["minute"] >= since
    ]


def azure_state(stage: Stage) -> dict[str, Any]:
    """The simulated Azure's whole state, as it is now."""
    return dict(json.loads(stage.world.azure_file.read_text("utf-8")))


def records(stage: Stage, env: str) -> list[dict[str, Any]]:
    """The release records kept in ENV's record store, oldest first."""
    state = azure_state(stage)
    groups = state["groups"]
    kept = []
    for storage in state.get("storage", {}).values():
        if groups[storage["group"]]["tags"]["environment"] != env:
            continue
        blobs = storage["containers"]["release-records"]["blobs"]
        kept += [
            (blob["created"], json.loads(blob["content"]))
            for name, blob in blobs.items()
            if name.endswith("release-record.json")
        ]
    return [record for _, record in sorted(kept, key=lambda pair: pair[0])]
