"""A workflow run, executed: jobs in `needs` order, matrices, reusable workflows, re-runs.

    run_workflow(repo, ".github/workflows/svc-cd.yml", world, vars=..., secrets=..., approvals=...)
    rerun_failed(result)   # "Re-run failed jobs": attempt N+1 of the same run

Jobs run one at a time in a deterministic topological order (a job after its needs, otherwise
in file order). The result of each job is success, failure, cancelled or skipped, as GitHub
reports it in `needs.<id>.result`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.artifacts import ArtifactStore
from generator.rehearse.github.errors import ExpressionError, InvalidWorkflow, RehearseError, Unsupported
from generator.rehearse.github.expressions import Scope, to_number, truthy
from generator.rehearse.github.jobs import JobPlan, run_job
from generator.rehearse.github.matrix import expand, leg_name
from generator.rehearse.github.results import JobResult, RunResult
from generator.rehearse.github.reusable import (
    DEFAULT_TOKEN,
    call_inputs,
    call_outputs,
    call_secrets,
    check_caps,
    effective_permissions,
    load_called,
)
from generator.rehearse.github.state import RunState, install_bin
from generator.rehearse.github.workflow import Job, Workflow, load, topological
from generator.rehearse.world import World

DEFAULT_JOB_TIMEOUT = 360.0
EVENTS = ("push", "pull_request", "workflow_dispatch", "schedule")


@dataclass
class _Level:
    workflow: Workflow
    prefix: str
    inputs: dict[str, Any]
    secrets: dict[str, str]
    cap: dict[str, str] | None  # the caller's permissions; None at the top
    forced: bool  # something upstream of the caller runs again in this attempt
    depth: int = 0


@dataclass
class _Done:
    result: str
    outputs: dict[str, str]
    reran: bool


class _NeedsStatus:
    """Status functions at job level: over every ancestor job (transitively), and the run's cancellation."""

    def __init__(self, results: list[str], state: RunState, assume_cancelled: bool = False) -> None:
        self.results, self.state, self.assume = results, state, assume_cancelled

    def success(self) -> bool:
        return all(r == "success" for r in self.results) and not self.cancelled()

    def failure(self) -> bool:
        return any(r == "failure" for r in self.results)

    def cancelled(self) -> bool:
        return self.assume or self.state.cancelled()


def _aggregate(results: list[str]) -> str:
    if "failure" in results:
        return "failure"
    if "cancelled" in results:
        return "cancelled"
    if results and all(r == "skipped" for r in results):
        return "skipped"
    return "success"


def _ancestors(workflow: Workflow, job_id: str) -> list[str]:
    seen: list[str] = []
    stack = list(workflow.jobs[job_id].needs)
    while stack:
        need = stack.pop()
        if need not in seen:
            seen.append(need)
            stack.extend(workflow.jobs[need].needs)
    return seen


def _record(state: RunState, job: JobResult) -> None:
    state.jobs[job.key] = job


def _keep(state: RunState, key: str) -> JobResult | None:
    """Re-run failed jobs: the earlier attempt's job, when it succeeded (or was skipped on its own)."""
    if state.previous is None:
        return None
    earlier = state.previous.get(key)
    if earlier is None or earlier.result not in ("success", "skipped"):
        return None
    for other_key, other in state.previous.items():
        if other_key == key or other_key.startswith((key + "/", key + " (")):
            _record(state, other)
    return earlier


def _run_level(state: RunState, level: _Level) -> dict[str, _Done]:
    done: dict[str, _Done] = {}
    workflow = level.workflow
    for job_id in topological(workflow.jobs):
        job = workflow.jobs[job_id]
        key = level.prefix + job_id
        ancestors = _ancestors(workflow, job_id)
        forced = level.forced or any(done[a].reran for a in ancestors)
        if not forced:
            kept = _keep(state, key)
            if kept is not None:
                done[job_id] = _Done(kept.result, kept.outputs, False)
                continue
        done[job_id] = _run_job_entry(state, level, job, key, ancestors, done, forced)
    return done


def _base_contexts(state: RunState, level: _Level, job: Job, done: dict[str, _Done]) -> dict[str, Any]:
    needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in job.needs}
    return {
        "github": state.github_context(job.id),
        "inputs": level.inputs,
        "vars": dict(state.vars),
        "needs": needs,
    }


