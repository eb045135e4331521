"""Layer 3: from a valid document to the frozen `Spec`, defaults and per-environment values applied.

Defaults come from the schema only (`generator.spec.defaults`): `resolve` reads the document
with every default filled in, and asks the schema for the few whose parent object is absent.
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

from generator import __version__
from generator.spec import model as m
from generator.spec import naming
from generator.spec.defaults import default
from generator.spec.document import Document

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
    return m.Gate(
        kind, section["command"], thresholds, variable, section.get("dataset"), _setup(section.get("setup"))
    )


def _setup(value: dict[str, str] | None) -> m.Setup | None:
    """A command's setup (the schema allows exactly one of requirements and command)."""
    if not value:
        return None
    return m.Setup(requirements=value.get("requirements"), command=value.get("command"))


def resolve(doc: Document, data: dict[str, Any]) -> m.Spec:
    """The Spec of a schema- and rule-valid document; `data` is its data with the schema's defaults."""
    service_name = data["service"]["name"]
    location = data["azure"]["location"]
    env_names = [env["name"] for env in data["environments"]]
    tests = tuple(
        m.Test(name, t["command"], t["timeoutMinutes"], _setup(t.get("setup")))
        for name, t in data["tests"].items()
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
            m.Approval(approval_raw["required"], tuple(approval_raw["reviewers"]))
            if approval_raw
            else m.Approval(False)
        )
        environments.append(
            m.Environment(
                name=name,
                index=index,
                sku=env["sku"],
                stacks=stacks,
                service_connection=naming.service_connection(
                    service_name, name, env.get("serviceConnection")
                ),
                public_network_access=("Disabled" if env["publicNetworkAccess"] == "disabled" else "Enabled"),
                tests=tuple(tests_by_name[t] for t in env["tests"]),
                gates=tuple(g for g in (gates[k] for k in env["gates"]) if g is not None),
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
            tuple(a["tools"]),
        )
        for a in data["agents"]
    )
    filters = tuple(
        m.ContentFilter(f["name"], f["blocking"], f["severity"], f["protectedMaterial"], f["indirectAttack"])
        for f in data.get("safety", {}).get("contentFilters", [])
    )
    configuration = _configuration(data["configuration"])
    return m.Spec(
        source=doc.path,
        service=m.Service(
            service_name,
            data["service"]["description"],
            data["service"].get("owner"),
            tuple(sorted(data["service"]["tags"].items())),
        ),
        pipelines=tuple(data["targets"]["pipelines"]),
        infrastructure=data["targets"]["infrastructure"],
        almgen=_almgen(data["targets"].get("almgen")),
        reusable_workflow_ref=data["targets"]["github"]["reusableWorkflowRef"],
        location=location,
        environments=tuple(environments),
        models=models,
        agents=agents,
        tests=tests,
        evaluation=evaluation,
        safety=safety,
        content_filters=filters,
        configuration=configuration,
        gateway=_gateway(data["gateway"], models, environments, configuration, agents),
        monitoring=_monitoring(data["monitoring"]),
        registry=_registry(data["registry"], env_names),
        extends=data.get("extends"),
        policies=tuple(data.get("policies", [])),
        templates=data.get("templates"),
        inputs=tuple(doc.inputs),
        retrieval=_retrieval(data.get("retrieval"), service_name, agents, env_names),
    )


def _retrieval(
    raw: dict[str, Any] | None, service: str, agents: tuple[m.Agent, ...], envs: list[str]
) -> m.Retrieval | None:
    """The retrieval section; its agents default to every agent with the azure_ai_search tool."""
    if raw is None:
        return None
    index, source, chunking = raw["index"], raw["source"], raw["chunking"]
    profile = index["vectorProfile"]
    sku = raw["sku"]
    given = sku if isinstance(sku, dict) else dict.fromkeys(envs, sku)
    fallback = default("retrieval.sku")
    return m.Retrieval(
        alias=index.get("name", service.rstrip("-")),
        source_version=source["version"],
        chunking=m.Chunking(chunking["size"], chunking["overlap"], chunking["splitter"]),
        embedding=raw["embedding"],
        sku=m.PerEnvText(tuple((env, str(given.get(env, fallback))) for env in envs)),
        source_asset=source.get("asset"),
        source_path=source.get("path"),
        fields=tuple(index["fields"]),
        algorithm=profile["algorithm"],
        metric=profile["metric"],
        semantic_ranker=index["semanticRanker"],
        agents=tuple(raw["agents"])
        if "agents" in raw
        else tuple(a.name for a in agents if "azure_ai_search" in a.tools),
        tests=tuple(raw["tests"]),
    )


