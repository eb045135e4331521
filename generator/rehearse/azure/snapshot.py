"""What serves where: a comparable picture of the simulated Azure's traffic.

`traffic_snapshot(world)` answers, per environment, per region, per model, which deployment serves
and with what share (foundation models: App Configuration keys `almgen:active:<model>` and
`almgen:canary:<model>`, or, where the AI gateway fronts the model, its pool's weights, and
`answered`: which region's deployments answer its requests, `<location>/<deployment>`: another
region's in a regional outage, through the pool's priority 2; custom
models: the online endpoint's traffic map, and behind a gateway `answered`, `<location>/<endpoint>`:
the other region's endpoint in a regional outage), plus the model version
of every AI Services deployment and online deployment, the capacity of every AI Services
deployment, the agents of each region (name: the live Foundry version, its semver and model, and
the semver of every version) and the index each retrieval alias
serves (`aliases`; in the serving view as `alias:<name>`). Tests compare the snapshot
before a rolled-back rollout with the one after.
"""

from __future__ import annotations

import json
from typing import Any, cast

from generator.rehearse.azure.agents import region_agents
from generator.rehearse.azure.gateway import answered
from generator.rehearse.azure.store import empty_state, env_of_group
from generator.rehearse.world import World


def _load(world: World) -> dict[str, Any]:
    state = empty_state()
    if world.azure_file.exists() and world.azure_file.read_text("utf-8").strip():
        state.update(json.loads(world.azure_file.read_text("utf-8")))
    return state


def traffic_snapshot(world: World) -> dict[str, Any]:
    state = _load(world)
    envs: dict[str, Any] = {}

    def region(env: str, location: str) -> dict[str, Any]:
        where = envs.setdefault(env, {}).setdefault(
            location, {"models": {}, "versions": {}, "capacities": {}, "agents": {}}
        )
        return cast(dict[str, Any], where)

    for store in state["stores"].values():
        env = env_of_group(state, store["group"]) or store.get("env", "")
        models = region(env, store["location"])["models"]
        for item in store["kv"].values():
            if item["key"].startswith("almgen:active:"):
                model = item["key"].removeprefix("almgen:active:")
                raw = store["kv"].get(f"almgen:canary:{model}\u0000{item['label']}", {}).get("value") or "{}"
                canary = json.loads(raw)
                shares = {item["value"]: 100}
                if canary.get("deployment") and int(canary.get("percent") or 0) > 0:
                    shares = {
                        item["value"]: 100 - int(canary["percent"]),
                        canary["deployment"]: int(canary["percent"]),
                    }
                models[model] = {"kind": "foundation", "shares": shares}
    for gateway in (state.get("gateways") or {}).values():  # the pool, not the keys, serves
        models = region(env_of_group(state, gateway["group"]) or gateway["env"], gateway["location"])[
            "models"
        ]
        for model, weights in gateway["pools"].items():
            models[model] = {
                "kind": "foundation",
                "shares": dict(weights),
                "gateway": gateway["name"],
                # which region's deployments answer the gateway's requests (the other regions' in an outage)
                "answered": answered(world, state, gateway, model),
            }
    for account in state["accounts"].values():
        versions = region(env_of_group(state, account["group"]), account["location"])["versions"]
        capacities = region(env_of_group(state, account["group"]), account["location"])["capacities"]
        for name, deployment in account["deployments"].items():
            versions[name] = deployment["properties"]["model"]["version"]
            capacities[name] = (deployment.get("sku") or {}).get("capacity")
        where = region(env_of_group(state, account["group"]), account["location"])
        where["agents"].update(region_agents(state, account))
    for service in (state.get("search") or {}).values():  # retrieval: the index each alias serves
        aliases = region(env_of_group(state, service["group"]), service["location"]).setdefault("aliases", {})
        for alias, item in service["aliases"].items():
            aliases[alias] = (item.get("indexes") or [""])[0]
    for ws in state["workspaces"].values():
        where = region(env_of_group(state, ws["group"]), ws["location"])
        for endpoint in ws["endpoints"].values():
            where["models"][endpoint["model"]] = {
                "kind": "custom",
                "endpoint": endpoint["name"],
                "shares": {k: v for k, v in sorted(endpoint["traffic"].items()) if v > 0},
            }
            front = next(
                (
                    g
                    for g in (state.get("gateways") or {}).values()
                    if g["group"] == ws["group"] and endpoint["model"] in (g.get("endpoints") or {})
                ),
                None,
            )
            if front is not None:  # which region's endpoint answers through the region's gateway
                where["models"][endpoint["model"]] |= {
                    "gateway": front["name"],
                    "answered": answered(world, state, front, endpoint["model"]),
                }
            for name, deployment in endpoint["deployments"].items():
                where["versions"][f"{endpoint['name']}/{name}"] = model_version(deployment.get("model", ""))
    return {"environments": envs}


def model_version(reference: str) -> str:
    """The version in an Azure ML model reference: `azureml:NAME:VERSION` or `.../versions/VERSION`."""
    if "/versions/" in reference:
        return reference.rsplit("/versions/", 1)[1]
    return reference.rsplit(":", 1)[1] if reference.startswith("azureml:") else reference


def serving_view(snapshot: dict[str, Any], env: str) -> dict[str, Any]:
    """What serves customers in ENV: per region and model, the shares and the versions behind them;
    per retrieval alias (`alias:<name>`) the index; per agent (`agent:<name>`) the live version.

    Standby deployments (no share) are left out: a release gives the standby colour a new
    version without moving traffic, and that is not a change of what serves.
    """
    out: dict[str, Any] = {}
    for location, region in sorted(snapshot.get("environments", {}).get(env, {}).items()):
        models = {}
        for model, routing in sorted(region["models"].items()):
            prefix = f"{routing['endpoint']}/" if routing["kind"] == "custom" else ""
            shares = {name: share for name, share in routing["shares"].items() if share > 0}
            versions = {name: region["versions"].get(prefix + name) for name in shares}
            models[model] = {"shares": shares, "versions": versions}
        for alias, index in sorted(region.get("aliases", {}).items()):  # ':' is in no model name
            models[f"alias:{alias}"] = {"index": index}
        for name, agent in sorted(region.get("agents", {}).items()):  # the version live, and its semver
            models[f"agent:{name}"] = {"live": agent["live"], "version": agent["version"]}
        out[location] = models
    return out
