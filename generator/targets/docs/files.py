"""docs/alm/PIPELINE.md, SETUP.md and CONTRACT.md: the pipeline drawn and explained, its one-time
setup, and the environment contract of its test and gate commands."""

from __future__ import annotations

from typing import Any

from generator.plan import production
from generator.plan.model import Plan, manual_ab
from generator.plan.model_registry import model_registry
from generator.render.outputs import TemplateFile
from generator.spec import naming
from generator.spec.model import Spec
from generator.targets.docs.contract import contract_rows, setup_rows
from generator.targets.docs.diagram import mermaid


def _registry_name(spec: Spec) -> str:
    registry = model_registry(spec)
    return registry.name if registry else ""


def _rows(spec: Spec) -> list[dict[str, str]]:
    rows = []
    for env in spec.environments:
        strategy = env.strategy.describe()
        if env.strategy.type == "canary":
            strategy += f", bake {env.strategy.bake_minutes} min"
        rows.append(
            {
                "name": env.name,
                "regions": ", ".join(env.regions),
                "gates": ", ".join(g.kind for g in env.gates) or "none",
                "approval": ", ".join(env.approval.reviewers) if env.approval.required else "none",
                "strategy": strategy,
                "tests": ", ".join(t.name for t in env.tests) or "none",
            }
        )
    return rows


def _custom_gateway(spec: Spec) -> str:
    """What the AI gateway does for custom models: fronts and fails over, moves no colour."""
    if not (spec.custom_models and spec.gateway.enabled):
        return ""
    return (
        " The AI gateway fronts each region's online endpoint (`<gateway>/models/<model>/score`) and,"
        " with more than one region, fails over to the other regions' endpoints; it moves no colour."
    )


def _foundation_routing(spec: Spec) -> str:
    """Where a foundation model's traffic is moved: the gateway's pools, or the application."""
    custom = " Custom models are routed by the online endpoint's traffic map." if spec.custom_models else ""
    custom += _custom_gateway(spec)
    if spec.gateway.enabled:
        failover = (
            " In an environment with more than one region, each region's gateway also fronts the other"
            " regions' serving deployments at a lower priority: when a region's deployments fail (5xx or"
            " 429), its gateway sends their requests to another region, and a traffic step keeps that."
            if spec.gateway_failover
            else ""
        )
        return (
            " Foundation models are served through the AI gateway (API Management, one per environment"
            " and region): the step sets the weights of each model's backend pool, so the gateway itself"
            " sends the share to the candidate; the routing is also published in App Configuration"
            " (`almgen:active:<model>`, `almgen:canary:<model>`) for reference." + failover + custom
        )
    return (
        " Foundation-model routing is published in App Configuration (`almgen:active:<model>`, "
        "`almgen:canary:<model>`, labelled with the environment): there is no gateway "
        "(`gateway.type: none`), so your service must read it to send the canary share to the "
        "candidate: `.almgen/client/almgen_routing.py` (`Router.from_app_configuration()"
        ".deployment(model)`) does." + custom
    )


