"""Executes generated GitHub Actions workflows locally, against the rehearsal's simulated Azure.

The public API: `run_workflow`, `rerun_failed`, and what they return (`RunResult`).
"""

from generator.rehearse.github.errors import RehearseError
from generator.rehearse.github.results import Artifact, JobResult, RunResult, StepResult
from generator.rehearse.github.runner import rerun_failed, run_workflow

__all__ = [
    "Artifact",
    "JobResult",
    "RehearseError",
    "RunResult",
    "StepResult",
    "rerun_failed",
    "run_workflow",
]
