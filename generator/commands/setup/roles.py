"""The role matrix: which role each environment's deployment identity holds, where, and why.

Least privilege, decided here once (docs/alm/SETUP.md and `almgen setup --dry-run` print it):

- No role at subscription scope but `almgen deployer (<service>)`, a custom role with only what
  `az deployment sub create` needs when the resource groups already exist: the deployment
  object itself (`Microsoft.Resources/deployments/*` lives at subscription scope), reading
  resource groups, the budget (`Microsoft.Consumption/budgets/*`, a subscription-scope resource)
  when the spec has one, and the model catalog and quota reads of the lifecycle checks. The
  nested deployments run in the resource groups, where the identity is Contributor; the
  subscription-scope `resourceGroups` PUT of an existing group is authorized on the group.
- Contributor on the environment's own resource groups only (setup creates them).
- Role Based Access Control Administrator on those groups, constrained by an ABAC condition to
  the role definitions almgen's Bicep assigns (so it can never assign Owner or itself more).
- Contributor cannot write `Microsoft.Authorization/locks`: a production environment's Bicep
  writes a CanNotDelete lock, so its identity gets `almgen lock writer (<service>)` (locks read
  and write, not delete: removing a lock stays a deliberate human act) on its groups only.
- The data-plane roles the pipeline's own steps use with local auth off.

The scheduled production evaluation (`monitoring.evaluation`) runs unattended, so it has an identity of
its own, never the deployment identity (`monitoring_grants`): it reads the live state, calls what serves
and publishes its result, and cannot write a resource, a setting or a role assignment.
"""

from __future__ import annotations

from generator.commands.setup.model import RoleGrant
from generator.plan.model_registry import model_registry
from generator.spec.model import Environment, Spec
from generator.targets.bicep.files import ROLES

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
AZURE_AI_USER = "53ca6127-db72-4b80-b1b0-d745d6d5456d"
MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OPENAI_USER = ROLES["cognitiveServicesOpenAIUser"]
OPENAI_CONTRIBUTOR = "a001fd3d-188f-4b5d-821b-7da978bf7442"  # Cognitive Services OpenAI Contributor
APP_CONFIGURATION_DATA_OWNER = ROLES["appConfigurationDataOwner"]
ML_DATA_SCIENTIST = ROLES["azureMLDataScientist"]  # includes onlineEndpoints/score/action

# Roles no deployment identity may ever hold, at any scope, unconstrained.
FORBIDDEN = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}

# The role definitions almgen's Bicep assigns (templates/bicep: roleDefinitionId), the only ones
# the constrained RBAC Administrator may assign or remove.
BICEP_ASSIGNS = (
    "appConfigurationDataOwner",
    "appConfigurationDataReader",
    "azureMLDataScientist",
    "cognitiveServicesOpenAIUser",
    "cognitiveServicesUser",
    "keyVaultSecretsUser",
    "monitoringMetricsPublisher",
    "storageBlobDataContributor",  # the pipeline writes the release records (records.bicep)
    "searchServiceContributor",  # the pipeline builds the indexes and moves the alias (search.bicep)
    "searchIndexDataContributor",  # the pipeline uploads the chunks (search.bicep)
    "searchIndexDataReader",  # the workload and the agents read the index (search.bicep)
)


def deployer_role_name(spec: Spec) -> str:
    return f"almgen deployer ({spec.service.name})"


def lock_role_name(spec: Spec) -> str:
    return f"almgen lock writer ({spec.service.name})"


def deployer_actions(spec: Spec) -> list[str]:
    actions = [
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/read",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.CognitiveServices/locations/models/read",
        "Microsoft.CognitiveServices/locations/usages/read",
    ]
    if spec.monitoring.budget is not None:
        actions.append("Microsoft.Consumption/budgets/*")
    return actions


LOCK_ACTIONS = ["Microsoft.Authorization/locks/read", "Microsoft.Authorization/locks/write"]

# Later environments deploy the registry's model versions and never publish: read only. (The
# built-in AzureML Registry User also has registries/assets/*, which writes and deletes.)
REGISTRY_READ_ACTIONS = [
    "Microsoft.MachineLearningServices/registries/read",
    "Microsoft.MachineLearningServices/registries/assets/read",
]


def registry_reader_role_name(spec: Spec) -> str:
    return f"almgen registry reader ({spec.service.name})"


def assignable_role_ids() -> tuple[str, ...]:
    return tuple(sorted(ROLES[key] for key in BICEP_ASSIGNS))


def rbac_condition() -> str:
    """ABAC (version 2.0): role assignments may be written or deleted only for BICEP_ASSIGNS."""
    ids = ", ".join(assignable_role_ids())
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
        " AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{ids}}}))"
    )