def _jobs(spec: Spec, plan: Plan) -> list[dict[str, str]]:
    foundation = bool(spec.foundation_models)
    routing = _foundation_routing(spec) if foundation else _custom_gateway(spec)
    evaluation = production.production_evaluation(spec)
    jobs = [
        {
            "name": "Build",
            "text": "validates the spec (`almgen validate`), checks the generated files are current "
            "(`almgen check`), builds and lints the Bicep, scans it with checkov, and "
            "packages the release once.",
        },
        {
            "name": "Gates",
            "text": "before an environment that lists gates (on Azure DevOps in a stage of their own, "
            "so reviewers see the results before they approve): runs the evaluation and safety "
            "commands against the previous environment's deployment and checks their results "
            "with `.almgen/scripts/gate.py` (fail closed).",
        },
        {
            "name": "Approval",
            "text": "after the gates, the environment's reviewers approve its deployment once: on "
            "Azure DevOps the stage's checks, on GitHub the job that names the environment "
            "`<environment>-approval` (GitHub asks an environment's reviewers again for every job "
            "that names it, so the jobs that deploy, step the canary or roll back name the "
            "environment that holds the Azure credential, which has no reviewers, and wait for "
            "this job instead: a rollback never waits for a person).",
        },
        {
            "name": "Provision",
            "text": "reads the live state, runs a what-if, and "
            "deploys `infra/` with the environment's `.bicepparam`, primary region first"
            + (
                f"; in {spec.environments[0].name}, trains custom models (only versions the Azure ML "
                f"registry `{_registry_name(spec)}` does not hold) and publishes them "
                "there with their lineage and content hash; every environment deploys that same "
                "registry asset, so each serves the bytes the first one published"
                if spec.custom_models
                else ""
            )
            + (
                "; the AI gateway in front of the foundation models keeps its pools' live weights"
                if spec.gateway.enabled and spec.foundation_models
                else ""
            )
            + ". A re-deploy keeps what serves: the live state is passed to the deployment.",
        },
        {
            "name": "Canary step (one job per step)",
            "text": "logs in afresh, routes the step's share of every model's traffic to its "
            "candidate in every region, bakes, and checks each model's error rate and p95 latency; "
            "on a breach, a failure or a cancellation it restores the routing from before the "
            "canary." + routing,
        },
        {
            "name": "Finish",
            "text": (
                "creates each agent's candidate version (not live) in every region, " if spec.agents else ""
            )
            + "runs the environment's tests (against the blue-green candidate before the "
            "swap"
            + (", and the agents' candidate versions" if spec.agents else "")
            + "), swaps blue-green environments and watches them (swapping back on a breach)"
            + (
                ", makes the tested agent versions live (App Configuration, putting the previous "
                "ones back on a later failure)"
                if spec.agents
                else ""
            )
            + ", and writes the release record.",
        },
        {
            "name": "Roll back",
            "text": "after every job of a canary, when one of them failed or the run was cancelled "
            "after the first step moved traffic: restores the routing from before the canary. It "
            "covers a cancellation between two jobs, when no running job could restore it.",
        },
        {
            "name": f"Lifecycle ({'weekly' if evaluation is None else evaluation.cron_title.lower()})",
            "text": "checks that every pinned model version is still offered and not "
            "retiring within 60 days"
            + (
                f", and that quota usage is below {spec.monitoring.alerts.quota_percent}%"
                if spec.monitoring.alerts.quota_percent
                else ""
            )
            + (
                f"; evaluates {evaluation.environment.name} in each region with the gates' commands, "
                f"dataset and thresholds ({', '.join(gate.kind for gate in evaluation.gates)}), fails on "
                "a breach and sends the result to Application Insights, where a breach, or no result "
                "for two intervals, alerts the action group"
                if evaluation is not None
                else ""
            )
            + ".",
        },
    ]
    if not any(job.kind == "rollback" for job in plan.jobs):
        jobs = [job for job in jobs if job["name"] != "Roll back"]
    if manual_ab(spec):
        where = jobs.index(next(job for job in jobs if job["name"] == "Finish")) + 1
        jobs.insert(
            where,
            {
                "name": "A/B decision",
                "text": "in an environment whose A/B test a person decides (`compare.decide: manual`), "
                "the finish job compares both variants, writes the table and stops there, both "
                "variants still serving at the split; a job waits for `compare.reviewers` (on GitHub it "
                "names the environment `<environment>-ab-decision`, whose required reviewers they are; on "
                "Azure DevOps it is an agentless job with a ManualValidation@1 task that rejects by itself "
                "after 3 days). Approved: the candidate takes all "
                "traffic, then the rest of the finish job runs and the release record keeps the "
                "comparison and the decision. Rejected, timed out or cancelled: the routing from before "
                "the test comes back exactly and the run fails before the next environment.",
            },
        )
    return jobs


def _models(spec: Spec) -> list[dict[str, str]]:
    out = []
    for model in spec.models:
        if model.kind == "foundation":
            lineage = f"catalog model {model.model} {model.version}"
        elif model.training_data:
            lineage = f"{model.training_data.asset}:{model.training_data.version}"
            if model.preprocessing:
                lineage += f"; preprocessing {', '.join(model.preprocessing)}"
            if model.feature_engineering:
                lineage += f"; features {', '.join(model.feature_engineering)}"
        else:
            lineage = "not declared"
        out.append(
            {"name": model.name, "kind": model.kind, "version": model.version or "", "lineage": lineage}
        )
    for agent in spec.agents:
        out.append(
            {
                "name": agent.name,
                "kind": "agent",
                "version": agent.version,
                "lineage": f"runs on {agent.model}",
            }
        )
    return out


