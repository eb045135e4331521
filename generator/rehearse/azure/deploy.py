"""`az deployment sub create|what-if|show`: what almgen's main.bicep does, emulated.

Per stack of the .bicepparam: a resource group, an AI Services account with the model
deployments (the one that serves keeps the version it serves, from ALMGEN_LIVE_STATE, as the
Bicep does), and an App Configuration store with the settings and the routing keys (kept from
the live state; a first deploy routes to each model's initialDeployment). The outputs follow
main.bicep's `output stacks`: location, resourceGroup, primary, aiServicesName,
aiServicesEndpoint, appConfigurationEndpoint, keyVaultUri.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from generator.rehearse.azure.bicepparam import parse

CLEARED = json.dumps({"deployment": "", "percent": 0})
MINUTES_PER_STACK = 3.0


class DeployFailed(Exception):
    pass


def _names(service: str, suffix: str) -> dict[str, str]:
    account = f"ais-{service}-{suffix}"
    return {
        "aiServicesName": account,
        "aiServicesEndpoint": f"https://{account}.cognitiveservices.azure.com/",
        "appConfigurationEndpoint": f"https://appcs-{service}-{suffix}.azconfig.io",
        "keyVaultUri": f"https://kv-{service}-{suffix}.vault.azure.net/",
    }


def parameters(file: str) -> dict[str, Any]:
    return parse(Path(file).read_text("utf-8"))


def _live() -> dict[str, Any]:
    try:
        live = json.loads(os.environ.get("ALMGEN_LIVE_STATE", "{}") or "{}")
    except json.JSONDecodeError as exc:
        raise DeployFailed(f"InvalidTemplate: liveStateJson is not JSON: {exc}") from exc
    return live if isinstance(live, dict) else {}


def _account(params: dict[str, Any], stack: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    active = live.get("active") or {}
    versions = live.get("versions") or {}
    deployments = {}
    for item in params.get("modelDeployments", []):
        serving = active.get(item["model"]) == item["name"]
        version = versions.get(item["name"], item["version"]) if serving else item["version"]
        deployments[item["name"]] = {
            "model": item["model"],
            "modelName": item["modelName"],
            "version": version,
            "sku": item["sku"],
            "capacity": item["capacity"],
        }
    return {
        "resourceGroup": stack["resourceGroup"],
        "environment": params["environmentName"],
        "region": stack["location"],
        "deployments": deployments,
    }


def _store_keys(params: dict[str, Any], live: dict[str, Any], env: str) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for setting in params.get("appSettings", []):
        keys[f"{setting['key']}\u0000{env}"] = {"value": setting["value"], "contentType": ""}
    active = live.get("active") or {}
    canary = live.get("canary") or {}
    for route in params.get("modelRouting", []):
        model = route["model"]
        keys[f"almgen:active:{model}\u0000{env}"] = {
            "value": active.get(model) or route["initialDeployment"],
            "contentType": "",
        }
        kept = json.dumps(canary[model]) if model in canary else CLEARED
        keys[f"almgen:canary:{model}\u0000{env}"] = {"value": kept, "contentType": "application/json"}
    return keys


def create(state: dict[str, Any], name: str, file: str, region_fault: str | None) -> dict[str, Any]:
    """Apply a deployment; the outputs. A faulted region fails after the stacks before it."""
    params = parameters(file)
    live = _live()
    service, env = params["serviceName"], params["environmentName"]
    stacks = []
    for stack in params["stacks"]:
        if stack["location"] == region_fault:
            raise DeployFailed(
                f"DeploymentFailed: the stack of {env} in {stack['location']} failed "
                f"(InternalServerError in {stack['resourceGroup']}). Other stacks were deployed."
            )
        names = _names(service, stack["suffix"])
        state["accounts"][names["aiServicesName"]] = _account(params, stack, live)
        store = state["stores"].setdefault(
            names["appConfigurationEndpoint"], {"environment": env, "region": stack["location"], "keys": {}}
        )
        store["keys"].update(_store_keys(params, live, env))
        stacks.append(
            {
                "location": stack["location"],
                "resourceGroup": stack["resourceGroup"],
                "primary": stack["primary"],
                **names,
            }
        )
    outputs = {"stacks": {"type": "Array", "value": stacks}}
    state["deployments"][name] = {"outputs": outputs, "environment": env}
    return outputs


def what_if(state: dict[str, Any], name: str, file: str) -> str:
    params = parameters(file)
    existing = name in state["deployments"]
    count = len(params["stacks"])
    verb = "Modify" if existing else "Create"
    return f"Resource changes: {count} stack(s) to {verb.lower()} ({params['environmentName']}).\n"
