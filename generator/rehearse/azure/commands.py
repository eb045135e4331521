"""The handlers of the modelled `az` commands, and the table of their flags (long names)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, cast

from generator.rehearse.azure import arm, collector, gateway, metrics, openai
from generator.rehearse.azure.store import (
    AzFailure,
    account_by_name,
    env_of_group,
    registry,
    store_by_endpoint,
    workspace,
)
from generator.rehearse.world import World

JOB_MINUTES = 20.0
JOB_OUTPUT = re.compile(
    r"^azureml://subscriptions/[^/]+/resourceGroups/([^/]+)/workspaces/([^/]+)/datastores/"
    r"workspaceartifactstore/paths/ExperimentRun/dcid\.([^/]+)/model/?$"
)  # an `az ml job` completes this many simulated minutes after it was created

Flags = dict[str, str]
Handler = Callable[[World, dict[str, Any], Flags], Any]

ALIASES = {
    "-g": "--resource-group",
    "-n": "--name",
    "-w": "--workspace-name",
    "-o": "--output",
    "-l": "--location",
    "-f": "--file",
    "-e": "--endpoint-name",
    "-v": "--version",
    "-p": "--password",
    "-u": "--username",
    "-t": "--tenant",
    "-s": "--subscription",
    "-m": "--method",
}


def _need(flags: Flags, *names: str) -> str:
    for name in names:
        if flags.get(name):
            return flags[name]
    raise AzFailure(f"the following arguments are required: {names[0]}", 2)


# ---- deployments ---------------------------------------------------------------------------------
def deployment_create(world: World, state: dict[str, Any], flags: Flags) -> Any:
    files = flags.get("--parameters", "").split("\u0000") if flags.get("--parameters") else []
    return arm.create(
        world,
        state,
        _need(flags, "--name"),
        _need(flags, "--location"),
        files=files,
        template=flags.get("--template-file", ""),
    )


def deployment_what_if(world: World, state: dict[str, Any], flags: Flags) -> Any:
    files = flags.get("--parameters", "").split("\u0000") if flags.get("--parameters") else []
    return arm.what_if(
        world,
        state,
        flags.get("--name", ""),
        _need(flags, "--location"),
        files=files,
        template=flags.get("--template-file", ""),
    )


def deployment_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    return arm.show(state, _need(flags, "--name"))


# ---- cognitive services -------------------------------------------------------------------------
def account_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    account = account_by_name(state, flags.get("--resource-group"), _need(flags, "--name"))
    return {
        "id": account["id"],
        "name": account["name"],
        "location": account["location"],
        "kind": "AIServices",
        "properties": {"endpoint": account["endpoint"], "provisioningState": "Succeeded"},
    }


def cs_deployment_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    account = account_by_name(state, flags.get("--resource-group"), _need(flags, "--name"))
    return [account["deployments"][k] for k in sorted(account["deployments"])]


def cs_deployment_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    account = account_by_name(state, flags.get("--resource-group"), _need(flags, "--name"))
    name = _need(flags, "--deployment-name")
    if name not in account["deployments"]:
        raise AzFailure(f"(DeploymentNotFound) The specified deployment '{name}' does not exist.", 3)
    return account["deployments"][name]


def cs_deployment_create(world: World, state: dict[str, Any], flags: Flags) -> Any:
    account = account_by_name(state, flags.get("--resource-group"), _need(flags, "--name"))
    name = _need(flags, "--deployment-name")
    item = {
        "id": f"{account['id']}/deployments/{name}",
        "name": name,
        "sku": {
            "name": flags.get("--sku-name", flags.get("--sku", "Standard")),
            "capacity": int(flags.get("--sku-capacity", "1")),
        },
        "properties": {
            "model": {
                "format": _need(flags, "--model-format"),
                "name": _need(flags, "--model-name"),
                "version": _need(flags, "--model-version"),
            },
            "provisioningState": "Succeeded",
        },
    }
    account["deployments"][name] = item
    return item


def cs_deployment_delete(world: World, state: dict[str, Any], flags: Flags) -> Any:
    account = account_by_name(state, flags.get("--resource-group"), _need(flags, "--name"))
    account["deployments"].pop(_need(flags, "--deployment-name"), None)
    return None


CATALOG = [
    ("gpt-4o", "2024-11-20"),
    ("gpt-4o", "2024-08-06"),
    ("gpt-4o-mini", "2024-07-18"),
    ("text-embedding-3-large", "1"),
    ("text-embedding-3-small", "1"),
]


def cs_model_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    _need(flags, "--location")
    return [
        {
            "kind": "OpenAI",
            "model": {
                "format": "OpenAI",
                "name": n,
                "version": v,
                "lifecycleStatus": "GenerallyAvailable",
                "deprecation": {"inference": "2027-01-01T00:00:00Z"},
                "skus": [{"name": "GlobalStandard"}, {"name": "Standard"}],
            },
        }
        for n, v in CATALOG
    ]


def cs_usage_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    _need(flags, "--location")
    return [
        {"name": {"value": f"OpenAI.{sku}.{n}"}, "currentValue": 0, "limit": 1000, "unit": "Count"}
        for n, _ in CATALOG
        for sku in ("GlobalStandard", "Standard")
    ]


# ---- App Configuration ----------------------------------------------------------------------------
def _store(state: dict[str, Any], flags: Flags) -> dict[str, Any]:
    return store_by_endpoint(state, flags.get("--endpoint"), flags.get("--name"))


def kv_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    store, key, label = _store(state, flags), flags.get("--key", "*"), flags.get("--label")
    return [
        v
        for _, v in sorted(store["kv"].items())
        if fnmatchcase(v["key"], key)
        and (label in (None, "*") or v["label"] == ("" if label == "\\0" else label))
    ]


def kv_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    store, key = _store(state, flags), _need(flags, "--key")
    found = store["kv"].get(f"{key}\u0000{flags.get('--label', '')}")
    if found is None:
        raise AzFailure(f"Key '{key}' with label '{flags.get('--label', '')}' does not exist.", 3)
    return found


def kv_set(world: World, state: dict[str, Any], flags: Flags) -> Any:
    store, key, label = _store(state, flags), _need(flags, "--key"), flags.get("--label", "")
    if key.startswith("almgen:agent:"):  # the fault ENV:agents:live[=REGION]:fail
        env = env_of_group(state, store["group"]) or label
        for fault in world.faults():
            region = fault.get("region") in (None, store["location"])
            if fault.get("kind") == "agents-live" and fault.get("env") == env and region:
                raise AzFailure("Operation returned an invalid status 'Forbidden'", 1)
    item = {
        "key": key,
        "label": label,
        "value": flags.get("--value", ""),
        "contentType": flags.get("--content-type"),
    }
    store["kv"][f"{key}\u0000{label}"] = item
    model = key.split(":", 2)[2] if key.startswith(("almgen:active:", "almgen:canary:")) else ""
    env = env_of_group(state, store["group"]) or label
    if model and not gateway.fronts(state, env, store["location"], model):  # else the pool serves
        active = store["kv"].get(f"almgen:active:{model}\u0000{label}", {}).get("value", "")
        try:
            canary = json.loads(
                store["kv"].get(f"almgen:canary:{model}\u0000{label}", {}).get("value") or "{}"
            )
        except ValueError:
            canary = {}
        shares = {active: 100} if active else {}
        if (
            canary.get("deployment")
            and int(canary.get("percent") or 0) > 0
            and canary["deployment"] != active
        ):
            shares = {active: 100 - int(canary["percent"]), canary["deployment"]: int(canary["percent"])}
        metrics.record_shares(world, state, env, store["location"], model, shares=shares)
    return item


def kv_delete(world: World, state: dict[str, Any], flags: Flags) -> Any:
    store, key = _store(state, flags), _need(flags, "--key")
    removed = store["kv"].pop(f"{key}\u0000{flags.get('--label', '')}", None)
    return [removed] if removed else []


# ---- Azure ML ----------------------------------------------------------------------------------------
def _ws(state: dict[str, Any], flags: Flags) -> dict[str, Any]:
    return workspace(state, flags.get("--resource-group"), flags.get("--workspace-name"))


def _endpoint(state: dict[str, Any], flags: Flags, flag: str = "--name") -> dict[str, Any]:
    ws, name = _ws(state, flags), _need(flags, flag)
    if name not in ws["endpoints"]:
        raise AzFailure(f"(UserError) Resource not found: online endpoint '{name}'.", 3)
    return dict(ws["endpoints"][name], _ws=ws)


def endpoint_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ep = _endpoint(state, flags)
    return {
        "id": ep["id"],
        "name": ep["name"],
        "scoring_uri": ep["scoring_uri"],
        "traffic": ep["traffic"],
        "provisioning_state": "Succeeded",
        "auth_mode": "key",
    }


def endpoint_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ws = _ws(state, flags)
    return [endpoint_show(world, state, {**flags, "--name": n}) for n in sorted(ws["endpoints"])]


def endpoint_update(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ep = _endpoint(state, flags)
    stored = ep["_ws"]["endpoints"][ep["name"]]
    if "--traffic" in flags:
        traffic = {}
        for part in flags["--traffic"].split():
            name, _, share = part.partition("=")
            if name not in stored["deployments"]:
                raise AzFailure(
                    f"(BadRequest) Deployment '{name}' does not exist on endpoint '{ep['name']}'.", 1
                )
            traffic[name] = int(share)
        merged = {**stored["traffic"], **traffic}
        if sum(merged.values()) not in (0, 100):
            raise AzFailure("(BadRequest) Traffic values must sum to 100.", 1)
        stored["traffic"] = merged
        env = env_of_group(state, ep["_ws"]["group"])
        metrics.record_shares(
            world,
            state,
            env,
            ep["_ws"]["location"],
            stored["model"],
            shares={k: v for k, v in merged.items() if v > 0},
        )
    return endpoint_show(world, state, flags)


def od_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ep = _endpoint(state, flags, "--endpoint-name")
    return [ep["deployments"][k] for k in sorted(ep["deployments"])]


def od_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ep, name = _endpoint(state, flags, "--endpoint-name"), _need(flags, "--name")
    if name not in ep["deployments"]:
        raise AzFailure(f"(UserError) Resource not found: online deployment '{name}'.", 3)
    return ep["deployments"][name]


def od_create(world: World, state: dict[str, Any], flags: Flags) -> Any:
    """Create or update a deployment from `--file` (its `name`, `endpoint_name`, `model`) and flags."""
    spec: dict[str, Any] = {}
    if flags.get("--file"):
        from ruamel.yaml import YAML

        path = Path(flags["--file"])
        if not path.exists():
            raise AzFailure(f"File {path} does not exist.", 1)
        loaded = YAML(typ="safe").load(path.read_text("utf-8"))
        spec = loaded if isinstance(loaded, dict) else {}
    for assignment in flags.get("--set", "").split("\u0000"):
        key, _, value = assignment.partition("=")
        if key:
            spec[key] = value
    flags = {**flags, "--endpoint-name": flags.get("--endpoint-name") or str(spec.get("endpoint_name", ""))}
    flags["--name"] = flags.get("--name") or str(spec.get("name", ""))
    ep, name = _endpoint(state, flags, "--endpoint-name"), _need(flags, "--name")
    stored = ep["_ws"]["endpoints"][ep["name"]]
    item = stored["deployments"].setdefault(
        name, {"name": name, "endpoint_name": ep["name"], "provisioning_state": "Succeeded"}
    )
    if spec.get("model"):
        item["model"] = str(spec["model"])
    if flags.get("--all-traffic"):
        endpoint_update(world, state, {**flags, "--name": ep["name"], "--traffic": f"{name}=100"})
    return item


def od_delete(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ep, name = _endpoint(state, flags, "--endpoint-name"), _need(flags, "--name")
    if ep["traffic"].get(name, 0) > 0:
        raise AzFailure(f"(BadRequest) Deployment '{name}' has traffic and cannot be deleted.", 1)
    if ep["_ws"]["endpoints"][ep["name"]]["deployments"].pop(name, None) is not None:
        collector.stop(world, ep["_ws"], ep["name"], name)
    return None


def _models_of(state: dict[str, Any], flags: Flags) -> dict[str, Any]:
    """The model versions of the registry (`--registry-name`) or else of the workspace (-g, -w)."""
    if flags.get("--registry-name"):
        return registry(state, flags["--registry-name"])
    return _ws(state, flags)


def _job_output(state: dict[str, Any], path: str) -> None:
    """A registry copies a job's output: the job must exist in the workspace the path names."""
    match = JOB_OUTPUT.match(path)
    if match is None:
        return
    group, ws_name, job = match.groups()
    found = workspace(state, group, ws_name)["jobs"].get(job)
    if found is None:
        raise AzFailure(f"(UserError) Job '{job}' was not found in workspace '{ws_name}'.", 1)


