"""`almgen lineage --live`: what serves each environment now, read from Azure, against the spec.

The audit question: which model version serves customers, trained on which data with which
preprocessing, features, parameters and code, from which commit and training job. The answer is
read through `az` (the signed-in user's access) from what the pipeline left in Azure: the
environment's ARM deployment outputs (its regions and resources), the routing (App Configuration
keys for foundation models, the online endpoint's traffic map for custom models), the model
deployments, the properties a custom model version was registered with, the live version of each
agent (App Configuration `almgen:agent:<name>`, the Foundry version's metadata), and the release records
kept unchangeable in the environment's record store (since when a version serves, by which run).
Every difference from the spec is listed: a version that is not the spec's, lineage that is not
the spec's. The deletion certificates of the opt-in data clean-up, kept in the same store, are
listed per environment: what was deleted, its digest read before, when, by which run.
"""

from __future__ import annotations

import json
from typing import Any

from generator.plan.build import deployment_name
from generator.runtime import (
    agents,
    common,
    facts,
    finetuning,
    indexing,
    records,
    registration,
    retrieval,
    routing,
)
from generator.spec.model import Environment, Spec
from generator.targets.scripts.files import release_facts

LINEAGE = (
    *facts.LINEAGE_KEYS,
    facts.CODE_KEY,
    facts.CONTENT_KEY,
    "gitCommit",
    "specSha256",
    "trainingJob",
)


class LiveError(Exception):
    """Azure could not be read (not signed in, no access, nothing deployed yet)."""


