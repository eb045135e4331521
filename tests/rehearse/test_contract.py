"""The environment contract in a rehearsal: test and gate commands see the right values, on both targets.

The stand-ins of the spec's commands record the contract variables they were given (`contract`
on their timeline entries); these tests compare them with the simulated Azure: the ARM deployment
outputs of the environment called, its live routing, and its agents. A first deploy and a release
of the enterprise sample (two models, an agent, blue-green staging, canary prod in two regions)
cover live and candidate targets and agents that exist; each command's setup ran once per job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.driver import Phase, Stage, fork, next_release, run_phase
from tests.rehearse.conftest import TARGETS, Deployed

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

Rehearsed = tuple[Stage, Phase, Phase]


@pytest.fixture(scope="module", params=TARGETS)
def rehearsed(
    request: pytest.FixtureRequest, deployed: Deployed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rehearsed]:
    """The enterprise sample's first deploy and a release after it, on one target."""
    target = str(request.param)
    original, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    stage = fork(original, tmp_path_factory.mktemp(f"contract-{target}"))
    spec = stage.spec
    next_release(stage.repo, spec.source.name)
    release = run_phase(stage, "release", [])
    assert release.conclusion == "success", release.report
    yield stage, first, release


def _events(stage: Stage, phase: str, kind: str) -> list[dict[str, Any]]:
    """KIND events of one phase of the timeline, in order."""
    current, out = "", []
    for event in stage.world.timeline():
        if event["kind"] == "phase":
            current = event["name"]
        elif event["kind"] == kind and current == phase:
            out.append(event)
    return out


def _stacks(stage: Stage, env: str) -> list[dict[str, Any]]:
    """The regions of ENV's ARM deployment outputs in the simulated Azure."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    outputs = state["deployments"][f"{stage.spec.service.name}-{env}"]["properties"]["outputs"]
    return list(outputs["stacks"]["value"])


def _primary(stage: Stage, env: str) -> dict[str, Any]:
    """The primary region of ENV's ARM deployment outputs in the simulated Azure."""
    return next(s for s in _stacks(stage, env) if s["primary"])


