"""The jobs of one workflow (or one called workflow), in `needs` order: conditions, matrices,
reusable-workflow calls, and which jobs a re-run keeps from the earlier attempt.

Jobs run one at a time in a deterministic topological order (a job after its needs, otherwise
in file order). The result of each job is success, failure, cancelled or skipped, as GitHub
reports it in `needs.<id>.result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.errors import ExpressionError, InvalidWorkflow, RehearseError, Unsupported
from generator.rehearse.github.expressions import Scope, to_number, truthy
from generator.rehearse.github.jobs import JobPlan, run_job
from generator.rehearse.github.matrix import expand, leg_name
from generator.rehearse.github.results import JobResult
from generator.rehearse.github.reusable import (
    DEFAULT_TOKEN,
    call_inputs,
    call_outputs,
    call_secrets,
    effective_permissions,
    load_called,
)
from generator.rehearse.github.state import RunState
from generator.rehearse.github.workflow import Job, Workflow, topological

DEFAULT_JOB_TIMEOUT = 360.0
HOSTED_LIMIT = 360.0  # a job on a GitHub-hosted runner stops after 6 hours, whatever timeout-minutes says


@dataclass
class Level:
    workflow: Workflow
    prefix: str
    inputs: dict[str, Any]
    secrets: dict[str, str]
    cap: dict[str, str] | None  # the caller's permissions; None at the top
    forced: bool  # something upstream of the caller runs again in this attempt
    depth: int = 0


@dataclass
class Done:
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
    state.world.record(
        "github.job.kept", job=key, result=earlier.result, attempt=state.attempt, of=earlier.attempt
    )
    return earlier


def run_level(state: RunState, level: Level) -> dict[str, Done]:
    done: dict[str, Done] = {}
    workflow = level.workflow
    for job_id in topological(workflow.jobs):
        job = workflow.jobs[job_id]
        key = level.prefix + job_id
        ancestors = _ancestors(workflow, job_id)
        forced = level.forced or any(done[a].reran for a in ancestors)
        if not forced:
            kept = _keep(state, key)
            if kept is not None:
                done[job_id] = Done(kept.result, kept.outputs, False)
                continue
        done[job_id] = _run_job_entry(state, level, job, key, done=done, forced=forced)
    return done


def _base_contexts(state: RunState, level: Level, job: Job, done: dict[str, Done]) -> dict[str, Any]:
    needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in job.needs}
    return {
        "github": state.github_context(job.id),
        "inputs": level.inputs,
        "vars": dict(state.vars),
        "needs": needs,
    }


def _run_job_entry(
    state: RunState, level: Level, job: Job, key: str, *, done: dict[str, Done], forced: bool
) -> Done:
    ancestors = _ancestors(level.workflow, job.id)
    workflow = level.workflow
    where = {"file": workflow.path, "job": key}
    contexts = _base_contexts(state, level, job, done)
    state.cancel_before_job(job.id, _text(level.inputs.get("environment")))
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
        return Done("failure", {}, True)
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
        return Done(word, {}, True)
    if legs is None:
        strategy = {"fail-fast": fail_fast, "job-index": 0.0, "job-total": 1.0, "max-parallel": 1.0}
        return _run_leg(
            state,
            level,
            job,
            key,
            dict(contexts, matrix={}, strategy=strategy),
            forced=forced,
            survives=survives,
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
            Done(kept.result, kept.outputs, False)
            if kept
            else _run_leg(
                state,
                level,
                job,
                leg_key,
                dict(contexts, matrix=combo, strategy=strategy),
                forced=forced,
                survives=survives,
            )
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
    return Done(word, outputs, reran)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _job_timeout(job: Job, minutes: float) -> float:
    labels = job.get("runs-on", [])
    hosted = any(
        str(label).startswith("ubuntu-") for label in ([labels] if isinstance(labels, str) else labels)
    )
    minutes = minutes or DEFAULT_JOB_TIMEOUT
    return min(minutes, HOSTED_LIMIT) if hosted else minutes


def _environment(raw: Any, scope: Scope) -> str | None:
    if raw is None:
        return None
    value = templates.value(raw.get("name") if isinstance(raw, dict) else raw, scope)
    text = "" if value is None else str(value if not isinstance(value, float) else to_number(value))
    return text or None


def _run_leg(
    state: RunState,
    level: Level,
    job: Job,
    key: str,
    contexts: dict[str, Any],
    *,
    forced: bool,
    survives: bool,
) -> Done:
    workflow = level.workflow
    where = {"file": workflow.path, "job": key}
    scope = Scope(contexts)
    try:
        name = templates.interpolate(str(job.get("name") or job.id), scope)
        if job.uses:
            return _run_call(state, level, job, key, name=name, contexts=contexts, forced=forced)
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
        return Done("failure", {}, True)
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
        _job_timeout(job, timeout),
        env,
        defaults,
        survives_cancel=survives,
    )
    result = run_job(state, plan)
    result.continue_on_error = continue_on_error
    _record(state, result)
    word = "success" if continue_on_error and result.result == "failure" else result.result
    return Done(word, result.outputs, True)


def _run_call(
    state: RunState, level: Level, job: Job, key: str, *, name: str, contexts: dict[str, Any], forced: bool
) -> Done:
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
        return Done("failure", {}, True)
    cap = effective_permissions(job.raw, workflow, level.cap) or DEFAULT_TOKEN
    nested = run_level(state, Level(called, key + "/", inputs, secrets, cap, forced, level.depth + 1))
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
    return Done(word, outputs, any(d.reran for d in nested.values()))
