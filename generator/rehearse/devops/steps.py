"""Run time, one step: scripts, the simulated tasks, macros, logging commands, timeouts.

A step runs in bash on a Linux agent WITHOUT `-e` (Azure DevOps adds no flags: a script fails
only on its last command's exit code unless it says `set -e`), in its own process group, with
the world's deadline set to the earliest of the job's timeout, the step's timeout and the
run's cancellation, so a `sleep` that crosses it ends the step with SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.rehearse.devops.errors import DevOpsError
from generator.rehearse.devops.expressions import to_str
from generator.rehearse.devops.results import CANCELED, FAILED, ISSUES, SUCCEEDED
from generator.rehearse.processes import wait
from generator.rehearse.world import World

STEP_MINUTES = 0.1
WALL_SECONDS = 600.0  # real seconds a step may take: a rehearsal's sleeps do not wait
_MACRO = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")
_VSO = re.compile(r"^.*?##vso\[([\w.]+)([^\]]*)\](.*)$")
try:
    from generator.rehearse.azure.store import SUBSCRIPTION, TENANT
except ImportError:  # the simulated Azure is built by another piece
    SUBSCRIPTION, TENANT = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-0000000000aa"


class ArtifactExists(Exception):
    pass


@dataclass
class JobContext:
    """One agent job: its workspace, variables, deadline inputs and the run's artifact store."""

    world: World
    repo: Path
    workspace: Path
    variables: dict[str, str]
    secrets: set[str]
    build_id: int
    artifacts: dict[str, Path]
    artifact_root: Path
    job_deadline: float
    cancel_at: Callable[[], float | None]
    service_connections: dict[str, dict[str, str]]
    outputs: dict[str, str] = field(default_factory=dict)
    status: str = SUCCEEDED  # Succeeded, SucceededWithIssues, Failed; canceled is separate
    canceled: bool = False
    timed_out: bool = False
    message: str = ""
    hook_prefix: str = ""
    tools: Path | None = None  # python, pip, almgen shims (generator.rehearse.tools)
    timeout_minutes: float = 60
    cancel_timeout_minutes: float = 5
    grace: float | None = None  # after a cancel or timeout: the end of cancelTimeoutInMinutes

    @property
    def sources(self) -> Path:
        return self.workspace / "s"

    def macro(self, text: str) -> str:
        """`$(name)` from the variables; an unknown name is left as it is, as Azure does."""
        folded = {k.lower(): v for k, v in self.variables.items()}
        return _MACRO.sub(lambda m: folded.get(m.group(1).lower(), m.group(0)), text)

    def env(self, step_env: dict[str, Any]) -> dict[str, str]:
        env = self.world.environ()
        for name, value in self.variables.items():
            if name not in self.secrets:
                env[re.sub(r"[.\s]", "_", name).upper()] = value
        env["HOME"] = str(self.workspace / "_home")
        if self.tools is not None:
            pip_bin = self.workspace / "_pipbin"
            env["ALMGEN_PIP_BIN"] = str(pip_bin)
            first, _, rest = env["PATH"].partition(os.pathsep)
            env["PATH"] = os.pathsep.join([first, str(self.tools), str(pip_bin), rest])
        for name, value in (step_env or {}).items():
            env[str(name)] = self.macro(to_str(value))
        return env


@dataclass
class Outcome:
    result: str
    log: str


