"""During the rollout (issue 11): what the health check counts as health, how blue-green watches,
and what a colour that stands by costs. Generated pipelines run end to end against the simulated
Azure, on both targets, from a copy (`fork`) of one first deploy of the enterprise sample per target
(staging: blue-green with the default 10-minute bake; prod: canary 10 → 25 → 50 → 100, two
regions), and of the custom-model sample (Azure DevOps; staging: blue-green of an Azure ML endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure.snapshot import serving_view
from generator.rehearse.driver import Phase, Stage, edit_spec, fork, next_release, run_phase
from tests.rehearse.conftest import DEVOPS, TARGETS, Deployed

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


def _forked(deployed: Deployed, target: str, into: Path, sample: str = "enterprise") -> Stage:
    stage, first = deployed(sample, target)
    assert first.conclusion == "success", first.report
    return fork(stage, into)


def _release(stage: Stage, *faults: str) -> Phase:
    next_release(stage.repo, stage.spec.source.name)
    return run_phase(stage, "release", parse_faults(faults, stage.spec))


def _rolled_back(stage: Stage, phase: Phase, env: str) -> None:
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    before, after = serving_view(phase.before, env), serving_view(phase.after, env)
    assert before == after and before, f"{env}: {before} became {after}"


def _events(stage: Stage, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == kind and e["minute"] >= since]


def _watched_minutes(stage: Stage, since: float) -> list[float]:
    """How long each bake and health-check step since SINCE took (from the step before it in its job;
    the Azure DevOps runner records steps)."""
    last: dict[str, float] = {}
    spent = []
    for event in _events(stage, "step", since):
        name = str(event.get("step", ""))
        if name.startswith(("Bake", "Check the health")):
            spent.append(round(event["minute"] - last.get(event["job"], event["minute"]), 1))
        last[event["job"]] = event["minute"]
    return spent


def _set_strategy(env_name: str, **values: Any) -> Callable[[Any], None]:
    def edit(data: Any) -> None:
        strategy = next(e for e in data["environments"] if e["name"] == env_name)["strategy"]
        strategy.update(values)

    return edit


# ---- 1. no traffic is not health -------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_a_canary_step_without_traffic_waits_then_rolls_back(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """Nobody calls the candidate from its second step on: the check waits, then fails closed."""
    stage = _forked(deployed, target, tmp_path)
    start = stage.world.minutes()
    phase = _release(stage, "prod:chat:requests=0@step=2")
    _rolled_back(stage, phase, "prod")
    assert serving_view(phase.before, "staging") != serving_view(phase.after, "staging")  # staging took it
    assert stage.world.minutes() - start > 15 + 15 + 15  # two bakes, then the wait for requests


@pytest.mark.parametrize("target", TARGETS)
def test_a_swap_nobody_calls_rolls_back(target: str, deployed: Deployed, tmp_path: Path) -> None:
    stage = _forked(deployed, target, tmp_path)
    phase = _release(stage, "staging:embeddings:requests=0@step=1")
    _rolled_back(stage, phase, "staging")  # and prod untouched (judge)
    swaps = [e for e in _events(stage, "azure-traffic") if e["env"] == "staging"]
    assert swaps  # the swap happened, and was put back


def test_a_custom_model_swap_is_judged_on_its_requests_per_minute(deployed: Deployed, tmp_path: Path) -> None:
    """Azure ML's RequestsPerMinute answers Average only: read as Total, the swap never goes live."""
    stage = _forked(deployed, DEVOPS, tmp_path, "custom-model-devops")
    released = _release(stage)
    assert released.conclusion == "success", released.report
    before, after = serving_view(released.before, "staging"), serving_view(released.after, "staging")
    assert after and before != after  # the swapped colour took all traffic
    for models in after.values():
        assert all(list(routing["shares"].values()) == [100] for routing in models.values())


# ---- 2. blue-green watches a real window -----------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_a_breach_after_the_swap_restores_the_previous_colour(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _forked(deployed, target, tmp_path)
    phase = _release(stage, "staging:chat:error-rate=9@step=1")
    _rolled_back(stage, phase, "staging")
    swaps = [e for e in _events(stage, "azure-traffic") if e["env"] == "staging" and e["model"] == "chat"]
    assert len(swaps) >= 2  # swapped in, then put back


