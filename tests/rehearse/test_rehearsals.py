"""The scenario matrix: generated pipelines run end to end against the simulated Azure.

Each scenario asserts the final state of the simulated Azure (what serves customers, per
environment, region and model), not log lines.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator.commands.rehearse import Rehearsal, parse_faults, rehearse
from generator.rehearse.azure.snapshot import serving_view
from generator.spec.model import Spec
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES

GITHUB = "github-actions"
pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


def _variant(tmp_path: Path, sample: str, edit: Any = None) -> Spec:
    """A sample copied into tmp_path, optionally edited (ruamel round trip)."""
    root = tmp_path / sample
    shutil.copytree(
        SAMPLES / sample, root, ignore=shutil.ignore_patterns("__pycache__", ".almgen", ".github")
    )
    if edit is not None:
        yaml = YAML()
        data = yaml.load((root / "almgen.yaml").read_text("utf-8"))
        edit(data)
        with (root / "almgen.yaml").open("w", encoding="utf-8") as handle:
            yaml.dump(data, handle)
    return load_spec(root / "almgen.yaml")


def _no_agents(data: Any) -> None:
    """Agents call the Agent Service outside `az` (issue 13); the rollout itself is what is rehearsed."""
    data.pop("agents", None)


def canary_spec(tmp_path: Path) -> Spec:
    """Two models, two prod regions, canary 10 → 25 → 50 → 100 with a 15-minute bake."""
    return _variant(tmp_path, "enterprise", _no_agents)


def _run(spec: Spec, *faults: str, workdir: Path | None = None) -> Rehearsal:
    return rehearse(spec, GITHUB, parse_faults(faults, spec), workdir)


def _serving(result: Rehearsal, env: str, phase: int = -1) -> tuple[Any, Any]:
    chosen = result.phases[phase]
    return serving_view(chosen.before, env), serving_view(chosen.after, env)


@pytest.mark.parametrize("sample", ["minimal", "openai-chat-github"])
def test_first_deploy_reaches_production(sample: str, tmp_path: Path) -> None:
    spec = _variant(tmp_path, sample)
    result = _run(spec)
    assert result.ok, result.phases[0].report
    after = result.phases[0].after
    for env in spec.environments:
        serving = serving_view(after, env.name)
        assert set(serving) == set(env.regions)
        for region in env.regions:
            models = serving[region]
            assert set(models) == {m.name for m in spec.models}
            for model in spec.models:  # one deployment serves all traffic, at the spec's version
                assert list(models[model.name]["versions"].values()) == [model.version]
                assert list(models[model.name]["shares"].values()) == [100]


def test_first_deploy_of_a_canary_environment_moves_no_traffic(tmp_path: Path) -> None:
    """Nothing served before: there is nothing to canary against, so no step bakes."""
    result = _run(canary_spec(tmp_path))
    assert result.ok, result.phases[0].report
    moves: dict[tuple[str, str, str], list[Any]] = {}
    for event in result.timeline:
        if event["kind"] == "azure-traffic":
            moves.setdefault((event["env"], event["region"], event["model"]), []).append(event["shares"])
    assert moves and all(len(shares) == 1 for shares in moves.values())  # routed once, never moved


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_a_canary_breach_at_any_step_restores_traffic_exactly(step: int, tmp_path: Path) -> None:
    spec = canary_spec(tmp_path)
    result = _run(spec, f"prod:chat:error-rate=8@step={step}")
    assert result.ok, "\n".join(r for v in result.verdicts for r in v.reasons) + result.phases[-1].report
    before, after = _serving(result, "prod")
    assert before == after and set(after) == {"eastus2", "swedencentral"}
    staging_before, staging_after = _serving(result, "staging")
    assert staging_before != staging_after  # staging took the release before prod stopped


def test_a_breach_in_the_second_model_rolls_back_both(tmp_path: Path) -> None:
    result = _run(canary_spec(tmp_path), "prod:embeddings:latency-p95=9000@step=2")
    assert result.ok, result.phases[-1].report
    before, after = _serving(result, "prod")
    assert before == after


def test_a_failed_test_after_the_rollout_restores_traffic(tmp_path: Path) -> None:
    result = _run(canary_spec(tmp_path), "prod:tests=validation:fail")
    assert result.ok, result.phases[-1].report
    assert _serving(result, "prod")[0] == _serving(result, "prod")[1]


def test_a_failed_gate_deploys_nothing_past_it(tmp_path: Path) -> None:
    result = _run(_variant(tmp_path, "openai-chat-github"), "staging:gate=evaluation:fail")
    assert result.ok, result.phases[-1].report
    for env in ("staging", "prod"):
        before, after = _serving(result, env)
        assert before == after


def test_a_rejected_approval_deploys_nothing(tmp_path: Path) -> None:
    result = _run(_variant(tmp_path, "openai-chat-github"), "prod:approval=reject")
    assert result.ok, result.phases[-1].report
    assert _serving(result, "prod")[0] == _serving(result, "prod")[1]


def test_a_cancellation_mid_bake_restores_traffic(tmp_path: Path) -> None:
    result = _run(canary_spec(tmp_path), "prod:cancel@minutes=40")
    assert result.ok, result.phases[-1].report
    assert result.phases[-1].conclusion == "cancelled"
    assert _serving(result, "prod")[0] == _serving(result, "prod")[1]


def test_a_deployment_past_the_job_timeout_changes_nothing_that_serves(tmp_path: Path) -> None:
    result = _run(canary_spec(tmp_path), "prod:slow-deploy=400")
    assert result.ok, result.phases[-1].report
    assert _serving(result, "prod")[0] == _serving(result, "prod")[1]


def test_the_second_region_failing_leaves_prod_serving_the_old_release(tmp_path: Path) -> None:
    result = _run(canary_spec(tmp_path), "prod:region=swedencentral:fail")
    assert result.ok, result.phases[-1].report
    before, after = _serving(result, "prod")
    assert before == after


def test_a_bake_longer_than_a_token_logs_in_again(tmp_path: Path) -> None:
    """A 90-minute bake outlives the login's token: the health check needs a fresh login."""

    def long_bake(data: Any) -> None:
        _no_agents(data)
        data["environments"][2]["strategy"]["bakeMinutes"] = 90

    result = _run(_variant(tmp_path, "enterprise", long_bake), "prod:chat:error-rate=8@step=2")
    assert result.ok, result.phases[-1].report


