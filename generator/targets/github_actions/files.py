"""The GitHub Actions target: four workflows that print the Plan.

`<service>-deploy.yml` is the environment template (a reusable workflow) with the Plan's job
graph; `<service>-cd.yml` calls it once per environment with that environment's inputs.
"""

from __future__ import annotations

import json
from typing import Any

from generator import __version__
from generator.plan import production
from generator.plan.catalog import ACTIONS, CHECKOV_VERSION, PYTHON_VERSION, RELEASE_ARTIFACT
from generator.plan.model import (
    INPUTS,
    Condition,
    InputEquals,
    InputHas,
    InputLongerThan,
    InputNonEmpty,
    InputTrue,
    InputValue,
    Job,
    Plan,
)
from generator.plan.shell import ShellStep, contract_command, job_steps, keep_records_step, restore_steps
from generator.render.outputs import TemplateFile
from generator.spec.model import Spec
from generator.spec.naming import github_approval_environment


def condition(value: Condition) -> str:
    """A Plan condition in GitHub's expression syntax, over the reusable workflow's inputs."""
    if value is None:
        return ""
    if isinstance(value, InputTrue):
        return f"inputs.{value.input}"
    if isinstance(value, InputHas):
        return f"contains(fromJSON(inputs.{value.input}), '{value.value}')"
    if isinstance(value, InputNonEmpty):
        return f"inputs.{value.input} != '[]'"
    if isinstance(value, InputEquals):
        return f"inputs.{value.input} {'!=' if value.negate else '=='} '{value.value}'"
    assert isinstance(value, InputLongerThan)
    return f"fromJSON(inputs.{value.input})[{value.length}] != null"


def input_value(value: InputValue) -> str | int | float | bool:
    """Lists travel as JSON text (workflow_call inputs are string, number or boolean)."""
    return json.dumps(list(value)) if isinstance(value, tuple) else value


