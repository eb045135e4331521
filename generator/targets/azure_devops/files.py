"""The Azure DevOps target: the Plan as a multi-stage pipeline with stage, job and step templates.

`templates/stages/environment.yml` is the environment template with the Plan's job graph; the
pipeline calls it once per environment with that environment's inputs as typed parameters.
Canary is unrolled into one deployment job per traffic step (native `strategy: canary` needs a
Kubernetes or VM resource on the environment, which AI endpoints are not).
"""

from __future__ import annotations

from typing import Any

from generator import __version__
from generator.plan import production
from generator.plan.catalog import CHECKOV_VERSION, PYTHON_VERSION, RELEASE_ARTIFACT
from generator.plan.model import (
    INPUTS,
    Condition,
    EnvironmentPlan,
    InputEquals,
    InputHas,
    InputLongerThan,
    InputNonEmpty,
    InputTrue,
    InputValue,
    Job,
    Plan,
    camel,
    manual_ab,
)
from generator.plan.shell import (
    RELEASE,
    SCRIPTS,
    ShellStep,
    contract_command,
    job_steps,
    keep_records_step,
    restore_steps,
)
from generator.render.outputs import TemplateFile
from generator.spec.model import Spec

BASE = ".azure-pipelines"


def pipelines(service: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The two pipelines a project runs, as (name, YAML file): the delivery pipeline and the
    scheduled lifecycle checks. `almgen setup` creates them under these names."""
    return (service, f"{BASE}/{service}.yml"), (f"{service}-lifecycle", f"{BASE}/{service}-lifecycle.yml")


ALWAYS = "always()"  # a step or job that runs even after a failure or a cancellation
POOL = "ubuntu-latest"


def condition(value: Condition) -> str:
    """A Plan condition as an Azure Pipelines template expression over the stage's parameters."""
    if value is None:
        return ""
    name = f"parameters.{camel(value.input)}"
    if isinstance(value, InputTrue):
        return f"eq({name}, true)"
    if isinstance(value, InputHas):
        return f"containsValue({name}, '{value.value}')"
    if isinstance(value, InputNonEmpty):
        return f"ne(length({name}), 0)"
    if isinstance(value, InputEquals):
        return f"{'ne' if value.negate else 'eq'}({name}, '{value.value}')"
    assert isinstance(value, InputLongerThan)
    return f"gt(length({name}), {value.length})"


def parameter_type(value: InputValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, tuple) else "string"


def declared_parameters(plan: Plan) -> list[dict[str, Any]]:
    first = dict(plan.environments[0].inputs)
    return [{"name": camel(name), "type": parameter_type(first[name])} for name in INPUTS if name in first]


JOB_PARAMETERS = {  # inputs a canary step job gets as its own parameters
    "canary-percent": "percent",
    "canary-previous-percent": "previousPercent",
}


def _parameter(source: str) -> str:
    return JOB_PARAMETERS.get(source) or camel(source)


def _step(shell: ShellStep) -> dict[str, Any]:
    return {
        "name": shell.name,
        "condition": condition(shell.condition),
        "timeout": shell.timeout,
        "env": list(shell.env),
        "inputs": [(name, "${{ parameters." + _parameter(source) + " }}") for name, source in shell.inputs],
        "script": shell.script,
        "keep_routing": False,
        "runtime_condition": "",
    }


ARTIFACT_STEP = "Artifact"  # the named step of a publishing job that sets `artifact` as an output


RELEASE_RECORD = "release_record"  # what finish publishes: the lineage of the release, read by no job
# an A/B test the serving version won fails the job after restoring the routing (abtest.py sets the
# variable ALMGEN_AB_LOST): the release record is still written, kept and published
RECORD_AFTER_AB_LOSS = "or(succeeded(), and(failed(), eq(variables['ALMGEN_AB_LOST'], 'true')))"


def artifact_name(produces: str) -> str:
    """Unique per attempt: a pipeline artifact name can be published once per run, across re-runs."""
    return "${{ format('" + produces + "_{0}_$(System.JobAttempt)', parameters.environment) }}"


def _published(job: Job, plan: Plan) -> str:
    """What a job's template publishes: the artifact it produces, or the release record."""
    if job.kind == "canary-step":  # the steps share one template: its first step publishes
        return next(j for j in plan.jobs if j.first_canary).produces
    return RELEASE_RECORD if job.kind == "finish" else job.produces


def artifact_variable(produces: str) -> str:
    """The job variable that holds the name of a producer's artifact in a consuming job."""
    return f"ALMGEN_{produces.upper().replace('-', '_')}_ARTIFACT"


def artifact_output(producer: Job) -> str:
    """The producer's `artifact` output as a consuming job's variable reads it (a `$[ ]` expression).

    The gates run in a stage of their own (a regular job); every other producer is a `runOnce`
    deployment job of the environment's stage, whose deploy hook prefixes outputs with its name.
    """
    if producer.kind == "gates":
        return (
            "$[ stageDependencies.${{ parameters.gatesStage }}."
            f"{producer.devops_id}.outputs['{ARTIFACT_STEP}.artifact'] ]"
        )
    job = producer.devops_id
    return f"$[ dependencies.{job}.outputs['{job}.{ARTIFACT_STEP}.artifact'] ]"


def _downloads(job: Job, plan: Plan) -> dict[str, dict[str, str]]:
    """Per artifact a job reads: the variable with its name, and when it is there (its producer ran)."""
    out = {}
    for read in job.reads:
        producer = plan.job(read)
        if job.kind == "canary-step" and producer.first_canary:
            when = "not(parameters.first)"  # the first step is the producer; later steps read it
        else:
            when = condition(producer.condition)
        out[producer.produces] = {
            "variable": artifact_variable(producer.produces),
            "value": artifact_output(producer),
            "condition": when,
        }
    return out


def _job(spec: Spec, job: Job, plan: Plan) -> dict[str, Any]:
    steps = [_step(shell) for shell in job_steps(spec, job)]
    if job.kind == "rollback":  # it runs after a failure or a cancel: so do its steps
        for step in steps:
            step["runtime_condition"] = ALWAYS
    if job.kind == "canary-step":  # the first step keeps the routing every later restore needs
        routed = [s for s in steps if s["name"].startswith("Route ")]
        routed[-1]["keep_routing"] = True
    published = _published(job, plan)
    return {
        "id": job.devops_id,
        "kind": job.kind,
        "pip_cache": pip_cache(job),
        "steps": steps,
        "restores": job.restores,
        "prepare_condition": ALWAYS if job.prepares_always else "succeeded()",
        "condition": _job_condition(job, plan),
        "plan_condition": condition(job.condition),
        "timeout": job.timeout,
        "artifact": artifact_name(published) if published else "",
        "artifact_step": ARTIFACT_STEP,
        "downloads": _downloads(job, plan),
    }


def _job_condition(job: Job, plan: Plan) -> str:
    """A rollback job's condition: the rollout failed or was cancelled after traffic could move;
    with `unless` (a manual A/B decision), only when that job did not succeed (rejected, timed out,
    cancelled): a failure after the approval restores in the job that failed."""
    if not job.rolls_back_after:
        return ""
    after = plan.job(job.rolls_back_after).devops_id
    state = f"and(or(failed(), canceled()), eq(dependencies.{after}.result, 'Succeeded'))"
    if job.unless:
        return f"and({state[4:-1]}, ne(dependencies.{plan.job(job.unless).devops_id}.result, 'Succeeded'))"
    return state


AB_JOBS = ("ab-decision", "ab-promote", "ab-restore")  # a manual A/B decision's jobs: own templates
# how long the reviewers have (ManualValidation@1: then onTimeout: reject); the job allows a little more
AB_DECISION_MINUTES = 4320


def pip_cache(job: Job) -> dict[str, str] | None:
    """Cache@2 of pip's downloads, keyed on the requirements files the job's setups install."""
    if not job.pip_requirements:
        return None
    return {
        "key": " | ".join(("pip", '"$(Agent.OS)"', *job.pip_requirements)),
        "restore": 'pip | "$(Agent.OS)"',
    }


def stage_parameters(plan: Plan) -> list[dict[str, Any]]:
    """Per environment, the parameters of templates/stages/environment.yml, in promotion order."""
    out = []
    previous_stage = "Build"
    for env_plan in plan.environments:
        out.append(_stage(plan, env_plan, previous_stage))
        previous_stage = env_plan.stage_id
    return out


def _stage(plan: Plan, env_plan: EnvironmentPlan, depends_on: str) -> dict[str, Any]:
    env = env_plan.env
    previous = plan.environment(env_plan.previous).env if env_plan.previous else None
    percents = env_plan.input("canary-steps")
    assert isinstance(percents, tuple)
    ran = {job.id for job in env_plan.jobs}
    canary = [
        {
            "percent": percents[job.canary_index - 1],
            "previousPercent": percents[job.canary_index - 2] if job.canary_index > 1 else 0,
            "job": job.devops_id,
            "after": _depends_on(plan, job, ran),
            "first": job.first_canary,
        }
        for job in env_plan.jobs
        if job.kind == "canary-step"
    ]
    (finish,) = [job for job in env_plan.jobs if job.kind == "finish" and job.id not in AB_JOBS]
    return {
        "stage": env_plan.stage_id,
        "gatesStage": env_plan.gates_stage_id,
        "dependsOn": depends_on,
        "serviceConnection": env.service_connection,
        "previousServiceConnection": previous.service_connection if previous else "",
        "canary": canary,
        "finishAfter": _depends_on(plan, finish, ran),
        "rollbackAfter": [
            dependency
            for job in env_plan.jobs
            if job.kind == "rollback" and job.id not in AB_JOBS
            for dependency in _depends_on(plan, job, ran)
        ],
        "inputs": [(camel(name), value) for name, value in env_plan.inputs],
        **(_ab_decision(plan, env_plan, ran) if manual_ab_plan(plan) else {}),
    }


def manual_ab_plan(plan: Plan) -> bool:
    return any(job.id == "ab-decision" for job in plan.jobs)


def _ab_decision(plan: Plan, env_plan: EnvironmentPlan, ran: set[str]) -> dict[str, Any]:
    """A manual A/B decision's stage parameters: who decides, and each of its jobs' dependsOn."""
    ab = env_plan.env.strategy.ab
    reviewers = ab.reviewers if ab is not None and ab.decide == "manual" else ()
    return {
        "abReviewers": ",".join(reviewers),
        "abAfter": [(plan.job(id_).devops_id, _depends_on(plan, plan.job(id_), ran)) for id_ in AB_JOBS],
    }


def _depends_on(plan: Plan, job: Job, ran: set[str]) -> list[str]:
    """A job's dependsOn in the environment's stage: what it needs, and the producers of what it reads
    (`dependencies.X.outputs` names only the jobs a job depends on). The gates are another stage."""
    wanted = dict.fromkeys(n for n in (*job.needs, *job.reads) if n in ran and plan.job(n).kind != "gates")
    return [plan.job(n).devops_id for n in wanted]


def jobs_of(plan: Plan, kind: str) -> list[Job]:
    return [job for job in plan.jobs if job.kind == kind]


def files(spec: Spec, plan: Plan) -> list[TemplateFile]:
    service = spec.service.name
    jobs = {
        job.kind: _job(spec, job, plan) for job in plan.jobs if job.kind != "gates" and job.id not in AB_JOBS
    }
    ab_jobs = {job.id: _job(spec, job, plan) for job in plan.jobs if job.id in AB_JOBS}
    evaluation = production.production_evaluation(spec)
    context = {
        "spec": spec,
        "plan": plan,
        "service": service,
        "python_version": PYTHON_VERSION,
        "almgen_version": __version__,
        "checkov_version": CHECKOV_VERSION,
        "artifact": RELEASE_ARTIFACT,
        "release_dir": RELEASE,
        "scripts": SCRIPTS,
        "pool": POOL,
        "declared_parameters": declared_parameters(plan),
        "build_checks": plan.build.checks_for("azure-devops"),
        "gates_condition": condition(plan.job("gates").condition) if jobs_of(plan, "gates") else "",
        "gates_artifact": artifact_name(plan.job("gates").produces) if jobs_of(plan, "gates") else "",
        "artifact_step": ARTIFACT_STEP,
        "stages": stage_parameters(plan),
        "jobs": jobs,
        "manual_ab": manual_ab(spec),
        "promote": False,  # the ab-promote and ab-restore files render finish and rollback with True
        "restore": False,
        "ab_test_artifact": artifact_name("ab-test"),
        "ab_condition": condition(InputEquals("ab-decide", "manual")),
        "ab_not_manual": condition(InputEquals("ab-decide", "manual", negate=True)),
        "ab_decision_minutes": AB_DECISION_MINUTES,
        # in the same job (and workspace) as what failed, as on GitHub; on cancellation too
        "restore_steps": [
            {**_step(shell), "runtime_condition": "or(failed(), canceled())"} for shell in restore_steps(spec)
        ],
        "keep_records": {
            **_step(keep_records_step("${BUILD_ARTIFACTSTAGINGDIRECTORY}/record")),
            "runtime_condition": RECORD_AFTER_AB_LOSS if plan.ab_test else "",
        },
        "record_condition": RECORD_AFTER_AB_LOSS if plan.ab_test else "",
        "gates": spec.gates,
        "gates_pip_cache": pip_cache(plan.job("gates")) if jobs_of(plan, "gates") else None,
        "gate_contract": contract_command(
            '"$ALMGEN_OUTPUTS"', '"${AGENT_TEMPDIRECTORY}/contract.env"', target=False
        ),
        "regions": spec.regions,
        "quota_percent": spec.monitoring.alerts.quota_percent,
        "lifecycle_connection": plan.lifecycle_environment.env.service_connection,
        "lifecycle_cron": production.lifecycle_cron(spec),
        "production": evaluation,
        "production_script": production.script(evaluation, "${AGENT_TEMPDIRECTORY}") if evaluation else "",
    }
    t = "azure-devops"
    (_, delivery), (_, lifecycle) = pipelines(service)
    wanted = [
        TemplateFile(delivery, f"{t}/pipeline.yml.j2", context),
        TemplateFile(lifecycle, f"{t}/lifecycle.yml.j2", context),
        TemplateFile(f"{BASE}/templates/stages/build.yml", f"{t}/stages/build.yml.j2", context),
        TemplateFile(f"{BASE}/templates/stages/environment.yml", f"{t}/stages/environment.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/provision.yml", f"{t}/jobs/provision.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/finish.yml", f"{t}/jobs/finish.yml.j2", context),
        TemplateFile(f"{BASE}/templates/steps/prepare.yml", f"{t}/steps/prepare.yml.j2", context),
    ]
    if any(job.kind == "gates" for job in plan.jobs):
        wanted.append(TemplateFile(f"{BASE}/templates/jobs/gates.yml", f"{t}/jobs/gates.yml.j2", context))
    if ab_jobs:  # ab-promote is a finish job, ab-restore a rollback job, each with its own file
        jobs_dir = f"{BASE}/templates/jobs"
        wanted += [
            TemplateFile(f"{jobs_dir}/ab-decision.yml", f"{t}/jobs/ab-decision.yml.j2", context),
            TemplateFile(
                f"{jobs_dir}/ab-promote.yml",
                f"{t}/jobs/finish.yml.j2",
                context | {"jobs": jobs | {"finish": ab_jobs["ab-promote"]}, "promote": True},
            ),
            TemplateFile(
                f"{jobs_dir}/ab-restore.yml",
                f"{t}/jobs/rollback.yml.j2",
                context | {"jobs": jobs | {"rollback": ab_jobs["ab-restore"]}, "restore": True},
            ),
        ]
    wanted.extend(
        TemplateFile(f"{BASE}/templates/jobs/{kind}.yml", f"{t}/jobs/{kind}.yml.j2", context)
        for kind in ("canary-step", "rollback")
        if kind in jobs
    )
    return wanted