def _agent_version(stage: Stage, env: str, name: str, version: str) -> dict[str, Any]:
    """Version VERSION of agent NAME in ENV's primary region, as the simulated Agent Service holds it."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    primary = _primary(stage, env)
    account = next(a for a in state["accounts"].values() if a["name"] == primary["aiServicesName"])
    return next(v for v in account["agents"][name]["versions"] if v["version"] == version)


def _assert_environment(stage: Stage, contract: dict[str, str], env: str) -> None:
    """The contract names ENV and, every value, the region it names."""
    primary = next(s for s in _stacks(stage, env) if s["location"] == contract["ALMGEN_REGION"])
    project = f"https://{primary['aiServicesName']}.services.ai.azure.com/api/projects/agents"
    assert contract["ALMGEN_ENVIRONMENT"] == env
    assert contract["ALMGEN_REGION"] == primary["location"]
    assert contract["ALMGEN_ENDPOINT"] == contract["AZURE_OPENAI_ENDPOINT"] == primary["aiServicesEndpoint"]
    assert contract["ALMGEN_APPCONFIG_ENDPOINT"] == primary["appConfigurationEndpoint"]
    assert contract["ALMGEN_GATEWAY_ENDPOINT"] == primary["gatewayEndpoint"]  # tests call through it
    assert contract["ALMGEN_PROJECT_ENDPOINT"] == contract["AZURE_AI_PROJECT_ENDPOINT"] == project
    assert contract["ALMGEN_AGENT_SUPPORT_NAME"] == "support"
    assert contract["AZURE_OPENAI_DEPLOYMENT"] == contract["ALMGEN_MODEL_CHAT_DEPLOYMENT"]


def test_every_test_and_gate_sees_the_environment_it_calls(rehearsed: Rehearsed) -> None:
    stage, _, _ = rehearsed
    for phase in ("first deploy", "release"):
        tests = _events(stage, phase, "test")
        assert sorted((t["env"], t["test"]) for t in tests) == [
            ("dev", "smoke"),
            ("prod", "validation"),  # prod has two regions: its test runs in each
            ("prod", "validation"),
            ("staging", "integration"),
            ("staging", "load"),
        ]
        prod = [t["contract"]["ALMGEN_REGION"] for t in tests if t["env"] == "prod"]
        assert prod == ["eastus2", "swedencentral"]  # every region, primary first
        for test in tests:
            _assert_environment(stage, test["contract"], test["env"])
        gates = _events(stage, phase, "gate-run")
        previous = {"staging": "dev", "prod": "staging"}
        assert sorted((g["env"], g["gate"]) for g in gates) == [
            ("prod", "evaluation"),
            ("prod", "safety"),
            ("staging", "evaluation"),
            ("staging", "safety"),
        ]
        for gate in gates:  # a gate evaluates the environment before the one it gates, as it is live
            assert gate["contract"]["ALMGEN_REGION"] == _primary(stage, previous[gate["env"]])["location"]
            _assert_environment(stage, gate["contract"], previous[gate["env"]])
            assert gate["contract"]["ALMGEN_TARGET"] == "live"


def test_a_first_deploy_tests_what_it_deployed(rehearsed: Rehearsed) -> None:
    stage, _, _ = rehearsed
    for test in _events(stage, "first deploy", "test"):
        contract = test["contract"]
        # blue-green starts on blue; direct has one deployment per model, named after it
        expected = "chat-blue" if test["env"] in ("staging", "prod") else "chat"
        assert (
            contract["ALMGEN_MODEL_CHAT_DEPLOYMENT"]
            == contract["ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT"]
            == expected
        )
        # the agent's first version is created before the tests and goes live after them
        assert contract["ALMGEN_AGENT_SUPPORT_VERSION"] == "1"
        assert contract["ALMGEN_AGENT_SUPPORT_LIVE_VERSION"] == ""
        assert contract["ALMGEN_AGENT_SUPPORT_ID"] == "support:1"


def test_a_release_tests_the_candidate_before_a_swap_and_the_live_one_after_a_canary(
    rehearsed: Rehearsed,
) -> None:
    stage, _, release = rehearsed
    by_env = {  # the primary region's
        t["env"]: t["contract"]
        for t in _events(stage, "release", "test")
        if t["contract"]["ALMGEN_REGION"] == _primary(stage, t["env"])["location"]
    }
    staging, prod = by_env["staging"], by_env["prod"]
    assert staging["ALMGEN_TARGET"] == "candidate"
    assert staging["ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT"] == "chat-blue"
    assert staging["ALMGEN_MODEL_CHAT_DEPLOYMENT"] == "chat-green"  # the new version, before the swap
    assert staging["ALMGEN_MODEL_EMBEDDINGS_DEPLOYMENT"] == "embeddings-green"
    assert prod["ALMGEN_TARGET"] == "live"
    serving = release.after["environments"]["prod"]
    region = serving[_primary(stage, "prod")["location"]]["models"]["chat"]["shares"]
    assert {name for name, share in region.items() if share == 100} == {prod["ALMGEN_MODEL_CHAT_DEPLOYMENT"]}
    assert prod["ALMGEN_MODEL_CHAT_DEPLOYMENT"] == prod["ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT"] == "chat-green"
    for env, contract in by_env.items():  # the tests call the release's candidate; the first one is live
        assert contract["ALMGEN_AGENT_SUPPORT_VERSION"] == "2"
        assert contract["ALMGEN_AGENT_SUPPORT_LIVE_VERSION"] == "1"
        candidate = _agent_version(stage, env, "support", "2")
        assert candidate["metadata"]["version"] == "2.1.1"
        # bound to what the tests call: the candidate colour before a swap; elsewhere the model's API
        # in the gateway (its pool serves the live deployment) through the project's connection
        bound = contract["ALMGEN_MODEL_CHAT_DEPLOYMENT"] if env == "staging" else "ai-gateway/chat"
        assert candidate["definition"]["model"] == bound
        primary = _primary(stage, env)["location"]
        assert release.after["environments"][env][primary]["agents"]["support"]["live"] == "2"
    for gate in _events(stage, "release", "gate-run"):  # gates call what is live where they evaluate
        contract = gate["contract"]
        assert (
            contract["ALMGEN_AGENT_SUPPORT_VERSION"] == contract["ALMGEN_AGENT_SUPPORT_LIVE_VERSION"] == "2"
        )


def test_each_setup_runs_once_per_job(rehearsed: Rehearsed) -> None:
    stage, _, _ = rehearsed
    installs = [" ".join(e["packages"]) for e in _events(stage, "first deploy", "install")]
    # a finish job per environment (staging's two tests share one), a gates job before staging and prod
    assert installs.count("install -r tests/requirements.txt") == 3
    assert installs.count("install -r evals/requirements.txt") == 2
    assert Path(stage.repo / "tests" / "requirements.txt").is_file()
