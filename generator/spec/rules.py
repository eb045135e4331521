"""Layer 2 of validation: the rules of spec-v1 that a JSON Schema cannot express.

Runs on a schema-valid document, so types are known; every rule yields located issues.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

from generator.errors import Issue
from generator.spec import naming
from generator.spec.defaults import default
from generator.spec.document import Document, FieldPath
from generator.spec.paths import misplaced, referenced_files
from generator.spec.rules_ab import ab_tests
from generator.spec.rules_finetune import fine_tune_rules
from generator.spec.rules_retrieval import retrieval_rules
from generator.spec.secrets import no_secrets
from generator.spec.suggest import did_you_mean, one_of
from generator.spec.text import text_issues

SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)


Rule = Callable[[Document], Iterator[Issue]]


def rule_issues(doc: Document) -> list[Issue]:
    issues: list[Issue] = []
    for rule in RULES:
        issues.extend(rule(doc))
    return sorted(set(issues))


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def _env_names(doc: Document) -> list[str]:
    return _names(doc.data["environments"])


def unique_names(doc: Document) -> Iterator[Issue]:
    data = doc.data
    groups: list[tuple[str, list[dict[str, Any]]]] = [
        ("environments", data["environments"]),
        ("models", data["models"]),
        ("agents", data.get("agents", [])),
    ]
    groups.append(("safety.contentFilters", data.get("safety", {}).get("contentFilters", [])))
    for where, items in groups:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            name = item["name"]
            path: FieldPath = (*_split(where), index, "name")
            if name in seen:
                yield doc.issue(
                    path,
                    f"the name {name!r} is used twice in {where}",
                    f"unique names in {where}",
                    f"rename one of them ({where}[{seen[name]}] uses it first)",
                )
            else:
                seen[name] = index


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(dotted.split("."))


def references(doc: Document) -> Iterator[Issue]:
    data = doc.data
    models = {m["name"]: m for m in data["models"]}
    filters = _names(data.get("safety", {}).get("contentFilters", []))
    tests = list(data.get("tests", {}))
    agents = _names(data.get("agents", []))

    def dangling(path: FieldPath, value: str, what: str, choices: list[str]) -> Issue:
        hint = did_you_mean(value, choices)
        return doc.issue(
            path,
            f"{value!r} is not a {what}",
            f"one of {one_of(choices)}",
            hint or f"define {value!r} first, or use one of {one_of(choices)}",
        )

    for index, agent in enumerate(data.get("agents", [])):
        model = agent["model"]
        if model not in models:
            yield dangling(("agents", index, "model"), model, "model name from models", list(models))
        elif models[model].get("kind", default("models.kind")) != "foundation":
            yield doc.issue(
                ("agents", index, "model"),
                f"{model!r} is a custom model; agents run on foundation models",
                "the name of a foundation model",
                "point the agent at a foundation model deployment",
            )
    for index, model in enumerate(data["models"]):
        if "contentFilter" in model and model["contentFilter"] not in filters:
            yield dangling(
                ("models", index, "contentFilter"),
                model["contentFilter"],
                "content filter from safety.contentFilters",
                filters,
            )
    for env_index, env in enumerate(data["environments"]):
        for test_index, test in enumerate(env.get("tests", [])):
            if test not in tests:
                yield dangling(
                    ("environments", env_index, "tests", test_index), test, "test name from tests", tests
                )
    for index, retired in enumerate(data.get("registry", {}).get("retired", [])):
        path: FieldPath = ("registry", "retired", index)
        has_model, has_agent = "model" in retired, "agent" in retired
        if has_model == has_agent:
            yield doc.issue(
                path,
                "a retired entry names a model or an agent",
                "exactly one of `model:` or `agent:`",
                "keep `model:` for a model version, `agent:` for an agent version",
            )
        elif has_model and retired["model"] not in models:
            yield dangling((*path, "model"), retired["model"], "model name from models", list(models))
        elif has_agent and retired["agent"] not in agents:
            yield dangling((*path, "agent"), retired["agent"], "agent name from agents", agents)


def agent_filters(doc: Document) -> Iterator[Issue]:
    """A filter on an agent's model keeps prompt shields and protected material: agents read
    documents and tool output (indirect attacks) and write text and code (protected material)."""
    data = doc.data
    agent_models = {agent["model"] for agent in data.get("agents", [])}
    used_by_agents = {
        m["contentFilter"] for m in data["models"] if m["name"] in agent_models and "contentFilter" in m
    }
    for index, flt in enumerate(data.get("safety", {}).get("contentFilters", [])):
        if flt["name"] not in used_by_agents:
            continue
        for key in ("indirectAttack", "protectedMaterial"):
            if flt.get(key) is False:
                yield doc.issue(
                    ("safety", "contentFilters", index, key),
                    f"the filter {flt['name']!r} is used by an agent's model and turns {key} off",
                    f"{key}: true on a filter an agent's model uses",
                    f"remove `{key}: false`, or give the agent's model another filter",
                )


# Agent tools the Foundry Agent Service refuses without a resource almgen does not create: a
# function's definition, an OpenAPI description, a Grounding with Bing Search connection, the vector
# stores a file_search tool searches (its `vector_store_ids` are required in an agent version).
TOOLS_WITHOUT_RESOURCES = {
    "file_search": "a vector store of the files it searches (vector_store_ids)",
    "function": "a function definition (name and JSON schema of its parameters)",
    "openapi": "an OpenAPI description of the API and its authentication",
    "bing_grounding": "a connection to a Grounding with Bing Search resource",
}


def agent_tools(doc: Document) -> Iterator[Issue]:
    """A tool the agent cannot be created with: what it needs is nowhere in the spec. (The
    azure_ai_search tool needs the spec's `retrieval` index; code_interpreter runs in a container the
    service creates.)"""
    retrieval = doc.data.get("retrieval")
    has_retrieval = isinstance(retrieval, dict)
    bound = retrieval.get("agents") if has_retrieval else None  # None: every agent with the tool
    for index, agent in enumerate(doc.data.get("agents", [])):
        for position, tool in enumerate(agent.get("tools", [])):
            path: FieldPath = ("agents", index, "tools", position)
            if tool in TOOLS_WITHOUT_RESOURCES:
                yield doc.issue(
                    path,
                    f"the {tool} tool needs {TOOLS_WITHOUT_RESOURCES[tool]}, which almgen does not create",
                    "tools almgen can give what they need: code_interpreter, azure_ai_search",
                    f"remove {tool} from the agent's tools",
                )
            elif tool == "azure_ai_search" and not has_retrieval:
                yield doc.issue(
                    path,
                    "the azure_ai_search tool queries the index of the spec's retrieval section, and "
                    "this spec has none",
                    "a `retrieval:` section (documents, chunking, embedding model, index)",
                    "add a retrieval section, or remove azure_ai_search",
                )
            elif tool == "azure_ai_search" and isinstance(bound, list) and agent["name"] not in bound:
                yield doc.issue(
                    path,
                    f"the agent {agent['name']!r} has the azure_ai_search tool, but retrieval.agents "
                    "does not bind it to the index",
                    "every agent with azure_ai_search in retrieval.agents",
                    f"add {agent['name']!r} to retrieval.agents, or remove azure_ai_search",
                )


def per_environment_keys(doc: Document) -> Iterator[Issue]:
    envs = _env_names(doc)
    retention = (doc.data.get("registry") or {}).get("retention") or {}
    maps: list[tuple[tuple[str | int, ...], Any]] = [
        (("registry", "retention", "recordDays"), retention.get("recordDays")),
        (("retrieval", "sku"), (doc.data.get("retrieval") or {}).get("sku")),
    ]
    for index, model in enumerate(doc.data["models"]):
        maps += [
            (("models", index, "capacity"), model.get("capacity")),
            (("models", index, "endpoint", "instanceCount"), model.get("endpoint", {}).get("instanceCount")),
        ]
    for path, value in maps:
        if not isinstance(value, dict):
            continue
        for key in value:
            if key not in envs:
                hint = did_you_mean(key, envs)
                yield doc.issue(
                    (*path, key),
                    f"{key!r} is not an environment name",
                    f"keys that are environment names: {one_of(envs)}",
                    hint or "use the names under environments",
                    key=True,
                )


def gate_sections(doc: Document) -> Iterator[Issue]:
    data = doc.data
    for env_index, env in enumerate(data["environments"]):
        for gate_index, gate in enumerate(env.get("gates", [])):
            path: FieldPath = ("environments", env_index, "gates", gate_index)
            if gate == "evaluation" and "evaluation" not in data:
                yield doc.issue(
                    path,
                    "the evaluation gate has no `evaluation:` section",
                    "a top-level evaluation section with command and thresholds",
                    "add `evaluation: {command: ..., thresholds: {...}}` or drop the gate",
                )
            if gate == "safety":
                safety = data.get("safety", {})
                missing = [k for k in ("command", "thresholds") if k not in safety]
                if missing:
                    where = "section" if "safety" not in data else f"{' and '.join(missing)}"
                    yield doc.issue(
                        path,
                        f"the safety gate has no safety {where}",
                        "a safety section with command and thresholds",
                        "add `safety: {command: ..., thresholds: {...}}` or drop the gate",
                    )


def strategies(doc: Document) -> Iterator[Issue]:
    for index, env in enumerate(doc.data["environments"]):
        if index == 0 and env.get("gates"):
            yield doc.issue(
                ("environments", 0, "gates"),
                "gates evaluate the candidate deployed to an earlier environment, and this is the first",
                "gates on a later environment (e.g. staging or prod)",
                "move the gates to the next environment, or add an environment before this one",
            )
        strategy = env.get("strategy")
        if not strategy:
            continue
        path: FieldPath = ("environments", index, "strategy")
        kind = strategy["type"]
        if kind != "direct" and index == 0:
            yield doc.issue(
                (*path, "type"),
                f"{kind} needs an earlier environment to promote from",
                "direct in the first environment",
                "use `type: direct` here and blue-green or canary later in the path",
            )
        if kind != "canary" and "steps" in strategy:
            yield doc.issue(
                (*path, "steps"),
                "steps applies to canary only",
                "no steps with type " + kind,
                "remove steps, or use `type: canary`",
                key=True,
            )
        if kind == "direct" and "bakeMinutes" in strategy:  # a blue-green swap is watched too
            yield doc.issue(
                (*path, "bakeMinutes"),
                "bakeMinutes applies to blue-green and canary only",
                "no bakeMinutes with type direct",
                "remove bakeMinutes, or use `type: blue-green` or `type: canary`",
                key=True,
            )
        if kind == "direct" and "rollback" in strategy:
            yield doc.issue(
                (*path, "rollback"),
                "rollback applies to blue-green and canary only",
                "no rollback with type direct",
                "remove rollback",
                key=True,
            )
        if kind == "canary":
            steps = strategy.get("steps")
            if steps is None:
                yield doc.issue(
                    path,
                    "a canary needs its traffic steps",
                    "steps: percentages that increase and end at 100",
                    "add e.g. `steps: [10, 50, 100]`",
                )
            elif any(b <= a for a, b in itertools.pairwise(steps)) or steps[-1] != 100:
                yield doc.issue(
                    (*path, "steps"),
                    f"canary steps {steps} must strictly increase and end at 100",
                    "increasing percentages ending at 100, e.g. [10, 50, 100]",
                    "reorder the steps, remove repeats, and end with 100",
                )


def kinds_and_versions(doc: Document) -> Iterator[Issue]:
    for index, model in enumerate(doc.data["models"]):
        path: FieldPath = ("models", index)
        kind = model.get("kind", default("models.kind"))
        for key in misplaced(model):
            if key in model:
                yield doc.issue(
                    (*path, key),
                    f"{key} does not apply to a {kind} model",
                    f"fields of a {kind} model",
                    f"remove {key}, or change kind",
                    key=True,
                )
        if kind == "foundation":
            if "model" not in model:
                yield doc.issue(
                    path,
                    "a foundation model needs `model:`",
                    "the catalog model name, e.g. gpt-4o",
                    "add `model: <name>`",
                )
            if "version" not in model:
                yield doc.issue(
                    path,
                    "a foundation model needs a pinned `version:`",
                    'the catalog version, e.g. "2024-11-20" (an omitted version moves)',
                    'add `version: "<version>"`',
                )
        else:
            yield from _semver(doc, (*path, "version"), model.get("version"), "custom model")
            if "path" not in model and "training" not in model:
                yield doc.issue(
                    path,
                    "a custom model needs `path:` or `training:`",
                    "the MLflow model folder, or a training job that produces it",
                    "add `path: models/<name>` or `training: {job: ...}`",
                )
    for index, agent in enumerate(doc.data.get("agents", [])):
        yield from _semver(doc, ("agents", index, "version"), agent["version"], "agent")
    versions = {("model", m["name"]): m.get("version") for m in doc.data["models"]}
    versions.update({("agent", a["name"]): a["version"] for a in doc.data.get("agents", [])})
    kinds = {m["name"]: m.get("kind", default("models.kind")) for m in doc.data["models"]}
    for index, retired in enumerate(doc.data.get("registry", {}).get("retired", [])):
        kind = "model" if "model" in retired else "agent"
        name = retired.get(kind)
        path = ("registry", "retired", index, "version")
        if (kind, name) in versions and retired["version"] == versions[(kind, name)]:
            yield doc.issue(
                path,
                f"version {retired['version']} of {name!r} is the one being deployed",
                "an older version than the current one",
                f"bump {name}'s version before retiring {retired['version']}",
            )
        if kind == "agent" or kinds.get(str(name)) == "custom":
            yield from _semver(doc, path, retired["version"], f"retired {kind} version")


def _semver(doc: Document, path: FieldPath, value: Any, what: str) -> Iterator[Issue]:
    if value is None:
        yield doc.issue(
            path[:-1],
            f"a {what} needs a semver `version:`",
            "MAJOR.MINOR.PATCH, e.g. 1.4.0",
            "add `version: 1.0.0`",
        )
    elif not SEMVER.fullmatch(str(value)):
        yield doc.issue(
            path,
            f"{value!r} is not a semantic version",
            "MAJOR.MINOR.PATCH, e.g. 1.4.0 (no leading zeros, no 'v')",
            "write the version as MAJOR.MINOR.PATCH",
        )


def approvals_and_regions(doc: Document) -> Iterator[Issue]:
    for index, env in enumerate(doc.data["environments"]):
        approval = env.get("approval")
        if (
            approval is not None
            and approval.get("required", default("environments.approval.required"))
            and not approval.get("reviewers")
        ):
            yield doc.issue(
                ("environments", index, "approval"),
                "a required approval needs reviewers",
                "reviewers: users or teams who may approve",
                "add `reviewers: [<team>]`, or set `required: false`",
            )
        regions = env.get("regions")
        if regions and "location" in env and env["location"] != regions[0]:
            yield doc.issue(
                ("environments", index, "location"),
                f"location {env['location']!r} differs from the primary region {regions[0]!r}",
                "either location or regions (its first is primary)",
                "remove `location:`; the first entry of `regions` is the primary",
                key=True,
            )


def private_networks(doc: Document) -> Iterator[Issue]:
    """`publicNetworkAccess: disabled` is refused until almgen generates private networking.

    With public access disabled, only private endpoints reach the data planes, and the
    generated pipelines run on GitHub-hosted runners and Microsoft-hosted agents, which reach
    no private endpoint: the deployment's own key-value writes, agent updates and tests would
    fail. docs/architecture.md ("Private networking") has what a deployable `disabled` needs.
    """
    for index, env in enumerate(doc.data["environments"]):
        if env.get("publicNetworkAccess") == "disabled":
            yield doc.issue(
                ("environments", index, "publicNetworkAccess"),
                "disabled public network access is not generated yet: almgen creates no private "
                "endpoints, and hosted runners could not reach this environment's data planes",
                "enabled (Entra ID auth only: local keys stay disabled either way)",
                "set `publicNetworkAccess: enabled`, and restrict who may call the service with "
                "role assignments; private endpoints with self-hosted runners are planned",
            )


def github_options(doc: Document) -> Iterator[Issue]:
    targets = doc.data["targets"]
    if "github" in targets and "github-actions" not in targets["pipelines"]:
        yield doc.issue(
            ("targets", "github"),
            "GitHub Actions options, but targets.pipelines does not generate GitHub Actions",
            "targets.github only with github-actions in targets.pipelines",
            "remove targets.github, or add github-actions to targets.pipelines",
            key=True,
        )


def _has_custom(data: dict[str, Any]) -> bool:
    return any(m.get("kind") == "custom" for m in data["models"])


def custom_only_monitoring(doc: Document) -> Iterator[Issue]:
    if "drift" in doc.data.get("monitoring", {}) and not _has_custom(doc.data):
        yield doc.issue(
            ("monitoring", "drift"),
            "drift monitoring applies to custom models, and this spec has none",
            "monitoring.drift only with a model of kind custom",
            "remove monitoring.drift",
            key=True,
        )
    cleanup = doc.data.get("registry", {}).get("retention", {}).get("cleanup")
    if cleanup and not _has_custom(doc.data):
        yield doc.issue(
            ("registry", "retention", "cleanup"),
            "the data clean-up deletes custom models' training data, and this spec has no custom model",
            "registry.retention.cleanup only with a model of kind custom",
            "remove cleanup, or set it to false",
        )


def production_evaluation_needs_an_evaluation(doc: Document) -> Iterator[Issue]:
    """monitoring.evaluation runs the evaluation gate's command: without one it would run nothing."""
    if "evaluation" in doc.data.get("monitoring", {}) and "evaluation" not in doc.data:
        yield doc.issue(
            ("monitoring", "evaluation"),
            "scheduled production evaluation runs the evaluation section's command, and this spec has none",
            "monitoring.evaluation only with an evaluation section",
            "add an evaluation section (command, thresholds), or remove monitoring.evaluation",
            key=True,
        )


