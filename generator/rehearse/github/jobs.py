"""One job of steps on a fresh runner: approvals, env, step conditions, deadlines, outputs."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.actions import ActionCall, run_action
from generator.rehearse.github.errors import ExpressionError, RehearseError, Unsupported
from generator.rehearse.github.expressions import Scope, to_number, truthy
from generator.rehearse.github.process import (
    EnvFileError,
    read_env_file,
    run_process,
    shell_command,
    write_script,
)
from generator.rehearse.github.results import JobResult, StepResult
from generator.rehearse.github.state import CANCEL_GRACE, STEP_SETUP, RunState, write_event
from generator.rehearse.github.workflow import Job, Step, Workflow


@dataclass
class JobPlan:
    key: str
    job: Job
    workflow: Workflow
    name: str
    environment: str | None
    contexts: dict[str, Any]  # github, inputs, vars, secrets, needs, strategy, matrix
    permissions: dict[str, str] | None
    timeout_minutes: float
    env: dict[str, str]  # workflow env then job env, evaluated
    defaults: dict[str, Any] = field(default_factory=dict)
    survives_cancel: bool = False  # its `if` holds once the run is cancelled (always()): it is not cancelled


class _StepStatus:
    def __init__(self, job: _JobState, state: RunState, assume_cancelled: bool = False) -> None:
        self.job, self.state, self.assume = job, state, assume_cancelled

    def cancelled(self) -> bool:
        return self.assume or self.job.cancelled

    def failure(self) -> bool:  # once cancelled, the job's status is cancelled, not failure
        return self.job.failed and not self.cancelled()

    def success(self) -> bool:
        return not self.job.failed and not self.cancelled()


@dataclass
class _JobState:
    """One running job: its status, and what its steps share (files, outputs, env, summaries)."""

    state: RunState
    plan: JobPlan
    result: JobResult
    workspace: Path
    temp: Path
    deadline: float
    failed: bool = False
    cancelled: bool = False
    cancelled_at: float | None = None
    timed_out: bool = False
    error: str = ""
    steps_ctx: dict[str, Any] = field(default_factory=dict)
    env_file_values: dict[str, str] = field(default_factory=dict)
    path_additions: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    @property
    def event_path(self) -> Path:
        return self.temp / "event.json"


def _hash_files(workspace: Path) -> Any:
    def hash_files(patterns: list[str]) -> str:
        files: set[str] = set()
        excluded: set[str] = set()
        for pattern in patterns:
            negate = pattern.startswith("!")
            matches = glob.glob(str(workspace / pattern.lstrip("!")), recursive=True)
            (excluded if negate else files).update(m for m in matches if os.path.isfile(m))
        chosen = sorted(files - excluded)
        if not chosen:
            return ""
        outer = hashlib.sha256()
        for file in chosen:
            outer.update(hashlib.sha256(Path(file).read_bytes()).digest())
        return outer.hexdigest()

    return hash_files


def approve(state: RunState, plan: JobPlan) -> str:
    """'' when the job may start; otherwise why it failed (a rejected deployment)."""
    environment = plan.environment
    reviewers = state.approvals.get(environment or "", []) if environment else []
    if not reviewers:
        return ""
    earlier = (state.previous or {}).get(plan.key)
    if earlier is not None and earlier.steps and earlier.environment == environment:
        # a re-run: protection rules that passed in the earlier attempt pass again by themselves
        state.world.record(
            "github.approval",
            job=plan.key,
            env=environment,
            decision="approve",
            reviewers=reviewers,
            by="earlier attempt",
            attempt=state.attempt,
        )
        return ""
    fault = state.approval_fault(environment or "", plan.key)
    decision = str(fault.get("decision", "reject")) if fault else "approve"
    reviewer = str(fault.get("reviewer", reviewers[0])) if fault else reviewers[0]
    state.world.record(
        "github.approval",
        job=plan.key,
        env=environment,
        decision=decision,
        reviewers=reviewers,
        by=reviewer,
        attempt=state.attempt,
    )
    if decision == "approve":
        return ""
    return f"Deployment to environment '{environment}' was rejected by {reviewer}."


def run_job(state: RunState, plan: JobPlan) -> JobResult:
    world = state.world
    result = JobResult(plan.key, plan.name, "success", state.attempt, plan.environment)
    rejection = approve(state, plan)
    if rejection:
        result.result, result.error = "failure", rejection
        world.record("github.job.end", job=plan.key, result="failure", attempt=state.attempt, error=rejection)
        return result
    safe = plan.key.replace("/", "__").replace(" ", "_")
    job_dir = state.run_dir / f"attempt-{state.attempt}" / safe
    shutil.rmtree(job_dir, ignore_errors=True)
    workspace, temp = job_dir / "workspace", job_dir / "temp"
    workspace.mkdir(parents=True)
    temp.mkdir(parents=True)
    start = world.now()
    state.arm_cancel(plan.environment)
    world.record(
        "github.job.start", job=plan.key, name=plan.name, env=plan.environment, attempt=state.attempt
    )
    job_deadline = start + plan.timeout_minutes * 60
    js = _JobState(state, plan, result, workspace, temp, job_deadline)
    steps_ctx, env_file_values, summaries = js.steps_ctx, js.env_file_values, js.summaries
    write_event(js.event_path, state.event_payload())
    github = dict(plan.contexts["github"], workspace=str(workspace))
    runner = {
        "os": "Linux",
        "arch": "X64",
        "name": "GitHub Actions 1",
        "temp": str(temp),
        "tool_cache": str(temp / "_tool"),
        "environment": "github-hosted",
        "debug": "",
    }
    where = {"file": plan.workflow.path, "job": plan.key}

    for step in plan.job.steps:
        now = world.now()
        if not js.cancelled and now >= job_deadline:
            js.cancelled, js.cancelled_at, js.timed_out = True, job_deadline, True
            js.error = _timeout_message(plan.timeout_minutes)
        elif not js.cancelled and not plan.survives_cancel and state.cancelled():
            js.cancelled, js.cancelled_at = True, state.cancel_at
        env = dict(plan.env, **env_file_values)
        scope = Scope(
            {
                **plan.contexts,
                "github": github,
                "runner": runner,
                "steps": steps_ctx,
                "env": env,
                "job": {"status": _status_word(js)},
            },
            _StepStatus(js, state),
            _hash_files(workspace),
        )
        try:
            step_env = templates.string_map(step.get("env"), scope)
            env.update(step_env)
            scope.contexts["env"] = env
            run_it = templates.condition(step.get("if"), scope)
        except ExpressionError as exc:
            _finish(js, step, "failure", f"Error: {exc}")
            continue
        except Unsupported as exc:
            raise RehearseError(str(exc), step=step.display, **where) from None
        if not run_it:
            _finish(js, step, "skipped", "")
            continue
        try:
            outcome, log, outputs, continue_on_error = _run_step(js, step, scope, env)
        except ExpressionError as exc:  # in `with:`, `run:` or `working-directory:`: the step fails
            state.world.set_deadline(None)
            outcome, log, outputs, continue_on_error = "failure", f"Error: {exc}", {}, False
        except Unsupported as exc:
            raise RehearseError(str(exc), step=step.display, **where) from None
        _finish(js, step, outcome, log, outputs, continue_on_error=continue_on_error)

    final_scope = Scope(
        {
            **plan.contexts,
            "github": github,
            "runner": runner,
            "steps": steps_ctx,
            "env": dict(plan.env, **env_file_values),
            "job": {"status": _status_word(js)},
        }
    )
    for name, raw in (plan.job.get("outputs") or {}).items():
        try:
            result.outputs[str(name)] = templates.interpolate(str(raw), final_scope)
        except ExpressionError as exc:
            js.failed, js.error = True, f"Error evaluating the job output '{name}': {exc}"
    result.summary = "".join(summaries)
    result.error = result.error or js.error
    result.result = (
        "failure"
        if js.timed_out or (js.failed and not js.cancelled)
        else ("cancelled" if js.cancelled else "failure" if js.failed else "success")
    )
    world.set_deadline(None)
    world.record(
        "github.job.end",
        job=plan.key,
        result=result.result,
        attempt=state.attempt,
        **({"error": result.error} if result.error else {}),
    )
    return result


def _status_word(js: _JobState) -> str:
    return "cancelled" if js.cancelled else "failure" if js.failed else "success"


def _timeout_message(minutes: float) -> str:
    return (
        f"The job running on runner GitHub Actions 1 has exceeded the maximum execution time of "
        f"{to_number(minutes):g} minutes."
    )


def _finish(
    js: _JobState,
    step: Step,
    outcome: str,
    log: str,
    outputs: dict[str, str] | None = None,
    *,
    continue_on_error: bool = False,
) -> None:
    state, result, steps_ctx, outputs = js.state, js.result, js.steps_ctx, outputs or {}
    conclusion = "success" if outcome == "failure" and continue_on_error else outcome
    if conclusion == "failure":
        js.failed = True
    if step.get("id"):
        steps_ctx[step.id] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
    result.steps.append(StepResult(step.display, step.id, outcome, conclusion, log, outputs))
    state.world.record(
        "github.step",
        job=result.key,
        step=step.display,
        outcome=outcome,
        conclusion=conclusion,
        attempt=state.attempt,
    )


def _deadline(
    js: _JobState, step: Step, scope: Scope, step_start: float, step_minutes: float
) -> tuple[float, str]:
    """The earliest moment the step is stopped, and why: timeout, step-timeout, cancel or force."""
    state, plan, job_deadline = js.state, js.plan, js.deadline
    candidates: list[tuple[float, str]] = []
    if js.cancelled:
        candidates.append(((js.cancelled_at or step_start) + CANCEL_GRACE, "force"))
    else:
        candidates.append((job_deadline, "timeout"))
        if state.cancel_at is not None and not plan.survives_cancel:
            survives = False
            try:  # a step whose `if` still holds once the run is cancelled keeps running
                cancel_scope = Scope(
                    scope.contexts, _StepStatus(js, state, assume_cancelled=True), scope.hash_files
                )
                survives = templates.condition(step.get("if"), cancel_scope)
            except ExpressionError:
                survives = False
            candidates.append(
                (state.cancel_at + CANCEL_GRACE, "force") if survives else (state.cancel_at, "cancel")
            )
    if step_minutes > 0:
        candidates.append((step_start + step_minutes * 60, "step-timeout"))
    return min(candidates)


def _run_step(
    js: _JobState, step: Step, scope: Scope, env: dict[str, str]
) -> tuple[str, str, dict[str, str], bool]:
    state, plan, workspace, temp, world = js.state, js.plan, js.workspace, js.temp, js.state.world
    path_additions, env_file_values, summaries, event_path = (
        js.path_additions,
        js.env_file_values,
        js.summaries,
        js.event_path,
    )
    try:
        continue_on_error = truthy(templates.value(step.get("continue-on-error", False), scope))
        step_minutes = to_number(templates.value(step.get("timeout-minutes", 0), scope))
    except ExpressionError as exc:
        return "failure", f"Error: {exc}", {}, False
    files = {
        name: temp / f"{name.lower()}_{step.index}"
        for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_STATE")
    }
    for file in files.values():
        file.write_text("", "utf-8")
    step_start = world.now() + STEP_SETUP
    deadline, reason = _deadline(js, step, scope, step_start, step_minutes)
    world.set_deadline(deadline)
    process_env = state.base_environ()
    process_env.update(env)
    process_env.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_SHA": state.sha,
            "GITHUB_REF": state.ref,
            "GITHUB_REF_NAME": str(scope.contexts["github"]["ref_name"]),
            "GITHUB_RUN_ID": str(state.run_id),
            "GITHUB_RUN_NUMBER": str(state.run_id % 1000),
            "GITHUB_RUN_ATTEMPT": str(state.attempt),
            "GITHUB_REPOSITORY": state.repository,
            "GITHUB_REPOSITORY_OWNER": state.repository.split("/")[0],
            "GITHUB_EVENT_NAME": state.event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_WORKFLOW": state.workflow_name,
            "GITHUB_JOB": plan.job.id,
            "GITHUB_ACTOR": "rehearse",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_ACTION": step.id,
            "GITHUB_API_URL": "https://api.github.com",
            "RUNNER_TEMP": str(temp),
            # a hosted job is a fresh machine: its own Azure CLI profile, so each job logs in itself
            "AZURE_CONFIG_DIR": str(temp.parent / ".azure"),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "GitHub Actions 1",
            "RUNNER_TOOL_CACHE": str(temp / "_tool"),
            **{name: str(path) for name, path in files.items()},
        }
    )
    process_env["ALMGEN_PIP_BIN"] = str(temp.parent / "pip-bin")  # what `pip install` leaves, per job
    process_env["PATH"] = os.pathsep.join(
        [*reversed(path_additions), str(temp.parent / "pip-bin"), process_env["PATH"]]
    )
    log = ""
    outputs: dict[str, str] = {}
    ok = False
    killed = False
    if not world.advance(STEP_SETUP):
        killed = True
    elif step.get("uses"):
        call = ActionCall(
            uses=str(step.get("uses")),
            inputs=templates.string_map(step.get("with"), scope),
            world=world,
            workspace=workspace,
            temp=temp,
            snapshot=state.snapshot,
            env=process_env,
            store=state.store,
            attempt=state.attempt,
            job=plan.key,
            permissions=plan.permissions,
            subject=_subject(state, plan),
            repository=state.repository,
            wall_seconds=state.wall_seconds,
        )
        done = run_action(call)
        ok, log, outputs = done.ok, done.log, dict(done.outputs)
        killed = not ok and world.now() >= deadline
    else:
        shell = str(step.get("shell") or (plan.defaults.get("run") or {}).get("shell") or "")
        script = templates.interpolate(str(step.get("run")), scope)
        cwd_raw = (
            step.get("working-directory") or (plan.defaults.get("run") or {}).get("working-directory") or ""
        )
        cwd = workspace / templates.interpolate(str(cwd_raw), scope)
        if not cwd.is_dir():
            return (
                "failure",
                f"Error: An error occurred trying to start process '/usr/bin/bash' with working "
                f"directory '{cwd}'. No such file or directory",
                {},
                continue_on_error,
            )
        argv = shell_command(shell, write_script(temp, script, shell))
        finished = run_process(
            argv,
            cwd=cwd,
            env=process_env,
            log_file=temp / f"step_{step.index}.log",
            wall_seconds=state.wall_seconds,
        )
        log, ok = finished.log, finished.returncode == 0
        killed = not ok and world.now() >= deadline
        if finished.wall_timeout:
            world.set_deadline(None)
            return (
                "failure",
                log + f"\nrehearse: the step ran longer than {state.wall_seconds:g} real seconds "
                "(does it wait without the simulated clock's `sleep`?)",
                {},
                continue_on_error,
            )
        if not ok and not killed:
            log += f"\nError: Process completed with exit code {finished.returncode}."
    world.set_deadline(None)
    try:
        outputs.update(read_env_file(files["GITHUB_OUTPUT"]))
        env_file_values.update(read_env_file(files["GITHUB_ENV"]))
    except EnvFileError as exc:
        return "failure", log + f"\nError: {exc}", outputs, continue_on_error
    path_additions.extend(
        line.strip() for line in files["GITHUB_PATH"].read_text("utf-8").splitlines() if line.strip()
    )
    summaries.append(files["GITHUB_STEP_SUMMARY"].read_text("utf-8"))
    if killed:
        return _killed(
            js, step, reason, step_minutes, log=log, outputs=outputs, continue_on_error=continue_on_error
        )
    return ("success" if ok else "failure"), log, outputs, continue_on_error


def _killed(
    js: _JobState,
    step: Step,
    reason: str,
    step_minutes: float,
    *,
    log: str,
    outputs: dict[str, str],
    continue_on_error: bool,
) -> tuple[str, str, dict[str, str], bool]:
    state, plan, world = js.state, js.plan, js.state.world
    if reason == "step-timeout":
        world.record("github.timeout", job=plan.key, step=step.display, minutes=step_minutes, scope="step")
        return (
            "failure",
            log + f"\nError: The action '{step.display}' has timed out after {step_minutes:g} minutes.",
            outputs,
            continue_on_error,
        )
    if reason == "timeout":
        js.cancelled, js.cancelled_at, js.timed_out = True, world.now(), True
        js.error = _timeout_message(plan.timeout_minutes)
        world.record(
            "github.timeout", job=plan.key, step=step.display, minutes=plan.timeout_minutes, scope="job"
        )
        return "failure", log + f"\nError: {js.error}", outputs, False
    state.cancelled()
    js.cancelled = True
    js.cancelled_at = js.cancelled_at or world.now()
    return "cancelled", log + "\nError: The operation was canceled.", outputs, False


def _subject(state: RunState, plan: JobPlan) -> str:
    """The OIDC subject claim Azure matches a federated credential against."""
    if plan.environment:
        return f"repo:{state.repository}:environment:{plan.environment}"
    if state.event == "pull_request":
        return f"repo:{state.repository}:pull_request"
    return f"repo:{state.repository}:ref:{state.ref}"