@pytest.mark.parametrize("target", TARGETS)
def test_a_swap_bake_longer_than_a_login_judges_on_a_fresh_one(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """A 90-minute blue-green bake outlives the 60-minute token: the judgment logs in again."""
    stage = _forked(deployed, target, tmp_path)
    edit_spec(stage.repo / stage.spec.source.name, _set_strategy("staging", bakeMinutes=90))
    start = stage.world.minutes()
    phase = _release(stage, "staging:chat:error-rate=9@step=1")
    _rolled_back(stage, phase, "staging")
    assert stage.world.minutes() - start >= 90  # the bake was waited
    expired = [e for e in stage.world.timeline() if "AADSTS700024" in json.dumps(e)]
    assert expired == []  # nothing ran on an expired login: the breach itself rolled back


# ---- 3. nothing new moves nothing; the standby colour runs small -----------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_the_standby_colour_runs_small_and_is_scaled_up_before_it_serves(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _forked(deployed, target, tmp_path)
    spec = stage.spec
    full: dict[tuple[str, str], int] = {}
    small: dict[str, int] = {}
    for model in spec.foundation_models:
        assert model.capacity is not None and model.standby_capacity is not None
        full |= {(e.name, model.name): model.capacity[e.name] for e in spec.environments}
        small[model.name] = model.standby_capacity
    assert set(small.values()) == {5, 1}  # the sample's chat sets its own; embeddings has the default
    started = stage.world.minutes()
    released = _release(stage)
    assert released.conclusion == "success", released.report
    for env in ("staging", "prod"):
        for location, region in released.after["environments"][env].items():
            for model, routing in region["models"].items():
                if routing["kind"] != "foundation":
                    continue
                (serving,) = routing["shares"]
                standby = f"{model}-green" if serving.endswith("-blue") else f"{model}-blue"
                assert region["capacities"][serving] == full[env, model], (env, location, model)
                assert region["capacities"][standby] == small[model], (env, location, model)
    # every deployment given traffic during the release ran at full capacity when it got it
    capacity: dict[tuple[str, str, str], int] = {}
    for event in stage.world.timeline():
        env, region = str(event.get("env", "")), str(event.get("region", ""))
        if event["kind"] == "azure-capacity":
            capacity[env, region, event["deployment"]] = event["capacity"]
        elif event["kind"] == "azure-traffic" and event["minute"] >= started and event["env"] != "dev":
            for deployment, share in event["shares"].items():
                if share > 0:
                    wanted = full[event["env"], event["model"]]
                    assert capacity[env, region, deployment] == wanted, (event, capacity)


@pytest.mark.parametrize("target", TARGETS)
def test_the_same_commit_again_moves_nothing_bakes_nothing_and_keeps_the_standby_small(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _forked(deployed, target, tmp_path)
    released = _release(stage)
    assert released.conclusion == "success", released.report
    start = stage.world.minutes()
    again = run_phase(stage, "again", [])
    assert again.conclusion == "success", again.report
    assert _events(stage, "azure-traffic", start) == []  # no swap, no canary step
    assert stage.world.minutes() - start < 30  # no bake (10 in staging, 4 x 15 in prod), no wait
    for env in ("staging", "prod"):
        for region in again.after["environments"][env].values():
            assert sorted(region["capacities"].values())[0] == 1  # the standby stayed small
        assert serving_view(again.after, env) == serving_view(again.before, env)


def test_the_same_commit_again_on_a_custom_model_blue_green_moves_nothing(
    deployed: Deployed, tmp_path: Path
) -> None:
    stage = _forked(deployed, DEVOPS, tmp_path, "custom-model-devops")
    released = _release(stage)
    assert released.conclusion == "success", released.report
    start = stage.world.minutes()
    again = run_phase(stage, "again", [])
    assert again.conclusion == "success", again.report
    assert _events(stage, "azure-traffic", start) == []
    watched = _watched_minutes(stage, start)
    assert len(watched) >= 2 + 3 * 2 and max(watched) < 1  # staging's swap and prod's steps: no bake
