"""`az deployment sub create|show|what-if`: what almgen's infra/main.bicep does, emulated.

Contract (from templates/bicep/main.bicep.j2 and modules/*.bicep.j2): per item of the `stacks`
param, a resource group `stack.resourceGroup` tagged with `tags`; in it an AI Services account
`ais-<service>-<suffix>-<unique6>` holding `modelDeployments` (a deployment that serves traffic per
liveState.active keeps liveState.versions' version; a `fineTune` item exists only once
liveState.fineTuned names its fine-tuned model, which it then serves (at full capacity while it serves,
is liveState.fineTunedCandidate's colour or the canary); from liveState.fineTunedSource's
account when that is not this one: `properties.model.source`, which fails unless that account has a
succeeded fine-tuning job that made the model and the environment's pipeline identity holds Cognitive
Services OpenAI Contributor over it, a grant rehearse/azure/setup.py seeds), an App Configuration store
`appcs-<service>-<suffix>-<unique6>` with `appSettings`, `almgen:endpoints:*`, `almgen:secrets:*`,
`almgen:active:<model>` (= liveState.active or route.initialDeployment) and `almgen:canary:<model>`
(= liveState.canary or {"deployment": "", "percent": 0}) labelled with the environment, a Key Vault,
when `customModels` is set an ML workspace `mlw-<service>-<suffix>` with one online endpoint
`<service>-<model>-<suffix>` per custom model and colour deployments from liveState.ml (traffic is
never set) serving the registry's asset
`azureml://registries/<mlRegistry.name>/models/<model>/versions/<v>` (the deployment fails when the
registry does not have it), the Azure ML registry `mlRegistry.name` in the first stack's group when
`mlRegistry.create`, a delete lock when `enableDeleteLock`, and with the `gateway` param an AI
gateway `apim-<service>-<suffix>-<unique6>` (rehearse/azure/gateway.py; with more than one region,
after the region loop, each gateway's pools also name the other regions' serving deployments).
`properties.outputs.stacks.value` is main.bicep's `output stacks array`: location, resourceGroup,
primary, aiServicesName, aiServicesEndpoint, appConfigurationEndpoint, keyVaultUri, recordsAccount
(records.bicep: a storage account with a `release-records` container under a time-based
immutability policy of `recordDays`, in the primary region only; "" elsewhere), with custom models
workspaceName, onlineEndpoints [{model, name, scoringUri}], with a gateway gatewayId,
gatewayEndpoint and logAnalyticsCustomerId (the workspace of the gateway's request logs), and with
the `search` param (retrieval) searchName, searchEndpoint and searchConnection of an Azure AI Search
service `srch<service><suffix><unique6>` (rehearse/azure/search.py), and with the
`productionEvaluation` param appInsightsConnectionString (rehearse/azure/insights.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from generator.rehearse.azure import bicepparam, collector, gateway, insights, metrics, search
from generator.rehearse.azure.store import AzFailure, group_id, unique_string
from generator.rehearse.world import World, stop_step

MINUTES_PER_STACK = 3.0
RESOURCE_KINDS = ("groups", "accounts", "stores", "workspaces", "registries")  # what a deployment writes


def _params(files: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in files:
        if "=" in item and not Path(item).exists():
            key, _, value = item.partition("=")
            params[key] = value
            continue
        path = Path(item.removeprefix("@"))
        if not path.exists():
            raise AzFailure(f"Unable to parse parameter: {item}. Make sure the file exists.", 1)
        if path.suffix == ".bicepparam":
            params.update(bicepparam.parse(path.read_text("utf-8"), os.environ))
        else:
            loaded = json.loads(path.read_text("utf-8"))
            params.update({k: v.get("value") for k, v in (loaded.get("parameters") or {}).items()})
    return params


def _stack_resources(
    world: World | None, state: dict[str, Any], params: dict[str, Any], stack: dict[str, Any]
) -> dict[str, Any]:
    """Create or update one region's resources; its outputs."""
    service, env = str(params["serviceName"]), str(params["environmentName"])
    suffix, group, location = str(stack["suffix"]), str(stack["resourceGroup"]), str(stack["location"])
    live = json.loads(params.get("liveStateJson") or "{}") or {}
    active, versions = live.get("active") or {}, live.get("versions") or {}
    canaries = live.get("canary") or {}
    unique = unique_string(state["subscription"], group_id(state, group), service)[:6]
    state["groups"][group] = {"location": location, "tags": dict(params.get("tags") or {})}
    rg = group_id(state, group)
    name = f"{f'ais-{service}-{suffix}'[:57]}-{unique}"
    account_id = f"{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"
    account = state["accounts"].setdefault(account_id, {"deployments": {}, "agents": {}})
    endpoint = f"https://{name}.cognitiveservices.azure.com/"
    account.update(
        {"name": name, "group": group, "location": location, "id": account_id, "endpoint": endpoint}
    )
    tuned, sources = live.get("fineTuned") or {}, live.get("fineTunedSource") or {}
    for item in params.get("modelDeployments") or []:
        if item.get("fineTune") and not tuned.get(item["name"]):
            continue  # as ai-services.bicep: deployed once the pipeline names its fine-tuned model
        model_name = tuned[item["name"]] if item.get("fineTune") else item["modelName"]
        source = str(sources.get(item["name"]) or "") if item.get("fineTune") else ""
        source = source if source.lower() != account_id.lower() else ""  # as ai-services.bicep
        if source:
            _check_source(state, env, source, model_name, f"{account_id}/deployments/{item['name']}")
        serving = active.get(item["model"]) == item["name"] and item.get("keepsLiveVersion", True)
        version = versions.get(item["name"], item["version"]) if serving else item["version"]
        # as ai-services.bicep: full capacity for what serves and for a candidate of a new version
        candidate = versions.get(active.get(item["model"], ""), "") != item["version"]
        if item.get("fineTune"):  # always version 1: the colour given a new model, or the canary
            candidate = (
                not active.get(item["model"])
                or (live.get("fineTunedCandidate") or {}).get(item["model"]) == item["name"]
                or (canaries.get(item["model"]) or {}).get("deployment") == item["name"]
            )
        capacity = item["capacity"] if serving or candidate else item["standbyCapacity"]
        before = (account["deployments"].get(item["name"]) or {}).get("sku", {}).get("capacity")
        if world is not None and before != capacity:
            world.record(
                "azure-capacity", env=env, region=location, deployment=item["name"], capacity=capacity
            )
        account["deployments"][item["name"]] = {
            "id": f"{account_id}/deployments/{item['name']}",
            "name": item["name"],
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": item["sku"], "capacity": capacity},
            "tags": {**(params.get("tags") or {}), **(item.get("tags") or {})},
            "properties": {
                "model": {"format": item["format"], "name": model_name, "version": version}
                | ({"source": source} if source else {}),
                "versionUpgradeOption": item.get("versionUpgradeOption"),
                "raiPolicyName": item.get("raiPolicyName") or None,
                "provisioningState": "Succeeded",
            },
        }
    store_name = f"{f'appcs-{service}-{suffix}'[:43]}-{unique}"
    store_endpoint = f"https://{store_name}.azconfig.io"
    store = state["stores"].setdefault(store_endpoint, {"kv": {}})
    store.update(
        {
            "name": store_name,
            "group": group,
            "env": env,
            "location": location,
            "id": f"{rg}/providers/Microsoft.AppConfiguration/configurationStores/{store_name}",
        }
    )
    kv = store["kv"]

    def put(key: str, value: str, content_type: str | None = None) -> None:
        kv[f"{key}\u0000{env}"] = {"key": key, "label": env, "value": value, "contentType": content_type}

    for setting in params.get("appSettings") or []:
        put(setting["key"], str(setting["value"]))
    put("almgen:endpoints:aiServices", endpoint)
    for secret in params.get("keyVaultSecretNames") or []:
        put(
            f"almgen:secrets:{secret}",
            json.dumps({"uri": f"https://kv/{secret}"}),
            "application/vnd.microsoft.appconfig.keyvaultref+json;charset=utf-8",
        )
    for route in params.get("modelRouting") or []:
        put(f"almgen:active:{route['model']}", active.get(route["model"], route["initialDeployment"]))
        canary = canaries.get(route["model"], {"deployment": "", "percent": 0})
        put(f"almgen:canary:{route['model']}", json.dumps(canary, separators=(",", ":")), "application/json")
        if world is not None and not params.get("gateway"):  # a gateway's pool serves instead
            serving = active.get(route["model"], route["initialDeployment"])
            shares = {serving: 100}
            if canary.get("deployment") and int(canary.get("percent") or 0) > 0:
                shares = {serving: 100 - int(canary["percent"]), canary["deployment"]: int(canary["percent"])}
            metrics.record_shares(world, state, env, location, route["model"], shares=shares)
    vault = f"kv-{service[:10]}-{suffix[:8]}-{unique}"[:24]
    state["vaults"][vault] = {"group": group, "uri": f"https://{vault}.vault.azure.net/"}
    if params.get("enableDeleteLock"):
        state["locks"][f"{account_id}/do-not-delete"] = {
            "name": "do-not-delete",
            "level": "CanNotDelete",
            "resource": account_id,
        }
    records = ""
    if stack.get("primary"):  # records.bicep: one account, a WORM container, in the primary region
        records_unique = unique_string(state["subscription"], group_id(state, group), service, "records")[:6]
        records = f"strec{(service + suffix).replace('-', '')[:13]}{records_unique}"
        storage = state.setdefault("storage", {}).setdefault(records, {"containers": {}})
        storage.update({"name": records, "group": group, "location": location})
        container = storage["containers"].setdefault("release-records", {"blobs": {}})
        container["immutabilityDays"] = int(params.get("recordDays") or 30)
    outputs: dict[str, Any] = {
        "location": location,
        "resourceGroup": group,
        "primary": bool(stack.get("primary")),
        "aiServicesName": name,
        "aiServicesEndpoint": endpoint,
        "appConfigurationEndpoint": store_endpoint,
        "keyVaultUri": f"https://{vault}.vault.azure.net/",
        "recordsAccount": records,
    }
    if "productionEvaluation" in params:  # main.bicep has the output with monitoring.evaluation
        outputs.update(insights.deploy(state, group=group, location=location, params=params))
    if params.get("search"):  # as search.bicep: one service per stack, its indexes kept across deployments
        outputs.update(
            search.deploy(
                state,
                group=group,
                group_id=rg,
                service=service,
                suffix=suffix,
                location=location,
                account=name if params.get("foundryProject") else "",
                documents_identity=search.existing_identity(state, params["search"]),
            )
        )
    if params.get("gateway"):  # as gateway.bicep: the pool's weights follow the live state
        gateway_name = f"{f'apim-{service}-{suffix}'[:43]}-{unique}"
        outputs.update(
            gateway.deploy(
                world,
                state,
                rg=rg,
                group=group,
                env=env,
                location=location,
                name=gateway_name,
                params=params,
                account=account if params.get("foundryProject") else None,
            )
        )
    custom = params.get("customModels", [] if params.get("_hasCustomModels") else None)
    if custom is not None:
        ws_name = f"mlw-{service}-{suffix}"
        ws = state["workspaces"].setdefault(f"{group}/{ws_name}", {"endpoints": {}, "models": {}, "jobs": {}})
        ws.update(
            {
                "name": ws_name,
                "group": group,
                "location": location,
                "id": f"{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws_name}",
            }
        )
        endpoints = []
        for model in custom:
            ep_name = f"{service}-{model['name']}-{suffix}"
            ep = ws["endpoints"].setdefault(ep_name, {"traffic": {}, "deployments": {}})
            uri = f"https://{ep_name}.{location}.inference.ml.azure.com/score"
            ep.update(
                {
                    "name": ep_name,
                    "model": model["name"],
                    "scoring_uri": uri,
                    "id": f"{ws['id']}/onlineEndpoints/{ep_name}",
                }
            )
            endpoints.append({"model": model["name"], "name": ep_name, "scoringUri": uri})
        for entry in live.get("ml") or []:
            ep_name = f"{service}-{entry['model']}-{suffix}"
            if ep_name in ws["endpoints"]:
                ws["endpoints"][ep_name]["deployments"][entry["colour"]] = {
                    "name": entry["colour"],
                    "endpoint_name": ep_name,
                    "model": _served_model(state, params, entry),
                    "provisioning_state": "Succeeded",
                }
                collector.serve(world, ws, ep_name, entry["colour"], str(entry["version"]))
        outputs.update({"workspaceName": ws_name, "onlineEndpoints": endpoints})
        if "gatewayId" in outputs:  # gateway.bicep fronts each online endpoint too
            gateway.front_endpoints(state, str(outputs["gatewayId"]), endpoints)
    return outputs


