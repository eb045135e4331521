"""The Bicep target: what infra/ holds for a spec, decided here and printed by templates.

One subscription-scoped `main.bicep` creates a resource group per region and deploys
`modules/stack.bicep` into each, primary first (`@batchSize(1)`): a secondary region only
starts after the primary succeeded. Every per-environment value is resolved here and printed
into `infra/env/<env>.bicepparam` as a literal.

Live traffic belongs to the pipeline. Bicep learns the live state (which colour serves, and
the version it serves) from the `ALMGEN_LIVE_STATE` environment variable that the deploy
step sets, so a re-deploy never moves traffic or replaces what serves customers.
"""

from __future__ import annotations

from typing import Any

from generator.plan import production
from generator.plan.model_registry import model_registry
from generator.plan.production import production_evaluation
from generator.render.outputs import TemplateFile
from generator.spec import naming
from generator.spec.model import Budget, Environment, Model, Spec

API = {  # one catalog of API versions (see docs: chosen to be known to current Bicep CLIs)
    "resourceGroups": "2025-04-01",
    "cognitive": "2025-12-01",
    "keyVault": "2025-05-01",
    "appConfiguration": "2024-06-01",
    "logAnalytics": "2025-07-01",
    "appInsights": "2020-02-02",
    "metricAlerts": "2018-03-01",
    "scheduledQueryRules": "2023-12-01",
    "actionGroups": "2023-01-01",
    "diagnosticSettings": "2021-05-01-preview",
    "identity": "2024-11-30",
    "roleAssignments": "2022-04-01",
    "locks": "2020-05-01",
    "workbooks": "2023-06-01",
    "budgets": "2024-08-01",
    "machineLearning": "2025-12-01",
    "storage": "2025-01-01",
    "containerRegistry": "2023-07-01",  # the latest GA version Bicep's types are sure to know
    # the latest GA version in Azure/bicep-types-az (generated/apimanagement/microsoft.apimanagement/
    # 2024-05-01/types.md): the BasicV2 and StandardV2 SKUs, backend pools with weights, circuit breakers
    "apiManagement": "2024-05-01",
    # Microsoft.MachineLearningServices/registries: every property checked against
    # Azure/bicep-types-az generated/machinelearningservices/microsoft.machinelearningservices/
    # 2025-12-01/types.md (Registry, RegistryProperties, RegistryRegionArmDetails, ...)
    "mlRegistry": "2025-12-01",
    # Microsoft.Search/searchServices: the latest GA version in Azure/bicep-types-az
    # (generated/search/microsoft.search/2025-05-01/types.md: SearchServiceProperties.disableLocalAuth,
    # networkRuleSet.bypass, semanticSearch, hostingMode; Identity.type SystemAssigned)
    "search": "2025-05-01",
}

# The ML workspace's managed network allows only approved outbound traffic. Building an MLflow
# model's environment (pip and conda) needs these package hosts; each becomes an FQDN rule.
ML_PACKAGE_HOSTS = (
    "pypi.org",
    "files.pythonhosted.org",
    "conda.anaconda.org",
    "repo.anaconda.com",
    "anaconda.org",
)
ML_IMAGE_BUILD_COMPUTE = "image-build"  # the cluster that builds environment images

ROLES = {  # built-in role definition IDs
    "cognitiveServicesOpenAIUser": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "cognitiveServicesUser": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "keyVaultSecretsUser": "4633458b-17de-408a-b874-0445c86b69e6",
    "appConfigurationDataReader": "516239f1-63e1-4d78-a4de-a74fb236a071",
    "appConfigurationDataOwner": "5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b",
    "azureMLDataScientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "storageBlobDataContributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    # granted by `almgen setup`, not Bicep: the search services read the retrieval documents
    "storageBlobDataReader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "searchServiceContributor": "7ca78c08-252a-4471-8644-bb5ff32d4ba0",
    "searchIndexDataContributor": "8ebe5a00-799e-43f5-93ac-243d3dce84a7",
    "searchIndexDataReader": "1407120a-92aa-4202-b7e9-c0e197c71c8f",
}

SEVERITY = {"low": "Low", "medium": "Medium", "high": "High"}
# A drift run compares the production data since the previous run: the window is one period.
DRIFT_WINDOWS = {"day": "P1D", "week": "P7D", "month": "P30D"}
HARM_CATEGORIES = ("Hate", "Sexual", "Selfharm", "Violence")
PROTECTED_MATERIAL = ("Protected Material Text", "Protected Material Code")
LIVE_STATE_VARIABLE = "ALMGEN_LIVE_STATE"
DEPLOYER_VARIABLE = "ALMGEN_DEPLOYER_PRINCIPAL_ID"


