"""The scenario matrix: generated pipelines run end to end against the simulated Azure.

Every sample's first deploy runs on each of its targets. The fault scenarios run on both targets
with the enterprise sample: two models, agents, two prod regions, canary 10 → 25 → 50 → 100 with
a 15-minute bake in prod, blue-green in staging. Each scenario starts from a copy (`fork`) of one
first deploy per target, so the matrix pays for that deploy once.

Each scenario asserts the final state of the simulated Azure (what serves customers, per
environment, region and model; which deployments exist; which agents), not log lines.

The scenarios live here; one test module per target collects them (`test_rehearsals_github.py`,
`test_rehearsals_devops.py`, with `parametrize` below as their `pytest_generate_tests`), so
`pytest -n auto --dist loadfile` can run the two targets' halves on two workers. Each module's
last test checks every az line its scenarios ran, so it is collected last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure.snapshot import serving_view
from generator.rehearse.driver import (
    Phase,
    Stage,
    commit_change,
    edit_spec,
    fork,
    next_release,
    rerun_phase,
    run_lifecycle,
    run_phase,
)
from generator.spec.model import Spec
from generator.spec.naming import github_approval_environment
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES
from tests.rehearse.conftest import DEVOPS, GITHUB, Deployed

FIRST_DEPLOYS = [
    (sample, target)
    for sample in sorted(p.name for p in SAMPLES.iterdir() if (p / "almgen.yaml").exists())
    for target in load_spec(SAMPLES / sample / "almgen.yaml").pipelines
]

AZ_LINES: dict[str, list[list[str]]] = {GITHUB: [], DEVOPS: []}  # every scenario's az lines, per target

# az commands that run on the machine, without a token: `account clear` ends AzureCLI@2's task
LOCAL = (
    ["bicep", "build"],
    ["bicep", "build-params"],
    ["bicep", "install"],
    ["bicep", "lint"],
    ["account", "clear"],
)


def parametrize(metafunc: pytest.Metafunc, target: str) -> None:
    """A target's module's `pytest_generate_tests`: its scenarios on TARGET, every sample's first
    deploy that has it."""
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", [target])
    if "sample" in metafunc.fixturenames:
        metafunc.parametrize("sample", [sample for sample, on in FIRST_DEPLOYS if on == target])


def _from_first_deploy(deployed: Deployed, target: str, into: Path, sample: str = "enterprise") -> Stage:
    stage, first = deployed(sample, target)
    assert first.conclusion == "success", first.report
    return fork(stage, into)


def _log_az(stage: Stage) -> None:
    log = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    AZ_LINES[stage.target] += [json.loads(line)["argv"] for line in log]


def _release(stage: Stage, *faults: str, name: str = "release") -> Phase:
    """Commit a new version of every model and agent, then run the pipeline with FAULTS."""
    next_release(stage.repo, stage.spec.source.name)
    phase = run_phase(stage, name, parse_faults(faults, stage.spec))
    _log_az(stage)
    return phase


def _assert_as_the_spec_says(spec: Spec, phase: Phase) -> None:
    verdict = judge(spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report


def _unchanged(phase: Phase, env: str) -> None:
    before, after = serving_view(phase.before, env), serving_view(phase.after, env)
    assert before == after and before, f"{env}: {before} became {after}"


def _agents(phase: Phase, env: str, before: bool = False) -> dict[str, Any]:
    regions = (phase.before if before else phase.after)["environments"].get(env, {})
    return {location: region["agents"] for location, region in sorted(regions.items())}


def _approvals(stage: Stage, env: str) -> list[str]:
    """The decisions reviewers were asked for about ENV in the last phase (GitHub asks in the
    environment's approval environment, Azure DevOps once per stage)."""
    events = stage.world.timeline()
    start = max(i for i, e in enumerate(events) if e["kind"] == "phase")
    asked = {"github.approval", "approval"}
    return [
        str(e["decision"])
        for e in events[start:]
        if e["kind"] in asked and e["env"] in (env, github_approval_environment(env))
    ]


def _versions_served(phase: Phase, env: str) -> set[tuple[str, str, str]]:
    """(region, model, version) of every deployment with a share of traffic."""
    return {
        (region, model, version)
        for region, models in serving_view(phase.after, env).items()
        for model, routing in models.items()
        if "versions" in routing  # not a retrieval alias (`alias:<name>`: an index, no version)
        for version in routing["versions"].values()
    }


def _spec_versions(repo: Path, spec: Spec) -> dict[str, str]:
    released = load_spec(repo / spec.source.name)
    return {model.name: model.version or "" for model in released.models}


# ---- first deploy: every sample, every target it has ---------------------------------------------


def test_first_deploy_reaches_production(sample: str, target: str, deployed: Deployed) -> None:
    stage, first = deployed(sample, target)
    assert first.conclusion == "success", first.report
    spec = stage.spec
    for env in spec.environments:
        serving = serving_view(first.after, env.name)
        assert set(serving) == set(env.regions)
        for region in env.regions:
            models = {name: v for name, v in serving[region].items() if ":" not in name}  # no alias, agent
            assert set(models) == {m.name for m in spec.models}
            if spec.retrieval:  # the alias serves the first version of the index
                alias = spec.retrieval.alias
                assert serving[region][f"alias:{alias}"] == {"index": f"{alias}-v1"}
            for model in spec.models:  # one deployment serves all traffic, at the spec's version
                assert list(models[model.name]["shares"].values()) == [100]
                assert list(models[model.name]["versions"].values()) == [model.version]
        if spec.agents:  # every agent in every region, at its version, on its model's deployment
            for region, agents in _agents(first, env.name).items():
                assert {name: a["version"] for name, a in agents.items()} == {
                    a.name: a.version for a in spec.agents
                }, region


def test_first_deploy_of_a_canary_environment_moves_no_traffic(target: str, deployed: Deployed) -> None:
    """Nothing served before: there is nothing to canary against, so no step bakes."""
    stage, first = deployed("enterprise", target)
    assert first.conclusion == "success", first.report
    moves: dict[tuple[str, str, str], list[Any]] = {}
    for event in stage.world.timeline():
        if event["kind"] == "azure-traffic":
            moves.setdefault((event["env"], event["region"], event["model"]), []).append(event["shares"])
    assert moves and all(len(shares) == 1 for shares in moves.values())  # routed once, never moved


# ---- a spec change, and the same commit again -----------------------------------------------------


def test_a_release_then_the_same_commit_again(target: str, deployed: Deployed, tmp_path: Path) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    released = _release(stage)
    assert released.conclusion == "success", released.report
    versions = _spec_versions(stage.repo, stage.spec)
    for env in stage.spec.environments:  # the new version serves everything, everywhere
        assert {(m, v) for _, m, v in _versions_served(released, env.name)} == set(versions.items())
        for region, agents in _agents(released, env.name).items():
            assert agents["support"]["version"] == "2.1.1", region

    start = stage.world.minutes()
    again = run_phase(stage, "again", [])
    _log_az(stage)
    assert again.conclusion == "success", again.report
    for env in stage.spec.environments:
        assert serving_view(again.after, env.name) == serving_view(again.before, env.name)
    routes = [e for e in stage.world.timeline() if e["kind"] == "azure-traffic" and e["minute"] >= start]
    assert routes == []  # no colour flips, no canary step
    assert stage.world.minutes() - start < 30  # no bake: only logins, what-ifs and deployments


def test_the_same_commit_again_trains_nothing(deployed: Deployed, tmp_path: Path) -> None:
    """A custom model's version registered with the same training inputs is not trained again."""
    sample = "custom-model-devops"
    stage = _from_first_deploy(deployed, DEVOPS, tmp_path, sample)

    def trainings() -> list[list[str]]:
        log = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
        return [c["argv"] for c in map(json.loads, log) if c["argv"][:3] == ["ml", "job", "create"]]

    first = len(trainings())
    assert first >= 1  # the first deploy trained
    again = run_phase(stage, "again", [])
    _log_az(stage)
    assert again.conclusion == "success", again.report
    assert len(trainings()) == first


def test_versions_past_retention_are_archived_unless_a_deployment_still_needs_them(
    deployed: Deployed, tmp_path: Path
) -> None:
    """keepVersions 1: after two releases the first version serves nowhere and is archived in the
    registry; the second stands by on the other colour (a rollback needs it) and stays."""
    stage = _from_first_deploy(deployed, DEVOPS, tmp_path, "custom-model-devops")
    first = _spec_versions(stage.repo, stage.spec)["fraud"]
    edit_spec(
        stage.repo / stage.spec.source.name,
        lambda data: data["registry"].update(retention={"keepVersions": 1}),
    )
    second_release = _release(stage)
    assert second_release.conclusion == "success", second_release.report
    second = _spec_versions(stage.repo, stage.spec)["fraud"]
    third_release = _release(stage, name="third release")
    assert third_release.conclusion == "success", third_release.report
    third = _spec_versions(stage.repo, stage.spec)["fraud"]
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    (registry,) = state["registries"].values()  # the versions live in the one registry, dev archives
    archived = {
        m["version"]: bool(m.get("archived")) for m in registry["models"].values() if m["name"] == "fraud"
    }
    assert archived == {first: True, second: False, third: False}


# ---- faults during a release: what served before still serves -------------------------------------


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_a_canary_breach_at_any_step_restores_traffic_exactly(
    target: str, step: int, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    phase = _release(stage, f"prod:chat:error-rate=8@step={step}")
    _assert_as_the_spec_says(stage.spec, phase)
    _unchanged(phase, "prod")
    assert set(serving_view(phase.after, "prod")) == {"eastus2", "swedencentral"}
    assert serving_view(phase.before, "staging") != serving_view(phase.after, "staging")  # staging took it
    assert _agents(phase, "prod") == _agents(phase, "prod", before=True)  # agents wait for the rollout
    # one approval for the whole rollout: the step jobs and the rollback job wait for nobody
    assert _approvals(stage, "prod") in (["approve"], ["approved"])


@pytest.mark.parametrize(
    "fault",
    [
        "prod:embeddings:latency-p95=9000@step=2",  # the second model breaches: both roll back
        "prod:tests=validation:fail",  # the tests after the rollout fail
        "prod:cancel@minutes=40",  # cancelled mid-bake
        "prod:cancel@job=canary-3",  # cancelled between two canary steps: no job is running
        "prod:cancel@job=finish",  # cancelled with all traffic on the untested candidate
        "prod:slow-deploy=400",  # a deployment past the job's timeout
        "prod:region=swedencentral:fail",  # the second region fails after the first was deployed
        "prod:approval=reject",
        "prod:agents:fail",  # the Agent Service refuses the candidate version after the rollout
    ],
)
def test_a_fault_in_prod_leaves_prod_serving_the_old_release(
    target: str, fault: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    phase = _release(stage, fault)
    _assert_as_the_spec_says(stage.spec, phase)
    _unchanged(phase, "prod")
    if "cancel" in fault:
        assert phase.conclusion == "cancelled"


def test_a_failed_gate_deploys_nothing_past_it_and_its_re_run_finishes(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    failed = _release(stage, "staging:gate=evaluation:fail")
    _assert_as_the_spec_says(stage.spec, failed)
    for env in ("staging", "prod"):
        _unchanged(failed, env)
    assert serving_view(failed.before, "dev") != serving_view(failed.after, "dev")

    rerun = rerun_phase(stage, "re-run failed jobs", failed)  # the gate passes this time
    _log_az(stage)
    assert rerun.conclusion == "success", rerun.report
    versions = set(_spec_versions(stage.repo, stage.spec).items())
    for env in ("staging", "prod"):
        assert {(m, v) for _, m, v in _versions_served(rerun, env)} == versions


def test_a_bake_longer_than_a_token_logs_in_again(target: str, deployed: Deployed, tmp_path: Path) -> None:
    """A 90-minute bake outlives the login's token: the health check after it needs a fresh login."""

    def long_bake(data: Any) -> None:
        next(e for e in data["environments"] if e["name"] == "prod")["strategy"]["bakeMinutes"] = 90

    stage = _from_first_deploy(deployed, target, tmp_path)
    edit_spec(stage.repo / stage.spec.source.name, long_bake)
    phase = _release(stage, "prod:chat:error-rate=8@step=2")
    _assert_as_the_spec_says(stage.spec, phase)
    _unchanged(phase, "prod")
    calls = [
        json.loads(line) for line in (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    ]
    last_login, stale = None, []
    for call in calls:  # every call within a login's 60 simulated minutes (a 90-minute bake sits between)
        if call["argv"][:1] == ["login"]:
            last_login = call["minute"]
        elif call["argv"][:2] not in LOCAL and (last_login is None or call["minute"] - last_login > 60):
            stale.append(call)
    assert stale == []


def test_a_retired_version_is_removed_everywhere(target: str, deployed: Deployed, tmp_path: Path) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    old = _spec_versions(stage.repo, stage.spec)["chat"]
    old_agent = load_spec(stage.repo / stage.spec.source.name).agents[0]
    released = _release(stage)
    assert released.conclusion == "success", released.report
    standing = _deployments_of(released, "chat", old)
    assert standing  # the previous colour stands by with the old version after the release

    def retire(data: Any) -> None:
        registry = data.setdefault("registry", {})
        registry["retired"] = [
            {"model": "chat", "version": old, "reason": "superseded", "date": "2026-11-24"},
            {
                "agent": old_agent.name,
                "version": old_agent.version,
                "reason": "superseded",
                "date": "2026-11-24",
            },
        ]

    calls_before = len((stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines())
    commit_change(stage.repo, stage.spec.source.name, retire, "retire the old chat and agent versions")
    retired = run_phase(stage, "retire", [])
    _log_az(stage)
    assert retired.conclusion == "success", retired.report
    # the retired agent version was looked for in every region of every environment: no region
    # serves it (the release moved the agent on), and the versions made for it are deleted
    calls = (stage.world.root / "az-calls.jsonl").read_text("utf-8").splitlines()[calls_before:]
    listed = {
        argv[argv.index("--url") + 1].split("/api/")[0]
        for argv in (json.loads(line)["argv"] for line in calls)
        if argv[:1] == ["rest"]
        and "--url" in argv
        and "/agents/support/versions?" in argv[argv.index("--url") + 1]
    }
    regions = sum(len(env.regions) for env in stage.spec.environments)
    assert len(listed) >= regions, listed
    for env in stage.spec.environments:
        for region, agents in _agents(retired, env.name).items():
            assert old_agent.version not in agents["support"]["versions"].values(), region
            assert agents["support"]["version"] == "2.1.1", region
    assert _deployments_of(retired, "chat", old) == []
    for env in stage.spec.environments:
        assert ("chat", old) not in {(m, v) for _, m, v in _versions_served(retired, env.name)}


def _deployments_of(phase: Phase, model: str, version: str) -> list[tuple[str, str, str]]:
    """(env, region, deployment) of every AI Services deployment of MODEL at VERSION."""
    found = []
    for env, regions in phase.after["environments"].items():
        for region, where in regions.items():
            for name, deployed_version in where["versions"].items():
                if name.startswith(model) and deployed_version == version:
                    found.append((env, region, name))
    return sorted(found)


# ---- the lifecycle's scheduled production evaluation ---------------------------------------------


def _alerts(stage: Stage, env: str) -> dict[str, list[str]]:
    """The production evaluation alerts that fire now in each region of ENV (simulated Azure Monitor)."""
    from datetime import datetime, timezone

    from generator.rehearse.azure import insights
    from generator.rehearse.azure.store import locked

    now = datetime.fromtimestamp(stage.world.now(), timezone.utc)
    groups = {stack.region: stack.resource_group for stack in stage.spec.environment(env).stacks}
    with locked(stage.world.azure_file) as state:
        return {region: insights.alerts(state, group, now) for region, group in sorted(groups.items())}


def _evaluation_events(stage: Stage) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == "insights.event"]


def test_production_quality_is_evaluated_on_schedule_and_a_breach_alerts(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    stage = _from_first_deploy(deployed, target, tmp_path)
    prod = stage.spec.environments[-1]
    assert stage.spec.monitoring.evaluation is not None
    regions = sorted(prod.regions)
    # before any scheduled run the heartbeat rule fires in every region of prod (and nowhere else)
    assert _alerts(stage, prod.name) == {region: ["evaluation-missing"] for region in regions}
    assert all(not fired for fired in _alerts(stage, stage.spec.environments[0].name).values())
    conclusion, report, _ = run_lifecycle(stage)
    assert conclusion == "success", report
    events = _evaluation_events(stage)
    assert sorted(e["location"] for e in events) == regions
    assert {e["properties"]["passed"] for e in events} == {"true"}
    assert {e["properties"]["environment"] for e in events} == {prod.name}
    assert _alerts(stage, prod.name) == {region: [] for region in regions}
    # production now answers worse than the gate allows: the scheduled run fails and alerts
    stage.world.set_faults([f.data for f in parse_faults((f"{prod.name}:gate=evaluation:fail",), stage.spec)])
    conclusion, report, _ = run_lifecycle(stage)
    assert conclusion == "failure", report
    breach = _evaluation_events(stage)[len(events) :]
    assert sorted(e["location"] for e in breach) == regions
    assert {e["properties"]["passed"] for e in breach} == {"false"}
    assert all("evaluation." in e["properties"]["failures"] for e in breach)
    assert _alerts(stage, prod.name) == {region: ["evaluation-breach"] for region in regions}
    # and a schedule that stops running is seen two days later
    stage.world.set_now(stage.world.now() + 2 * 86400 + 60)
    assert _alerts(stage, prod.name) == {region: ["evaluation-missing"] for region in regions}
    _log_az(stage)


def test_the_production_evaluation_runs_unattended_and_cannot_deploy(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """The scheduled job waits for nobody: on GitHub even with reviewers on `<prod>` itself (it names
    `<prod>-monitoring`), on Azure DevOps with the approval on prod's environment and service connection
    (it uses `<connection>-monitoring`). And its identity reads and calls only: an ARM write fails."""
    import subprocess

    from generator.plan.production import production_evaluation
    from generator.rehearse.devops.steps import connection_client
    from generator.rehearse.driver import MONITORING_CLIENT_ID, approvals_of

    stage = _from_first_deploy(deployed, target, tmp_path)
    prod = stage.spec.environments[-1]
    evaluation = production_evaluation(stage.spec)
    assert evaluation is not None and prod.approval.required
    approvals = approvals_of(stage.spec, target) | {prod.name: list(prod.approval.reviewers)}
    assert prod.service_connection in approvals or target == GITHUB
    asked = {"github.approval", "approval"}
    before = len([e for e in stage.world.timeline() if e["kind"] in asked])
    conclusion, report, _ = run_lifecycle(stage, approvals)
    _log_az(stage)
    assert conclusion == "success", report
    assert len([e for e in stage.world.timeline() if e["kind"] in asked]) == before  # nobody was asked
    assert {e["properties"]["passed"] for e in _evaluation_events(stage)} == {"true"}
    client = MONITORING_CLIENT_ID if target == GITHUB else connection_client(evaluation.monitoring_connection)
    az, environ = str(stage.world.bin / "az"), stage.world.environ()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([az, *args], capture_output=True, text=True, env=environ, check=False)

    tenant = "00000000-0000-0000-0000-0000000000e1"
    assert run("login", "--service-principal", "--username", client, "--tenant", tenant).returncode == 0
    shown = run("deployment", "sub", "show", "--name", evaluation.deployment, "--output", "none")
    assert shown.returncode == 0, shown.stderr  # it reads
    write = run(
        *("deployment", "sub", "create", "--name", "takeover", "--location", prod.primary.region),
        *("--template-file", "infra/main.bicep"),
    )
    assert write.returncode == 1 and "AuthorizationFailed" in write.stderr
    kv = run(
        *("appconfig", "kv", "set", "--endpoint", "https://x.azconfig.io", "--key", "almgen:active:x"),
        *("--value", "y", "--auth-mode", "login", "--yes"),
    )
    assert kv.returncode == 1 and "AuthorizationFailed" in kv.stderr


# ---- every az line the scenarios ran parses with the real Azure CLI -------------------------------


def test_every_az_line_parses_with_the_real_azure_cli(
    target: str, deployed: Deployed, tmp_path: Path
) -> None:
    """The scenarios before it in its module (on this worker) and a rollback of its own, checked in one
    CLI process."""
    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("the azure-cli tools environment is not installed (scripts/test.sh installs it)")
    stage = _from_first_deploy(deployed, target, tmp_path)
    _release(stage, "prod:tests=validation:fail")
    lines = AZ_LINES[target]
    assert len(lines) > 50
    assert azcli.rejected(lines) == []