def _vso(ctx: JobContext, name: str, line: str) -> str | None:
    """Apply one logging command; returns a forced result (Failed/SucceededWithIssues) if any."""
    match = _VSO.match(line)
    if not match:
        return None
    command, props_text, value = match.group(1).lower(), match.group(2), match.group(3).strip()
    props = dict(p.split("=", 1) for p in props_text.strip().split(";") if "=" in p)
    props = {k.strip().lower(): v.strip() for k, v in props.items()}
    if command == "task.setvariable":
        var = props.get("variable", "")
        ctx.variables[var] = value
        if props.get("issecret", "").lower() == "true":
            ctx.secrets.add(var)
        if props.get("isoutput", "").lower() == "true" and name:
            ctx.outputs[f"{ctx.hook_prefix}{name}.{var}"] = value
    elif command == "task.uploadsummary":  # the run's Extensions tab: kept in the timeline
        summary = Path(value)
        text = summary.read_text("utf-8") if summary.is_file() else ""
        ctx.world.record("devops-summary", job=name, path=value, text=text)
    elif command == "task.complete":
        result = props.get("result", "Succeeded").lower()
        return {"failed": FAILED, "succeededwithissues": ISSUES}.get(result)
    elif command == "task.logissue" and props.get("type", "").lower() == "error":
        return "error-issue"
    return None


def _deadline(ctx: JobContext, step_timeout: float | None) -> float:
    now = ctx.world.now()
    if ctx.grace is not None:
        return min(ctx.grace, now + step_timeout * 60) if step_timeout else ctx.grace
    deadline = ctx.job_deadline
    if step_timeout:
        deadline = min(deadline, now + step_timeout * 60)
    cancel = ctx.cancel_at()
    if cancel is not None:
        deadline = min(deadline, cancel)
    return deadline


def run_bash(
    ctx: JobContext,
    name: str,
    script: str,
    env: dict[str, str],
    *,
    fail_on_stderr: bool,
    step_timeout: float | None,
    cwd: Path | None = None,
) -> Outcome:
    temp = Path(ctx.variables["Agent.TempDirectory"])
    temp.mkdir(parents=True, exist_ok=True)
    fd, name_of_file = tempfile.mkstemp(dir=temp, suffix=".sh")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(script)
    script_file = Path(name_of_file)
    out_file, err_file = script_file.with_suffix(".out"), script_file.with_suffix(".err")
    deadline = _deadline(ctx, step_timeout)
    wall, code = False, 0
    if ctx.world.now() >= deadline:
        return _stopped(ctx, deadline, "")
    ctx.world.set_deadline(deadline)
    try:
        with out_file.open("w") as out, err_file.open("w") as err:
            proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", str(script_file)],
                cwd=cwd or ctx.sources,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            code, wall = wait(proc, WALL_SECONDS)
    finally:
        ctx.world.set_deadline(None)
    stdout, stderr = out_file.read_text(errors="replace"), err_file.read_text(errors="replace")
    log = stdout + stderr
    if wall:
        return Outcome(
            FAILED,
            log + f"\n##[error]rehearse: the step ran {WALL_SECONDS:g} s of real time and was "
            "killed: it waits on the wall clock (time.sleep, time.monotonic), not on the rehearsal's clock",
        )
    if code < 0 and ctx.world.now() >= deadline:
        return _stopped(ctx, deadline, log)
    forced: str | None = None
    for line in stdout.splitlines():
        result = _vso(ctx, name, line)
        if result is not None and result != "error-issue":
            forced = result
    if forced == FAILED or code != 0:
        return Outcome(FAILED, log + (f"\n##[error]Bash exited with code '{code}'." if code else ""))
    if fail_on_stderr and stderr.strip():
        return Outcome(FAILED, log + "\n##[error]Bash wrote one or more lines to the standard error stream.")
    return Outcome(forced or SUCCEEDED, log)


def notice_stop(ctx: JobContext) -> None:
    """Before a step: has the run been cancelled, or the job's time run out, meanwhile?"""
    now = ctx.world.now()
    cancel = ctx.cancel_at()
    if ctx.grace is None and cancel is not None and now >= cancel:
        ctx.canceled = True
        ctx.grace = now + ctx.cancel_timeout_minutes * 60
    elif ctx.grace is None and now >= ctx.job_deadline:
        _stopped(ctx, ctx.job_deadline, "")