def colours(env: Environment) -> tuple[str, ...]:
    """Deployment colours: a new version goes beside the live one unless the strategy is direct."""
    return ("blue", "green") if env.strategy.type != "direct" else ("blue",)


def base_tags(spec: Spec, env: Environment) -> dict[str, str]:
    tags = {"service": spec.service.name, "environment": env.name, "managed-by": "almgen"}
    if spec.service.owner:
        tags["owner"] = spec.service.owner
    tags.update(dict(spec.service.tags))
    return tags


def lineage_tags(model: Model) -> dict[str, str]:
    """Tags that answer "which data trained what serves customers" from Azure itself."""
    tags = {"model": model.name, "model-version": model.version or ""}
    if model.training_data:
        tags["training-data-asset"] = model.training_data.asset
        tags["training-data-version"] = model.training_data.version
    if model.preprocessing:
        tags["preprocessing"] = ",".join(model.preprocessing)[:256]
    if model.feature_engineering:
        tags["feature-engineering"] = ",".join(model.feature_engineering)[:256]
    tune = model.fine_tune
    if tune is not None:  # the deployment serves a fine-tuned model: its base and its data
        tags["fine-tune-base"] = f"{model.model}:{model.version}"
        tags["training-data-asset"] = tune.training_data.asset
        tags["training-data-version"] = tune.training_data.version
        if tune.validation_data is not None:
            tags["validation-data-asset"] = tune.validation_data.asset
            tags["validation-data-version"] = tune.validation_data.version
        hyper = ",".join(f"{k}={v}" for k, v in sorted(tune.hyperparameters().items()))
        if tune.seed is not None:
            hyper = ",".join(filter(None, (hyper, f"seed={tune.seed}")))
        if hyper:
            tags["hyperparameters"] = hyper[:256]
    return tags


def _model_deployments(spec: Spec, env: Environment) -> list[dict[str, Any]]:
    out = []
    for model in spec.foundation_models:
        assert model.capacity is not None and model.model is not None
        coloured = len(colours(env)) > 1
        names = [f"{model.name}-{c}" for c in colours(env)] if coloured else [model.name]
        full = model.capacity[env.name]
        # one deployment (direct) always serves; of two colours, the one that stands by runs small
        standby = min(model.standby_capacity or full, full) if coloured else full
        for name in names:
            out.append(
                {
                    "name": name,
                    "model": model.name,
                    "format": model.format,
                    "modelName": model.model,
                    "version": model.version,
                    "sku": model.sku,
                    "capacity": full,
                    "standbyCapacity": standby,
                    "versionUpgradeOption": model.version_upgrade,
                    "raiPolicyName": model.content_filter or "",
                    "tags": lineage_tags(model),
                    # a colour keeps the version it serves until the pipeline swaps; `direct` updates
                    # the one deployment in place, so a release must reach it
                    "keepsLiveVersion": coloured,
                }
                # a fine-tuned model: the pipeline names it (liveState.fineTuned) once its job succeeded
                | ({"modelName": "", "version": "1", "fineTune": True} if model.fine_tune else {})
            )
    return out


def _custom_models(spec: Spec, env: Environment) -> list[dict[str, Any]]:
    out = []
    for model in spec.custom_models:
        assert model.instance_count is not None
        out.append(
            {
                "name": model.name,
                "instanceType": model.instance_type,
                "instanceCount": model.instance_count[env.name],
                "trainingDataAsset": model.training_data.asset if model.training_data else "",
                "trainingDataVersion": model.training_data.version if model.training_data else "",
                "tags": lineage_tags(model),
            }
        )
    return out


def _content_filters(spec: Spec) -> list[dict[str, Any]]:
    """One RAI policy per filter: harm categories both ways, jailbreak, prompt shields, protected material."""
    out = []
    for flt in spec.content_filters:
        rules = [
            {
                "name": category,
                "blocking": flt.blocking,
                "enabled": True,
                "severityThreshold": SEVERITY[flt.severity],
                "source": source,
            }
            for category in HARM_CATEGORIES
            for source in ("Prompt", "Completion")
        ]
        rules.append({"name": "Jailbreak", "blocking": flt.blocking, "enabled": True, "source": "Prompt"})
        if flt.indirect_attack:  # documents, retrieved passages and tool output carry injected instructions
            rules.append(
                {"name": "Indirect Attack", "blocking": flt.blocking, "enabled": True, "source": "Prompt"}
            )
        if flt.protected_material:
            rules += [
                {"name": name, "blocking": flt.blocking, "enabled": True, "source": "Completion"}
                for name in PROTECTED_MATERIAL
            ]
        out.append({"name": flt.name, "mode": "Blocking" if flt.blocking else "Default", "filters": rules})
    return out