def agents_path_is_free(doc: Document) -> Iterator[Issue]:
    """With agents, the gateway serves them at `agents/deployments/<model>`: a model named `agents`
    would take the same path (its own API is `<model>`)."""
    if not doc.data.get("agents"):
        return
    for index, model in enumerate(doc.data["models"]):
        if model.get("name") == "agents":
            yield doc.issue(
                ("models", index, "name"),
                "the name agents is taken when the spec has agents: the AI gateway serves agents' "
                "model calls under the path agents/",
                "a model name other than agents",
                "rename the model (and the agents' model fields that name it)",
            )


def azure_names(doc: Document) -> Iterator[Issue]:
    data = doc.data
    service = data["service"]["name"]
    default_region = data.get("azure", {}).get("location", default("azure.location"))
    has_custom = _has_custom(data)
    for index, env in enumerate(data["environments"]):
        regions = env.get("regions") or [env.get("location", default_region)]
        multi = len(regions) > 1
        for region in regions:
            suffix = naming.stack_suffix(env["name"], region, multi)
            rg = naming.resource_group(service, env["name"], region, multi, env.get("resourceGroup"))
            candidates = [
                ("resourceGroup", rg, ("environments", index, "resourceGroup")),
                ("aiServices", naming.ai_services(service, suffix), ("service", "name")),
                ("logAnalytics", naming.log_analytics(service, suffix), ("service", "name")),
            ]
            if has_custom:
                candidates.append(("mlWorkspace", naming.ml_workspace(service, suffix), ("service", "name")))
                for model_index, model in enumerate(data["models"]):
                    if model.get("kind") == "custom":
                        candidates.append(
                            (
                                "onlineEndpoint",
                                naming.online_endpoint(service, model["name"], suffix),
                                ("models", model_index, "name"),
                            )
                        )
            for kind, name, path in candidates:
                problem = naming.check(kind, name)
                if problem:
                    yield doc.issue(
                        path,
                        f"{problem} (environment {env['name']!r}, {region})",
                        "names within Azure's limits",
                        "shorten service.name, the environment or model name",
                    )


