"""Layer 3: from a valid document to the frozen `Spec`, defaults and per-environment values applied."""

from __future__ import annotations

import re
from typing import Any, cast

from generator.spec import model as m
from generator.spec import naming
from generator.spec.load import Document

DEFAULT_LOCATION = "eastus2"
DEFAULT_CAPACITY = 10
DEFAULT_INSTANCE_COUNT = 1
_THRESHOLD = re.compile(r"\s*(>=|<=|==|>|<)\s*(\S+)\s*")


def parse_threshold(metric: str, text: str) -> m.Threshold:
    match = _THRESHOLD.fullmatch(text)
    if not match:  # the schema's pattern makes this unreachable for validated input
        raise ValueError(f"not a threshold: {text!r}")
    return m.Threshold(metric, cast(m.Operator, match.group(1)), float(match.group(2)), match.group(2))


def _per_env(value: Any, envs: list[str], default: int) -> m.PerEnv:
    if isinstance(value, dict):
        return m.PerEnv(tuple((env, int(value.get(env, default))) for env in envs))
    fixed = default if value is None else int(value)
    return m.PerEnv(tuple((env, fixed) for env in envs))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _gate(kind: m.GateKind, section: dict[str, Any] | None, variable: str) -> m.Gate | None:
    if not section or "command" not in section or "thresholds" not in section:
        return None
    thresholds = tuple(parse_threshold(k, v) for k, v in section["thresholds"].items())
    return m.Gate(kind, section["command"], thresholds, variable, section.get("dataset"))


def resolve(doc: Document) -> m.Spec:
    data = doc.data
    service_name = data["service"]["name"]
    location = data.get("azure", {}).get("location", DEFAULT_LOCATION)
    env_names = [env["name"] for env in data["environments"]]
    tests = tuple(
        m.Test(name, t["command"], t.get("timeoutMinutes", 30)) for name, t in data.get("tests", {}).items()
    )
    tests_by_name = {t.name: t for t in tests}
    evaluation = _gate("evaluation", data.get("evaluation"), "ALMGEN_EVAL_RESULTS")
    safety = _gate("safety", data.get("safety"), "ALMGEN_SAFETY_RESULTS")
    gates = {"evaluation": evaluation, "safety": safety}

    environments = []
    for index, env in enumerate(data["environments"]):
        name = env["name"]
        regions = env.get("regions") or [env.get("location", location)]
        multi = len(regions) > 1
        stacks = tuple(
            m.Stack(
                region=region,
                resource_group=naming.resource_group(
                    service_name, name, region, multi, env.get("resourceGroup")
                ),
                primary=position == 0,
                suffix=naming.stack_suffix(name, region, multi),
            )
            for position, region in enumerate(regions)
        )
        approval_raw = env.get("approval")
        approval = (
            m.Approval(approval_raw.get("required", True), tuple(approval_raw.get("reviewers", [])))
            if approval_raw
            else m.Approval(False)
        )
        environments.append(
            m.Environment(
                name=name,
                index=index,
                sku=env.get("sku", "S0"),
                stacks=stacks,
                service_connection=env.get("serviceConnection", f"azure-{service_name}-{name}"),
                public_network_access=(
                    "Disabled" if env.get("publicNetworkAccess", "enabled") == "disabled" else "Enabled"
                ),
                tests=tuple(tests_by_name[t] for t in env.get("tests", [])),
                gates=tuple(g for g in (gates[k] for k in env.get("gates", [])) if g is not None),
                approval=approval,
                strategy=_strategy(env.get("strategy")),
                is_first=index == 0,
                production=index == len(data["environments"]) - 1 and len(data["environments"]) > 1,
            )
        )

    models = tuple(_model(raw, env_names) for raw in data["models"])
    agents = tuple(
        m.Agent(
            a["name"],
            a["version"],
            a.get("description", ""),
            a["model"],
            a.get("instructions"),
            tuple(a.get("tools", [])),
        )
        for a in data.get("agents", [])
    )
    safety_raw = data.get("safety", {})
    filters = tuple(
        m.ContentFilter(f["name"], f.get("blocking", True), f.get("severity", "medium"))
        for f in safety_raw.get("contentFilters", [])
    )
    return m.Spec(
        source=doc.path,
        service=m.Service(
            service_name,
            data["service"].get("description", ""),
            data["service"].get("owner"),
            tuple(sorted(data["service"].get("tags", {}).items())),
        ),
        pipelines=tuple(data["targets"]["pipelines"]),
        infrastructure=data["targets"].get("infrastructure", "bicep"),
        location=location,
        environments=tuple(environments),
        models=models,
        agents=agents,
        tests=tests,
        evaluation=evaluation,
        safety=safety,
        content_filters=filters,
        configuration=_configuration(data.get("configuration", {})),
        monitoring=_monitoring(data.get("monitoring", {})),
        registry=_registry(data.get("registry", {})),
        extends=data.get("extends"),
        policies=tuple(data.get("policies", [])),
        templates=data.get("templates"),
        inputs=tuple(doc.inputs),
    )


