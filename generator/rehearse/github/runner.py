"""A workflow run, executed against a rehearsal's world: the public API.

run_workflow(repo, ".github/workflows/svc-cd.yml", world, vars=..., secrets=..., approvals=...)
rerun_failed(result)   # "Re-run failed jobs": attempt N+1 of the same run
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.artifacts import ArtifactStore
from generator.rehearse.github.errors import ExpressionError, InvalidWorkflow, RehearseError, Unsupported
from generator.rehearse.github.expressions import Scope, to_number
from generator.rehearse.github.results import JobResult, RunResult
from generator.rehearse.github.reusable import check_caps
from generator.rehearse.github.schedule import Level, run_level
from generator.rehearse.github.state import RunState
from generator.rehearse.github.workflow import Workflow, load
from generator.rehearse.stand_in_server import serving
from generator.rehearse.tools import head_commit, write_tools
from generator.rehearse.world import World

EVENTS = ("push", "pull_request", "workflow_dispatch", "schedule")


# ---------------------------------------------------------------------------------- the API
def _workflow_path(workflow: str) -> str:
    return workflow if "/" in workflow else f".github/workflows/{workflow}"


def _check_trigger(wf: Workflow, event: str, ref: str) -> None:
    if event not in EVENTS:
        raise RehearseError(
            f"rehearse does not support the event '{event}' (supported: {', '.join(EVENTS)})", file=wf.path
        )
    if event not in wf.on:
        raise RehearseError(f"the workflow does not run on '{event}' (on: {', '.join(wf.on)})", file=wf.path)
    config = wf.on.get(event) or {}
    branches = config.get("branches") if isinstance(config, dict) else None
    if branches and ref.startswith("refs/heads/"):
        import fnmatch

        branch = ref[len("refs/heads/") :]
        if not any(fnmatch.fnmatchcase(branch, str(pattern)) for pattern in branches):
            raise RehearseError(
                f"the workflow's {event} trigger does not match the branch '{branch}'", file=wf.path
            )


def _dispatch_inputs(wf: Workflow, given: dict[str, Any]) -> dict[str, Any]:
    declared = (
        (wf.on.get("workflow_dispatch") or {}) if isinstance(wf.on.get("workflow_dispatch"), dict) else {}
    )
    inputs: dict[str, Any] = {}
    for name, raw_spec in (declared.get("inputs") or {}).items():
        spec = raw_spec or {}
        value = given.get(name, spec.get("default", ""))
        if spec.get("type") == "boolean":
            value = value if isinstance(value, bool) else str(value).lower() == "true"
        elif spec.get("type") == "number":
            value = to_number(value)
        inputs[name] = value
    return inputs


def run_workflow(
    repo: Path,
    workflow: str,
    world: World,
    *,
    event: str = "push",
    ref: str = "refs/heads/main",
    vars: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    approvals: dict[str, list[str]] | None = None,
    environment_vars: dict[str, dict[str, str]] | None = None,
    environment_secrets: dict[str, dict[str, str]] | None = None,
    inputs: dict[str, Any] | None = None,
    tools: dict[str, str] | None = None,
    repository: str | None = None,
    wall_seconds: float = 120.0,
) -> RunResult:
    """Run a workflow of `repo` (a path under it, or a file name in .github/workflows) against `world`.

    `approvals` maps an environment to its required reviewers; `tools` adds stand-in commands
    (name -> shell script) to PATH; a step running longer than `wall_seconds` real seconds fails."""
    repo = repo.resolve()
    runs = world.root / "github" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_id = 1000 + len([p for p in runs.iterdir() if p.is_dir()]) + 1
    run_dir = runs / str(run_id)
    snapshot = run_dir / "repo"
    shutil.copytree(repo, snapshot, ignore=shutil.ignore_patterns(".git"))
    options = {
        "workflow": _workflow_path(workflow),
        "event": event,
        "ref": ref,
        "vars": dict(vars or {}),
        "secrets": dict(secrets or {}),
        "approvals": {k: list(v) for k, v in (approvals or {}).items()},
        "environment_vars": environment_vars or {},
        "environment_secrets": environment_secrets or {},
        "inputs": dict(inputs or {}),
        "tools": dict(tools or {}),
        "wall_seconds": wall_seconds,
        "repository": repository or f"rehearse/{repo.name}",
        "sha": head_commit(repo),
        "world": world,
    }
    with serving(world):
        return _attempt(repo, run_id, run_dir, attempt=1, options=options, previous=None)


def rerun_failed(previous: RunResult, *, approvals: dict[str, list[str]] | None = None) -> RunResult:
    """Re-run failed jobs: attempt N+1 runs the failed and cancelled jobs and every job that depends
    on them; the other jobs keep their results, outputs and artifacts from the earlier attempt."""
    options = dict(previous.options)
    if approvals is not None:
        options["approvals"] = approvals
    jobs = {key: job for key, job in previous.jobs.items()}
    with serving(options["world"]):
        return _attempt(
            previous.repo,
            previous.run_id,
            previous.run_dir,
            attempt=previous.attempt + 1,
            options=options,
            previous=jobs,
        )


def _attempt(
    repo: Path,
    run_id: int,
    run_dir: Path,
    *,
    attempt: int,
    options: dict[str, Any],
    previous: dict[str, JobResult] | None,
) -> RunResult:
    world: World = options["world"]
    snapshot = run_dir / "repo"
    bin_dir = run_dir / "bin"
    write_tools(bin_dir, options["tools"])
    wf = load(snapshot, options["workflow"])
    result = RunResult(
        repo,
        wf.path,
        run_id,
        attempt,
        options["event"],
        options["ref"],
        options["sha"],
        "failure",
        options=options,
        run_dir=run_dir,
    )
    _check_trigger(wf, options["event"], options["ref"])
    state = RunState(
        world=world,
        snapshot=snapshot,
        run_dir=run_dir,
        run_id=run_id,
        attempt=attempt,
        event=options["event"],
        ref=options["ref"],
        sha=options["sha"],
        repository=options["repository"],
        workflow_name=wf.name,
        vars=options["vars"],
        secrets=options["secrets"],
        environment_vars=options["environment_vars"],
        environment_secrets=options["environment_secrets"],
        approvals=options["approvals"],
        dispatch_inputs=_dispatch_inputs(wf, options["inputs"]),
        store=ArtifactStore(run_dir),
        wall_seconds=options["wall_seconds"],
        bin=bin_dir,
        previous=previous,
    )
    world.record("github.run.start", workflow=wf.path, run=run_id, attempt=attempt, event=options["event"])
    try:
        check_caps(snapshot, wf, state.repository, None)
        top_inputs = state.dispatch_inputs if options["event"] == "workflow_dispatch" else {}
        scope = Scope({"github": state.github_context(""), "inputs": top_inputs, "vars": state.vars})
        if wf.get("concurrency") is not None:
            try:
                templates.value(wf.get("concurrency"), scope)
            except ExpressionError as exc:
                raise InvalidWorkflow(
                    f"the workflow's concurrency cannot be evaluated: {exc}", file=wf.path
                ) from None
        try:
            done = run_level(state, Level(wf, "", top_inputs, dict(state.secrets), None, False))
        finally:
            world.set_deadline(None)  # never leave a deadline behind, whatever stopped the run
    except InvalidWorkflow as exc:
        result.startup_failure = str(exc)
        world.record(
            "github.run.end",
            workflow=wf.path,
            run=run_id,
            attempt=attempt,
            conclusion="failure",
            error=str(exc),
        )
        return result
    except ExpressionError as exc:  # a construct that should have been caught where it was evaluated
        raise RehearseError(f"an expression could not be evaluated: {exc}", file=wf.path) from None
    except Unsupported as exc:
        raise RehearseError(str(exc), file=wf.path) from None
    world.set_deadline(None)
    result.jobs = state.jobs
    result.artifacts = state.store.all()
    words = [d.result for d in done.values()]
    result.conclusion = (
        "cancelled"
        if state.cancel_at is not None and state.cancel_recorded
        else ("failure" if "failure" in words else "cancelled" if "cancelled" in words else "success")
    )
    world.record(
        "github.run.end", workflow=wf.path, run=run_id, attempt=attempt, conclusion=result.conclusion
    )
    return result