def grants(spec: Spec, env: Environment) -> list[RoleGrant]:
    """The role matrix rows of one environment's identity."""
    name = env.name
    rows = [
        RoleGrant(
            name,
            "subscription",
            deployer_role_name(spec),
            deployer_role_name(spec),
            "run az deployment sub create (and what-if) of infra/main.bicep"
            + (", write the budget" if spec.monitoring.budget is not None else "")
            + "; read model catalog and quota",
            custom=True,
        )
    ]
    for stack in env.stacks:
        group = stack.resource_group
        rows.append(RoleGrant(name, group, "Contributor", CONTRIBUTOR, "deploy the resources of the stack"))
        rows.append(
            RoleGrant(
                name,
                group,
                "Role Based Access Control Administrator",
                RBAC_ADMINISTRATOR,
                "write the role assignments the Bicep declares, and only those roles",
                condition=rbac_condition(),
            )
        )
        if env.production:
            rows.append(
                RoleGrant(
                    name,
                    group,
                    lock_role_name(spec),
                    lock_role_name(spec),
                    "write the CanNotDelete lock on the AI Services account (Contributor cannot)",
                    custom=True,
                )
            )
        if spec.foundation_models:
            rows.append(
                RoleGrant(
                    name,
                    group,
                    "Cognitive Services OpenAI User",
                    OPENAI_USER,
                    "gates, tests and health checks call the model deployments (local auth off)",
                )
            )
        if spec.fine_tuned_models and env.is_first and stack.primary:
            rows.append(
                RoleGrant(
                    name,
                    group,
                    "Cognitive Services OpenAI Contributor",
                    OPENAI_CONTRIBUTOR,
                    "import the training data and run the fine-tuning jobs (models.py fine-tune); the "
                    "data assets' storage must also grant Storage Blob Data Reader (a user delegation SAS)",
                )
            )
        if spec.foundry_project:
            uses = [
                use
                for use, needed in (
                    ("create the agent versions in the project", spec.agents),
                    ("run the safety gate's content-safety evaluations in the project", spec.safety),
                )
                if needed
            ]
            rows.append(RoleGrant(name, group, "Azure AI User", AZURE_AI_USER, "; ".join(uses)))
        rows.append(
            RoleGrant(
                name,
                group,
                "App Configuration Data Owner",
                APP_CONFIGURATION_DATA_OWNER,
                "publish routing and settings (almgen:active:*, almgen:canary:*)",
            )
        )
        if spec.custom_models:
            rows.append(
                RoleGrant(
                    name,
                    group,
                    "AzureML Data Scientist",
                    ML_DATA_SCIENTIST,
                    "train, register and score the custom models (onlineEndpoints/score/action)",
                )
            )
        rows += _registry_rows(spec, env, group)
        rows += _fine_tune_home_rows(spec, env, group)
        rows.append(
            RoleGrant(
                name,
                group,
                "Monitoring Reader",
                MONITORING_READER,
                "read the metrics of canary and health checks"
                + (
                    ", and the AI gateway's request logs (a Log Analytics query: its */read "
                    "covers workspaces/query/*/read)"
                    if spec.gateway.type == "apim"
                    else ""
                ),
            )
        )
    return rows


def _registry_rows(spec: Spec, env: Environment, group: str) -> list[RoleGrant]:
    """The model registry lives in the first environment's primary group, where that environment
    is Contributor (it creates the registry and publishes into it); later environments read it."""
    registry = model_registry(spec)
    if registry is None or env.name == registry.home or group != env.primary.resource_group:
        return []
    return [
        RoleGrant(
            env.name,
            registry.resource_group,
            registry_reader_role_name(spec),
            registry_reader_role_name(spec),
            f"deploy the custom model versions {registry.home} published to the registry "
            f"{registry.name} (read only)",
            custom=True,
        )
    ]


def _fine_tune_home_rows(spec: Spec, env: Environment, group: str) -> list[RoleGrant]:
    """A fine-tuned model lives in the account of the first environment's primary region, which
    fine-tunes it; every later environment deploys that model from there (the deployment's
    `model.source`), and reads the home account's jobs to find it. Microsoft Learn ("Deploy a
    fine-tuned model", cross-region and cross-tenant deployment) names Cognitive Services OpenAI
    Contributor on the source resource; no narrower role is documented."""
    home = spec.environments[0]
    if not spec.fine_tuned_models or env.name == home.name or group != env.primary.resource_group:
        return []
    return [
        RoleGrant(
            env.name,
            home.primary.resource_group,
            "Cognitive Services OpenAI Contributor",
            OPENAI_CONTRIBUTOR,
            f"deploy the fine-tuned models {home.name} made (model.source: {home.name}'s account), "
            "never a retrain; read its fine-tuning jobs to find them (models.py fine-tune)",
        )
    ]