def _run_job_entry(
    state: RunState,
    level: _Level,
    job: Job,
    key: str,
    ancestors: list[str],
    done: dict[str, _Done],
    forced: bool,
) -> _Done:
    workflow = level.workflow
    where = {"file": workflow.path, "job": key}
    contexts = _base_contexts(state, level, job, done)
    scope = Scope(contexts, _NeedsStatus([done[a].result for a in ancestors], state))
    try:
        run_it = templates.condition(job.get("if"), scope)
        survives = templates.condition(
            job.get("if"), Scope(contexts, _NeedsStatus([done[a].result for a in ancestors], state, True))
        )
        legs, fail_fast, max_parallel = expand(job.get("strategy"), Scope(contexts))
    except ExpressionError as exc:
        result = JobResult(key, key, "failure", state.attempt, error=f"Error when evaluating the job: {exc}")
        _record(state, result)
        state.world.record(
            "github.job.end", job=key, result="failure", attempt=state.attempt, error=result.error
        )
        return _Done("failure", {}, True)
    except Unsupported as exc:
        raise RehearseError(str(exc), **where) from None
    if not run_it:
        all_good = all(done[a].result == "success" for a in ancestors)
        word = "cancelled" if state.cancelled() and all_good else "skipped"
        _record(
            state,
            JobResult(
                key, str(job.get("name") or job.id), word, state.attempt, kind="call" if job.uses else "steps"
            ),
        )
        state.world.record("github.job.end", job=key, result=word, attempt=state.attempt)
        return _Done(word, {}, True)
    if legs is None:
        strategy = {"fail-fast": fail_fast, "job-index": 0.0, "job-total": 1.0, "max-parallel": 1.0}
        return _run_leg(
            state, level, job, key, dict(contexts, matrix={}, strategy=strategy), forced=forced, survives=survives
        )
    results: list[str] = []
    outputs: dict[str, str] = {}
    reran = False
    stop = False
    for index, combo in enumerate(legs):
        leg_key = f"{key} {leg_name(combo)}"
        if stop:
            _record(state, JobResult(leg_key, leg_key, "cancelled", state.attempt))
            results.append("cancelled")
            continue
        strategy = {
            "fail-fast": fail_fast,
            "job-index": float(index),
            "job-total": float(len(legs)),
            "max-parallel": float(max_parallel or len(legs)),
        }
        kept = None if forced else _keep(state, leg_key)
        leg = (
            _Done(kept.result, kept.outputs, False)
            if kept
            else _run_leg(state, level, job, leg_key, dict(contexts, matrix=combo, strategy=strategy), forced=forced,
            survives=survives)
        )
        reran = reran or leg.reran
        results.append(leg.result)
        outputs.update(leg.outputs)
        stop = fail_fast and leg.result == "failure"
    word = _aggregate(results)
    _record(
        state,
        JobResult(key, str(job.get("name") or job.id), word, state.attempt, outputs=outputs, kind="matrix"),
    )
    return _Done(word, outputs, reran)


def _environment(raw: Any, scope: Scope) -> str | None:
    if raw is None:
        return None
    value = templates.value(raw.get("name") if isinstance(raw, dict) else raw, scope)
    text = "" if value is None else str(value if not isinstance(value, float) else to_number(value))
    return text or None


def _run_leg(
    state: RunState, level: _Level, job: Job, key: str, contexts: dict[str, Any], *, forced: bool, survives: bool
) -> _Done:
    workflow = level.workflow
    where = {"file": workflow.path, "job": key}
    scope = Scope(contexts)
    try:
        name = templates.interpolate(str(job.get("name") or job.id), scope)
        if job.uses:
            return _run_call(state, level, job, key, name, contexts, forced)
        environment = _environment(job.get("environment"), scope)
        job_vars = dict(state.vars, **state.environment_vars.get(environment or "", {}))
        job_secrets = dict(level.secrets, **state.environment_secrets.get(environment or "", {}))
        job_secrets["GITHUB_TOKEN"] = "ghs_rehearse"
        contexts = dict(contexts, vars=job_vars, secrets=job_secrets)
        scope = Scope(contexts)
        if job.get("concurrency") is not None:
            templates.value(
                job.get("concurrency"), scope
            )  # parsed and evaluated; jobs run one at a time anyway
        env_scope = Scope(dict(contexts, env={}))
        env = templates.string_map(workflow.get("env"), env_scope)
        env_scope.contexts["env"] = dict(env)
        env.update(templates.string_map(job.get("env"), env_scope))
        timeout = to_number(templates.value(job.get("timeout-minutes", DEFAULT_JOB_TIMEOUT), scope))
        continue_on_error = truthy(templates.value(job.get("continue-on-error", False), scope))
    except ExpressionError as exc:
        result = JobResult(key, key, "failure", state.attempt, error=f"Error when evaluating the job: {exc}")
        _record(state, result)
        state.world.record(
            "github.job.end", job=key, result="failure", attempt=state.attempt, error=result.error
        )
        return _Done("failure", {}, True)
    except Unsupported as exc:
        raise RehearseError(str(exc), **where) from None
    defaults = dict(workflow.get("defaults") or {})
    for section, values in (job.get("defaults") or {}).items():
        defaults[section] = dict(defaults.get(section) or {}, **(values or {}))
    plan = JobPlan(
        key,
        job,
        workflow,
        name,
        environment,
        contexts,
        effective_permissions(job.raw, workflow, level.cap),
        timeout or DEFAULT_JOB_TIMEOUT,
        env,
        defaults,
        survives_cancel=survives,
    )
    result = run_job(state, plan)
    result.continue_on_error = continue_on_error
    _record(state, result)
    word = "success" if continue_on_error and result.result == "failure" else result.result
    return _Done(word, result.outputs, True)


