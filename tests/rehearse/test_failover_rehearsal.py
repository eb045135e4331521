"""Failover between regions through the AI gateway, rehearsed.

The enterprise sample's prod has two regions, eastus2 (primary) and swedencentral, each with its
own gateway. After the region loop (main.bicep's gateway-failover modules) each gateway's pool of
a model holds its own region's deployments at priority 1 and the other region's serving deployment
at priority 2. With the fault `prod:region=eastus2:outage` every deployment in eastus2 answers 5xx:
the circuit breakers of eastus2's priority-1 backends trip, and requests through eastus2's gateway
are answered by swedencentral's deployment. The release's canary breaches in eastus2 (its
candidate fails there too) and is rolled back: the pools come back with both priorities.
Assertions read the simulated Azure's state (rehearse/azure/gateway.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure.snapshot import traffic_snapshot
from generator.rehearse.driver import Stage, fork, next_release, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, Deployed

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

OTHER = {"eastus2": "swedencentral", "swedencentral": "eastus2"}


def gateways(stage: Stage, env: str) -> dict[str, dict[str, Any]]:
    """ENV's simulated gateways by region."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    return {g["location"]: g for g in (state.get("gateways") or {}).values() if g["env"] == env}


def answered(stage: Stage, env: str, model: str) -> dict[str, dict[str, int]]:
    """Per region of ENV: which region's deployments answer MODEL's requests through its gateway."""
    regions = traffic_snapshot(stage.world)["environments"][env]
    return {region: where["models"][model]["answered"] for region, where in regions.items()}


def az_calls(stage: Stage) -> list[list[str]]:
    lines = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["argv"] for line in lines]


def assert_both_priorities(stage: Stage) -> None:
    """Each prod gateway's pools: its own blue at priority 1, the other region's blue at priority 2."""
    found = gateways(stage, "prod")
    assert set(found) == {"eastus2", "swedencentral"}
    for region, gateway in found.items():
        for model in ("chat", "embeddings"):
            assert gateway["pools"][model] == {f"{model}-blue": 100}, (region, model)
            remote = f"remote-{OTHER[region]}-{model}-blue"
            assert gateway["failover"][model] == {remote: 100}, (region, model)


@pytest.mark.parametrize("target", TARGETS)
def test_a_regional_outage_is_answered_by_the_other_region(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    base, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    stage = fork(base, tmp_path)
    assert_both_priorities(stage)  # the pools as deployed
    assert answered(stage, "prod", "chat") == {
        "eastus2": {"eastus2/chat-blue": 100},
        "swedencentral": {"swedencentral/chat-blue": 100},
    }
    start, calls_before = stage.world.minutes(), len(az_calls(stage))
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(("prod:region=eastus2:outage",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    # through eastus2's gateway, swedencentral's deployment answers; swedencentral answers its own
    assert answered(stage, "prod", "chat") == {
        "eastus2": {"swedencentral/chat-blue": 100},
        "swedencentral": {"swedencentral/chat-blue": 100},
    }
    assert_both_priorities(stage)  # rolled back with both priorities
    prod = tuple(g["name"] for g in gateways(stage, "prod").values())
    patches = [
        c
        for c in az_calls(stage)[calls_before:]
        if c[:1] == ["rest"] and "patch" in c and any(f"/{name}/backends/pool-" in str(c) for name in prod)
    ]
    assert patches, "the canary never changed a pool"
    for call in patches:  # every move kept the other region at priority 2
        services = json.loads(call[call.index("--body") + 1])["properties"]["pool"]["services"]
        assert [s["priority"] for s in services if "/backends/remote-" in s["id"]] == [2], services
    green = [
        e["shares"].get("chat-green", 0)
        for e in stage.world.timeline()
        if e["kind"] == "azure-traffic"
        and (e["env"], e["region"], e["model"]) == ("prod", "eastus2", "chat")
        and e["minute"] >= start
    ]
    assert green == [10, 0], "the candidate fails in the outage: a breach at its first step, rolled back"


def serving(stage: Stage, env: str, model: str) -> dict[str, str]:
    """Per region of ENV: the deployment serving MODEL, as its own App Configuration says."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    found = {}
    for region, gateway in gateways(stage, env).items():
        store = next(s for s in state["stores"].values() if s["group"] == gateway["group"])
        found[region] = next(
            str(kv["value"])
            for kv in store["kv"].values()
            if kv["key"] == f"almgen:active:{model}" and kv["label"] == env
        )
    return found


def test_a_redeploy_keeps_priority_2_and_the_swap_moves_it_to_the_other_regions_colour(
    deployed: Deployed, tmp_path: Path
) -> None:
    """The release re-deploys prod: gateway.bicep writes each pool with the other region at
    priority 2 (from the live state's `regions`), so no write leaves a pool without failover. The
    canary then makes chat-green serve in both regions; each pool's priority 2 follows the other
    region's serving deployment, and an outage of eastus2 is answered by swedencentral's green."""
    base, first = deployed("enterprise", GITHUB)
    assert first.conclusion == "success", first.report
    stage = fork(base, tmp_path)
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", [])
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    writes = [
        e
        for e in stage.world.timeline()
        if e["kind"] == "azure-gateway-write" and e["env"] == "prod" and e["minute"] >= start
    ]
    assert sorted(e["region"] for e in writes) == ["eastus2", "swedencentral"]  # prod was re-deployed
    for write in writes:  # the deploy's own write of the pools already had the other region
        other = OTHER[write["region"]]
        assert write["failover"] == {m: {f"remote-{other}-{m}-blue": 100} for m in ("chat", "embeddings")}
    assert serving(stage, "prod", "chat") == {"eastus2": "chat-green", "swedencentral": "chat-green"}
    for region, gateway in gateways(stage, "prod").items():
        assert gateway["failover"]["chat"] == {f"remote-{OTHER[region]}-chat-green": 100}, region
    stage.world.set_faults([f.data for f in parse_faults(("prod:region=eastus2:outage",), stage.spec)])
    assert answered(stage, "prod", "chat") == {
        "eastus2": {"swedencentral/chat-green": 100},
        "swedencentral": {"swedencentral/chat-green": 100},
    }