def _setup(spec: Spec, plan: Plan) -> dict[str, object]:
    """What `almgen setup` does for this spec (with placeholders for what it reads first)."""
    from generator.commands.setup import roles
    from generator.commands.setup.actions import actions
    from generator.commands.setup.model import Facts, shown

    groups: dict[str, list[dict[str, object]]] = {}
    for action in actions(spec, plan, Facts(), spec.environments):
        groups.setdefault(action.group, []).append(
            {
                "what": action.what,
                "manual": action.manual,
                "command": action.create.display(),
                "bodies": [f"{body.name}: {shown(body.data)}" for body in action.create.bodies()],
            }
        )
    return {
        "groups": [{"name": name, "actions": found} for name, found in groups.items()],
        "role_matrix": roles.matrix(spec, spec.environments),
        "deployer_role": roles.deployer_role_name(spec),
        "deployer_actions": roles.deployer_actions(spec),
        "lock_role": roles.lock_role_name(spec) if any(e.production for e in spec.environments) else "",
        "assignable": roles.assignable_role_ids(),
        "budget": spec.monitoring.budget is not None,
        "monitoring": _monitoring_identity(spec),
    }


def _monitoring_identity(spec: Spec) -> dict[str, object] | None:
    """The scheduled production evaluation's own identity, when the spec has one."""
    from generator.commands.setup import roles
    from generator.plan.production import production_evaluation

    evaluation = production_evaluation(spec)
    if evaluation is None:
        return None
    return {
        "environment": evaluation.environment.name,
        "identity": roles.monitoring_identity_name(spec, evaluation.environment),
        "github_environment": evaluation.monitoring_environment,
        "connection": evaluation.monitoring_connection,
        "role": roles.monitor_role_name(spec),
        "actions": roles.MONITOR_ACTIONS,
        "scorer": roles.scorer_role_name(spec) if spec.custom_models else "",
        "scorer_actions": roles.SCORER_ACTIONS,
    }


def _cleanup(spec: Spec, plan: Plan) -> dict[str, str] | None:
    """The opt-in data clean-up: the environment that deletes, and the registry its data is read from."""
    from generator.plan.model_registry import model_registry

    registry = model_registry(spec)
    if registry is None or not any(s.kind == "cleanup" for e in plan.environments for s in e.steps()):
        return None
    return {"environment": spec.environments[-1].name, "registry": registry.name}


def files(spec: Spec, plan: Plan) -> list[TemplateFile]:
    context = {
        "spec": spec,
        "service": spec.service.name,
        "diagram": mermaid(plan),
        "rows": _rows(spec),
        "gates": spec.gates,
        "jobs": _jobs(spec, plan),
        "models": _models(spec),
        "github": "github-actions" in spec.pipelines,
        "devops": "azure-devops" in spec.pipelines,
        "envs": [
            {
                "name": e.name,
                "connection": e.service_connection,
                "reviewers": list(e.approval.reviewers) if e.approval.required else [],
            }
            for e in spec.environments
        ],
        "secrets": list(spec.configuration.secrets),
        "contract": contract_rows(spec),
        "setups": setup_rows(spec),
        "record_days": spec.registry.record_days.items,
        "documents": _documents(spec),
        "cleanup": _cleanup(spec, plan),
        "ab_decisions": "; ".join(
            f"{e.name}-ab-decision, reviewers {', '.join(e.strategy.ab.reviewers)}"
            for e in spec.environments
            if e.strategy.ab is not None and e.strategy.ab.decide == "manual"
        ),
    } | _setup(spec, plan)
    return [
        TemplateFile("docs/alm/PIPELINE.md", "shared/PIPELINE.md.j2", context),
        TemplateFile("docs/alm/SETUP.md", "shared/SETUP.md.j2", context),
        TemplateFile("docs/alm/CONTRACT.md", "shared/CONTRACT.md.j2", context),
    ]


def _documents(spec: Spec) -> dict[str, Any] | None:
    """SETUP.md's retrieval documents: where they are, and the identity each environment reads them as."""
    retrieval = spec.retrieval
    if retrieval is None:
        return None
    path = retrieval.source_path
    return {
        "path": path,
        "account": naming.documents_account(path) if path else None,
        "asset": None if path else f"{retrieval.source_asset} {retrieval.source_version}",
        "readers": [
            (env.name, naming.search_reader_identity(spec.service.name, env.name), env.primary.resource_group)
            for env in spec.environments
        ],
    }