def _strategy(raw: dict[str, Any] | None) -> m.Strategy:
    if not raw or raw["type"] == "direct":
        return m.Strategy("direct")
    rollback_raw = raw.get("rollback", {})
    rollback = m.Rollback(float(rollback_raw.get("errorRatePercent", 5)), rollback_raw.get("latencyP95Ms"))
    if raw["type"] == "blue-green":
        return m.Strategy("blue-green", rollback=rollback)
    return m.Strategy("canary", tuple(raw["steps"]), raw.get("bakeMinutes", 10), rollback)


def _model(raw: dict[str, Any], envs: list[str]) -> m.Model:
    common = {"name": raw["name"], "description": raw.get("description", ""), "version": raw.get("version")}
    if raw.get("kind", "foundation") == "foundation":
        return m.Model(
            kind="foundation",
            format=raw.get("format", "OpenAI"),
            model=raw["model"],
            sku=raw.get("sku", "GlobalStandard"),
            capacity=_per_env(raw.get("capacity"), envs, DEFAULT_CAPACITY),
            version_upgrade=raw.get("versionUpgrade", "OnceCurrentVersionExpired"),
            content_filter=raw.get("contentFilter"),
            **common,
        )
    hyper = raw.get("hyperparameters")
    training_data = raw.get("trainingData")
    endpoint = raw.get("endpoint", {})
    return m.Model(
        kind="custom",
        path=raw.get("path"),
        training_data=m.TrainingData(training_data["asset"], training_data["version"])
        if training_data
        else None,
        preprocessing=tuple(raw.get("preprocessing", [])),
        feature_engineering=tuple(raw.get("featureEngineering", [])),
        hyperparameters_file=hyper if isinstance(hyper, str) else None,
        hyperparameters=tuple(sorted((k, _text(v)) for k, v in hyper.items()))
        if isinstance(hyper, dict)
        else (),
        training_job=raw.get("training", {}).get("job"),
        instance_type=endpoint.get("instanceType", "Standard_DS3_v2"),
        instance_count=_per_env(endpoint.get("instanceCount"), envs, DEFAULT_INSTANCE_COUNT),
        **common,
    )


def _configuration(raw: dict[str, Any]) -> m.Configuration:
    return m.Configuration(
        secrets=tuple(raw.get("keyVault", {}).get("secrets", [])),
        settings=tuple(
            sorted((k, _text(v)) for k, v in raw.get("appConfiguration", {}).get("settings", {}).items())
        ),
        requests_per_minute=raw.get("rateLimits", {}).get("requestsPerMinute"),
        tokens_per_minute=raw.get("rateLimits", {}).get("tokensPerMinute"),
        allowed_origins=tuple(raw.get("cors", {}).get("allowedOrigins", [])),
    )


def _monitoring(raw: dict[str, Any]) -> m.Monitoring:
    alerts = raw.get("alerts", {})
    drift = raw.get("drift")
    budget = raw.get("budget")
    return m.Monitoring(
        log_retention_days=raw.get("logRetentionDays", 30),
        emails=tuple(raw.get("actionGroup", {}).get("emails", [])),
        alerts=m.Alerts(
            alerts.get("latencyP95Ms"), alerts.get("errorRatePercent"), alerts.get("quotaPercent")
        ),
        anomalies=raw.get("anomalies", False),
        drift=m.Drift(drift.get("frequency", "day"), float(drift.get("threshold", 0.2)))
        if drift is not None
        else None,
        dashboard=raw.get("dashboard", False),
        budget=m.Budget(float(budget["monthlyAmount"]), budget.get("startDate", "2026-01-01"))
        if budget
        else None,
    )


def _registry(raw: dict[str, Any]) -> m.Registry:
    retired = tuple(
        m.Retirement(
            "model" if "model" in r else "agent",
            r.get("model") or r["agent"],
            r["version"],
            r["reason"],
            r["date"],
        )
        for r in raw.get("retired", [])
    )
    return m.Registry(raw.get("retention", {}).get("keepVersions", 5), retired)