OPENAI_CONTRIBUTOR = "Cognitive Services OpenAI Contributor"


def pipeline_principal(env: str) -> str:
    """The rehearsal's stand-in for an environment's deployment identity in `state["roles"]`."""
    return f"pipeline:{env}"


def _check_source(state: dict[str, Any], env: str, source: str, model: str, target: str) -> None:
    """A deployment of a fine-tuned model another account holds: that account must hold it (a
    succeeded job made it) and the deploying identity must have a role over it (as in Azure)."""
    held = next(
        (a for a in state["accounts"].values() if str(a.get("id", "")).lower() == source.lower()), None
    )
    jobs = (held or {}).get("fineTuning") or {}
    if not any(j.get("status") == "succeeded" and j.get("fine_tuned_model") == model for j in jobs.values()):
        raise AzFailure(
            f'{{"code": "DeploymentFailed", "message": "The model {model} was not found in the source '
            f'account {source}.", "target": "{target}"}}',
            1,
        )
    granted = any(
        role.get("principalId") == pipeline_principal(env)
        and role.get("roleDefinitionName") == OPENAI_CONTRIBUTOR
        and f"{source.lower()}/".startswith(f"{str(role.get('scope') or '?').lower()}/")
        for role in state.get("roles") or []
    )
    if not granted:
        raise AzFailure(
            f'{{"code": "AuthorizationFailed", "message": "The client of {env} does not have authorization '
            f'to use the model {model} of {source}.", "target": "{target}"}}',
            1,
        )


