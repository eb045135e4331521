"""models.py retire: remove the retired versions from an environment."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any

if __package__:
    from . import agents, common, facts, routing
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    routing = importlib.import_module("routing")
    agents = importlib.import_module("agents")


# --------------------------------------------------------------------------- retire


def retired_entries(release: dict[str, Any]) -> list[dict[str, Any]]:
    entries = release.get("retired") or []
    if not isinstance(entries, list):
        raise common.InputError("release.json 'retired' must be a list")
    for index, entry in enumerate(entries):
        where = f"release.json retired[{index}]"
        if not isinstance(entry, dict) or entry.get("kind") not in ("model", "agent"):
            raise common.InputError(f"{where}: 'kind' must be 'model' or 'agent'")
        common.text_of(entry, "name", where)
        common.text_of(entry, "version", where)
    return entries


def model_definition(release: dict[str, Any], env: str, name: str) -> dict[str, Any] | None:
    """The model NAME as ENV declares it, else as any environment does."""
    envs = common.environments(release)
    order = [env, *(e for e in envs if e != env)]
    for candidate in order:
        declared = envs.get(candidate)
        if isinstance(declared, dict):
            for model in facts.models_of(declared, candidate):
                if model["name"] == name:
                    return model
    return None


def serves_version(model_ref: object, name: str, version: str) -> bool:
    if not isinstance(model_ref, str):
        return False
    return model_ref.endswith(f"/versions/{version}") or model_ref == f"azureml:{name}:{version}"


def number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


Action = tuple[str, list[str]]  # (what it does, az arguments)


def plan_custom(  # noqa: PLR0913 (moved from models.py as it was)
    *,
    name: str,
    version: str,
    reason: str,
    date: str,
    stack: dict[str, Any],
    region: dict[str, Any],
    actions: list[Action],
    registry: str | None,
) -> dict[str, Any] | None:
    """Delete the idle deployments of a retired version in one region; with REGISTRY (the first
    environment's primary region: the one that publishes), tag and archive the registry's version,
    and return the properties (lineage) it was published with."""
    group = stack["resourceGroup"]
    workspace = stack.get("workspaceName")
    if not isinstance(workspace, str) or not workspace:
        region["skipped"].append("no Azure ML workspace in this region")
        return None
    region["workspace"] = workspace
    where = facts.in_registry(registry) if registry else []
    shown = (
        common.az(["ml", "model", "show", *facts.asset(name, version), *where, "-o", "json"])
        if where
        else None
    )
    if shown is not None and shown.returncode != 0 and not facts.not_found(shown):
        raise common.Failure(f"cannot look up {name} {version} in {registry}: {common.az_error(shown)}")
    endpoints = [
        e for e in stack.get("onlineEndpoints") or [] if isinstance(e, dict) and e.get("model") == name
    ]
    for endpoint in endpoints:
        ep = endpoint.get("name")
        if not isinstance(ep, str) or not ep:
            continue
        deployments = (
            common.az_json(
                ["ml", "online-deployment", "list", "--endpoint-name", ep, *facts.scope(group, workspace)],
                f"list the deployments of {ep}",
            )
            or []
        )
        serving = [
            d for d in deployments if isinstance(d, dict) and serves_version(d.get("model"), name, version)
        ]
        if not serving:
            continue
        shown_ep = (
            common.az_json(
                ["ml", "online-endpoint", "show", "-n", ep, *facts.scope(group, workspace)],
                f"read the traffic of {ep}",
            )
            or {}
        )
        traffic = shown_ep.get("traffic") if isinstance(shown_ep, dict) else None
        mirror = shown_ep.get("mirror_traffic") if isinstance(shown_ep, dict) else None
        traffic = traffic if isinstance(traffic, dict) else {}
        mirror = mirror if isinstance(mirror, dict) else {}
        for deployment in serving:
            colour = str(deployment.get("name"))
            live, mirrored = number(traffic.get(colour)), number(mirror.get(colour))
            if live > 0 or mirrored > 0:
                region["refused"].append(
                    f"deployment {colour} of {ep} serves {name} {version} with {live:g}% traffic"
                    + (f" and {mirrored:g}% mirrored" if mirrored else "")
                    + ": shift traffic away first"
                )
                continue
            actions.append(
                (
                    f"delete deployment {colour} of {ep}",
                    [
                        "ml",
                        "online-deployment",
                        "delete",
                        "--name",
                        colour,
                        "--endpoint-name",
                        ep,
                        *facts.scope(group, workspace),
                        "--yes",
                    ],
                )
            )
    if shown is None:
        return None  # the registry's version is tagged and archived once, by the environment that publishes
    if shown.returncode != 0:
        region["skipped"].append(f"{name} {version} is not in the registry {registry}")
        return None
    tags = ["tags.retired=true", f"tags.retire-reason={reason}", f"tags.retire-date={date}"]
    actions.append(
        (
            f"tag {name} {version} retired",
            [
                "ml",
                "model",
                "update",
                *facts.asset(name, version),
                *where,
                "--set",
                *tags,
            ],
        )
    )
    actions.append(
        (
            f"archive {name} {version}",
            ["ml", "model", "archive", *facts.asset(name, version), *where],
        )
    )
    try:
        published = json.loads(shown.stdout or "{}")
    except ValueError:
        return None
    properties = published.get("properties") if isinstance(published, dict) else None
    return properties if isinstance(properties, dict) else None


def training_data(
    release: dict[str, Any], name: str, version: str, lineage: dict[str, Any]
) -> dict[str, Any]:
    """What the retirement record says of the data a retired custom version was trained on: free to
    delete when no model of release.json (any environment) names the same data asset version, else
    which models still need it. Deleting is the data owner's decision; the record only says it."""
    asset, data_version = lineage.get("trainingDataAsset"), lineage.get("trainingDataVersion")
    if not isinstance(asset, str) or not asset or data_version in (None, ""):
        return {"known": False, "note": f"{name} {version} was published without its training data"}
    needed = sorted(
        {
            f"{model['name']} {model['version']} ({env})"
            for env, declared in common.environments(release).items()
            if isinstance(declared, dict)
            for model in facts.models_of(declared, env)
            if isinstance(model.get("trainingData"), dict)
            and model["trainingData"].get("asset") == asset
            and str(model["trainingData"].get("version")) == str(data_version)
        }
    )
    data = {"asset": asset, "version": str(data_version)}
    if needed:
        return {"known": True, "kept": data, "neededBy": needed}
    return {"known": True, "releasable": data, "note": "no current model was trained on it"}


def region_record(stack: dict[str, Any]) -> dict[str, Any]:
    """What a retirement did in one region: done, skipped, warned, refused, failed."""
    return {
        "location": stack["location"],
        "resourceGroup": stack["resourceGroup"],
        "done": [],
        "skipped": [],
        "warnings": [],
        "refused": [],
        "errors": [],
    }


def check_agent(name: str, version: str, stack: dict[str, Any], env: str) -> dict[str, Any]:
    """An agent's versions are immutable: a release leaves the earlier ones in the project. Retiring
    semver VERSION deletes every Foundry version made for it (`metadata.version`) that is not live,
    and refuses while the live one (App Configuration `almgen:agent:<name>`) is one of them."""
    region = region_record(stack)
    account = stack.get("aiServicesName")
    if not isinstance(account, str) or not account:
        region["skipped"].append("no AI Services account in this region")
        return region
    endpoint = agents.project_endpoint(account)
    live = agents.live_versions(routing.stack_of(stack), env).get(name, "")
    made = [v for v in agents.list_versions(endpoint, name) if agents.semver_of(v) == version]
    if any(str(v.get("version")) == live for v in made):
        region["refused"].append(
            f"agent {name} serves version {version} (Foundry version {live}) in {stack['location']}: "
            "release a newer version first"
        )
        return region
    for item in made:
        number = str(item.get("version"))
        agents.delete_version(endpoint, name, number)
        region["done"].append(f"deleted version {number} of agent {name} (made for {version})")
        common.say(f"{stack['location']}: {region['done'][-1]}")
    if not made:
        region["done"].append(
            f"checked that agent {name} has no version made for {version} (live: {live or 'none'})"
        )
        common.say(f"{stack['location']}: {region['done'][-1]}")
    return region


def active_deployment(model: str, env: str, stack: dict[str, Any], live: dict[str, Any] | None) -> str | None:
    """The deployment that serves MODEL: from the live state, else App Configuration; None if unknown."""
    active = live.get("active") if live else None
    if isinstance(active, dict) and isinstance(active.get(model), str):
        return str(active[model])
    endpoint = stack.get("appConfigurationEndpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    result = common.az(
        [
            "appconfig",
            "kv",
            "show",
            "--endpoint",
            endpoint,
            "--auth-mode",
            "login",
            "--key",
            f"almgen:active:{model}",
            "--label",
            env,
            "--query",
            "value",
            "-o",
            "tsv",
        ]
    )
    value = result.stdout.strip() if result.returncode == 0 else ""
    return value or None


def plan_foundation(  # noqa: PLR0913 (moved from models.py as it was)
    *,
    model: dict[str, Any],
    version: str,
    env: str,
    stack: dict[str, Any],
    region: dict[str, Any],
    live: dict[str, Any] | None,
    actions: list[Action],
) -> None:
    account = stack.get("aiServicesName")
    if not isinstance(account, str) or not account:
        region["skipped"].append("no AI Services account in this region")
        return
    region["account"] = account
    group, name = stack["resourceGroup"], model["name"]
    names = {name, *(f"{name}-{colour}" for colour in facts.COLOURS)}
    listed = (
        common.az_json(
            ["cognitiveservices", "account", "deployment", "list", "-n", account, "-g", group],
            f"list the deployments of {account}",
        )
        or []
    )
    serving = []
    for deployment in listed if isinstance(listed, list) else []:
        if not isinstance(deployment, dict):
            continue
        spec = (deployment.get("properties") or {}).get("model") or {}
        if (
            deployment.get("name") in names
            and str(spec.get("version")) == version
            and (not model.get("model") or spec.get("name") == model["model"])
        ):
            serving.append(str(deployment["name"]))
    if not serving:
        region["skipped"].append(f"no deployment serves {name} {version}")
        return
    active = active_deployment(name, env, stack, live)
    canary = (live or {}).get("canary")
    canary = canary.get(name) if isinstance(canary, dict) else None
    for deployment in sorted(serving):
        if active is None:
            region["warnings"].append(
                f"{deployment} serves {version}, but the active deployment is unknown "
                "(pass --live-state): kept"
            )
        elif deployment == active:
            region["warnings"].append(
                f"{deployment} is the active deployment of {name}: kept; "
                "deploy the new version and switch first"
            )
        elif (
            isinstance(canary, dict)
            and canary.get("deployment") == deployment
            and number(canary.get("percent"))
        ):
            region["warnings"].append(f"{deployment} receives canary traffic: kept")
        else:
            actions.append(
                (
                    f"delete deployment {deployment} of {account}",
                    [
                        "cognitiveservices",
                        "account",
                        "deployment",
                        "delete",
                        "-n",
                        account,
                        "-g",
                        group,
                        "--deployment-name",
                        deployment,
                    ],
                )
            )
    return


def cmd_retire(args: argparse.Namespace) -> int:  # noqa: PLR0912, PLR0915 (moved from models.py as it was)
    release = common.read_object(args.release, "release.json")
    common.environment(release, args.env)
    entries = retired_entries(release)
    stacks = facts.stacks_of(args.outputs)
    live = common.read_object(args.live_state, "live state") if args.live_state else None
    publishes = release.get("modelRegistry") and facts.registry_of(release)["home"] == args.env
    registry = facts.registry_of(release)["name"] if publishes else None
    records: list[dict[str, Any]] = []
    planned: list[tuple[dict[str, Any], list[Action]]] = []
    for entry in entries:
        record: dict[str, Any] = {
            key: entry.get(key) for key in ("kind", "name", "version", "reason", "date")
        }
        records.append(record)
        if entry["kind"] == "agent":
            record["regions"] = [
                check_agent(entry["name"], entry["version"], stack, args.env) for stack in stacks
            ]
            continue
        model = model_definition(release, args.env, entry["name"])
        if model is None:
            record.update(status="skipped", note="the model is not in release.json")
            common.say(f"warning: retired model {entry['name']} is not in release.json: skipped")
            continue
        record["modelKind"] = model["kind"]
        record["regions"] = []
        for stack in stacks:
            region = region_record(stack)
            record["regions"].append(region)
            actions: list[Action] = []
            if model["kind"] == "custom":
                lineage = plan_custom(
                    name=entry["name"],
                    version=entry["version"],
                    reason=str(entry.get("reason") or ""),
                    date=str(entry.get("date") or ""),
                    stack=stack,
                    region=region,
                    actions=actions,
                    registry=registry if stack is stacks[0] else None,
                )
                if lineage is not None:
                    record["trainingData"] = training_data(release, entry["name"], entry["version"], lineage)
            else:
                plan_foundation(
                    model=model,
                    version=entry["version"],
                    env=args.env,
                    stack=stack,
                    region=region,
                    live=live,
                    actions=actions,
                )
            planned.append((region, actions))
    refusals = [r for record in records for region in record.get("regions", []) for r in region["refused"]]
    failed = bool(refusals)
    if not refusals:
        for region, actions in planned:
            for what, command in actions:
                result = common.az(command)
                if result.returncode != 0:
                    region["errors"].append(f"{what}: failed: {common.az_error(result)}")
                    failed = True
                    break
                region["done"].append(what)
                common.say(f"{region['location']}: {what}")
    for record in records:
        regions = record.get("regions")
        if regions is None:
            continue
        if any(r["refused"] for r in regions):
            record["status"] = "refused"
        elif any(r["errors"] for r in regions):
            record["status"] = "failed"
        elif refusals:
            record["status"] = "not-attempted"
        else:
            record["status"] = "retired" if any(r["done"] for r in regions) else "nothing-to-do"
        for region in regions:
            for message in region["warnings"]:
                common.say(f"warning: {region['location']}: {message}")
    document = {
        "service": release.get("service"),
        "environment": args.env,
        "specSha256": release.get("specSha256"),
        "generator": release.get("generator"),
        "commit": facts.git_commit(os.environ) or None,
        "runUrl": facts.run_url(os.environ),
        "recordedAt": common.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entries": records,
    }
    common.write_json(args.out, document)
    for refusal in refusals:
        common.say(f"refused: {refusal}")
    if refusals:
        raise common.Failure(
            f"{len(refusals)} deployment(s) still serve a retired version: nothing was changed"
        )
    if failed:
        raise common.Failure("some retirements failed; see the record " + str(args.out))
    return 0
