"""Custom models behind the AI gateway failing over between regions, rehearsed.

A variant of the custom-model-devops sample (tests/custom_gateway.py): `gateway: {type: apim}` and
prod in westeurope (primary) and northeurope. Each region's gateway fronts the fraud model's online
endpoint at priority 1 and, after the region loop, the other region's endpoint at priority 2. With
the fault `prod:region=westeurope:outage` every deployment in westeurope answers 5xx: requests
through westeurope's gateway are answered by northeurope's endpoint. The release's canary (the
endpoint's own traffic split, not the gateway's) breaches in westeurope and is rolled back: the
endpoints' traffic is exactly what it was. Staging's blue-green, whose swapped candidate errs, is
rolled back the same way. Assertions read the simulated Azure's state (rehearse/azure/gateway.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure.snapshot import traffic_snapshot
from generator.rehearse.driver import Phase, Stage, first_deploy, fork, next_release, run_phase
from generator.spec.validate import load_spec
from tests.custom_gateway import custom_gateway_sample

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

TARGET = "azure-devops"  # the sample's only pipeline target


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stage, Phase]:
    spec = load_spec(custom_gateway_sample(tmp_path_factory.mktemp("sample") / "svc"))
    return first_deploy(spec, TARGET, tmp_path_factory.mktemp("custom-gateway"))


def regions(stage: Stage, env: str) -> dict[str, dict[str, Any]]:
    """Per region of ENV: the fraud model as the snapshot sees it (endpoint, shares, answered)."""
    found = traffic_snapshot(stage.world)["environments"][env]
    return {region: where["models"]["fraud"] for region, where in found.items()}


def test_a_regional_outage_is_answered_by_the_other_regions_endpoint(
    deployed: tuple[Stage, Phase], tmp_path: Path
) -> None:
    base, first = deployed
    assert first.conclusion == "success", first.report
    stage = fork(base, tmp_path)
    before = regions(stage, "prod")
    assert set(before) == {"westeurope", "northeurope"}
    endpoint = {region: fraud["endpoint"] for region, fraud in before.items()}
    for region, fraud in before.items():  # each gateway answers from its own region's endpoint
        assert fraud["kind"] == "custom" and fraud["gateway"], fraud
        assert fraud["answered"] == {f"{region}/{endpoint[region]}": 100}
        assert fraud["shares"], "the endpoint serves a colour"
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(("prod:region=westeurope:outage",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    after = regions(stage, "prod")
    # through westeurope's gateway, northeurope's endpoint answers; northeurope answers its own
    assert after["westeurope"]["answered"] == {f"northeurope/{endpoint['northeurope']}": 100}
    assert after["northeurope"]["answered"] == {f"northeurope/{endpoint['northeurope']}": 100}
    for region in before:  # the canary was the endpoint's split, and its rollback restores it exactly
        assert after[region]["shares"] == before[region]["shares"], region
    assert split(stage, "prod", "westeurope", start), "the canary never split westeurope's endpoint"


def split(stage: Stage, env: str, region: str, start: float) -> bool:
    """Whether the fraud endpoint of ENV in REGION served two colours at once since START."""
    return any(
        len([share for share in e["shares"].values() if share > 0]) > 1
        for e in stage.world.timeline()
        if e["kind"] == "azure-traffic"
        and (e["env"], e["region"], e["model"]) == (env, region, "fraud")
        and e["minute"] >= start
    )


def test_a_blue_green_rollback_behind_the_gateway_restores_the_endpoint_traffic(
    deployed: tuple[Stage, Phase], tmp_path: Path
) -> None:
    base, first = deployed
    assert first.conclusion == "success", first.report
    stage = fork(base, tmp_path)
    before = regions(stage, "staging")
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    # the swap is the one traffic step: the candidate errs once it takes the traffic
    phase = run_phase(stage, "release", parse_faults(("staging:fraud:error-rate=50@step=1",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    after = regions(stage, "staging")
    assert {r: f["shares"] for r, f in after.items()} == {r: f["shares"] for r, f in before.items()}
    assert all(f["answered"] == {f"{r}/{f['endpoint']}": 100} for r, f in after.items())
    moves = [
        e["shares"]
        for e in stage.world.timeline()
        if e["kind"] == "azure-traffic"
        and (e["env"], e["model"]) == ("staging", "fraud")
        and e["minute"] >= start
    ]
    assert len(moves) >= 2, "the swap and its rollback moved the endpoint's traffic"
