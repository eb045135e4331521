"""What a rehearsed Azure DevOps run returns: stages, jobs, steps and their results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUCCEEDED, ISSUES, FAILED, CANCELED, SKIPPED = (
    "Succeeded",
    "SucceededWithIssues",
    "Failed",
    "Canceled",
    "Skipped",
)
OK = (SUCCEEDED, ISSUES)


@dataclass
class StepResult:
    name: str
    display: str
    outcome: str  # Succeeded, SucceededWithIssues, Failed, Canceled, Skipped
    log: str = ""
    hook: str = "steps"


@dataclass
class JobResult:
    stage: str
    name: str
    result: str
    attempt: int = 1
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # "step.var" (and "hook.step.var")
    message: str = ""
    environment: str | None = None
    kept: bool = False  # a re-run kept this job from the attempt before

    def log(self) -> str:
        return "\n".join(f"--- {s.display} [{s.outcome}]\n{s.log}" for s in self.steps)


@dataclass
class StageResult:
    name: str
    result: str
    attempt: int = 1
    jobs: dict[str, JobResult] = field(default_factory=dict)


@dataclass
class RunResult:
    repo: Path
    pipeline: str
    build_id: int
    result: str
    stages: dict[str, StageResult]
    artifacts: dict[str, Path]
    expanded: dict[str, Any]
    warnings: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    canceled: bool = False

    def job(self, stage: str, job: str) -> JobResult:
        return self.stages[stage].jobs[job]

    def failed_steps(self) -> list[tuple[str, str, StepResult]]:
        return [
            (s.name, j.name, step)
            for s in self.stages.values()
            for j in s.jobs.values()
            for step in j.steps
            if step.outcome == FAILED
        ]

    def report(self) -> str:
        lines = [f"run {self.build_id}: {self.result}"]
        for stage in self.stages.values():
            lines.append(f"  stage {stage.name}: {stage.result} (attempt {stage.attempt})")
            for job in stage.jobs.values():
                lines.append(f"    job {job.name}: {job.result} {job.message}".rstrip())
                for step in job.steps:
                    lines.append(f"      {step.hook}/{step.display}: {step.outcome}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)