def _app_settings(spec: Spec) -> list[dict[str, str]]:
    config = spec.configuration
    settings = [{"key": key, "value": value} for key, value in config.settings]
    if config.requests_per_minute is not None:
        settings.append(
            {"key": "almgen:rateLimits:requestsPerMinute", "value": str(config.requests_per_minute)}
        )
    if config.tokens_per_minute is not None:
        settings.append({"key": "almgen:rateLimits:tokensPerMinute", "value": str(config.tokens_per_minute)})
    if config.allowed_origins:
        settings.append({"key": "almgen:cors:allowedOrigins", "value": ",".join(config.allowed_origins)})
    return settings


# API Management requires a publisher email; the gateway's own notifications go to it.
FALLBACK_PUBLISHER_EMAIL = "no-reply@example.com"


def gateway_backend(deployment: str) -> str:
    """The gateway backend of one model deployment (runtime/routing.py names it the same)."""
    return f"deployment-{deployment}"


def failover_backend(location: str, deployment: str) -> str:
    """The backend of another region's model deployment (runtime/routing.py names it the same)."""
    return f"remote-{location}-{deployment}"


def endpoint_backend(model: str) -> str:
    """The gateway backend of a custom model's online endpoint in the gateway's own region."""
    return f"endpoint-{model}"