def test_the_same_commit_again_moves_nothing(tmp_path: Path) -> None:
    from generator.rehearse.driver import Stage, prepare_repository, run_phase
    from generator.rehearse.world import World

    spec = canary_spec(tmp_path)
    world = World.create(tmp_path / "world")
    repo = prepare_repository(spec, tmp_path / "run")
    stage = Stage(spec, GITHUB, repo, world)
    first = run_phase(stage, "first", [])
    from generator.rehearse.driver import next_release

    next_release(repo, spec.source.name)
    released = run_phase(stage, "release", [])
    start = world.minutes()
    again = run_phase(stage, "again", [])
    assert (first.conclusion, released.conclusion, again.conclusion) == ("success",) * 3
    # the release moved prod's traffic to the new versions; the same commit again moves nothing
    assert serving_view(released.after, "prod") != serving_view(first.after, "prod")
    for env in spec.environments:
        assert serving_view(again.after, env.name) == serving_view(again.before, env.name)
    routes = [e for e in world.timeline() if e["kind"] == "azure-traffic" and e["minute"] >= start]
    assert routes == []
    assert world.minutes() - start < 30  # no bake: only logins, what-ifs and deployments


def test_every_az_line_of_a_rehearsal_parses_with_the_real_azure_cli(tmp_path: Path) -> None:
    import json

    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("the azure-cli tools environment is not installed (scripts/test.sh installs it)")
    lines = []
    for name, spec in (("canary", canary_spec(tmp_path)), ("chat", _variant(tmp_path, "openai-chat-github"))):
        _run(spec, "prod:tests=validation:fail", workdir=tmp_path / name)
        log = (tmp_path / name / "world" / "az-calls.jsonl").read_text("utf-8").splitlines()
        lines += [json.loads(line)["argv"] for line in log]
    assert len(lines) > 50
    assert azcli.rejected(lines) == []


# ---- Azure DevOps: the custom-model sample (Azure ML endpoints, blue-green staging, canary prod)


def _devops(spec: Spec, *faults: str) -> Rehearsal:
    return rehearse(spec, "azure-devops", parse_faults(faults, spec))


def test_devops_first_deploy_reaches_production(tmp_path: Path) -> None:
    result = _devops(_variant(tmp_path, "custom-model-devops"))
    assert result.ok, result.phases[0].report
    for env in ("dev", "staging", "prod"):
        (region,) = serving_view(result.phases[0].after, env).values()
        assert region["fraud"]["versions"] and list(region["fraud"]["shares"].values()) == [100]


@pytest.mark.parametrize(
    "fault", ["prod:fraud:error-rate=8@step=2", "prod:tests=validation:fail", "staging:gate=evaluation:fail"]
)
def test_devops_faults_leave_what_serves_as_it_was(fault: str, tmp_path: Path) -> None:
    result = _devops(_variant(tmp_path, "custom-model-devops"), fault)
    assert result.ok, "\n".join(r for v in result.verdicts for r in v.reasons) + result.phases[-1].report
    stopped = fault.split(":", maxsplit=1)[0]
    before, after = _serving(result, stopped)
    assert before == after and before  # something served, and it still serves
