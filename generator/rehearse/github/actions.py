"""The actions a generated workflow uses, simulated: checkout, setup-python, azure/login, artifacts."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator.rehearse.github.artifacts import ArtifactError, ArtifactStore
from generator.rehearse.github.errors import unsupported
from generator.rehearse.github.process import run_process
from generator.rehearse.github.results import Artifact
from generator.rehearse.world import World


@dataclass
class ActionCall:
    uses: str
    inputs: dict[str, str]
    world: World
    workspace: Path
    temp: Path
    snapshot: Path  # the repository at the run's commit
    env: dict[str, str]  # the step's process environment
    store: ArtifactStore
    attempt: int
    job: str
    permissions: dict[str, str] | None  # None: the default token (no id-token)
    subject: str  # the OIDC token's subject claim for this job
    repository: str
    wall_seconds: float
    uploaded: list[Artifact] = field(default_factory=list)


@dataclass
class ActionDone:
    ok: bool
    log: str
    outputs: dict[str, str] = field(default_factory=dict)


def action_name(uses: str) -> str:
    """`owner/name[/path]@ref` -> `owner/name[/path]` in lower case."""
    if uses.startswith(("./", "docker://")):
        raise unsupported(f"the action '{uses}' (local and Docker actions)")
    name, _, ref = uses.partition("@")
    if not ref:
        raise unsupported(f"the action '{uses}' without an @ref")
    return name.lower()


def _bool(value: str, default: bool) -> bool:
    if value == "":
        return default
    return value.strip().lower() == "true"


def _checkout(call: ActionCall) -> ActionDone:
    repository = call.inputs.get("repository", "")
    if repository and repository.lower() != call.repository.lower():
        raise unsupported(f"checking out another repository ('{repository}')")
    if call.permissions is not None and call.permissions.get("contents") == "none":
        return ActionDone(
            False,
            "remote: Repository not found.\nError: The process '/usr/bin/git' failed with exit "
            "code 128 (the job's token has no 'contents: read' permission)",
        )
    target = call.workspace / call.inputs.get("path", "")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(call.snapshot, target, dirs_exist_ok=True)
    if not (target / ".git").exists():  # a checkout is a git repository (`git ls-files` works)
        for command in (["git", "init", "-q"], ["git", "add", "-A"]):
            subprocess.run(command, cwd=target, check=True, capture_output=True)
    return ActionDone(True, f"Checked out {call.repository} into {target}")


def _setup_python(call: ActionCall) -> ActionDone:
    version = call.inputs.get("python-version", "")
    return ActionDone(
        True, f"Using the runner's python for python-version {version!r}", {"python-version": version}
    )


def _fake_token(call: ActionCall) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(call.world.now())
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "api://AzureADTokenExchange",
        "sub": call.subject,
        "repository": call.repository,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.rehearse"


def _azure_login(call: ActionCall) -> ActionDone:
    inputs = call.inputs
    if inputs.get("creds"):
        raise unsupported("azure/login with 'creds' (a client secret); use OIDC: client-id, tenant-id")
    if inputs.get("auth-type", "SERVICE_PRINCIPAL").upper() != "SERVICE_PRINCIPAL":
        raise unsupported(f"azure/login auth-type '{inputs.get('auth-type')}'")
    client, tenant, subscription = (
        inputs.get("client-id", ""),
        inputs.get("tenant-id", ""),
        inputs.get("subscription-id", ""),
    )
    if not client or not tenant:
        return ActionDone(
            False,
            "Error: Login failed with Error: Using auth-type: SERVICE_PRINCIPAL. Not all values are "
            "present. Ensure 'client-id' and 'tenant-id' are supplied.. Double check if the "
            "'auth-type' is correct. Refer to https://github.com/Azure/login#readme for more "
            "information.",
        )
    if not subscription and not _bool(inputs.get("allow-no-subscriptions", ""), False):
        return ActionDone(False, "Error: Login failed with Error: Ensure subscriptionId is supplied.")
    if (call.permissions or {}).get("id-token") != "write":
        return ActionDone(
            False,
            "Error: Please make sure to give write permissions to id-token in the workflow.\n"
            "Error: Login failed with Error: Error message: Unable to get "
            "ACTIONS_ID_TOKEN_REQUEST_URL env variable. Double check if the 'auth-type' is "
            "correct.",
        )
    az = call.env.get("ALMGEN_AZ", "az")
    commands = [
        [
            az,
            "login",
            "--service-principal",
            "--username",
            client,
            "--tenant",
            tenant,
            "--federated-token",
            _fake_token(call),
            "--output",
            "none",
        ]
    ]
    if subscription:
        commands.append([az, "account", "set", "--subscription", subscription])
    logs: list[str] = []
    for index, argv in enumerate(commands):
        done = run_process(
            argv,
            cwd=call.workspace,
            env=call.env,
            log_file=call.temp / f"azure-login-{index}.log",
            wall_seconds=call.wall_seconds,
        )
        logs.append(done.log)
        if done.returncode != 0:
            return ActionDone(
                False,
                "".join(logs) + f"Error: Login failed with Error: The process '{az}' failed "
                f"with exit code {done.returncode}",
            )
    return ActionDone(True, "".join(logs) + "Login successful.")


def _path(call: ActionCall, value: str) -> Path:
    path = Path(value) if value else call.workspace
    return path if path.is_absolute() else call.workspace / path


def _upload(call: ActionCall) -> ActionDone:
    inputs = call.inputs
    mode = inputs.get("if-no-files-found", "warn") or "warn"
    if mode not in ("warn", "error", "ignore"):
        return ActionDone(False, f"Error: Unrecognized if-no-files-found input. Provided: {mode}.")
    try:
        artifact, message = call.store.upload(
            name=inputs.get("name", ""),
            paths=inputs.get("path", ""),
            workspace=call.workspace,
            attempt=call.attempt,
            job=call.job,
            overwrite=_bool(inputs.get("overwrite", ""), False),
            include_hidden=_bool(inputs.get("include-hidden-files", ""), False),
            if_no_files_found=mode,
            retention_days=int(float(inputs.get("retention-days") or 90)),
        )
    except ArtifactError as exc:
        call.world.record(
            "github.artifact",
            action="upload",
            name=inputs.get("name", ""),
            job=call.job,
            attempt=call.attempt,
            error=str(exc),
        )
        return ActionDone(False, f"Error: {exc}")
    if artifact is None:
        return ActionDone(True, message)
    call.uploaded.append(artifact)
    call.world.record(
        "github.artifact",
        action="upload",
        name=artifact.name,
        job=call.job,
        attempt=call.attempt,
        files=len(artifact.files),
    )
    return ActionDone(True, message, {"artifact-id": artifact.name})


def _download(call: ActionCall) -> ActionDone:
    inputs = call.inputs
    for key in ("run-id", "github-token", "repository"):
        if inputs.get(key):
            raise unsupported(f"download-artifact from another run ('{key}')")
    try:
        message = call.store.download(
            name=inputs.get("name", ""),
            pattern=inputs.get("pattern", ""),
            path=_path(call, inputs.get("path", "")),
            merge_multiple=_bool(inputs.get("merge-multiple", ""), False),
        )
    except ArtifactError as exc:
        call.world.record(
            "github.artifact", action="download", name=inputs.get("name", ""), job=call.job, error=str(exc)
        )
        return ActionDone(False, f"Error: {exc}")
    call.world.record("github.artifact", action="download", name=inputs.get("name", ""), job=call.job)
    return ActionDone(True, message, {"download-path": str(_path(call, inputs.get("path", "")))})


ACTIONS: dict[str, Callable[[ActionCall], ActionDone]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "azure/login": _azure_login,
    "actions/upload-artifact": _upload,
    "actions/download-artifact": _download,
}


def run_action(call: ActionCall) -> ActionDone:
    name = action_name(call.uses)
    handler = ACTIONS.get(name)
    if handler is None:
        raise unsupported(f"the action '{name}' (simulated: {', '.join(sorted(ACTIONS))})")
    return handler(call)