def _stopped(ctx: JobContext, deadline: float, log: str) -> Outcome:
    if ctx.grace is not None:
        if deadline >= ctx.grace:
            return Outcome(
                CANCELED, log + "\n##[error]The step was forcibly terminated after the cancel timeout."
            )
        return Outcome(FAILED, log + "\n##[error]The task has timed out.")
    cancel = ctx.cancel_at()
    if cancel is not None and deadline >= cancel:
        ctx.canceled = True
        ctx.grace = ctx.world.now() + ctx.cancel_timeout_minutes * 60
        ctx.world.record("cancel", job=ctx.variables.get("System.JobName"))
        return Outcome(CANCELED, log + "\n##[error]The operation was canceled.")
    if deadline >= ctx.job_deadline:
        ctx.timed_out = True
        ctx.grace = ctx.world.now() + ctx.cancel_timeout_minutes * 60
        ctx.message = (
            f"The job running on agent Hosted Agent ran longer than the maximum time of "
            f"{to_str(ctx.timeout_minutes)} minutes."
        )
        ctx.world.record("timeout", job=ctx.variables.get("System.JobName"), minutes=ctx.timeout_minutes)
        return Outcome(CANCELED, log + "\n##[error]" + ctx.message)
    return Outcome(FAILED, log + "\n##[error]The task has timed out.")