def _strategy(raw: dict[str, Any] | None) -> m.Strategy:
    """A blue-green swap is watched for bakeMinutes too: health right after a swap sees no data yet."""
    if not raw or raw["type"] == "direct":
        return m.Strategy("direct")
    raw_rollback = raw["rollback"]
    rollback = m.Rollback(
        float(raw_rollback["errorRatePercent"]), raw_rollback.get("latencyP95Ms"), raw_rollback["minRequests"]
    )
    steps = tuple(raw["steps"]) if raw["type"] == "canary" else ()
    if raw["type"] == "ab":  # the test's duration is its one bake: both variants serve, then compare
        compare = raw["compare"]
        ab = m.AbTest(
            raw["split"],
            compare["metric"],
            float(compare["tolerancePercent"]),
            compare["decide"],
            tuple(compare.get("reviewers", ())),
        )
        return m.Strategy("ab", (), raw["durationMinutes"], rollback, ab)
    return m.Strategy(raw["type"], steps, raw["bakeMinutes"], rollback)


def _model(raw: dict[str, Any], envs: list[str]) -> m.Model:
    common = {"name": raw["name"], "description": raw.get("description", ""), "version": raw.get("version")}
    if raw["kind"] == "foundation":
        return m.Model(
            kind="foundation",
            format=raw["format"],
            model=raw["model"],
            sku=raw["sku"],
            capacity=_per_env(raw["capacity"], envs, default("models.capacity")),
            standby_capacity=raw["standbyCapacity"],
            version_upgrade=raw["versionUpgrade"],
            content_filter=raw.get("contentFilter"),
            fine_tune=_fine_tune(raw.get("fineTune")),
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
        preprocessing=tuple(raw["preprocessing"]),
        feature_engineering=tuple(raw["featureEngineering"]),
        hyperparameters_file=hyper if isinstance(hyper, str) else None,
        hyperparameters=tuple(sorted((k, _text(v)) for k, v in hyper.items()))
        if isinstance(hyper, dict)
        else (),
        training_job=raw.get("training", {}).get("job"),
        instance_type=endpoint.get("instanceType", default("models.endpoint.instanceType")),
        instance_count=_per_env(
            endpoint.get("instanceCount"), envs, default("models.endpoint.instanceCount")
        ),
        **common,
    )


def _fine_tune(raw: dict[str, Any] | None) -> m.FineTune | None:
    if raw is None:
        return None
    hyper, validation = raw.get("hyperparameters", {}), raw.get("validationData")
    rate = hyper.get("learningRateMultiplier")
    return m.FineTune(
        training_data=m.TrainingData(raw["trainingData"]["asset"], raw["trainingData"]["version"]),
        validation_data=m.TrainingData(validation["asset"], validation["version"]) if validation else None,
        epochs=hyper.get("epochs"),
        batch_size=hyper.get("batchSize"),
        learning_rate_multiplier=float(rate) if rate is not None else None,
        seed=raw.get("seed"),
    )


def _almgen(raw: dict[str, str] | None) -> m.AlmgenInstall:
    """The almgen the pipelines install; absent, this almgen's own version (the one default the
    schema cannot write down, since it is whichever almgen reads the spec)."""
    if raw is None:
        return m.AlmgenInstall("version", __version__)
    if "git" in raw:
        return m.AlmgenInstall("git", raw["git"])
    if "wheel" in raw:
        return m.AlmgenInstall("wheel", raw["wheel"], raw["sha256"])
    return m.AlmgenInstall("version", raw["version"])