def input_type(value: InputValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "string"


APPROVAL_INPUT = "approval-environment"  # GitHub only: Azure DevOps approves a stage once


def declared_inputs(plan: Plan) -> list[dict[str, Any]]:
    """The reusable workflow's `on.workflow_call.inputs`, every one required."""
    first = dict(plan.environments[0].inputs)
    return [
        *(
            {"name": name, "description": text, "type": input_type(first[name])}
            for name, text in INPUTS.items()
            if name in first  # ab-decide: only with a manual A/B decision
        ),
        {
            "name": APPROVAL_INPUT,
            "description": "The GitHub environment whose reviewers approve the deployment ('' for none).",
            "type": "string",
        },
    ]


def environment_inputs(spec: Spec, plan: Plan) -> dict[str, dict[str, Any]]:
    """What cd.yml passes to the reusable workflow for each environment."""
    out = {}
    for env_plan in plan.environments:
        values: dict[str, Any] = {k: input_value(v) for k, v in env_plan.inputs}
        required = env_plan.env.approval.required
        values[APPROVAL_INPUT] = github_approval_environment(env_plan.name) if required else ""
        out[env_plan.name] = values
    return out


def approval_job(plan: Plan) -> dict[str, Any] | None:
    """The job that waits for the reviewers, once per environment, after the gates (so reviewers
    see their results); every other job of the environment needs it (`_job`)."""
    if not any(env_plan.env.approval.required for env_plan in plan.environments):
        return None
    gates = [job.id for job in plan.jobs if job.kind == "gates"]
    return {
        "id": "approval",
        "kind": "approval",
        "needs": gates,
        "condition": "${{ !failure() && !cancelled() && inputs." + APPROVAL_INPUT + " != '' }}",
        "environment": f"inputs.{APPROVAL_INPUT}",
    }


def _step(shell: ShellStep, job: Job | None = None) -> dict[str, Any]:
    return {
        "id": shell.id,
        "name": shell.name,
        "condition": condition(shell.condition),
        "timeout": shell.timeout,
        "env": list(shell.env),
        "inputs": [(name, _input_value(source, job)) for name, source in shell.inputs],
        "script": shell.script,
        "keep_routing": False,
        "keep_ab_test": "",
        "login_after": shell.login_after,
    }


def _input_value(source: str, job: Job | None) -> str:
    """An input's value in a step's env; a canary step job reads its own percentages from the list."""
    if source == "canary-percent" and job is not None:
        return _input_expression(f"fromJSON(inputs.canary-steps)[{job.canary_index - 1}]")
    if source == "canary-previous-percent" and job is not None:
        if job.canary_index == 1:
            return '"0"'  # the first step follows nothing (a literal: zizmor flags `${{ 0 }}`)
        return _input_expression(f"fromJSON(inputs.canary-steps)[{job.canary_index - 2}]")
    return _input_expression(f"inputs.{source}")


def _input_expression(expression: str) -> str:
    return "${{ " + expression + " }}"


def _setup_condition(job: Job, condition_: str) -> str:
    """The condition of a step that prepares the job (checkout, downloads, login).

    In a job that restores the routing, these run even after a failure or a cancellation: a
    cancel that lands while the job logs in must still leave the restore steps the saved routing,
    the deployment state and a login.
    """
    if not job.prepares_always:
        return condition_
    return f"always() && ({condition_})" if condition_ else "always()"


def _job_guard(job: Job) -> str:
    """The job's `if`: its Plan condition, and when the run's state lets it start.

    The gates decide for themselves (a job after skipped gates or canary slots still runs); a
    rollback job runs only when the rollout failed or was cancelled after traffic could move.
    """
    guard = condition(job.condition)
    if job.kind == "gates":
        return guard
    if job.unless:  # a decision that did not succeed (rejected, timed out, cancelled) restores
        state = (
            f"always() && needs.{job.rolls_back_after}.result == 'success' "
            f"&& needs.{job.unless}.result != 'success'"
        )
    elif job.rolls_back_after:
        state = f"(failure() || cancelled()) && needs.{job.rolls_back_after}.result == 'success'"
    else:
        state = "!failure() && !cancelled()"
    return " && ".join(part for part in (state, guard) if part)


def _job(spec: Spec, job: Job, plan_jobs: tuple[Job, ...], approval: bool) -> dict[str, Any]:
    """A Plan job as the template prints it; with APPROVAL, a job with credentials for the
    environment itself waits for the approval job."""
    if job.kind == "ab-decision":
        return {
            "id": job.id,
            "kind": job.kind,
            "needs": list(job.needs),
            "condition": "${{ " + _job_guard(job) + " }}",
            "environment": AB_DECISION_ENVIRONMENT,
        }
    steps = [_step(shell, job) for shell in job_steps(spec, job)]
    if job.produces == "ab-test":  # a manual A/B test's comparison and routing, for the decision's jobs
        compared = [step for step in steps if step["id"].startswith("ab-test-compare-")]
        compared[-1]["keep_ab_test"] = condition(InputEquals("ab-decide", "manual"))
    if job.first_canary:  # the routing from before the canary, kept for every later restore
        routed = [step for step in steps if step["id"].startswith("route-")]
        routed[-1]["keep_routing"] = True
    if job.kind == "rollback":  # it runs after a failure or a cancel: so do its steps
        for step in steps:
            step["condition"] = _setup_condition(job, step["condition"])
    guard = _job_guard(job)
    timeout = job.timeout if isinstance(job.timeout, int) else _input_expression(f"inputs.{job.timeout}")
    producers = {j.id: j for j in plan_jobs if j.produces}
    return {
        "id": job.id,
        "kind": job.kind,
        "name": job.name,
        "needs": [
            *job.needs,
            *(["approval"] if approval and job.credentials == "environment" else []),
            *(r for r in job.reads if r not in job.needs and r in producers),
        ],
        # unique per attempt: an artifact name can be uploaded once per run, across re-runs
        "artifact": _input_expression(
            f"format('{job.produces}-{{0}}-{{1}}', inputs.environment, github.run_attempt)"
        )
        if job.produces
        else "",
        # an artifact is there when its producer ran: the download has the producer's condition
        "downloads": {
            producers[read].produces: {
                "name": _input_expression(f"needs.{read}.outputs.artifact"),
                "if": _setup_condition(job, condition(producers[read].condition)),
            }
            for read in job.reads
            if read in producers
        },
        "setup_if": _setup_condition(job, ""),
        "restores": job.restores,
        "condition": "${{ " + guard + " }}" if guard.startswith("!") else guard,  # `!` starts a YAML tag
        "timeout": timeout,
        "environment": "inputs.previous-environment"
        if job.credentials == "previous-environment"
        else "inputs.environment",
        "first_canary": job.first_canary,
        # the release record: in the finish job of a manual A/B test's environment, after the decision
        "record_if": _record_if(job, plan_jobs),
        "decided_by": job.unless,
        "pip_requirements": list(job.pip_requirements),
        "steps": steps,
    }


def _record_if(job: Job, plan_jobs: tuple[Job, ...]) -> str:
    if not any(step.kind == "ab-test" for j in plan_jobs for step in j.steps):
        return ""
    if job.produces == "ab-test":
        return f"{condition(InputEquals('ab-decide', 'manual', negate=True))} && ({RECORD_AFTER_AB_LOSS})"
    return RECORD_AFTER_AB_LOSS


def _jobs(spec: Spec, plan: Plan, approval: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The reusable workflow's jobs: the Plan's, with the approval job after the gates."""
    jobs = [_job(spec, job, plan.jobs, approval is not None) for job in plan.jobs]
    if approval is not None:
        jobs.insert(len(approval["needs"]), approval)
    return jobs


# How cd.yml calls the reusable deploy workflow (targets.github.reusableWorkflowRef): `$/` is
# GitHub's self-repository syntax (github.com, runner >= 2.336); `./` works everywhere, GitHub
# Enterprise Server included, and is what zizmor's self-repository audit then must not flag.
REUSABLE_WORKFLOW_PREFIX = {"self": "$/", "local": "./"}
# an A/B test the serving version won fails the job after restoring the routing (abtest.py sets
# ALMGEN_AB_LOST): the release record still runs, so the audit shows the comparison
RECORD_AFTER_AB_LOSS = "success() || (failure() && env.ALMGEN_AB_LOST == 'true')"
# a manual A/B decision waits for this environment's required reviewers (`almgen setup` makes it)
AB_DECISION_ENVIRONMENT = "format('{0}-ab-decision', inputs.environment)"
ZIZMOR_CONFIG = ".github/zizmor.yml"


def files(spec: Spec, plan: Plan) -> list[TemplateFile]:
    service = spec.service.name
    approval = approval_job(plan)
    evaluation = production.production_evaluation(spec)
    context = {
        "spec": spec,
        "plan": plan,
        "service": service,
        "actions": {name: action.uses for name, action in ACTIONS.items()},
        "python_version": PYTHON_VERSION,
        "checkov_version": CHECKOV_VERSION,
        "almgen_version": __version__,
        "artifact": RELEASE_ARTIFACT,
        "declared_inputs": declared_inputs(plan),
        "build_checks": plan.build.checks_for("github-actions"),
        "inputs": environment_inputs(spec, plan),
        "regions": spec.regions,
        "jobs": _jobs(spec, plan, approval),
        "restore_steps": [_step(shell) for shell in restore_steps(spec)],
        "keep_records": _step(keep_records_step(".")),
        "reusable_workflow_prefix": REUSABLE_WORKFLOW_PREFIX[spec.reusable_workflow_ref],
        "gate_contract": contract_command('"$ALMGEN_OUTPUTS"', '"${RUNNER_TEMP}/contract.env"', target=False),
        "lifecycle_cron": production.lifecycle_cron(spec),
        "production": evaluation,
        "production_script": production.script(evaluation, "${RUNNER_TEMP}") if evaluation else "",
    }
    base = ".github/workflows"
    out = [
        TemplateFile(f"{base}/{service}-ci.yml", "github-actions/ci.yml.j2", context),
        TemplateFile(f"{base}/{service}-cd.yml", "github-actions/cd.yml.j2", context),
        TemplateFile(f"{base}/{service}-deploy.yml", "github-actions/deploy.yml.j2", context),
        TemplateFile(f"{base}/{service}-lifecycle.yml", "github-actions/lifecycle.yml.j2", context),
    ]
    if spec.reusable_workflow_ref == "local":  # zizmor finds .github/zizmor.yml on its own
        out.append(TemplateFile(ZIZMOR_CONFIG, "github-actions/zizmor.yml.j2", context))
    return out