def _deployment(spec: Spec, env: Environment) -> tuple[list[routing.Stack], str, dict[str, str]]:
    """The environment's regions (primary first), its record store and each region's search
    service endpoint (retrieval), from its ARM deployment."""
    name = deployment_name(spec, env)
    outputs = routing.az(["deployment", "sub", "show", "--name", name, "--query", "properties.outputs"])
    stacks = (outputs or {}).get("stacks", {}) if isinstance(outputs, dict) else {}
    items = stacks.get("value") if isinstance(stacks, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise LiveError(f"the deployment {name} has no stacks in its outputs: has {env.name} been deployed?")
    store = next(
        (str(i["recordsAccount"]) for i in items if i.get("primary") and i.get("recordsAccount")), ""
    )
    search = {str(i.get("location")): str(i["searchEndpoint"]) for i in items if i.get("searchEndpoint")}
    stacks = sorted((routing.stack_of(item) for item in items), key=lambda stack: not stack.primary)
    return stacks, store, search


def _retrieval(endpoint: str, declared: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """The index the alias serves, the inputs it was built from, and how that differs from the spec."""
    live = retrieval.served(endpoint, declared["alias"])
    expected = indexing.inputs_hash(declared)
    entry = {
        **live,
        "specInputsSha256": expected,
        "source": declared.get("source"),
        "chunking": declared.get("chunking"),
        "embedding": declared.get("embedding"),
    }
    if not live["index"]:
        return entry, [f"{where}: the alias {declared['alias']} serves no index"]
    if live["inputsSha256"] != expected:
        return entry, [
            f"{where}: {live['index']} was built from other inputs than the spec's (documents, chunking, "
            "embedding model or index definition)"
        ]
    return entry, []


def _foundation(stack: routing.Stack, env: str, model: dict[str, Any]) -> dict[str, Any]:
    routed = routing.foundation_routing(stack, env, model["name"])
    canary = routed["canary"]
    shares = {routed["active"]: 100 - (canary["percent"] or 0)} if routed["active"] else {}
    if canary["deployment"] and canary["percent"]:
        shares[canary["deployment"]] = canary["percent"]
    listed = routing.model_deployments(stack)
    served = {
        str(d.get("name")): (d.get("properties") or {}).get("model") or {}
        for d in (listed if isinstance(listed, list) else [])
        if isinstance(d, dict)
    }
    serving = [
        {"deployment": name, "share": share, "version": str(served.get(name, {}).get("version", ""))}
        for name, share in sorted(shares.items(), key=lambda item: -item[1])
    ]
    if isinstance(model.get("fineTune"), dict):  # which fine-tuned model, made by which job, where
        jobs: dict[str, list[dict[str, Any]]] = {}
        for entry in serving:
            name = str(served.get(entry["deployment"], {}).get("name", ""))
            # deployed from the account that fine-tuned it (`source`), or made in this one
            source = str(served.get(entry["deployment"], {}).get("source") or "")
            account = source.rstrip("/").rpartition("/")[2] if source else stack.ai_services
            if account not in jobs:
                jobs[account] = finetuning.list_jobs(account)
            job = next((j for j in jobs[account] if j.get("fine_tuned_model") == name), {})
            entry |= {
                "fineTunedModel": name,
                "fineTunedIn": account,
                "fineTuningJob": job.get("id"),
                "fineTuningSuffix": job.get("suffix"),
                "hyperparameters": job.get("hyperparameters"),
            }
    return {"serving": serving}


def _custom(stack: routing.Stack, model: dict[str, Any], registry: str) -> dict[str, Any]:
    endpoint = routing.endpoint_of(stack, model["name"])
    traffic = routing.traffic_of(stack, endpoint)
    serving = []
    listed = routing.az(
        ["ml", "online-deployment", "list", "--endpoint-name", endpoint, *routing.ml_scope(stack)]
    )
    references = {
        str(d["name"]): str(d.get("model") or "") for d in listed or [] if isinstance(d, dict) and "name" in d
    }
    for deployment in routing.ml_deployments(stack, model["name"], endpoint):
        share = traffic.get(deployment["colour"], 0)
        if share <= 0:
            continue
        version = deployment["version"]
        found = registration.published(model["name"], version, registry)
        props = (found or {}).get("properties") or {}
        serving.append(
            {
                "deployment": deployment["colour"],
                "share": share,
                "version": version,
                "registered": found is not None,
                "asset": references.get(deployment["colour"], ""),
                "lineage": {key: str(props[key]) for key in LINEAGE if key in props},
                "publishedBy": ((found or {}).get("tags") or {}).get("publishedBy"),
            }
        )
    return {"endpoint": endpoint, "serving": serving}


def _differences(
    model: dict[str, Any], where: str, entry: dict[str, Any], expected: dict[str, str], registry: str
) -> list[str]:
    out = []
    if not entry["serving"]:
        return [f"{where}: nothing serves {model['name']}"]
    if isinstance(model.get("fineTune"), dict):
        return _fine_tune_differences(model, where, entry)
    for serving in entry["serving"]:
        if serving["version"] != model["version"]:
            out.append(
                f"{where}: {serving['deployment']} serves {model['name']} {serving['version']} "
                f"({serving['share']}%), the spec says {model['version']}"
            )
        if model["kind"] != "custom" or serving["version"] != model["version"]:
            continue
        if not serving["registered"]:
            out.append(f"{where}: {model['name']} {serving['version']} is not in the model registry")
            continue
        published = facts.registry_asset(registry, model["name"], serving["version"])
        if serving.get("asset") and serving["asset"] != published:
            out.append(
                f"{where}: {serving['deployment']} serves {serving['asset']}, not the registry's {published}"
            )
        for difference in registration.lineage_differences(expected, serving["lineage"]):
            out.append(f"{where}: {difference}")
    return out


def _fine_tune_differences(model: dict[str, Any], where: str, entry: dict[str, Any]) -> list[str]:
    """A fine-tuned model differs when what serves was not made by a job with the spec's inputs."""
    expected = finetuning.suffix_of(finetuning.inputs_sha256(model))
    out = []
    for serving in entry["serving"]:
        if not serving.get("fineTuningJob"):
            out.append(
                f"{where}: {serving['deployment']} serves {serving.get('fineTunedModel') or 'a model'}, "
                "which no fine-tuning job of the account made"
            )
        elif serving.get("fineTuningSuffix") != expected:
            out.append(
                f"{where}: {serving['fineTunedModel']} was fine-tuned from other inputs than the spec's "
                "(base model, data versions, hyperparameters or seed)"
            )
    return out


def _since(
    history: list[dict[str, Any]], model: str, version: str, fine_tuned: str = ""
) -> dict[str, Any] | None:
    """The oldest of the newest release records in a row that deployed VERSION of MODEL (or, for a
    fine-tuned model, the fine-tuned model FINE_TUNED): since when."""
    found = None
    for record in history:  # newest first
        if fine_tuned:
            versions = {
                m.get("model"): m.get("fineTunedModel")
                for m in record.get("fineTuned") or []
                if isinstance(m, dict)
            }
            version = fine_tuned
        else:
            versions = {
                m.get("name"): m.get("version") for m in record.get("models") or [] if isinstance(m, dict)
            }
        if versions.get(model) != version:
            break
        found = _made_live(record)
    return found


def _made_live(record: dict[str, Any]) -> dict[str, Any]:
    """When, by which commit and run a release record made something live, and where it is kept."""
    run = record.get("run") if isinstance(record.get("run"), dict) else {}
    return {
        "since": record.get("timestamp"),
        "commit": record.get("commit"),
        "run": (run or {}).get("url") or (run or {}).get("id"),
        "record": record.get("blob"),
    }


def _agent_since(
    history: list[dict[str, Any]], agent: str, region: str, version: str
) -> dict[str, Any] | None:
    """The oldest of the newest release records in a row that made VERSION of AGENT live in REGION."""
    found = None
    for record in history:  # newest first
        live = {
            (a.get("agent"), a.get("region")): a.get("version")
            for a in record.get("agentsLive") or []
            if isinstance(a, dict)
        }
        if live.get((agent, region)) != version:
            break
        found = _made_live(record)
    return found


def _agents(
    stack: routing.Stack, env: str, declared: list[dict[str, Any]], history: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Which version of each agent is live in a region (App Configuration), its making, since when."""
    if not declared:
        return [], []
    live = agents.live_versions(stack, env)
    project = agents.project_endpoint(stack.ai_services)
    entries, differences = [], []
    where = f"{env}/{stack.location}"
    for agent in declared:
        name, wanted = str(agent["name"]), str(agent["version"])
        version = live.get(name, "")
        found = next(
            (v for v in agents.list_versions(project, name) if str(v.get("version")) == version), None
        )
        metadata = (found or {}).get("metadata") or {}
        entry = {
            "name": name,
            "specVersion": wanted,
            "live": version,
            "semver": agents.semver_of(found) if found else "",
            "model": ((found or {}).get("definition") or {}).get("model", ""),
            "gitCommit": metadata.get("gitCommit", "") if isinstance(metadata, dict) else "",
            "release": _agent_since(history, name, stack.location, version) if version else None,
        }
        entries.append(entry)
        if not version:
            differences.append(f"{where}: no version of agent {name} is live")
        elif found is None:
            differences.append(f"{where}: agent {name} points at version {version}, which the project lacks")
        elif entry["semver"] != wanted:
            differences.append(f"{where}: agent {name} {entry['semver']} is live, the spec says {wanted}")
    return entries, differences


def _deletions(env: str, store: str) -> list[dict[str, Any]]:
    """The deletion certificates of the data clean-up kept in the record store, newest first."""
    if not store:
        return []
    return [
        {
            "recordedAt": certificate.get("recordedAt"),
            "run": certificate.get("runUrl"),
            "commit": certificate.get("commit"),
            "rule": certificate.get("rule"),
            "deleted": certificate.get("deleted") or [],
            "record": certificate["blob"],
        }
        for certificate in records.history(env, store, "deletion-certificate.json")
    ]


def live_lineage(spec: Spec, only: str | None = None) -> dict[str, Any]:
    """Per environment and region: what serves, its lineage as registered, and the differences."""
    release = release_facts(spec)
    facts_by_env = release["environments"]
    registry = (release.get("modelRegistry") or {}).get("name", "")
    root = spec.source.parent
    environments = []
    try:
        for env in spec.environments:
            if only is not None and env.name != only:
                continue
            regions, differences = [], []
            stacks, store, search = _deployment(spec, env)
            declared = facts_by_env[env.name].get("retrieval")
            history = records.history(env.name, store) if store else []
            for stack in stacks:
                models = []
                for model in facts_by_env[env.name]["models"]:
                    where = f"{env.name}/{stack.location}"
                    if model["kind"] == "foundation":
                        entry = _foundation(stack, env.name, model)
                        expected: dict[str, str] = {}
                    else:
                        entry = _custom(stack, model, registry)
                        expected = registration.lineage(model, root)
                    entry |= {"name": model["name"], "kind": model["kind"], "specVersion": model["version"]}
                    if isinstance(model.get("fineTune"), dict):
                        entry["fineTune"] = model["fineTune"]
                    for serving in entry["serving"]:
                        serving["release"] = _since(
                            history, model["name"], serving["version"], serving.get("fineTunedModel", "")
                        )
                    differences += _differences(model, where, entry, expected, registry)
                    models.append(entry)
                region: dict[str, Any] = {
                    "region": stack.location,
                    "primary": stack.primary,
                    "models": models,
                }
                declared_agents = list(facts_by_env[env.name].get("agents") or [])
                if declared_agents:
                    region["agents"], found = _agents(stack, env.name, declared_agents, history)
                    differences += found
                if isinstance(declared, dict) and stack.location in search:
                    where = f"{env.name}/{stack.location}"
                    region["retrieval"], found = _retrieval(search[stack.location], declared, where)
                    differences += found
                regions.append(region)
            name = deployment_name(spec, env)
            environments.append(
                {
                    "name": env.name,
                    "deployment": name,
                    "regions": regions,
                    "differences": differences,
                    "deletions": _deletions(env.name, store),
                }
            )
    except (common.Failure, common.InputError) as exc:
        raise LiveError(str(exc)) from exc
    return {"service": spec.service.name, "environments": environments}


def _model_lines(model: dict[str, Any]) -> list[str]:
    """What serves one model in one region: version, share, asset, since when, lineage."""
    lines = []
    for serving in model["serving"]:
        lines.append(
            f"    {model['name']} {serving['version']} from {serving['deployment']} "
            f"({serving['share']}% of traffic)"
        )
        if serving.get("asset"):
            lines.append(f"      asset: {serving['asset']}")
        if serving.get("fineTunedModel"):
            lines.append(
                f"      fine-tuned model: {serving['fineTunedModel']} "
                f"(job {serving.get('fineTuningJob') or 'unknown'})"
            )
            lines.append(f"      fine-tuned in: {serving.get('fineTunedIn') or 'unknown'}")
        release = serving.get("release")
        if release:
            run, commit = release["run"], release["commit"]
            lines.append(f"      since {release['since']} (run {run}, commit {commit})")
        for key, value in (serving.get("lineage") or {}).items():
            lines.append(f"      {key}: {value}")
    if "fineTune" in model:
        lines.append(f"      fine-tuning inputs: {json.dumps(model['fineTune'], sort_keys=True)}")
    if not model["serving"]:
        lines.append(f"    {model['name']}: nothing serves")
    return lines


def _agent_lines(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for agent in entries:
        if not agent["live"]:
            lines.append(f"    agent {agent['name']}: no version is live")
            continue
        lines.append(
            f"    agent {agent['name']} {agent['semver'] or '?'} (Foundry version {agent['live']}) "
            f"on {agent['model'] or '?'}"
        )
        release = agent.get("release")
        if release:
            lines.append(f"      since {release['since']} (run {release['run']}, commit {release['commit']})")
        if agent["gitCommit"]:
            lines.append(f"      gitCommit: {agent['gitCommit']}")
    return lines


def live_text(data: dict[str, Any]) -> str:
    lines = []
    for env in data["environments"]:
        lines.append(f"{env['name']} (ARM deployment {env['deployment']}):")
        for region in env["regions"]:
            lines.append(f"  {region['region']}{' (primary)' if region['primary'] else ''}:")
            for model in region["models"]:
                lines += _model_lines(model)
            lines += _agent_lines(region.get("agents") or [])
            served = region.get("retrieval")
            if served:
                lines.append(f"    retrieval: {served['alias']} serves {served['index'] or 'no index'}")
                lines.append(f"      documents: {json.dumps(served['source'], sort_keys=True)}")
                lines.append(f"      chunking: {json.dumps(served['chunking'], sort_keys=True)}")
                lines.append(f"      embedding: {json.dumps(served['embedding'], sort_keys=True)}")
                lines.append(f"      inputsSha256: {served['inputsSha256'] or 'unknown'}")
        for deletion in env.get("deletions") or []:
            lines.append(
                f"  deleted at {deletion['recordedAt']} (run {deletion['run']}, commit {deletion['commit']}; "
                f"certificate {deletion['record']}):"
            )
            for item in deletion["deleted"]:
                if item.get("kind") == "collected-data":
                    versions = ", ".join(
                        sorted({v for w in item.get("windows") or [] for v in w["versions"]})
                    )
                    lines.append(
                        f"    collected-data of {item.get('model')} {versions} "
                        f"({item.get('endpoint')}/{item.get('colour')}, {item.get('region')})"
                    )
                else:
                    lines.append(f"    {item.get('kind')} {item.get('asset')} {item.get('version')}")
                lines += [
                    f"      {b.get('url')} (Content-MD5 {b.get('contentMd5')})"
                    for b in item.get("blobs") or []
                ]
        if env["differences"]:
            lines.append("  differs from the spec:")
            lines += [f"    - {difference}" for difference in env["differences"]]
        else:
            lines.append("  as the spec says")
    return "\n".join(lines) + "\n"
