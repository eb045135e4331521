"""Run a spec's generated CD pipeline end to end against a simulated Azure.

A rehearsal copies the spec's folder into a temporary git repository, swaps the spec's test and
gate commands for stand-ins (`generator.rehearse.stand_ins`: they pass, or fail where a fault
says so), generates, and runs the generated CD pipeline on the runner of its target against a
new simulated subscription. Everything else in the generated files is what the spec generates.

Phases, on the same world:
1. `first deploy`: the spec as it is, on an empty subscription, no fault.
2. `release` (when faults are given): a new release of every model and agent (versions
   changed in the copied spec), with the faults injected.

Scenarios that need more (a re-run of failed jobs, the same commit again, a retirement) build
on `first_deploy`, `fork` (a copy of a deployed world and repository, so many scenarios share
one first deploy), `run_phase` and `rerun_phase`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.plan.production import production_evaluation
from generator.rehearse.azure import setup
from generator.rehearse.azure.store import locked
from generator.rehearse.faults import Fault
from generator.rehearse.world import World
from generator.spec.model import Spec
from generator.spec.naming import github_ab_decision_environment, github_approval_environment

IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc")
DEVOPS_CONCLUSIONS = {"Succeeded": "success", "Failed": "failure", "Canceled": "cancelled"}
SUBSCRIPTION_VARS = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000c1",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000e1",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-0000000000b1",
}
# The production evaluation's monitoring identity (`almgen setup`: read and call only), the client ID
# its GitHub environment `<prod>-monitoring` holds; the simulated Azure refuses its writes.
MONITORING_CLIENT_ID = "00000000-0000-0000-0000-0000000000c2"


def stand_in_command(kind: str, name: str) -> str:
    return f"python -m generator.rehearse.stand_ins {kind} {name}"


def edit_spec(spec_file: Path, edit: Any) -> None:
    """Change the copied spec with ruamel's round trip (comments and order kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(spec_file.read_text("utf-8"))
    edit(data)
    with spec_file.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def _stand_ins(spec: Spec) -> Any:
    def edit(data: Any) -> None:
        tests = data.setdefault("tests", {})
        for test in spec.tests:
            tests.setdefault(test.name, {})["command"] = stand_in_command("test", test.name)
            if test.setup and test.setup.command:
                tests[test.name]["setup"]["command"] = stand_in_command("setup", test.name)
        for gate in spec.gates:
            data.setdefault(gate.kind, {})["command"] = stand_in_command("gate", gate.kind)
            if gate.setup and gate.setup.command:
                data[gate.kind]["setup"]["command"] = stand_in_command("setup", gate.kind)

    return edit


def _next_release(data: Any) -> None:
    """A new version of every model and agent: what a rollout is for."""
    for model in data.get("models", []):
        version = str(model.get("version", ""))
        if model.get("kind", "foundation") == "custom":
            major, minor, patch = [*version.split("."), "0", "0"][:3]
            model["version"] = f"{major}.{minor}.{int(patch.split('-')[0]) + 1}"
        elif version:
            model["version"] = f"{version}-r2"
    for agent in data.get("agents", []):
        major, minor, patch = [*str(agent["version"]).split("."), "0", "0"][:3]
        agent["version"] = f"{major}.{minor}.{int(patch.split('-')[0]) + 1}"


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=almgen rehearse", "-c", "user.email=rehearse@almgen.invalid"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


def _generate(repo: Path, spec_name: str) -> None:
    from generator.regen.generate import generate_spec

    generate_spec(repo / spec_name, force=True, adopt=True)


def prepare_repository(spec: Spec, into: Path) -> Path:
    """A committed copy of the spec's folder, with stand-in commands, freshly generated."""
    repo = into / "repo"
    shutil.copytree(spec.root, repo, ignore=IGNORED)
    edit_spec(repo / spec.source.name, _stand_ins(spec))
    _generate(repo, spec.source.name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "rehearsal: first deploy")
    return repo