def _fake_token(ctx: JobContext, connection: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(ctx.world.now())
    claims = {
        "iss": "https://vstoken.dev.azure.com/rehearsal",
        "aud": "api://AzureADTokenExchange",
        "sub": f"sc://rehearsal/project/{connection}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def connection_client(connection: str) -> str:
    """The client ID a service connection logs in with, unless the run names one."""
    return f"{connection}-client"


def azure_cli(
    ctx: JobContext, name: str, inputs: dict[str, str], env: dict[str, str], step_timeout: float | None
) -> Outcome:
    connection = inputs.get("azureSubscription") or inputs.get("connectedServiceNameARM") or ""
    if not connection:
        return Outcome(FAILED, "##[error]Input required: connectedServiceNameARM")
    if inputs.get("scriptType", "bash") not in ("bash", "sh"):
        raise DevOpsError(f"AzureCLI@2 scriptType {inputs.get('scriptType')!r}: only bash is supported")
    sc = {
        "tenant": TENANT,
        "subscription": SUBSCRIPTION,
        "client": connection_client(connection),
        **ctx.service_connections.get(connection, {}),
    }
    if inputs.get("scriptLocation", "scriptPath") == "inlineScript":
        body = inputs.get("inlineScript", "")
    else:
        body = f'. "{ctx.macro(inputs.get("scriptPath", ""))}" {inputs.get("arguments", "")}\n'
    env = dict(env)
    if inputs.get("useGlobalConfig", "false").lower() != "true":
        config = Path(tempfile.mkdtemp(dir=ctx.variables["Agent.TempDirectory"], prefix="azcfg"))
        env["AZURE_CONFIG_DIR"] = str(config)
    if inputs.get("addSpnToEnvironment", "false").lower() == "true":
        env.update(
            servicePrincipalId=sc["client"], idToken=_fake_token(ctx, connection), tenantId=sc["tenant"]
        )
    az = env["ALMGEN_AZ"]
    login = (
        f'"{az}" login --service-principal --username "{sc["client"]}" --tenant "{sc["tenant"]}" '
        f'--federated-token "{_fake_token(ctx, connection)}" --output none || exit 1\n'
        f'"{az}" account set --subscription "{sc["subscription"]}" || exit 1\n'
    )
    first = run_bash(ctx, "", login, env, fail_on_stderr=False, step_timeout=step_timeout)
    if first.result != SUCCEEDED:
        return Outcome(first.result, first.log + "\n##[error]Azure login failed")
    cwd = inputs.get("workingDirectory")
    main = run_bash(
        ctx,
        name,
        body,
        env,
        fail_on_stderr=inputs.get("failOnStandardError", "false").lower() == "true",
        step_timeout=step_timeout,
        cwd=Path(ctx.macro(cwd)) if cwd else None,
    )
    run_bash(
        ctx,
        "",
        f'"{az}" account clear >/dev/null 2>&1 || true\n',
        env,
        fail_on_stderr=False,
        step_timeout=None,
    )
    return Outcome(main.result, first.log + main.log)


def checkout(ctx: JobContext, target: str) -> Outcome:
    if target == "none":
        return Outcome(SUCCEEDED, "")
    if target != "self":
        raise DevOpsError(f"checkout: {target}: only `self` and `none` are supported")
    shutil.copytree(
        ctx.repo,
        ctx.sources,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"),
    )
    if not (ctx.sources / ".git").exists():  # a checkout is a git repository (`git ls-files` works)
        for command in (["git", "init", "-q"], ["git", "add", "-A"]):
            subprocess.run(command, cwd=ctx.sources, check=True, capture_output=True)
    return Outcome(SUCCEEDED, f"Checked out {ctx.repo} to {ctx.sources}")


def publish(ctx: JobContext, path: str, artifact: str) -> Outcome:
    source = Path(ctx.macro(path))
    if not source.is_absolute():
        source = ctx.sources / source
    artifact = artifact or "drop"
    if artifact in ctx.artifacts:
        return Outcome(FAILED, f"##[error]Artifact {artifact} already exists for build {ctx.build_id}.")
    if not source.exists():
        return Outcome(FAILED, f"##[error]Path does not exist: {source}")
    stored = ctx.artifact_root / artifact
    if source.is_dir():
        shutil.copytree(source, stored)
    else:
        stored.mkdir(parents=True)
        shutil.copy2(source, stored / source.name)
    ctx.artifacts[artifact] = stored
    ctx.world.record("artifact", action="publish", name=artifact, build=ctx.build_id)
    return Outcome(SUCCEEDED, f"Uploaded artifact '{artifact}'")


def download(ctx: JobContext, artifact: str | None, target: str | None) -> Outcome:
    names = [artifact] if artifact else sorted(ctx.artifacts)
    logs = []
    for name in names:
        if name not in ctx.artifacts:
            return Outcome(FAILED, f"##[error]Artifact {name} was not found for build {ctx.build_id}.")
        dest = Path(ctx.macro(target)) if target else ctx.workspace / name
        if target and not artifact:
            dest = dest / name
        shutil.copytree(ctx.artifacts[name], dest, dirs_exist_ok=True)
        ctx.world.record("artifact", action="download", name=name, build=ctx.build_id)
        logs.append(f"Downloaded {name} to {dest}")
    return Outcome(SUCCEEDED, "\n".join(logs))


def manual_validation(ctx: JobContext, inputs: dict[str, str]) -> Outcome:
    """ManualValidation@1 in an agentless job: the approvers resume it, unless an `approval` fault
    for the job's environment (`ALMGEN_ENVIRONMENT`) with `manualValidation` rejects it (the task,
    hence the job, fails; onTimeout: reject fails it the same way)."""
    env = ctx.variables.get("ALMGEN_ENVIRONMENT", "")
    approvers = [a.strip() for a in (inputs.get("approvers") or inputs.get("notifyUsers") or "").split(",")]
    approvers = [a for a in approvers if a]
    fault = next(
        (
            f
            for f in ctx.world.faults()
            if f.get("kind") == "approval" and f.get("manualValidation") and f.get("env") == env
        ),
        None,
    )
    decision = "reject" if fault else "resume"
    by = approvers[0] if approvers else "a user with queue build permission"
    ctx.world.record("devops.manual-validation", env=env, approvers=approvers, decision=decision, by=by)
    if fault:
        return Outcome(FAILED, f"##[error]The manual validation was rejected by {by}.")
    return Outcome(SUCCEEDED, f"The manual validation was resumed by {by}.")
