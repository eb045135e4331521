"""Executes generated GitHub Actions workflows locally, against the rehearsal's simulated Azure.

    result = run_workflow(repo, "svc-cd.yml", world, vars=..., secrets=..., approvals={"prod": ["ai-leads"]})
    again = rerun_failed(result)          # "Re-run failed jobs": attempt 2 of the same run
    print(result.report())

What it follows, as GitHub does:
  * jobs one at a time in `needs` order; `if:` (status functions over every ancestor job),
    skip propagation, `result` success/failure/cancelled/skipped; `strategy.matrix`
    (include/exclude, fail-fast); reusable workflows (`./` and `$/` paths, typed inputs,
    secrets, permission caps, `on.workflow_call.outputs`), nested jobs keyed `caller/called`;
  * steps: `run:` with GitHub's shells (no `shell:` is `bash -e`, `shell: bash` adds pipefail),
    env merging, GITHUB_OUTPUT/ENV/PATH/STEP_SUMMARY, `continue-on-error`, step and job
    `timeout-minutes` and cancellation through the world's clock deadline (a 3-hour bake
    rehearses in seconds), `steps.<id>.outcome/conclusion`;
  * simulated actions: checkout, setup-python, azure/login (OIDC through the world's `az`; needs
    `id-token: write`), upload-artifact (409 on a name already in the run, any attempt, unless
    `overwrite: true`; hidden files only with `include-hidden-files`) and download-artifact;
  * environments with reviewers wait for approval (a fault rejects); a `cancel` fault cancels
    the run N minutes after the first job of an environment started; re-runs keep successful
    jobs, their outputs and artifacts, and pass approvals that passed before.

A job is a fresh machine: its own workspace, RUNNER_TEMP and AZURE_CONFIG_DIR (it logs in itself).
`python`/`pip` are the runner's interpreter and never install: a package installed with pip
leaves a stand-in command. What rehearse does not support (containers, services, other
repositories' workflows or actions, pwsh, unknown actions or functions) raises RehearseError
naming the file, job, step and construct.
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