def next_release(repo: Path, spec_name: str) -> None:
    """Commit a new release of every model and agent, regenerated."""
    commit_change(repo, spec_name, _next_release, "rehearsal: a new release")


def commit_change(repo: Path, spec_name: str, edit: Any, message: str) -> None:
    """Edit the spec (ruamel round trip), regenerate and commit: a push the next run deploys."""
    edit_spec(repo / spec_name, edit)
    _generate(repo, spec_name)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def approvals_of(spec: Spec, target: str) -> dict[str, list[str]]:
    """The environments whose jobs wait for a reviewer, as `almgen setup` configures them: on
    GitHub the approval environment of each (`github_approval_environment`), on Azure DevOps the
    environment itself and its service connection (setup puts the approval on both; a connection's
    checks apply to every job that uses it)."""
    name = github_approval_environment if target == "github-actions" else str
    approvals = {
        name(env.name): list(env.approval.reviewers) for env in spec.environments if env.approval.required
    }
    if target != "github-actions":
        approvals |= {
            env.service_connection: list(env.approval.reviewers)
            for env in spec.environments
            if env.approval.required
        }
    for env in spec.environments:  # a manual A/B decision: its reviewers, in its own environment
        ab = env.strategy.ab
        if ab is not None and ab.decide == "manual" and target == "github-actions":
            approvals[github_ab_decision_environment(env.name)] = list(ab.reviewers)
    return approvals


def permitted_of(spec: Spec, pipeline: str) -> set[tuple[str, str]]:
    """What the Azure DevOps pipeline PIPELINE may use, as `almgen setup` permits it."""
    from generator.commands.setup.devops import permits

    return {
        (p.resource, p.name)
        for env in spec.environments
        for p in permits(spec, env)
        if p.pipeline == pipeline
    }


@dataclass
class Phase:
    name: str
    conclusion: str  # success, failure, cancelled
    report: str
    before: dict[str, Any]
    after: dict[str, Any]
    faults: list[Fault] = field(default_factory=list)
    run: Any = None  # the runner's result, which a re-run of failed jobs continues


@dataclass(frozen=True)
class Stage:
    """What every phase of one rehearsal shares."""

    spec: Spec
    target: str
    repo: Path
    world: World


def run_target(stage: Stage, previous: Any = None) -> tuple[str, str, Any]:
    """(conclusion, report, result) of one run of the spec's CD pipeline on the target's runner.

    With PREVIOUS (a result of this function), its failed jobs are re-run instead ("Re-run failed
    jobs" on GitHub, "Rerun failed jobs" on Azure DevOps): a new attempt of the same run.
    """
    spec, repo, world = stage.spec, stage.repo, stage.world
    service = spec.service.name
    if stage.target == "github-actions":
        from generator.rehearse.github import rerun_failed, run_workflow

        if previous is not None:
            result = rerun_failed(previous)
        else:
            result = run_workflow(
                repo,
                f"{service}-cd.yml",
                world,
                vars=SUBSCRIPTION_VARS,
                approvals=approvals_of(spec, stage.target),
            )
        return result.conclusion, result.report(), result
    from generator.rehearse.devops import rerun_failed as rerun_pipeline
    from generator.rehearse.devops import run_pipeline

    if previous is not None:
        done = rerun_pipeline(previous)
    else:
        done = run_pipeline(
            repo,
            f".azure-pipelines/{service}.yml",
            world,
            variables={},
            approvals=approvals_of(spec, stage.target),
            build_id=_next_build_id(world),
            permitted=permitted_of(spec, service),
        )
    return _devops_outcome(done)


