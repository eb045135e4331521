"""The GitHub Actions target: four workflows rendered from the Plan."""

from __future__ import annotations

import json
from typing import Any

from generator import __version__
from generator.plan.build import PYTHON_VERSION, RELEASE_ARTIFACT, Plan
from generator.plan.catalog import ACTIONS
from generator.plan.shell import union_steps
from generator.render.outputs import TemplateFile
from generator.spec.model import Spec


def caller_inputs(spec: Spec, plan: Plan) -> dict[str, dict[str, Any]]:
    """Per environment, the `with:` of the job in cd.yml that calls the reusable deploy workflow."""
    out = {}
    for env_plan in plan.environments:
        env = env_plan.env
        rollback = env.strategy.rollback
        out[env.name] = {
            "environment": env.name,
            "location": env.primary.region,
            "previous-environment": env_plan.previous or "",
            "gates": json.dumps([g.gate.kind for g in env_plan.gates]),
            "strategy": env.strategy.type,
            "canary-steps": ",".join(str(s) for s in env.strategy.steps),
            "bake-minutes": env.strategy.bake_minutes,
            "rollback-error-rate-percent": rollback.error_rate_percent if rollback else 0,
            "rollback-latency-p95-ms": (rollback.latency_p95_ms or 0) if rollback else 0,
            "tests": json.dumps([t.name for t in env.tests]),
            "test-target": "candidate" if env.strategy.type == "blue-green" else "live",
            "train": bool(env.is_first and any(m.training_job for m in spec.custom_models)),
        }
    return out


def _condition(when: str) -> str:
    if not when:
        return ""
    if when == "train":
        return "inputs.train"
    if when.startswith("tests has "):
        return f"contains(fromJSON(inputs.tests), '{when.removeprefix('tests has ')}')"
    if when.startswith("strategy == "):
        return f"inputs.strategy == '{when.removeprefix('strategy == ')}'"
    raise ValueError(f"no GitHub condition for {when!r}")


def deploy_steps(spec: Spec, plan: Plan) -> list[dict[str, Any]]:
    """The deploy job of the reusable workflow: every environment's steps, each guarded by its inputs."""
    return [
        {
            "id": shell.id,
            "name": shell.name,
            "condition": _condition(shell.when),
            "timeout": shell.timeout,
            "env": list(shell.env),
            "inputs": [(name, "${{ inputs." + source + " }}") for name, source in shell.inputs],
            "script": shell.script,
        }
        for shell in union_steps(spec, plan)
    ]


def files(spec: Spec, plan: Plan) -> list[TemplateFile]:
    service = spec.service.name
    context = {
        "spec": spec,
        "plan": plan,
        "service": service,
        "actions": {name: action.uses for name, action in ACTIONS.items()},
        "python_version": PYTHON_VERSION,
        "almgen_version": __version__,
        "artifact": RELEASE_ARTIFACT,
        "inputs": caller_inputs(spec, plan),
        "regions": spec.regions,
        "deploy_steps": deploy_steps(spec, plan),
    }
    base = ".github/workflows"
    return [
        TemplateFile(f"{base}/{service}-ci.yml", "github-actions/ci.yml.j2", context),
        TemplateFile(f"{base}/{service}-cd.yml", "github-actions/cd.yml.j2", context),
        TemplateFile(f"{base}/{service}-deploy.yml", "github-actions/deploy.yml.j2", context),
        TemplateFile(f"{base}/{service}-lifecycle.yml", "github-actions/lifecycle.yml.j2", context),
    ]