def _configuration(raw: dict[str, Any]) -> m.Configuration:
    return m.Configuration(
        secrets=tuple(raw.get("keyVault", {}).get("secrets", ())),
        settings=tuple(
            sorted((k, _text(v)) for k, v in raw.get("appConfiguration", {}).get("settings", {}).items())
        ),
        requests_per_minute=raw.get("rateLimits", {}).get("requestsPerMinute"),
        tokens_per_minute=raw.get("rateLimits", {}).get("tokensPerMinute"),
        allowed_origins=tuple(raw.get("cors", {}).get("allowedOrigins", [])),
    )


def _gateway(
    raw: dict[str, Any],
    models: tuple[m.Model, ...],
    environments: list[m.Environment],
    configuration: m.Configuration,
    agents: tuple[m.Agent, ...],
) -> m.Gateway:
    """The spec's gateway; unset, `apim` where only a gateway makes a setting real (schema: gateway.type).

    Unset, it is on only for foundation models: a custom model's endpoint splits its own traffic and
    needs no gateway to move it; `type: apim` puts custom models behind it too (failover, limits).
    The SKU, unset, is StandardV2 when an agent uses a foundation model (schema: gateway.sku).
    """
    foundation = {model.name for model in models if model.kind == "foundation"}
    sku: Literal["BasicV2", "StandardV2"] = raw.get("sku") or (
        "StandardV2" if any(a.model in foundation for a in agents) else "BasicV2"
    )
    if "type" in raw:
        return m.Gateway(raw["type"], sku)
    if not foundation:
        return m.Gateway("none", sku)
    moves_traffic = any(env.strategy.type in ("canary", "blue-green", "ab") for env in environments)
    enforces = (
        configuration.requests_per_minute is not None
        or configuration.tokens_per_minute is not None
        or bool(configuration.allowed_origins)
    )
    return m.Gateway("apim" if moves_traffic or enforces else "none", sku)


def _monitoring(raw: dict[str, Any]) -> m.Monitoring:
    alerts = raw.get("alerts", {})
    drift = raw.get("drift")
    budget = raw.get("budget")
    evaluation = raw.get("evaluation")
    return m.Monitoring(
        log_retention_days=raw["logRetentionDays"],
        emails=tuple(raw.get("actionGroup", {}).get("emails", ())),
        alerts=m.Alerts(
            alerts.get("latencyP95Ms"), alerts.get("errorRatePercent"), alerts.get("quotaPercent")
        ),
        anomalies=raw["anomalies"],
        drift=m.Drift(drift["frequency"], float(drift["threshold"])) if drift is not None else None,
        dashboard=raw["dashboard"],
        budget=m.Budget(float(budget["monthlyAmount"]), budget.get("startDate")) if budget else None,
        evaluation=(
            m.ProductionEvaluation(evaluation["schedule"], bool(evaluation["safety"])) if evaluation else None
        ),
    )


def _registry(raw: dict[str, Any], envs: list[str]) -> m.Registry:
    retired = tuple(
        m.Retirement(
            "model" if "model" in r else "agent",
            r.get("model") or r["agent"],
            r["version"],
            r["reason"],
            r["date"],
        )
        for r in raw["retired"]
    )
    retention = raw.get("retention", {})
    keep = retention.get("keepVersions", default("registry.retention.keepVersions"))
    return m.Registry(
        keep,
        retired,
        raw.get("name"),
        _record_days(retention.get("recordDays"), envs),
        bool(retention.get("cleanup", False)),
    )


PRODUCTION_RECORD_DAYS = 2555  # 7 years: the records of what served customers
RECORD_DAYS = 30  # the environments before production


def _record_days(value: Any, envs: list[str]) -> m.PerEnv:
    """Per environment: days its records stay unchangeable; the last (production) keeps them longest."""
    defaults = {env: RECORD_DAYS for env in envs}
    if len(envs) > 1:  # the production environment, as Environment.production says
        defaults[envs[-1]] = PRODUCTION_RECORD_DAYS
    given = value if isinstance(value, dict) else dict.fromkeys(envs, value) if value is not None else {}
    return m.PerEnv(tuple((env, int(given.get(env, defaults[env]))) for env in envs))
