"""Executes generated Azure DevOps multi-stage pipelines locally, against the rehearsal's simulated Azure.

    result = run_pipeline(repo, ".azure-pipelines/svc.yml", world, approvals={"prod": ["ai-leads"]})
    again = rerun_failed(result)   # "Rerun failed jobs": attempt 2 of the same run
    print(result.report())

Modules: `templates` (compile time: templates, parameters, `${{ }}`), `expressions`,
`runner` (stages, jobs, conditions, approvals, cancellation, re-runs), `jobs` (job and
deployment runOnce hooks, step dispatch), `steps` (bash, the simulated tasks, artifacts,
macros, logging commands, deadlines). See each module's docstring for what it follows.
"""

from generator.rehearse.devops.errors import DevOpsError
from generator.rehearse.devops.results import JobResult, RunResult, StageResult, StepResult
from generator.rehearse.devops.runner import expand, rerun_failed, run_pipeline

__all__ = [
    "DevOpsError",
    "JobResult",
    "RunResult",
    "StageResult",
    "StepResult",
    "expand",
    "rerun_failed",
    "run_pipeline",
]
