"""Reusable workflows: where `uses:` points, typed inputs, secrets, permission caps and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.errors import InvalidWorkflow, RehearseError
from generator.rehearse.github.expressions import Scope, to_string
from generator.rehearse.github.workflow import Workflow, load, permissions_of

_RANK = {"none": 0, "read": 1, "write": 2}
# the default GITHUB_TOKEN (no `permissions:` anywhere): read and write, but no OIDC token
DEFAULT_TOKEN = {
    scope: "write"
    for scope in (
        "actions",
        "attestations",
        "checks",
        "contents",
        "deployments",
        "discussions",
        "issues",
        "models",
        "packages",
        "pages",
        "pull-requests",
        "repository-projects",
        "security-events",
        "statuses",
    )
} | {"id-token": "none"}


def resolve_uses(uses: str, repository: str, where: str, job: str) -> str:
    """The called workflow's path in this repository (`./`, `$/` or `owner/repo/...@ref` of this repo)."""
    for prefix in ("./", "$/"):
        if uses.startswith(prefix):
            path = uses[len(prefix) :]
            break
    else:
        target, _, ref = uses.partition("@")
        owner_repo = "/".join(target.split("/")[:2])
        if not ref or owner_repo.lower() != repository.lower():
            raise RehearseError(
                f"rehearse does not support calling a workflow of another repository ('{uses}')",
                file=where,
                job=job,
            )
        path = "/".join(target.split("/")[2:])
    if "@" in path:
        raise InvalidWorkflow(f"a local reusable workflow takes no @ref: '{uses}'", file=where, job=job)
    if not path.startswith(".github/workflows/") or "/" in path[len(".github/workflows/") :]:
        raise InvalidWorkflow(
            f"a reusable workflow must be in .github/workflows: '{uses}'", file=where, job=job
        )
    return path


def load_called(repo: Path, uses: str, repository: str, where: str, job: str) -> Workflow:
    called = load(repo, resolve_uses(uses, repository, where, job))
    if "workflow_call" not in called.on:
        raise InvalidWorkflow(
            f"'{called.path}' is not a reusable workflow (no 'on: workflow_call')", file=where, job=job
        )
    return called


def effective_permissions(
    job_raw: dict[str, Any], workflow: Workflow, cap: dict[str, str] | None
) -> dict[str, str] | None:
    where = workflow.path
    for raw in (job_raw.get("permissions"), workflow.get("permissions")):
        parsed = permissions_of(raw, where)
        if parsed is not None:
            return parsed
    return cap


def check_caps(
    repo: Path, workflow: Workflow, repository: str, cap: dict[str, str] | None, depth: int = 0
) -> None:
    """GitHub refuses a run whose nested job asks for more than its caller grants."""
    if depth > 4:
        raise InvalidWorkflow("reusable workflows nest more than 4 levels deep", file=workflow.path)
    for job in workflow.jobs.values():
        granted = effective_permissions(job.raw, workflow, cap)
        if cap is not None and depth > 0:
            allowed = cap
            for scope, level in (granted or {}).items():
                if _RANK[level] > _RANK[allowed.get(scope, "none")]:
                    raise InvalidWorkflow(
                        f"The nested job '{job.id}' is requesting '{scope}: {level}', but is only allowed "
                        f"'{scope}: {allowed.get(scope, 'none')}'.",
                        file=workflow.path,
                        job=job.id,
                    )
        if job.uses:
            called = load_called(repo, job.uses, repository, workflow.path, job.id)
            check_caps(repo, called, repository, granted or DEFAULT_TOKEN, depth + 1)


def _typed(name: str, kind: str, value: Any) -> Any:
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise InvalidWorkflow(
            f"Unexpected value '{to_string(value)}' for the input '{name}': a boolean was expected"
        )
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InvalidWorkflow(
            f"Unexpected value '{to_string(value)}' for the input '{name}': a number was expected"
        )
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise InvalidWorkflow(f"Unexpected value for the input '{name}': a string was expected")
        return to_string(value)
    raise InvalidWorkflow(f"the input '{name}' has an unknown type '{kind}'")


def call_inputs(called: Workflow, with_raw: Any, scope: Scope, default_scope: Scope) -> dict[str, Any]:
    declared = (called.on.get("workflow_call") or {}).get("inputs") or {}
    given = with_raw or {}
    if not isinstance(given, dict):
        raise InvalidWorkflow("'with' must be a mapping")
    for name in given:
        if name not in declared:
            raise InvalidWorkflow(f"Invalid input, {name} is not defined in the referenced workflow.")
    inputs: dict[str, Any] = {}
    for name, raw_spec in declared.items():
        spec = raw_spec or {}
        kind = str(spec.get("type", "string"))
        if name in given:
            inputs[name] = _typed(name, kind, templates.value(given[name], scope))
        elif "default" in spec:
            inputs[name] = _typed(name, kind, templates.value(spec["default"], default_scope))
        elif spec.get("required"):
            raise InvalidWorkflow(f"Input required and not supplied: {name}")
        else:
            inputs[name] = {"boolean": False, "number": 0.0}.get(kind, "")
    return inputs


def call_secrets(called: Workflow, raw: Any, caller_secrets: dict[str, str], scope: Scope) -> dict[str, str]:
    declared = (called.on.get("workflow_call") or {}).get("secrets") or {}
    if raw == "inherit":
        passed = {k: v for k, v in caller_secrets.items() if k != "GITHUB_TOKEN"}
    else:
        passed = templates.string_map(raw, scope)
        for name in passed:
            if name not in declared:
                raise InvalidWorkflow(f"Invalid secret, {name} is not defined in the referenced workflow.")
    for name, spec in declared.items():
        if (spec or {}).get("required") and name not in passed:
            raise InvalidWorkflow(f"Secret {name} is required, but not provided while calling.")
    return passed


def call_outputs(called: Workflow, scope: Scope) -> dict[str, str]:
    declared = (called.on.get("workflow_call") or {}).get("outputs") or {}
    return {
        str(name): to_string(templates.value((spec or {}).get("value", ""), scope))
        for name, spec in declared.items()
    }