def _served_model(state: dict[str, Any], params: dict[str, Any], entry: dict[str, Any]) -> str:
    """online-deployment.bicep's `model`: the registry's asset, which must exist (as in Azure)."""
    registry = (params.get("mlRegistry") or {}).get("name")
    if not registry:
        return f"azureml:{entry['model']}:{entry['version']}"
    found = state.setdefault("registries", {}).get(registry)
    if found is None or f"{entry['model']}:{entry['version']}" not in found["models"]:
        raise AzFailure(
            f'{{"code": "DeploymentFailed", "message": "Model {entry["model"]} version {entry["version"]} '
            f'was not found in registry {registry}."}}',
            1,
        )
    return f"azureml://registries/{registry}/models/{entry['model']}/versions/{entry['version']}"


def _model_registry(state: dict[str, Any], params: dict[str, Any]) -> None:
    """machine-learning-registry.bicep, deployed by the first environment into stacks[0]'s group."""
    spec = params.get("mlRegistry") or {}
    if not spec.get("create"):
        return
    stacks = params.get("stacks") or []
    item = state.setdefault("registries", {}).setdefault(str(spec["name"]), {"models": {}})
    item.update(
        {
            "name": str(spec["name"]),
            "group": str(stacks[0]["resourceGroup"]) if stacks else "",
            "location": str(spec["location"]),
            "regions": list(spec.get("regions") or []),
        }
    )


