"""Agents are versioned: a release tests a candidate version before it goes live, a failure after that
puts the previous version back, a `git revert` makes the earlier definition live again.

The enterprise sample (agent `support` with azure_ai_search and code_interpreter, canary prod in two
regions) on both targets, from one first deploy each: a release whose prod validation test fails, the
same commit again, then its revert. Assertions read the simulated Azure: the Agent Service's
versions of each region and the App Configuration key `almgen:agent:support` that says which is live.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure import agents as agent_service
from generator.rehearse.azure.store import env_of_group
from generator.rehearse.driver import Phase, Stage, fork, next_release, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, Deployed

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


def _agents(phase: Phase, env: str) -> dict[str, dict[str, Any]]:
    """Per region of ENV: the support agent (live Foundry version, its semver and model, every version)."""
    regions = phase.after["environments"][env]
    return {location: region["agents"]["support"] for location, region in sorted(regions.items())}


def _serving(phase: Phase, env: str, region: str, model: str) -> str:
    shares = phase.after["environments"][env][region]["models"][model]["shares"]
    (deployment,) = [name for name, share in shares.items() if share == 100]
    return str(deployment)


def _bound(phase: Phase, env: str, region: str) -> str:
    """What the live version binds: the candidate colour, made live by the swap, in staging (blue-green,
    tested before its swap); elsewhere chat's API in the AI gateway, through the project's connection."""
    return _serving(phase, env, region, "chat") if env == "staging" else "ai-gateway/chat"


def _assert_follows_the_pool(phase: Phase, env: str) -> None:
    """The agent's calls land where chat's do: the members of its pool, weight for weight."""
    for region, agent in _agents(phase, env).items():
        assert agent["shares"] == phase.after["environments"][env][region]["models"]["chat"]["shares"], region


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _live_lineage(stage: Stage, env: str) -> dict[str, Any]:
    """`almgen lineage --live --env ENV --format json` against the simulated Azure."""
    spec = stage.repo / stage.spec.source.name
    command = [
        sys.executable,
        "-m",
        "generator",
        "lineage",
        str(spec),
        "--live",
        "--env",
        env,
        "--format",
        "json",
    ]
    done = subprocess.run(
        command, env=stage.world.environ(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (found,) = json.loads(done.stdout)["environments"]
    return dict(found)


def _revert(repo: Path) -> None:
    identity = ["-c", "user.name=almgen rehearse", "-c", "user.email=rehearse@almgen.invalid"]
    subprocess.run(
        ["git", *identity, "revert", "--no-edit", "HEAD"], cwd=repo, check=True, capture_output=True
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_failed_release_keeps_the_previous_agent_version_live_and_a_revert_goes_back(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    original, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    stage: Stage = fork(original, tmp_path)
    envs = [env.name for env in stage.spec.environments]
    for env in envs:  # the first deploy: version 1, made for the spec's 2.1.0, is live everywhere
        for region, agent in _agents(first, env).items():
            assert (agent["live"], agent["version"], agent["versions"]) == ("1", "2.1.0", {"1": "2.1.0"}), (
                region
            )

    # a release whose prod validation test fails: the candidate was created, tested, never made live
    next_release(stage.repo, stage.spec.source.name)
    failed = run_phase(stage, "release", parse_faults(("prod:tests=validation:fail",), stage.spec))
    assert failed.conclusion == "failure", failed.report
    for region, agent in _agents(failed, "prod").items():
        assert (agent["live"], agent["version"]) == ("1", "2.1.0"), region  # the previous version serves
        assert agent["versions"] == {"1": "2.1.0", "2": "2.1.1"}, region  # the candidate exists
    for env in ("dev", "staging"):  # the environments before prod took the release
        for region, agent in _agents(failed, env).items():
            assert (agent["live"], agent["version"]) == ("2", "2.1.1"), region
            assert agent["model"] == _bound(failed, env, region), region
        _assert_follows_the_pool(failed, env)

    # the same commit again, passing: prod's candidate is the one already made (same definition)
    again = run_phase(stage, "again", [])
    assert again.conclusion == "success", again.report
    for region, agent in _agents(again, "prod").items():
        assert (agent["live"], agent["version"]) == ("2", "2.1.1"), region
        assert agent["versions"] == {"1": "2.1.0", "2": "2.1.1"}, region  # reused, not made again
        assert agent["model"] == _bound(again, "prod", region), region
    _assert_follows_the_pool(again, "prod")

    # git revert: the earlier definition (2.1.0, bound to the colour that serves the earlier model
    # version again) is version 1's: it goes live again, nothing new is made, nothing is refused
    _revert(stage.repo)
    reverted = run_phase(stage, "revert", [])
    assert reverted.conclusion == "success", reverted.report
    for env in envs:
        for region, agent in _agents(reverted, env).items():
            assert (agent["live"], agent["version"]) == ("1", "2.1.0"), region
            assert agent["versions"] == {"1": "2.1.0", "2": "2.1.1"}, region
            assert agent["model"] == _bound(reverted, env, region) == _agents(first, env)[region]["model"]
        _assert_follows_the_pool(reverted, env)

    # lineage --live answers from Azure: which version is live in each region, made from what, since when
    prod = _live_lineage(stage, "prod")
    assert prod["differences"] == []
    for region in prod["regions"]:
        (agent,) = region["agents"]
        assert (agent["name"], agent["live"], agent["semver"]) == ("support", "1", "2.1.0")
        assert agent["model"] == _bound(reverted, "prod", region["region"])
        assert agent["gitCommit"] == _git(stage.repo, "rev-parse", "HEAD~2")  # made by the first deploy
        assert agent["release"]["commit"] == _git(stage.repo, "rev-parse", "HEAD")  # live since the revert
        assert agent["release"]["since"]


@pytest.mark.parametrize("target", [GITHUB])
def test_a_live_switch_failing_in_the_second_region_puts_the_first_back(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """The App Configuration write of swedencentral is refused after eastus2 was switched: the restore
    step puts eastus2 back, so prod's two regions never serve different agent versions for long."""
    original, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    stage: Stage = fork(original, tmp_path)
    next_release(stage.repo, stage.spec.source.name)
    faults = parse_faults(("prod:agents:live=swedencentral:fail",), stage.spec)
    phase = run_phase(stage, "live switch fails", faults)
    verdict = judge(stage.spec, phase)  # prod serves what it served before: models and agents
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    for region, agent in _agents(phase, "prod").items():
        assert (agent["live"], agent["version"]) == ("1", "2.1.0"), region
    calls = [
        json.loads(line)["argv"]
        for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    pointer = [
        (argv[argv.index("--endpoint") + 1], argv[argv.index("--value") + 1])
        for argv in calls
        if argv[:3] == ["appconfig", "kv", "set"]
        and argv[argv.index("--key") + 1] == "almgen:agent:support"
        and argv[argv.index("--label") + 1] == "prod"
    ]
    # the primary region switched, the second refused, the primary put back; the second never written
    assert [value for _, value in pointer[-3:]] == ["2", "2", "1"]
    assert pointer[-3][0] == pointer[-1][0] != pointer[-2][0]
    from tests.rehearse import azcli

    if azcli.available():  # the switch, the refusal and the restore are az lines the real CLI accepts
        assert azcli.rejected(calls) == []


@pytest.mark.parametrize("target", [GITHUB])
def test_an_agents_calls_follow_the_canary_weights_and_a_rollback_restores_them(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """prod's agent is bound to chat's API in the gateway: each canary step moves its calls with the
    model's (10 %, then 25 % to the candidate colour), and the rollback after the breach at step 2
    takes them back, while the agent version that is live never changes."""
    original, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    stage: Stage = fork(original, tmp_path)
    before = {region: agent["shares"] for region, agent in _agents(first, "prod").items()}
    assert before == {region: {"chat-blue": 100} for region in before}
    start = stage.world.minutes()
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, "release", parse_faults(("prod:chat:error-rate=8@step=2",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report

    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    (account,) = [
        a
        for a in state["accounts"].values()
        if a["location"] == "eastus2" and env_of_group(state, a["group"]) == "prod"
    ]
    live = next(v for v in account["agents"]["support"]["versions"] if v["version"] == "1")
    binding = live["definition"]["model"]
    assert binding == "ai-gateway/chat"
    steps = [
        t for t in state["traffic"] if (t["env"], t["region"], t["model"]) == ("prod", "eastus2", "chat")
    ]
    moved = [t for t in steps if t["minute"] >= start]
    followed = [agent_service.shares(state, account, binding, t["minute"]) for t in moved]
    assert followed == [t["shares"] for t in moved]
    assert followed[:3] == [
        {"chat-blue": 90, "chat-green": 10},
        {"chat-blue": 75, "chat-green": 25},
        {"chat-blue": 100},
    ]
    for region, agent in _agents(phase, "prod").items():  # rolled back: the live version, its calls
        assert (agent["live"], agent["shares"]) == ("1", before[region]), region
