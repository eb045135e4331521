"""A workflow file read into jobs and steps, with the keys rehearse understands checked."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.rehearse.github.errors import InvalidWorkflow, RehearseError

JOB_KEYS = {
    "name",
    "needs",
    "if",
    "runs-on",
    "env",
    "defaults",
    "timeout-minutes",
    "continue-on-error",
    "environment",
    "concurrency",
    "permissions",
    "outputs",
    "strategy",
    "steps",
    "uses",
    "with",
    "secrets",
}
REFUSED_JOB_KEYS = {
    "container": "job containers",
    "services": "service containers",
    "snapshot": "job snapshots",
}
STEP_KEYS = {
    "id",
    "name",
    "uses",
    "run",
    "with",
    "env",
    "if",
    "shell",
    "working-directory",
    "continue-on-error",
    "timeout-minutes",
}
WORKFLOW_KEYS = {"name", "run-name", "on", "env", "defaults", "permissions", "concurrency", "jobs"}
PERMISSION_SCOPES = {
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
}


@dataclass
class Step:
    index: int
    raw: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def id(self) -> str:
        return str(self.raw.get("id") or f"__step{self.index}")

    @property
    def display(self) -> str:
        if self.raw.get("name"):
            return str(self.raw["name"])
        if self.raw.get("uses"):
            return f"Run {self.raw['uses']}"
        first = str(self.raw.get("run", "")).strip().splitlines()
        return f"Run {first[0]}" if first else f"step {self.index + 1}"


@dataclass
class Job:
    id: str
    raw: dict[str, Any]
    steps: list[Step] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def needs(self) -> list[str]:
        needs = self.raw.get("needs") or []
        return [str(needs)] if isinstance(needs, str) else [str(n) for n in needs]

    @property
    def uses(self) -> str | None:
        uses = self.raw.get("uses")
        return None if uses is None else str(uses)


@dataclass
class Workflow:
    path: str  # relative to the repository, as GitHub shows it
    raw: dict[str, Any]
    on: dict[str, Any]
    jobs: dict[str, Job]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or self.path)


_PARSED: dict[str, Any] = {}  # workflow text -> what it parses to, for this process


def _yaml_load(text: str, where: str) -> Any:
    """The parsed workflow, a copy of it when this process parsed the same text before.

    ruamel's pure-Python parser takes about a second for a generated CD workflow and its
    reusable workflows, and a run loads each several times (the caller, every call, the checks);
    scenarios that start from the same first deploy load the same files again.
    """
    if text not in _PARSED:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            parsed = YAML(typ="safe", pure=True).load(text)
        except YAMLError as exc:
            raise InvalidWorkflow(f"the workflow is not valid YAML: {exc}", file=where) from None
        if len(_PARSED) >= 64:
            _PARSED.clear()
        _PARSED[text] = parsed
    return copy.deepcopy(_PARSED[text])


def permissions_of(raw: Any, where: str, job: str = "") -> dict[str, str] | None:
    """`permissions:` as scope -> read/write/none; None when absent (the default token)."""
    if raw is None:
        return None
    if raw in ("read-all", "write-all"):
        level = "read" if raw == "read-all" else "write"
        return {scope: level for scope in PERMISSION_SCOPES}
    if not isinstance(raw, dict):
        raise InvalidWorkflow(f"unexpected value for permissions: {raw!r}", file=where, job=job)
    out = {scope: "none" for scope in PERMISSION_SCOPES}
    for scope, level in raw.items():
        if scope not in PERMISSION_SCOPES or level not in ("read", "write", "none"):
            raise InvalidWorkflow(f"unexpected permission '{scope}: {level}'", file=where, job=job)
        out[str(scope)] = str(level)
    return out


def load(repo: Path, relative: str) -> Workflow:
    path = repo / relative
    if not path.is_file():
        raise InvalidWorkflow(f"workflow file not found: {relative}", file=relative)
    raw = _yaml_load(path.read_text("utf-8"), relative)
    if not isinstance(raw, dict) or "jobs" not in raw:
        raise InvalidWorkflow("a workflow needs a 'jobs' mapping", file=relative)
    for key in raw:
        if key not in WORKFLOW_KEYS:
            raise RehearseError(f"rehearse does not support the workflow key '{key}'", file=relative)
    on = raw.get("on")
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = {str(event): None for event in on}
    elif not isinstance(on, dict):
        raise InvalidWorkflow("the workflow has no 'on' trigger", file=relative)
    permissions_of(raw.get("permissions"), relative)
    jobs: dict[str, Job] = {}
    if not isinstance(raw["jobs"], dict) or not raw["jobs"]:
        raise InvalidWorkflow("'jobs' must be a non-empty mapping", file=relative)
    for job_id, job_raw in raw["jobs"].items():
        jobs[str(job_id)] = _job(str(job_id), job_raw, relative)
    for job in jobs.values():
        for need in job.needs:
            if need not in jobs:
                raise InvalidWorkflow(f"Job '{job.id}' depends on unknown job '{need}'.", file=relative)
    _check_cycles(jobs, relative)
    return Workflow(relative, raw, on, jobs)


def _job(job_id: str, raw: Any, where: str) -> Job:
    if not isinstance(raw, dict):
        raise InvalidWorkflow("a job must be a mapping", file=where, job=job_id)
    for key in raw:
        if key in REFUSED_JOB_KEYS:
            raise RehearseError(
                f"rehearse does not support {REFUSED_JOB_KEYS[key]} ('{key}')", file=where, job=job_id
            )
        if key not in JOB_KEYS:
            raise RehearseError(f"rehearse does not support the job key '{key}'", file=where, job=job_id)
    permissions_of(raw.get("permissions"), where, job_id)
    labels = raw.get("runs-on", [])
    for label in [labels] if isinstance(labels, str) else labels if isinstance(labels, list) else []:
        if any(word in str(label).lower() for word in ("windows", "macos")):
            raise RehearseError(
                f"rehearse does not support 'runs-on: {label}' (steps run on Linux)", file=where, job=job_id
            )
    job = Job(job_id, raw)
    if "uses" in raw:
        if "steps" in raw:
            raise InvalidWorkflow(
                "a job calling a reusable workflow cannot have steps", file=where, job=job_id
            )
        return job
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidWorkflow("a job needs steps (or uses: a reusable workflow)", file=where, job=job_id)
    seen: set[str] = set()
    for index, step_raw in enumerate(steps):
        if not isinstance(step_raw, dict):
            raise InvalidWorkflow(f"step {index + 1} must be a mapping", file=where, job=job_id)
        step = Step(index, step_raw)
        for key in step_raw:
            if key not in STEP_KEYS:
                raise RehearseError(
                    f"rehearse does not support the step key '{key}'",
                    file=where,
                    job=job_id,
                    step=step.display,
                )
        if ("uses" in step_raw) == ("run" in step_raw):
            raise InvalidWorkflow(
                "a step needs exactly one of 'uses' and 'run'", file=where, job=job_id, step=step.display
            )
        if "id" in step_raw:
            if step.id in seen:
                raise InvalidWorkflow(
                    f"the identifier '{step.id}' may not be used more than once", file=where, job=job_id
                )
            seen.add(step.id)
        job.steps.append(step)
    return job


def _check_cycles(jobs: dict[str, Job], where: str) -> None:
    state: dict[str, int] = {}

    def visit(job_id: str) -> None:
        if state.get(job_id) == 1:
            raise InvalidWorkflow(f"the job '{job_id}' is part of a dependency cycle", file=where)
        if state.get(job_id) == 2:
            return
        state[job_id] = 1
        for need in jobs[job_id].needs:
            visit(need)
        state[job_id] = 2

    for job_id in jobs:
        visit(job_id)


def topological(jobs: dict[str, Job]) -> list[str]:
    """A deterministic order: a job after its needs, otherwise in file order."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(jobs):
        for job_id, job in jobs.items():
            if job_id not in done and all(need in done for need in job.needs):
                order.append(job_id)
                done.add(job_id)
                break
    return order