def run_lifecycle(stage: Stage, approvals: dict[str, list[str]] | None = None) -> tuple[str, str, Any]:
    """(conclusion, report, result) of one scheduled run of the spec's lifecycle workflow or pipeline:
    the model checks and, with `monitoring.evaluation`, the production evaluation (quality.py).

    APPROVALS (default: as `almgen setup` configures them, `approvals_of`) maps a GitHub environment,
    or an Azure DevOps environment or service connection, to its required reviewers."""
    spec, repo, world = stage.spec, stage.repo, stage.world
    service = spec.service.name
    if stage.target == "github-actions":
        from generator.rehearse.github import run_workflow

        evaluation = production_evaluation(spec)
        result = run_workflow(
            repo,
            f"{service}-lifecycle.yml",
            world,
            event="schedule",
            vars=SUBSCRIPTION_VARS,
            environment_vars=(
                {evaluation.monitoring_environment: {"AZURE_CLIENT_ID": MONITORING_CLIENT_ID}}
                if evaluation
                else {}
            ),
            approvals=approvals if approvals is not None else approvals_of(spec, stage.target),
        )
        return result.conclusion, result.report(), result
    from generator.rehearse.devops import run_pipeline

    done = run_pipeline(
        repo,
        f".azure-pipelines/{service}-lifecycle.yml",
        world,
        variables={},
        approvals=approvals if approvals is not None else approvals_of(spec, stage.target),
        build_id=_next_build_id(world),
        permitted=permitted_of(spec, f"{service}-lifecycle"),
    )
    return _devops_outcome(done)


def _next_build_id(world: World) -> int:
    builds = world.root / "devops"
    return 1 + (len(list(builds.glob("run*"))) if builds.is_dir() else 0)


def _devops_outcome(done: Any) -> tuple[str, str, Any]:
    """(conclusion, report with the last lines of each failed step, result) of a pipeline run."""
    failed = [
        f"    {job}/{step.display}:\n" + "\n".join(f"      | {line}" for line in _tail(step.log))
        for _, job, step in done.failed_steps()
    ]
    report = "\n".join([done.report(), *failed])
    return DEVOPS_CONCLUSIONS.get(done.result, done.result.lower()), report, done


def _tail(log: str) -> list[str]:
    return log.strip().splitlines()[-6:]


def snapshot(world: World) -> dict[str, Any]:
    from generator.rehearse.azure.snapshot import traffic_snapshot

    state: dict[str, Any] = traffic_snapshot(world)
    return state


def run_phase(stage: Stage, name: str, faults: list[Fault]) -> Phase:
    """A new run of the pipeline at the repository's last commit, with FAULTS injected."""
    return _phase(stage, name, faults, None)


def rerun_phase(stage: Stage, name: str, failed: Phase, faults: tuple[Fault, ...] = ()) -> Phase:
    """Re-run the failed jobs of FAILED (its faults cleared unless given again)."""
    return _phase(stage, name, list(faults), failed.run)


def _phase(stage: Stage, name: str, faults: list[Fault], previous: Any) -> Phase:
    stage.world.set_faults([f.data for f in faults])
    stage.world.record("phase", name=name, faults=[f.text for f in faults])
    before = snapshot(stage.world)
    conclusion, report, run = run_target(stage, previous)
    return Phase(name, conclusion, report, before, snapshot(stage.world), faults, run)


def first_deploy(spec: Spec, target: str, root: Path) -> tuple[Stage, Phase]:
    """A new world under ROOT and the spec's pipeline run once on it, from an empty subscription."""
    world = World.create(root / "world")
    with locked(world.azure_file) as state:
        setup.seed(state, spec)  # what `almgen setup` made before the first push
    stage = Stage(spec, target, prepare_repository(spec, root), world)
    return stage, run_phase(stage, "first deploy", [])


def fork(stage: Stage, into: Path) -> Stage:
    """A copy of STAGE's repository and world under INTO: a scenario that cannot change the original."""
    shutil.copytree(stage.repo, into / "repo", symlinks=True)
    shutil.copytree(stage.world.root, into / "world", symlinks=True, ignore=shutil.ignore_patterns("bin"))
    return Stage(stage.spec, stage.target, into / "repo", World.create(into / "world"))