def _template_params(template: str, files: list[str]) -> dict[str, Any]:
    params = _params(files)
    path = Path(template)
    if path.exists() and "param customModels" in path.read_text("utf-8"):
        params["_hasCustomModels"] = True
    return params


def create(
    world: World, state: dict[str, Any], name: str, location: str, *, files: list[str], template: str = ""
) -> dict[str, Any]:
    params = _template_params(template, files)
    env = str(params.get("environmentName", ""))
    before = json.dumps({k: state[k] for k in RESOURCE_KINDS}, sort_keys=True)
    faults = [f for f in world.faults() if f.get("env") == env]
    for fault in faults:
        if fault.get("kind") == "slow-deploy" and not world.advance(float(fault["minutes"]) * 60):
            stop_step()
    outputs = []
    for stack in params.get("stacks") or []:
        world.advance(MINUTES_PER_STACK * 60)
        if any(f.get("kind") == "region" and f.get("region") == stack["location"] for f in faults):
            state["deployments"][name] = {"name": name, "properties": {"provisioningState": "Failed"}}
            world.record("azure-deployment-failed", env=env, region=stack["location"], deployment=name)
            module = f"{params['serviceName']}-{stack['suffix']}-stack"[:64]
            raise AzFailure(
                f'{{"code": "DeploymentFailed", "message": "At least one resource deployment operation '
                f'failed. Please list deployment operations for details.", "details": [{{"code": '
                f'"ResourceDeploymentFailure", "target": "{module}", "message": "The resource '
                f"write operation failed to complete successfully, because it reached terminal "
                f"provisioning state 'Failed'.\"}}]}}",
                1,
            )
        outputs.append(_stack_resources(world, state, params, stack))
        if stack is (params.get("stacks") or [])[0]:
            _model_registry(state, params)
    if params.get("gateway"):  # main.bicep's gateway-failover modules, after every region
        gateway.failover(state, params, outputs)
    after = json.dumps({k: state[k] for k in RESOURCE_KINDS}, sort_keys=True)
    changed = before != after
    state["events"].append(
        {"minute": round(world.minutes(), 2), "deployment": name, "env": env, "changed": changed}
    )
    world.record("azure-deployment", env=env, deployment=name, changed=changed)
    deployment = {
        "id": f"/subscriptions/{state['subscription']}/providers/Microsoft.Resources/deployments/{name}",
        "name": name,
        "location": location,
        "properties": {
            "provisioningState": "Succeeded",
            "outputs": {"stacks": {"type": "Array", "value": outputs}},
            "parameters": {k: {"value": v} for k, v in params.items() if not k.startswith("_")},
        },
    }
    state["deployments"][name] = deployment
    return deployment


def show(state: dict[str, Any], name: str) -> dict[str, Any]:
    found = state["deployments"].get(name)
    if found is None:
        raise AzFailure(f"(DeploymentNotFound) Deployment '{name}' could not be found.", 3)
    return dict(found)


def what_if(
    world: World, state: dict[str, Any], name: str, location: str, *, files: list[str], template: str = ""
) -> dict[str, Any]:
    params = _template_params(template, files)
    trial = json.loads(json.dumps(state))
    changes: list[dict[str, Any]] = []
    _model_registry(trial, params)
    for stack in params.get("stacks") or []:
        _stack_resources(None, trial, params, stack)
    for kind in RESOURCE_KINDS:
        for key, value in trial[kind].items():
            old = state[kind].get(key)
            change = "Create" if old is None else ("NoChange" if old == value else "Modify")
            changes.append(
                {"changeType": change, "resourceId": key if key.startswith("/") else f"{kind}/{key}"}
            )
    del world, name, location
    return {"status": "Succeeded", "changes": changes}
