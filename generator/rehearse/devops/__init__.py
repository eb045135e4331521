"""Executes generated Azure DevOps multi-stage pipelines locally, against the rehearsal's simulated Azure.

    result = run_pipeline(repo, ".azure-pipelines/svc.yml", world, approvals={"prod": ["ai-leads"]})
    again = rerun_failed(result)   # "Rerun failed jobs": attempt 2 of the same run
    print(result.report())

Modules: `templates` (compile time: templates, parameters, `${{ }}`), `expressions`,
`runner` (stages, jobs, conditions, approvals, cancellation, re-runs), `jobs` (job and
deployment runOnce hooks, step dispatch), `steps` (bash, the simulated tasks, artifacts,
macros, logging commands, deadlines). See each module's docstring for what it follows.

Followed: templates (stage/job/step/variable, typed parameters, if/elseif/else, each, key
insertion, expressions in strings, local `extends:`); stages in dependsOn order (default: the
stage before), jobs in dependsOn order; `condition:` with the status functions over the
dependencies; `dependencies.X.result/outputs['step.var']` (a runOnce deployment job: `['X.step.var']`),
`stageDependencies.S.J.outputs[...]` (only of the stages the job's stage depends on);
`$[ ]` job variables; job `timeoutInMinutes` (default 60; 0 = 360) and `cancelTimeoutInMinutes`
(default 5: after a cancel or timeout only `always()`/`canceled()` steps run, within it); step
`timeoutInMinutes`, `continueOnError`, `env`, `condition`, `enabled`; bash without `-e`,
`failOnStderr`; Bash@3, AzureCLI@2 (a fresh `az login` per task, its own AZURE_CONFIG_DIR, then
`az account clear`), UsePythonVersion@0, Publish/DownloadPipelineArtifact (immutable per run,
across attempts), `checkout: self|none`, `download: current|none`, `publish:`; logging commands
setvariable (isOutput, issecret), task.complete, logissue, task.uploadsummary (its file kept in the
world's timeline as a `devops-summary` event); `$(macro)` (unknown left as is);
deployment jobs with `environment:` and `strategy: runOnce` (preDeploy, deploy, routeTraffic,
postRouteTraffic, on.failure/on.success; each hook a fresh agent job; no checkout, all
artifacts downloaded unless a `download:` step is given); approvals decided before a stage's
jobs; cancel faults; re-runs of failed jobs.

Refused with DevOpsError (file and construct named): other repositories' templates and
checkouts, pwsh/powershell, rolling and canary strategies, unknown tasks and functions,
artifacts of other runs, job strategies (matrix, parallel), containers and services.
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