def monitor_role_name(spec: Spec) -> str:
    return f"almgen monitor ({spec.service.name})"


# `az deployment sub show` of the production deployment (its outputs), nothing else at subscription scope.
MONITOR_ACTIONS = [
    "Microsoft.Resources/deployments/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
]


def scorer_role_name(spec: Spec) -> str:
    return f"almgen endpoint scorer ({spec.service.name})"


# Score the online endpoints (AzureML Data Scientist would also train, register and deploy).
SCORER_ACTIONS = [
    "Microsoft.MachineLearningServices/workspaces/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action",
]


def monitoring_identity_name(spec: Spec, env: Environment) -> str:
    return f"id-{spec.service.name}-monitor-{env.name}"


def monitored(spec: Spec) -> Environment | None:
    """The environment the scheduled production evaluation judges, if the spec has one."""
    from generator.plan.production import production_evaluation

    evaluation = production_evaluation(spec)
    return evaluation.environment if evaluation is not None else None


def monitoring_grants(spec: Spec, env: Environment) -> list[RoleGrant]:
    """The role matrix rows of ENV's monitoring identity (the scheduled production evaluation).

    Read and call only: no Contributor, no role assignments, no App Configuration writes. A job with
    no reviewer in front of it must not be able to change what production serves."""
    from generator.spec.naming import monitoring_environment

    label = monitoring_environment(env.name)
    settings = spec.monitoring.evaluation
    safety = spec.safety is not None and settings is not None and settings.safety
    rows = [
        RoleGrant(
            label,
            "subscription",
            monitor_role_name(spec),
            monitor_role_name(spec),
            "read the production deployment's outputs (az deployment sub show)",
            custom=True,
        )
    ]
    for stack in env.stacks:
        group = stack.resource_group
        rows.append(RoleGrant(label, group, "Reader", READER, "read what serves (contract.py)"))
        rows.append(
            RoleGrant(
                label,
                group,
                "App Configuration Data Reader",
                ROLES["appConfigurationDataReader"],
                "read the live routing (almgen:active:*, almgen:agent:*)",
            )
        )
        if spec.foundation_models:
            rows.append(
                RoleGrant(
                    label,
                    group,
                    "Cognitive Services OpenAI User",
                    OPENAI_USER,
                    "the evaluation commands call the model deployments (local auth off)",
                )
            )
        if spec.foundry_project:
            uses = [
                use
                for use, needed in (
                    ("call the agents' live versions", bool(spec.agents)),
                    ("run the safety gate's content-safety evaluations", safety),
                )
                if needed
            ]
            if uses:
                rows.append(RoleGrant(label, group, "Azure AI User", AZURE_AI_USER, "; ".join(uses)))
        if spec.custom_models:
            rows.append(
                RoleGrant(
                    label,
                    group,
                    scorer_role_name(spec),
                    scorer_role_name(spec),
                    "score the custom models' online endpoints (onlineEndpoints/score/action)",
                    custom=True,
                )
            )
        if spec.retrieval is not None:
            rows.append(
                RoleGrant(
                    label,
                    group,
                    "Search Index Data Reader",
                    ROLES["searchIndexDataReader"],
                    "the evaluation commands may query the index (ALMGEN_SEARCH_ENDPOINT, Entra ID only)",
                )
            )
        rows.append(
            RoleGrant(
                label,
                group,
                "Monitoring Metrics Publisher",
                ROLES["monitoringMetricsPublisher"],
                "send the evaluation's result to Application Insights (local auth off)",
            )
        )
    return rows


def matrix(spec: Spec, envs: tuple[Environment, ...]) -> list[RoleGrant]:
    rows = [row for env in envs for row in grants(spec, env)]
    watched = monitored(spec)
    if watched is not None and any(env.name == watched.name for env in envs):
        rows += monitoring_grants(spec, watched)
    return rows


def matrix_text(rows: list[RoleGrant]) -> str:
    """The role matrix as a Markdown table (SETUP.md and the dry run print the same)."""
    lines = ["| environment | scope | role | why |", "| --- | --- | --- | --- |"]
    for row in rows:
        role = row.role + (" (custom)" if row.custom else "")
        if row.condition:
            role += ", constrained to the roles the Bicep assigns (ABAC)"
        lines.append(f"| {row.environment} | {row.scope} | {role} | {row.why} |")
    return "\n".join(lines) + "\n"
