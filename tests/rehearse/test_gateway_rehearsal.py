"""The AI gateway rehearsed: its pool's weights are what serves, and a failed canary puts them back.

The enterprise sample's prod rolls chat out by canary (10 → 25 → 50 → 100) through the gateway in
two regions. These scenarios read the simulated gateway's pools themselves, not the App
Configuration keys, and run on both targets. Health is judged from the gateway's request logs
(one Log Analytics query per region and check): a real p95, not the mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.driver import Stage, fork, next_release, run_phase
from tests.rehearse import azcli
from tests.rehearse.conftest import TARGETS, Deployed

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


def pools(stage: Stage, env: str) -> dict[str, dict[str, dict[str, int]]]:
    """Per region of ENV, each model's pool weights in the simulated gateway."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    return {
        gateway["location"]: gateway["pools"]
        for gateway in (state.get("gateways") or {}).values()
        if gateway["env"] == env
    }


def moves(stage: Stage, env: str, model: str, since: float) -> list[dict[str, Any]]:
    return [
        event["shares"]
        for event in stage.world.timeline()
        if event["kind"] == "azure-traffic"
        and (event["env"], event["model"], event["region"]) == (env, model, "eastus2")
        and event["minute"] >= since
    ]


def _stage(deployed: Deployed, target: str, into: Path) -> Stage:
    stage, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    return fork(stage, into)


@pytest.mark.parametrize("target", TARGETS)
def test_a_first_deploy_puts_every_model_behind_the_gateway(target: str, deployed: Deployed) -> None:
    stage, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    for env in stage.spec.environments:
        assert set(pools(stage, env.name)) == set(env.regions)
        for region, by_model in pools(stage, env.name).items():
            blue = {
                m.name: {f"{m.name}-blue" if env.strategy.type != "direct" else m.name: 100}
                for m in stage.spec.foundation_models
            }
            assert by_model == blue, (env.name, region)


@pytest.mark.parametrize("target", TARGETS)
def test_a_canary_breach_at_step_2_restores_the_gateway_weights_exactly(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _stage(deployed, target, tmp_path)
    before = pools(stage, "prod")
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(("prod:chat:error-rate=8@step=2",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    assert pools(stage, "prod") == before  # both regions, both models, weight for weight
    # the pool really moved: 10 %, then 25 % to the candidate, then back
    shares = moves(stage, "prod", "chat", start)
    assert shares[:3] == [
        {"chat-blue": 90, "chat-green": 10},
        {"chat-blue": 75, "chat-green": 25},
        before["eastus2"]["chat"],
    ]
    calls = [
        json.loads(line)["argv"]
        for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    patches = [
        c for c in calls if c[:1] == ["rest"] and "patch" in c and any("/backends/pool-chat" in a for a in c)
    ]
    assert patches, "the pipeline never changed the gateway's pool"


def az_calls(stage: Stage) -> list[list[str]]:
    lines = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["argv"] for line in lines]


@pytest.mark.parametrize("target", TARGETS)
def test_a_latency_breach_at_step_2_is_seen_as_a_real_p95_and_restores_the_weights(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """From step 2 the candidate's requests take 1500 ms on average: under prod's 2500 ms, so the
    mean the metrics give would pass it; the gateway logs' p95 is about 3000 ms (rehearse/azure/
    gateway.py: log-normal, sigma 0.5), a breach. The pool goes back to its weights exactly."""
    stage = _stage(deployed, target, tmp_path)
    before = pools(stage, "prod")
    start = stage.world.minutes()
    calls_before = len(az_calls(stage))
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(("prod:chat:latency-p95=1500@step=2",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    assert pools(stage, "prod") == before
    shares = moves(stage, "prod", "chat", start)
    assert shares[:3] == [
        {"chat-blue": 90, "chat-green": 10},
        {"chat-blue": 75, "chat-green": 25},
        before["eastus2"]["chat"],
    ]
    queries = [
        c
        for c in az_calls(stage)[calls_before:]
        if c[:1] == ["rest"] and any(a.startswith("https://api.loganalytics.io/") for a in c)
    ]
    assert queries, "no health check read the gateway's logs"
    assert not any(
        c[:3] == ["monitor", "metrics", "list"] and "ModelDeploymentName eq 'chat-green'" in " ".join(c)
        for c in az_calls(stage)[calls_before:]
    ), "a foundation model behind the gateway was judged from Azure Monitor metrics"
    assert "p95 latency (gateway logs)" in phase.report
    if azcli.available():
        assert azcli.rejected(queries) == []
