"""The Azure DevOps target: the same Plan as a multi-stage pipeline with stage, job and step templates.

Canary is unrolled into one deployment job per traffic step (native `strategy: canary` needs a
Kubernetes or VM resource on the environment, which AI endpoints are not): each job moves
traffic, bakes, checks health, and restores the previous routing on failure.
"""

from __future__ import annotations

from typing import Any

from generator import __version__
from generator.plan.build import PYTHON_VERSION, RELEASE_ARTIFACT, EnvironmentPlan, Plan
from generator.plan.shell import RELEASE, SCRIPTS, union_steps
from generator.render.outputs import TemplateFile
from generator.spec.model import Spec

BASE = ".azure-pipelines"
CHECKOV_VERSION = "3.3.30"
POOL = "ubuntu-latest"


PARAMETER = {  # steps.py input name -> stage template parameter
    "bake-minutes": "bakeMinutes",
    "rollback-error-rate-percent": "rollbackErrorRatePercent",
    "rollback-latency-p95-ms": "rollbackLatencyP95Ms",
    "canary-steps": "canarySteps",
    "test-target": "testTarget",
}
DEPLOY_KINDS = ("live-state", "what-if", "deploy-infra", "train", "register", "deploy-infra-models")
FINISH_KINDS = ("test", "swap", "deploy-agents", "retire")


def _condition(when: str) -> str:
    if not when:
        return ""
    if when == "train":
        return "eq(parameters.train, true)"
    if when.startswith("tests has "):
        return f"containsValue(parameters.tests, '{when.removeprefix('tests has ')}')"
    if when.startswith("strategy == "):
        return f"eq(parameters.strategy, '{when.removeprefix('strategy == ')}')"
    raise ValueError(f"no Azure DevOps condition for {when!r}")


def _steps(spec: Spec, plan: Plan, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": shell.name,
            "condition": _condition(shell.when),
            "timeout": shell.timeout,
            "env": list(shell.env),
            "inputs": [
                (name, "${{ parameters." + PARAMETER[source] + " }}") for name, source in shell.inputs
            ],
            "script": shell.script,
        }
        for shell in union_steps(spec, plan, kinds)
    ]


def _inputs(env_plan: EnvironmentPlan) -> dict[str, str]:
    """Per-environment values the shared scripts read from environment variables (see steps.py)."""
    env = env_plan.env
    rollback = env.strategy.rollback
    return {
        "bake-minutes": str(env.strategy.bake_minutes),
        "rollback-error-rate-percent": f"{rollback.error_rate_percent:g}" if rollback else "0",
        "rollback-latency-p95-ms": str((rollback.latency_p95_ms or 0) if rollback else 0),
        "canary-steps": ",".join(str(s) for s in env.strategy.steps),
        "test-target": "candidate" if env.strategy.type == "blue-green" else "live",
    }


def stage_parameters(spec: Spec, plan: Plan) -> list[dict[str, Any]]:
    """Per environment, the parameters of templates/stages/environment.yml, in promotion order."""
    out = []
    previous_stage = "Build"
    for env_plan in plan.environments:
        env = env_plan.env
        previous = spec.environment(env_plan.previous) if env_plan.previous else None
        canary = (
            [
                {
                    "percent": percent,
                    "job": f"Canary_{percent}",
                    "after": "Deploy" if index == 0 else f"Canary_{env.strategy.steps[index - 1]}",
                    "first": index == 0,
                }
                for index, percent in enumerate(env.strategy.steps)
            ]
            if env.strategy.type == "canary"
            else []
        )
        inputs = _inputs(env_plan)
        out.append(
            {
                "stage": env_plan.stage_id,
                "dependsOn": previous_stage,
                "environment": env.name,
                "location": env.primary.region,
                "serviceConnection": env.service_connection,
                "previousEnvironment": previous.name if previous else "",
                "previousServiceConnection": previous.service_connection if previous else "",
                "gates": [g.gate.kind for g in env_plan.gates],
                "strategy": env.strategy.type,
                "canary": canary,
                "verifyAfter": canary[-1]["job"] if canary else "",
                "tests": [t.name for t in env.tests],
                "train": bool(env.is_first and any(m.training_job for m in spec.custom_models)),
                "inputs": inputs,
            }
        )
        previous_stage = env_plan.stage_id
    return out


def files(spec: Spec, plan: Plan) -> list[TemplateFile]:
    service = spec.service.name
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
        "stages": stage_parameters(spec, plan),
        "deploy_steps": _steps(spec, plan, DEPLOY_KINDS),
        "finish_steps": _steps(spec, plan, FINISH_KINDS),
        "models": [{"name": m.name, "kind": m.kind} for m in spec.models],
        "gates": spec.gates,
        "regions": spec.regions,
        "quota_percent": spec.monitoring.alerts.quota_percent,
        "first_connection": spec.environments[0].service_connection,
    }
    t = "azure-devops"
    return [
        TemplateFile(f"{BASE}/{service}.yml", f"{t}/pipeline.yml.j2", context),
        TemplateFile(f"{BASE}/{service}-lifecycle.yml", f"{t}/lifecycle.yml.j2", context),
        TemplateFile(f"{BASE}/templates/stages/build.yml", f"{t}/stages/build.yml.j2", context),
        TemplateFile(f"{BASE}/templates/stages/environment.yml", f"{t}/stages/environment.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/gates.yml", f"{t}/jobs/gates.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/deploy.yml", f"{t}/jobs/deploy.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/canary-step.yml", f"{t}/jobs/canary-step.yml.j2", context),
        TemplateFile(f"{BASE}/templates/jobs/verify.yml", f"{t}/jobs/verify.yml.j2", context),
        TemplateFile(f"{BASE}/templates/steps/prepare.yml", f"{t}/steps/prepare.yml.j2", context),
        TemplateFile(f"{BASE}/templates/steps/finish.yml", f"{t}/steps/finish.yml.j2", context),
    ]
