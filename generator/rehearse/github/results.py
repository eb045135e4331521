"""What a rehearsed workflow run produced: jobs, steps, logs, artifacts and summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StepResult:
    name: str
    id: str
    outcome: str  # success, failure, cancelled, skipped (before continue-on-error)
    conclusion: str  # after continue-on-error
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    key: str  # `job`, `job (matrix values)` or `caller/called`
    name: str
    result: str  # success, failure, cancelled, skipped
    attempt: int = 1
    environment: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    error: str = ""  # why the job failed before or around its steps (approval, timeout, setup)
    kind: str = "steps"  # steps; call (a reusable workflow's caller); matrix (the legs' aggregate)
    continue_on_error: bool = False

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if name in (step.name, step.id):
                return step
        raise KeyError(f"no step '{name}' in job '{self.key}'; steps: {[s.name for s in self.steps]}")

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.outcome})\n{s.log}" for s in self.steps)


@dataclass
class Artifact:
    name: str
    attempt: int
    job: str
    path: Path  # the stored files
    files: list[str]
    retention_days: int


@dataclass
class RunResult:
    """One attempt of a workflow run. `jobs` holds every job of the run, with the attempt that ran it."""

    repo: Path
    workflow: str
    run_id: int
    attempt: int
    event: str
    ref: str
    sha: str
    conclusion: str  # success, failure, cancelled
    jobs: dict[str, JobResult] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    startup_failure: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # what rerun_failed needs to run it again
    run_dir: Path = Path()

    def job(self, key: str) -> JobResult:
        if key in self.jobs:
            return self.jobs[key]
        for job in self.jobs.values():
            if job.name == key:
                return job
        raise KeyError(f"no job '{key}' in the run; jobs: {sorted(self.jobs)}")

    @property
    def summaries(self) -> dict[str, str]:
        return {key: job.summary for key, job in self.jobs.items() if job.summary}

    def report(self) -> str:
        """A short human-readable account: each job, its result, the steps that did not succeed."""
        lines = [f"{self.workflow} run {self.run_id} attempt {self.attempt}: {self.conclusion}"]
        if self.startup_failure:
            lines.append(f"  startup failure: {self.startup_failure}")
        for job in self.jobs.values():
            lines.append(f"  {job.key}: {job.result}" + (f" ({job.error})" if job.error else ""))
            for step in job.steps:
                if step.outcome not in ("success", "skipped"):
                    tail = [line for line in step.log.strip().splitlines() if line.strip()][-3:]
                    lines.append(f"    {step.name}: {step.outcome}")
                    lines.extend(f"      | {line}" for line in tail)
        return "\n".join(lines)