def derived_names(doc: Document) -> Iterator[Issue]:
    """Names the pipelines derive from an environment's must not be another's: a GitHub environment
    `<env>-approval` carries ENV's reviewers, and each Azure DevOps environment needs a service
    connection of its own (setup binds it to that environment's identity), beside which the
    production evaluation's `<connection>-monitoring` lives."""
    data = doc.data
    envs = data["environments"]
    if "github-actions" in data["targets"]["pipelines"]:
        names = {env["name"]: index for index, env in enumerate(envs)}
        for env in envs:
            derived = naming.github_approval_environment(env["name"])
            if derived in names:
                yield doc.issue(
                    ("environments", names[derived], "name"),
                    f"{derived!r} is the GitHub environment that carries the reviewers of {env['name']!r}",
                    "no environment named <another environment>-approval",
                    f"rename the environment {derived!r}",
                )
    if "azure-devops" in data["targets"]["pipelines"]:
        service = data["service"]["name"]
        connections = [
            naming.service_connection(service, env["name"], env.get("serviceConnection")) for env in envs
        ]
        first: dict[str, int] = {}
        for index, connection in enumerate(connections):
            explicit = "serviceConnection" in envs[index]  # else the default, from the name
            where: FieldPath = ("environments", index, "serviceConnection" if explicit else "name")
            if connection in first:
                yield doc.issue(
                    where,
                    f"environments {envs[first[connection]]['name']!r} and {envs[index]['name']!r} both "
                    f"use the service connection {connection!r}",
                    "a service connection per environment (each deploys with its own identity)",
                    "give this environment a serviceConnection of its own, or remove it for the default",
                )
            first.setdefault(connection, index)
            for other, derived in enumerate(naming.monitoring_connection(c) for c in connections):
                if connection == derived:
                    yield doc.issue(
                        where,
                        f"{connection!r} is the production evaluation's service connection beside "
                        f"{connections[other]!r} (environment {envs[other]['name']!r})",
                        "no service connection named <another environment's connection>-monitoring",
                        "give this environment another serviceConnection",
                    )


RULES: tuple[Rule, ...] = (
    text_issues,
    unique_names,
    references,
    agent_filters,
    agent_tools,
    per_environment_keys,
    gate_sections,
    strategies,
    ab_tests,
    kinds_and_versions,
    no_secrets,
    approvals_and_regions,
    private_networks,
    github_options,
    custom_only_monitoring,
    production_evaluation_needs_an_evaluation,
    agents_path_is_free,
    azure_names,
    derived_names,
    retrieval_rules,
    fine_tune_rules,
    referenced_files,
)