def _run_call(
    state: RunState, level: _Level, job: Job, key: str, name: str, contexts: dict[str, Any], forced: bool
) -> _Done:
    workflow = level.workflow
    called = load_called(state.snapshot, str(job.uses), state.repository, workflow.path, key)
    caller_secrets = dict(level.secrets, GITHUB_TOKEN="ghs_rehearse")
    scope = Scope(dict(contexts, secrets=caller_secrets))
    default_scope = Scope({"github": contexts["github"], "vars": contexts["vars"], "inputs": {}})
    try:
        inputs = call_inputs(called, job.get("with"), scope, default_scope)
        secrets = call_secrets(called, job.get("secrets"), caller_secrets, scope)
    except InvalidWorkflow as exc:
        error = f"{called.path}: {exc.detail}"
        _record(state, JobResult(key, name, "failure", state.attempt, error=error, kind="call"))
        state.world.record("github.job.end", job=key, result="failure", attempt=state.attempt, error=error)
        return _Done("failure", {}, True)
    cap = effective_permissions(job.raw, workflow, level.cap) or DEFAULT_TOKEN
    nested = _run_level(state, _Level(called, key + "/", inputs, secrets, cap, forced, level.depth + 1))
    word = _aggregate([d.result for d in nested.values()])
    jobs_ctx = {job_id: {"result": d.result, "outputs": d.outputs} for job_id, d in nested.items()}
    out_scope = Scope(
        {"github": contexts["github"], "inputs": inputs, "vars": contexts["vars"], "jobs": jobs_ctx}
    )
    try:
        outputs = call_outputs(called, out_scope)
    except ExpressionError as exc:
        outputs, word = {}, "failure"
        state.world.record("github.job.end", job=key, result="failure", error=f"workflow outputs: {exc}")
    _record(state, JobResult(key, name, word, state.attempt, outputs=outputs, kind="call"))
    return _Done(word, outputs, any(d.reran for d in nested.values()))


# ---------------------------------------------------------------------------------- the API
def _sha(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and len(out.stdout.strip()) == 40:
            return out.stdout.strip()
    except OSError:
        pass
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts):
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


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
    for name, spec in (declared.get("inputs") or {}).items():
        spec = spec or {}
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
        "sha": _sha(repo),
        "world": world,
    }
    return _attempt(repo, run_id, run_dir, 1, options, None)


def rerun_failed(previous: RunResult, *, approvals: dict[str, list[str]] | None = None) -> RunResult:
    """Re-run failed jobs: attempt N+1 runs the failed and cancelled jobs and every job that depends
    on them; the other jobs keep their results, outputs and artifacts from the earlier attempt."""
    options = dict(previous.options)
    if approvals is not None:
        options["approvals"] = approvals
    jobs = {key: job for key, job in previous.jobs.items()}
    return _attempt(previous.repo, previous.run_id, previous.run_dir, previous.attempt + 1, options, jobs)


def _attempt(
    repo: Path,
    run_id: int,
    run_dir: Path,
    attempt: int,
    options: dict[str, Any],
    previous: dict[str, JobResult] | None,
) -> RunResult:
    world: World = options["world"]
    snapshot = run_dir / "repo"
    bin_dir = run_dir / "bin"
    install_bin(bin_dir, options["tools"])
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
            templates.value(wf.get("concurrency"), scope)
        done = _run_level(state, _Level(wf, "", top_inputs, dict(state.secrets), None, False))
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
    except ExpressionError as exc:
        raise RehearseError(f"the workflow's concurrency cannot be evaluated: {exc}", file=wf.path) from None
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