def model_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ws, name, version = _models_of(state, flags), _need(flags, "--name"), flags.get("--version", "")
    found = ws["models"].get(f"{name}:{version}")
    if found is None:
        raise AzFailure(f"(UserError) Resource not found: model '{name}' version '{version}'.", 3)
    return found


def model_create(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ws, name, version = _models_of(state, flags), _need(flags, "--name"), _need(flags, "--version")
    if flags.get("--registry-name"):  # a registry's versions are immutable
        if f"{name}:{version}" in ws["models"]:
            raise AzFailure(
                f"(UserError) Model {name} version {version} already exists in registry "
                f"{flags['--registry-name']}; a registry's model versions cannot be overwritten.",
                1,
            )
        _job_output(state, flags.get("--path", ""))
    item = {
        "name": name,
        "version": version,
        "path": flags.get("--path", ""),
        "tags": {},
        "stage": "Development",
        "id": (
            f"azureml://registries/{ws['name']}/models/{name}/versions/{version}"
            if flags.get("--registry-name")
            else f"{ws['id']}/models/{name}/versions/{version}"
        ),
    }
    ws["models"][f"{name}:{version}"] = item
    tags: dict[str, str] = {}
    for tag in flags.get("--tags", "").split("\u0000"):  # --tags k=v k2=v2
        key, _, value = tag.partition("=")
        if key:
            tags[key] = value
    item["tags"] = tags
    _apply_set(item, flags.get("--set", ""))
    return item


def _apply_set(item: dict[str, Any], assignments: str) -> None:
    """`--set tags.a=1 properties.b=2`: what az ml does to the asset before it is saved."""
    for assignment in assignments.split("\u0000"):
        path, _, value = assignment.partition("=")
        section, _, key = path.partition(".")
        if section in ("tags", "properties") and key:
            item.setdefault(section, {})[key] = value
        elif path:
            item[path] = value


def model_update(world: World, state: dict[str, Any], flags: Flags) -> Any:
    item = model_show(world, state, flags)
    _apply_set(item, flags.get("--set", ""))
    return item


def model_archive(world: World, state: dict[str, Any], flags: Flags) -> Any:
    model_show(world, state, flags)["archived"] = True
    return None


def model_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    """Like az ml: archived versions are listed only with --include-archived."""
    name, archived = flags.get("--name"), "--include-archived" in flags
    return [
        m
        for m in _models_of(state, flags)["models"].values()
        if name in (None, m["name"]) and (archived or not m.get("archived"))
    ]


def job_create(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ws = _ws(state, flags)
    name = flags.get("--name") or f"job-{len(ws['jobs']) + 1}"
    ws["jobs"][name] = {"name": name, "created": world.minutes(), "file": flags.get("--file", "")}
    return job_show(world, state, {**flags, "--name": name})


def job_show(world: World, state: dict[str, Any], flags: Flags) -> Any:
    ws, name = _ws(state, flags), _need(flags, "--name")
    job = ws["jobs"].get(name)
    if job is None:
        raise AzFailure(f"(UserError) Resource not found: job '{name}'.", 3)
    done = world.minutes() - float(job["created"]) >= JOB_MINUTES
    return {"name": name, "status": "Completed" if done else "Running"}


# ---- storage blobs: the release records (a container under a time-based immutability policy) ----


def _container(state: dict[str, Any], flags: Flags) -> dict[str, Any]:
    if flags.get("--auth-mode") != "login":
        raise AzFailure("Key based authentication is not permitted on this storage account.", 1)
    account = (state.get("storage") or {}).get(_need(flags, "--account-name"))
    if account is None:
        raise AzFailure(f"The specified account '{flags['--account-name']}' was not found.", 3)
    container = account["containers"].get(_need(flags, "--container-name"))
    if container is None:
        raise AzFailure("ErrorCode:ContainerNotFound The specified container does not exist.", 3)
    return cast(dict[str, Any], container)


def blob_upload(world: World, state: dict[str, Any], flags: Flags) -> Any:
    container, name = _container(state, flags), _need(flags, "--name")
    if name in container["blobs"]:  # WORM: a blob under the policy can be neither overwritten nor deleted
        raise AzFailure(
            "ErrorCode:BlobImmutableDueToPolicy This operation is not permitted as the blob is immutable "
            "due to a policy.",
            1,
        )
    path = Path(_need(flags, "--file"))
    if not path.is_file():
        raise AzFailure(f"[Errno 2] No such file or directory: '{path}'", 1)
    created = datetime.fromtimestamp(world.now(), timezone.utc).isoformat()
    container["blobs"][name] = {"content": path.read_text("utf-8"), "created": created}
    return {"etag": f'"{len(container["blobs"])}"', "lastModified": created}


def _data(state: dict[str, Any], flags: Flags) -> bool:
    """A registry's training data account (openai.py), not one of the environment's accounts."""
    if flags.get("--auth-mode") != "login":
        raise AzFailure("Key based authentication is not permitted on this storage account.", 1)
    return openai.data_registry(state, _need(flags, "--account-name")) is not None


def blob_list(world: World, state: dict[str, Any], flags: Flags) -> Any:
    if _data(state, flags):
        return openai.data_blob_list(world, state, flags)
    if collector.is_collector_account(state, flags["--account-name"]):
        return collector.blob_list(world, state, flags)
    container, prefix = _container(state, flags), flags.get("--prefix", "")
    return [
        {"name": name, "properties": {"creationTime": blob["created"]}}
        for name, blob in sorted(container["blobs"].items())
        if name.startswith(prefix)
    ]


def blob_delete(world: World, state: dict[str, Any], flags: Flags) -> Any:
    """A record under the immutability policy cannot be deleted; a blob that is not there neither."""
    if _data(state, flags):
        return openai.data_blob_delete(world, state, flags)
    if collector.is_collector_account(state, flags["--account-name"]):
        return collector.blob_delete(world, state, flags)
    container, name = _container(state, flags), _need(flags, "--name")
    if name not in container["blobs"]:
        raise AzFailure("ErrorCode:BlobNotFound The specified blob does not exist.", 3)
    if container.get("immutabilityDays"):
        raise AzFailure(
            "ErrorCode:BlobImmutableDueToPolicy This operation is not permitted as the blob is immutable "
            "due to a policy.",
            1,
        )
    del container["blobs"][name]
    return None


def blob_download(world: World, state: dict[str, Any], flags: Flags) -> Any:
    container, name = _container(state, flags), _need(flags, "--name")
    blob = container["blobs"].get(name)
    if blob is None:
        raise AzFailure("ErrorCode:BlobNotFound The specified blob does not exist.", 3)
    Path(_need(flags, "--file")).write_text(blob["content"], "utf-8")
    return None