def _failover(
    env: Environment,
    deployments: list[dict[str, Any]],
    routes: list[dict[str, str]],
    custom: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Failover between the regions of ENV: every regional gateway also fronts the other regions.

    `regions`: per region (its index in `stacks`, and its `location`: gateway.bicep finds its own
    entry by it), a backend for each deployment of every other region (`stack`: whose endpoint in
    gateway-failover.bicep, `location`: whose in the live state's `regions` in gateway.bicep), and
    `members`: per model (in the order of ROUTES) and other region, the priority-2 member of the
    pool, whose backend gateway.bicep and gateway-failover.bicep pick from the live state (the
    deployment serving in that region, else the route's initial one). The priority-2 weight is
    shared equally between the other regions. For each custom model (CUSTOM, in the order of
    `customModels`): `endpointBackends`, a backend for its online endpoint in every other region
    (`stack`: whose endpoint, `index`: the model's index in that region's `onlineEndpoints`), and
    `endpointMembers`, per custom model and other region, the backend and weight at priority 2
    (an endpoint keeps its name through a release: its colours are split by the endpoint itself).
    `access`: each (gateway region, other region) pair, whose account the gateway's identity
    calls. One region: nothing.
    """
    stacks = list(env.stacks)
    if len(stacks) < 2:
        return {"regions": [], "access": []}
    custom_backends = {
        (j, index): failover_backend(other.region, endpoint_backend(model))
        for j, other in enumerate(stacks)
        for index, model in enumerate(custom)
    }
    weight = 100 // (len(stacks) - 1)
    regions = []
    for index, _ in enumerate(stacks):
        others = [(j, other) for j, other in enumerate(stacks) if j != index]
        endpoints = {
            "endpointBackends": [
                {
                    "name": custom_backends[j, item],
                    "stack": j,
                    "index": item,
                    "location": other.region,
                    "model": model,
                }
                for j, other in others
                for item, model in enumerate(custom)
            ],
            "endpointMembers": [
                {
                    "model": model,
                    "backend": custom_backends[j, item],
                    "location": other.region,
                    "weight": weight,
                }
                for item, model in enumerate(custom)
                for j, other in others
            ],
        }
        regions.append(
            {
                "stack": index,
                "location": stacks[index].region,
                "backends": [
                    {
                        "name": failover_backend(other.region, item["name"]),
                        "stack": j,
                        "location": other.region,
                        "deployment": item["name"],
                    }
                    for j, other in others
                    for item in deployments
                ],
                "members": [
                    {**route, "location": other.region, "weight": weight}
                    for route in routes
                    for _, other in others
                ],
            }
            | (endpoints if custom else {})
        )
    access = [{"gateway": i, "account": j} for i in range(len(stacks)) for j in range(len(stacks)) if i != j]
    return {"regions": regions, "access": access}


def _publisher_email(spec: Spec) -> str:
    """The first alert email, else the owner when it is an email address, else a reserved address."""
    if spec.monitoring.emails:
        return spec.monitoring.emails[0]
    owner = spec.service.owner or ""
    return owner if "@" in owner else FALLBACK_PUBLISHER_EMAIL


# The Foundry project connection (category ApiManagement) through which agents reach the gateway:
# an agent version binds `<AGENTS_CONNECTION>/<model>` (runtime/agents.py), so the model's pool in
# the gateway (canary, blue-green, failover) moves the agent's calls with the model's.
AGENTS_CONNECTION = "ai-gateway"
# The api-version the Agent Service adds to its inference calls through the connection: GA chat completions.
AGENTS_INFERENCE_API_VERSION = "2024-10-21"


def _agent_gateway(spec: Spec) -> dict[str, Any]:
    """The agents' connection to the gateway: its name and the static list of the models agents bind
    (the connection's `models` metadata; the deployment name in the gateway is the model's name)."""
    foundation = {m.name: m for m in spec.foundation_models}
    used = sorted({agent.model for agent in spec.agents if agent.model in foundation})
    return {
        "agentsConnection": AGENTS_CONNECTION,
        "agentsInferenceApiVersion": AGENTS_INFERENCE_API_VERSION,
        "agentModels": [
            {
                "name": name,
                "properties": {
                    "model": {
                        "name": foundation[name].model or name,
                        "version": foundation[name].version or "",
                        # the gateway's APIs are Azure OpenAI-compatible (chat completions and the like)
                        "format": "OpenAI",
                    }
                },
            }
            for name in used
        ],
    }


def _gateway(spec: Spec, env: Environment, deployments: list[dict[str, Any]]) -> dict[str, Any]:
    """The AI gateway of an environment: its APIs, backends and the limits it enforces."""
    config = spec.configuration
    routes = _model_routing(spec, env)
    return (
        {
            "sku": spec.gateway.sku,
            "publisherEmail": _publisher_email(spec),
            "models": [
                {"model": route["model"], "initialDeployment": route["initialDeployment"]} for route in routes
            ],
            "backends": [
                {"name": gateway_backend(item["name"]), "deployment": item["name"]} for item in deployments
            ],
            "requestsPerMinute": config.requests_per_minute or 0,
            "tokensPerMinute": config.tokens_per_minute or 0,
            "allowedOrigins": list(config.allowed_origins),
        }
        | (
            {"failover": _failover(env, deployments, routes, tuple(m.name for m in spec.custom_models))}
            if spec.gateway_failover
            else {}
        )
        | (_agent_gateway(spec) if spec.agents else {})
    )


def _model_routing(spec: Spec, env: Environment) -> list[dict[str, str]]:
    return [
        {"model": m.name, "initialDeployment": m.name if len(colours(env)) == 1 else f"{m.name}-blue"}
        for m in spec.foundation_models
    ]


def _quota_alerts(spec: Spec, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per deployment, the metric that measures quota use, and its threshold.

    Provisioned SKUs report utilization as a percentage; standard SKUs have no quota metric,
    so their token count over the 5-minute window is compared with capacity (1K tokens/min).
    """
    percent = spec.monitoring.alerts.quota_percent
    if not percent:
        return []
    out = []
    for deployment in deployments:
        if "Provisioned" in deployment["sku"]:
            out.append(
                {
                    "deployment": deployment["name"],
                    "metric": "AzureOpenAIProvisionedManagedUtilizationV2",
                    "aggregation": "Average",
                    "threshold": percent,
                }
            )
        else:
            out.append(
                {
                    "deployment": deployment["name"],
                    "metric": "TokenTransaction",
                    "aggregation": "Total",
                    "threshold": deployment["capacity"] * 1000 * 5 * percent // 100,
                }
            )
    return out


def _budget(budget: Budget) -> dict[str, Any]:
    """The start date only when the spec pins it: otherwise main.bicep takes this month's first."""
    return {"amount": budget.monthly_amount} | ({"startDate": budget.start_date} if budget.start_date else {})


def parameters(spec: Spec, env: Environment) -> dict[str, Any]:
    """The values of infra/env/<env>.bicepparam, in declaration order."""
    monitoring = spec.monitoring
    alerts = monitoring.alerts
    deployments = _model_deployments(spec, env)
    params: dict[str, Any] = {
        "serviceName": spec.service.name,
        "environmentName": env.name,
        "stacks": [
            {
                "location": s.region,
                "resourceGroup": s.resource_group,
                "suffix": s.suffix,
                "primary": s.primary,
            }
            for s in env.stacks
        ],
        "tags": base_tags(spec, env),
        "aiServicesSku": env.sku,
        "publicNetworkAccess": env.public_network_access,
        "modelDeployments": deployments,
        "modelRouting": _model_routing(spec, env),
        "contentFilters": _content_filters(spec),
        "keyVaultSecretNames": list(spec.configuration.secrets),
        "appSettings": _app_settings(spec),
        "enablePurgeProtection": env.production,
        "enableDeleteLock": env.production,
        "recordDays": spec.registry.record_days[env.name],
        "logRetentionDays": monitoring.log_retention_days,
        "alertEmails": list(monitoring.emails),
        "alerts": {
            "errorRatePercent": alerts.error_rate_percent or 0,
            # ARM's arithmetic takes integers only: a threshold such as 0.5 is subtracted here
            "availabilityPercent": 100 - alerts.error_rate_percent if alerts.error_rate_percent else 0,
            "latencyP95Ms": alerts.latency_p95_ms or 0,
            "anomalies": monitoring.anomalies,
        },
        "quotaAlerts": _quota_alerts(spec, deployments),
        "dashboard": monitoring.dashboard,
        "budget": _budget(monitoring.budget) if monitoring.budget else {},
        "foundryProject": spec.foundry_project,
    }
    if production_evaluation(spec) is not None:
        params["productionEvaluation"] = production.bicep_parameter(spec, env)
    if spec.gateway.enabled:
        params["gateway"] = _gateway(spec, env, deployments)
    if spec.retrieval is not None:
        params["search"] = {
            "sku": spec.retrieval.sku[env.name],
            "semanticRanker": spec.retrieval.semantic_ranker,
            "documentsIdentity": naming.search_reader_identity(spec.service.name, env.name),
            "documentsIdentityGroup": env.primary.resource_group,
        }
    if spec.custom_models:
        params["customModels"] = _custom_models(spec, env)
        params["drift"] = (
            {
                "frequency": monitoring.drift.frequency.capitalize(),
                "window": DRIFT_WINDOWS[monitoring.drift.frequency],
                "threshold": monitoring.drift.threshold,
            }
            if monitoring.drift
            else {}
        )
        registry = model_registry(spec)
        assert registry is not None  # custom models have one
        params["mlRegistry"] = {
            "name": registry.name,
            "create": env.name == registry.home,
            "resourceGroup": registry.resource_group,
            "location": registry.location,
            "regions": list(registry.regions),
        }
    return params


MODULES = (
    "stack",
    "monitoring",
    "alerts",
    "identity",
    "ai-services",
    "key-vault",
    "app-configuration",
    "budget",
    "records",
)
# only for specs with custom models
ML_MODULES = ("machine-learning", "machine-learning-registry", "online-deployment")
GATEWAY_MODULES = ("gateway",)  # only for specs with an AI gateway
FAILOVER_MODULES = ("gateway-failover", "gateway-access")  # and with more than one region somewhere
SEARCH_MODULES = ("search",)  # only for specs with a retrieval section
ALL_MODULES = (*MODULES, *GATEWAY_MODULES, *FAILOVER_MODULES, *SEARCH_MODULES, *ML_MODULES)


def files(spec: Spec) -> list[TemplateFile]:
    """Every file of infra/, with the context its template prints."""
    has_ml = bool(spec.custom_models)
    context = {
        "spec": spec,
        "api": API,
        "roles": ROLES,
        "has_ml": has_ml,
        "has_gateway": spec.gateway.enabled,
        "has_failover": spec.gateway_failover,
        "has_agent_gateway": spec.gateway.enabled and bool(spec.agents),
        "has_search": spec.retrieval is not None,
        "has_production_evaluation": production_evaluation(spec) is not None,
        "ml_package_rules": [{"name": host.replace(".", "-"), "host": host} for host in ML_PACKAGE_HOSTS],
        "ml_image_build_compute": ML_IMAGE_BUILD_COMPUTE,
        "live_state_variable": LIVE_STATE_VARIABLE,
        "deployer_variable": DEPLOYER_VARIABLE,
    }
    modules = [
        *MODULES,
        *(GATEWAY_MODULES if spec.gateway.enabled else ()),
        *(FAILOVER_MODULES if spec.gateway_failover else ()),
        *(SEARCH_MODULES if spec.retrieval is not None else ()),
        *(ML_MODULES if has_ml else ()),
    ]
    out = [
        TemplateFile("infra/main.bicep", "bicep/main.bicep.j2", context),
        TemplateFile("infra/bicepconfig.json", "bicep/bicepconfig.json.j2", context),
    ]
    out += [
        TemplateFile(f"infra/modules/{name}.bicep", f"bicep/modules/{name}.bicep.j2", context)
        for name in modules
    ]
    for env in spec.environments:
        out.append(
            TemplateFile(
                f"infra/env/{env.name}.bicepparam",
                "bicep/env.bicepparam.j2",
                {**context, "env": env, "params": parameters(spec, env)},
            )
        )
    return out
