"""Run time, one job: `job:` or `deployment:` (runOnce with its lifecycle hooks), step by step.

A deployment job does not check out sources (only an explicit `checkout: self`) and downloads
every artifact of the current run into $(Pipeline.Workspace)/<name> unless its steps hold a
`download:` step. Each lifecycle hook resolves to an agent job of its own (Microsoft's
documentation of jobs.deployment.strategy): a fresh workspace, the job's timeout, its own
logins. `on.failure` runs when a step of the earlier hooks failed, including a hook stopped by
the job timeout (the timeout fails the job); it does NOT run when the run was cancelled,
because a cancelled run only runs what `always()`/`canceled()` allow. `on.success` runs when
every earlier hook succeeded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.rehearse.devops import steps as st
from generator.rehearse.devops.errors import DevOpsError
from generator.rehearse.devops.expressions import run as run_expression
from generator.rehearse.devops.expressions import to_str, truthy
from generator.rehearse.devops.results import CANCELED, FAILED, ISSUES, OK, SKIPPED, SUCCEEDED, StepResult

_KINDS = (
    "script",
    "bash",
    "task",
    "checkout",
    "download",
    "publish",
    "pwsh",
    "powershell",
    "template",
    "downloadBuild",
    "getPackage",
    "reviewApp",
)
_HOOKS = ("preDeploy", "deploy", "routeTraffic", "postRouteTraffic")


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(to_str(value))
    except ValueError:
        raise DevOpsError(f"timeoutInMinutes: {value!r} is not a number") from None


def step_condition(ctx: st.JobContext, text: str) -> bool:
    canceled = ctx.canceled or ctx.timed_out
    status = {
        "succeeded": lambda *a: not canceled and ctx.status in OK,
        "failed": lambda *a: not canceled and ctx.status == FAILED,
        "succeededorfailed": lambda *a: not canceled,
        "always": lambda *a: True,
        "canceled": lambda *a: canceled,
    }
    return truthy(run_expression(text, {"variables": ctx.variables}, status))


def _step_kind(step: dict[str, Any]) -> str:
    for kind in _KINDS:
        if kind in step:
            return kind
    raise DevOpsError(f"unknown step {sorted(step)}")


def _display(step: dict[str, Any], kind: str) -> str:
    if step.get("displayName"):
        return to_str(step["displayName"])
    if kind in ("script", "bash"):
        return f"{kind.capitalize()}: {to_str(step[kind]).strip().splitlines()[0] if step[kind] else ''}"
    return f"{kind}: {to_str(step[kind])}"


def run_step(ctx: st.JobContext, step: dict[str, Any], hook: str) -> StepResult:
    kind = _step_kind(step)
    name = to_str(step.get("name", ""))
    display = _display(step, kind)
    st.notice_stop(ctx)
    condition = to_str(step.get("condition") or "succeeded()")
    enabled = to_str(step.get("enabled", "true")).lower() != "false"
    if not enabled or not step_condition(ctx, condition):
        ctx.world.record("step", job=ctx.variables.get("System.JobName"), step=display, outcome=SKIPPED)
        return StepResult(name, display, SKIPPED, hook=hook)
    ctx.world.advance(st.STEP_MINUTES * 60)
    timeout = _number(step.get("timeoutInMinutes"), 0) or None
    env = ctx.env(step.get("env") or {})
    if kind in ("pwsh", "powershell"):
        raise DevOpsError(f"step '{display}': {kind} is not supported (a Linux agent runs bash)")
    if kind in ("template", "downloadBuild", "getPackage", "reviewApp"):
        raise DevOpsError(f"step '{display}': {kind} steps are not supported")
    if kind in ("script", "bash"):
        outcome = st.run_bash(
            ctx,
            name,
            ctx.macro(to_str(step[kind])),
            env,
            fail_on_stderr=to_str(step.get("failOnStderr", "false")).lower() == "true",
            step_timeout=timeout,
            cwd=_cwd(ctx, step.get("workingDirectory")),
        )
    elif kind == "checkout":
        outcome = st.checkout(ctx, to_str(step["checkout"]))
    elif kind == "publish":
        # the shortcut is PublishPipelineArtifact@1: its inputs take macros as the task's do
        outcome = st.publish(ctx, to_str(step["publish"]), ctx.macro(to_str(step.get("artifact", ""))))
    elif kind == "download":
        source = to_str(step["download"])
        if source == "none":
            outcome = st.Outcome(SUCCEEDED, "")
        elif source != "current":
            raise DevOpsError(
                f"step '{display}': download: {source}: only `current` and `none` are supported"
            )
        else:
            outcome = st.download(ctx, ctx.macro(to_str(step.get("artifact", ""))) or None, None)
    else:
        outcome = _task(ctx, step, name, display, env, timeout)
    result = outcome.result
    if result == FAILED and to_str(step.get("continueOnError", "false")).lower() == "true":
        result = ISSUES
    if result == FAILED:
        ctx.status = FAILED
    elif result == ISSUES and ctx.status == SUCCEEDED:
        ctx.status = ISSUES
    ctx.world.record("step", job=ctx.variables.get("System.JobName"), step=display, outcome=result)
    return StepResult(name, display, result, outcome.log, hook=hook)


def _cwd(ctx: st.JobContext, value: Any) -> Path | None:
    return Path(ctx.macro(to_str(value))) if value else None


def _task(  # noqa: PLR0917
    ctx: st.JobContext,
    step: dict[str, Any],
    name: str,
    display: str,
    env: dict[str, str],
    timeout: float | None,
) -> st.Outcome:
    task = to_str(step["task"])
    inputs = {str(k): ctx.macro(to_str(v)) for k, v in (step.get("inputs") or {}).items()}
    lowered = task.lower()
    if lowered == "bash@3":
        if inputs.get("targetType", "filePath").lower() == "inline":
            script = inputs.get("script", "")
        else:
            script = f'. "{inputs.get("filePath", "")}" {inputs.get("arguments", "")}\n'
        return st.run_bash(
            ctx,
            name,
            script,
            env,
            fail_on_stderr=inputs.get("failOnStderr", "false").lower() == "true",
            step_timeout=timeout,
            cwd=_cwd(ctx, inputs.get("workingDirectory")),
        )
    if lowered == "azurecli@2":
        return st.azure_cli(ctx, name, inputs, env, timeout)
    if lowered == "cache@2":  # a rehearsal downloads nothing: there is nothing to restore or save
        return st.Outcome(SUCCEEDED, f"cache {inputs.get('key', '')}: nothing restored (rehearsal)")
    if lowered == "usepythonversion@0":
        return st.Outcome(SUCCEEDED, f"python {inputs.get('versionSpec', '')}: the runner's interpreter")
    if lowered in ("publishpipelineartifact@1", "publishbuildartifacts@1"):
        path = inputs.get("targetPath") or inputs.get("path") or inputs.get("PathtoPublish") or ""
        artifact = inputs.get("artifact") or inputs.get("artifactName") or inputs.get("ArtifactName") or ""
        return st.publish(ctx, path, artifact)
    if lowered == "manualvalidation@1":
        return st.manual_validation(ctx, inputs)
    if lowered in ("downloadpipelineartifact@2", "downloadbuildartifacts@0"):
        if inputs.get("buildType", inputs.get("source", "current")) not in ("current", ""):
            raise DevOpsError(f"step '{display}': {task} from another run is not supported")
        wanted = inputs.get("artifactName") or inputs.get("artifact") or None
        target = inputs.get("targetPath") or inputs.get("path") or inputs.get("downloadPath") or None
        return st.download(ctx, wanted, target)
    raise DevOpsError(f"step '{display}': task {task} is not supported by the rehearsal")


AGENTLESS_TASKS = ("manualvalidation@1",)  # the agentless tasks the rehearsal knows


def _hook_steps(job: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    strategy = job.get("strategy") or {}
    if "runOnce" not in strategy:
        kinds = ", ".join(sorted(strategy)) or "none"
        raise DevOpsError(f"deployment {job.get('deployment')}: strategy {kinds}: only runOnce is supported")
    once = strategy["runOnce"] or {}
    return [(hook, list((once.get(hook) or {}).get("steps") or [])) for hook in _HOOKS if hook in once]


def run_job(
    job: dict[str, Any], make_ctx: Callable[[str], st.JobContext]
) -> tuple[str, list[StepResult], dict[str, str], str]:
    """(result, steps, outputs, message) of one job; make_ctx gives each agent job its context."""
    if "deployment" not in job:
        if job.get("strategy"):
            raise DevOpsError(f"job {job.get('job')}: strategy (matrix, parallel) is not supported")
        if job.get("container") or job.get("services"):
            raise DevOpsError(f"job {job.get('job')}: container jobs and services are not supported")
        ctx = make_ctx("")
        body = list(job.get("steps") or [])
        agentless = to_str(job.get("pool") or "") == "server"
        for step in body:  # ManualValidation runs on the server only, and the server runs only such tasks
            task = to_str(step.get("task") or "").lower()
            if agentless != (task in AGENTLESS_TASKS):
                where = "an agentless job (pool: server)" if agentless else "an agent job"
                raise DevOpsError(f"job {job.get('job')}: step {step} cannot run in {where}")
        if not agentless and not any("checkout" in s for s in body):
            body.insert(0, {"checkout": "self"})
        done = [run_step(ctx, s, "steps") for s in body]
        return _result(ctx), done, ctx.outputs, ctx.message
    results: list[StepResult] = []
    outputs: dict[str, str] = {}
    overall = SUCCEEDED
    message = ""
    name = to_str(job["deployment"])
    hooks = _hook_steps(job)
    on = (job.get("strategy") or {}).get("runOnce", {}).get("on") or {}
    canceled = False
    for hook, body in hooks:
        if overall not in OK or canceled:
            break
        ctx = make_ctx(hook)
        results += _deployment_steps(ctx, body, hook)
        # runOnce: other jobs read `dependencies.<job>.outputs['<job>.<step>.<var>']`, the hook's
        # outputs prefixed with the job's name (learn.microsoft.com, "Deployment jobs")
        outputs.update({f"{name}.{k}": v for k, v in ctx.outputs.items()})
        overall, message, canceled = _worse(overall, _result(ctx)), ctx.message or message, ctx.canceled
    follow = "failure" if overall == FAILED and not canceled else ("success" if overall in OK else None)
    if follow and (on.get(follow) or {}).get("steps"):
        ctx = make_ctx(f"on.{follow}")
        results += _deployment_steps(ctx, list(on[follow]["steps"]), f"on.{follow}")
        outputs.update(ctx.outputs)
        overall = _worse(overall, _result(ctx))
    return (CANCELED if canceled else overall), results, outputs, message


def _deployment_steps(ctx: st.JobContext, body: list[dict[str, Any]], hook: str) -> list[StepResult]:
    if not any("download" in s for s in body):
        body = [{"download": "current", "displayName": "Download the run's artifacts"}, *body]
    ctx.hook_prefix = ""
    return [run_step(ctx, s, hook) for s in body]


def _result(ctx: st.JobContext) -> str:
    if ctx.timed_out:
        return FAILED
    if ctx.canceled:
        return CANCELED
    return ctx.status


def _worse(a: str, b: str) -> str:
    order = [SUCCEEDED, ISSUES, FAILED, CANCELED]
    return max(a, b, key=order.index)


def fresh_workspace(root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    for sub in ("s", "a", "b", "_temp", "_home"):
        (root / sub).mkdir(parents=True)
    return root
