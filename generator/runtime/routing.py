"""Where traffic goes: the stacks of the deployment outputs, App Configuration keys of foundation
models (and, with the AI gateway, the weights of each model's backend pool), the online endpoints'
traffic maps of custom models, and their live state.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__:
    from . import common, weights
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    weights = importlib.import_module("weights")


COLOURS = ("blue", "green")
# the arithmetic of traffic lives in weights.py; its names stay routing's for routing's callers
CLEARED_CANARY = weights.CLEARED_CANARY
parse_canary = weights.parse_canary
pool_services = weights.pool_services
live_colour = weights.live_colour
compose_traffic = weights.compose_traffic
model_version = weights.model_version
actives_of = weights.actives_of
share_of = weights.share_of
already_live = weights.already_live
ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Stack:
    """One region of the deployment outputs."""

    location: str
    resource_group: str
    primary: bool
    ai_services: str
    app_configuration: str
    workspace: str
    online_endpoints: dict[str, str] = field(default_factory=dict)  # model -> endpoint name
    ai_services_endpoint: str = ""
    gateway_id: str = ""  # the AI gateway (API Management) when the spec has one
    gateway_endpoint: str = ""
    log_workspace: str = ""  # the customerId of the Log Analytics workspace the gateway logs to
    failover: tuple[str, ...] = ()  # the other regions the gateway fails over to (priority 2)
    scoring_uris: dict[str, str] = field(default_factory=dict)  # model -> online endpoint scoring URI


def az(args: list[str]) -> Any:
    """Run `az ARGS -o json` without a shell and return the parsed output (None when empty)."""
    words = " ".join(arg for arg in args[:4] if not arg.startswith("-"))
    done = common.az([*args, "-o", "json"])
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise common.Failure(
            f"az {words} failed (exit {done.returncode}): {lines[-1] if lines else 'no message'}"
        )
    if not done.stdout.strip():
        return None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise common.Failure(f"az {words} did not answer JSON: {exc}") from exc


def stack_of(item: dict[str, Any]) -> Stack:
    listed = [e for e in item.get("onlineEndpoints") or [] if isinstance(e, dict)]
    endpoints = {e["model"]: e["name"] for e in listed}
    return Stack(
        location=str(item.get("location", "")),
        resource_group=str(item["resourceGroup"]),
        primary=bool(item.get("primary")),
        ai_services=str(item.get("aiServicesName", "")),
        app_configuration=str(item.get("appConfigurationEndpoint", "")),
        workspace=str(item.get("workspaceName", "")),
        online_endpoints=endpoints,
        scoring_uris={str(e["model"]): str(e["scoringUri"]) for e in listed if e.get("scoringUri")},
        ai_services_endpoint=str(item.get("aiServicesEndpoint", "")),
        gateway_id=str(item.get("gatewayId", "")),
        gateway_endpoint=str(item.get("gatewayEndpoint", "")),
        log_workspace=str(item.get("logAnalyticsCustomerId", "")),
    )


def load_stacks(path: Path) -> list[Stack]:
    """The regions of ARM deployment outputs, primary first."""
    document = common.read_json(path, "deployment outputs")
    stacks = document.get("stacks") if isinstance(document, dict) else None
    if isinstance(stacks, dict):
        stacks = stacks.get("value")
    if not isinstance(stacks, list) or not stacks or not all(isinstance(s, dict) for s in stacks):
        raise common.InputError(f"deployment outputs {path} have no 'stacks' array")
    try:
        parsed = [stack_of(item) for item in stacks]
    except (KeyError, TypeError) as exc:
        raise common.InputError(f"deployment outputs {path}: a stack lacks {exc}") from exc
    return sorted(with_failover(parsed), key=lambda stack: not stack.primary)


def with_failover(stacks: list[Stack]) -> list[Stack]:
    """Each gateway's failover: every other region with a gateway (gateway-failover.bicep)."""
    return [
        replace(s, failover=tuple(o.location for o in stacks if o.gateway_id and o is not s))
        if s.gateway_id
        else s
        for s in stacks
    ]


def endpoint_of(stack: Stack, model: str) -> str:
    if model not in stack.online_endpoints:
        raise common.InputError(
            f"no online endpoint for model {model!r} in {stack.location} (deployment outputs)"
        )
    if not stack.workspace:
        raise common.InputError(f"no workspaceName in {stack.location} (deployment outputs)")
    return stack.online_endpoints[model]


# ---- foundation models: App Configuration keys -------------------------------------------------


def routing_keys(stack: Stack, env: str) -> dict[str, str]:
    """Every `almgen:*` key-value of the environment's label in the region's store."""
    store = ["--endpoint", stack.app_configuration, "--auth-mode", "login"]
    items = az(["appconfig", "kv", "list", *store, "--label", env, "--key", "almgen:*"])
    if not isinstance(items, list):
        raise common.Failure("az appconfig kv list did not answer a list")
    return {str(i["key"]): str(i.get("value") or "") for i in items if isinstance(i, dict) and "key" in i}


def set_key(stack: Stack, env: str, key: str, value: str, json_value: bool = False) -> None:
    args = ["appconfig", "kv", "set", "--endpoint", stack.app_configuration, "--auth-mode", "login"]
    args += ["--key", key, "--label", env, "--value", value, "--yes"]
    az(args + (["--content-type", "application/json"] if json_value else []))


def foundation_routing(stack: Stack, env: str, model: str) -> dict[str, Any]:
    keys = routing_keys(stack, env)
    return {
        "active": keys.get(f"almgen:active:{model}"),
        "canary": parse_canary(model, keys.get(f"almgen:canary:{model}")),
    }


def foundation_snapshot(stack: Stack, env: str, model: str) -> dict[str, Any]:
    """The routing keys and, with a gateway, the pool's services as read: what `restore` puts back."""
    routing = foundation_routing(stack, env, model)
    return routing | ({"pool": pool_as_read(stack, model)} if stack.gateway_id else {})


def apply_foundation(
    stack: Stack, args: argparse.Namespace, percent: int, actives: dict[str, str | None]
) -> None:
    """Publish the routing of `args.model` in App Configuration (label `args.env`), then move the
    gateway's weights to match it (ACTIVES: what serves in each other region, for priority 2)."""
    env, model, to = str(args.env), str(args.model), str(args.to)
    if percent == 100:
        set_key(stack, env, f"almgen:active:{model}", to)
        set_key(stack, env, f"almgen:canary:{model}", json.dumps(CLEARED_CANARY), json_value=True)
        set_pool(stack, model, to, CLEARED_CANARY, actives)
    else:
        active = foundation_routing(stack, env, model)["active"] or to
        canary = {"deployment": to, "percent": percent}
        set_key(stack, env, f"almgen:canary:{model}", json.dumps(canary), json_value=True)
        set_pool(stack, model, active, canary, actives)


def region_actives(stacks: list[Stack], env: str, model: str) -> dict[str, str | None]:
    """The deployment serving MODEL in each region with a gateway, from its App Configuration
    (None: nothing yet): each region's pool takes the others' at priority 2."""
    if len([s for s in stacks if s.gateway_id]) < 2:
        return {}
    return {s.location: foundation_routing(s, env, model)["active"] for s in stacks if s.gateway_id}


# ---- foundation models: the AI gateway's backend pools -----------------------------------------

GATEWAY_API = "2024-05-01"  # API Management GA: backend pools with weights (as gateway.bicep)


def pool_url(stack: Stack, model: str) -> str:
    return f"{ARM}{stack.gateway_id}/backends/pool-{model}?api-version={GATEWAY_API}"


def set_pool(
    stack: Stack,
    model: str,
    active: str,
    canary: dict[str, Any],
    actives: dict[str, str | None] | None = None,
) -> None:
    """Give MODEL's backend pool the weights of ACTIVE and CANARY, keeping the failover to the other
    regions at priority 2, each at what serves there (ACTIVES): a traffic move never drops it;
    nothing without a gateway."""
    if stack.gateway_id:
        patch_pool(stack, model, pool_services(stack, active, canary, actives))


def patch_pool(stack: Stack, model: str, services: list[dict[str, Any]]) -> None:
    """Replace the services of MODEL's pool (Backend - Update; If-Match: * updates whatever is there)."""
    body = json.dumps({"properties": {"pool": {"services": services}}})
    url = pool_url(stack, model)
    az(["rest", "--method", "patch", "--url", url, "--headers", "If-Match=*", "--body", body])


def pool_as_read(stack: Stack, model: str) -> list[dict[str, Any]]:
    """The services of MODEL's pool (id, priority, weight), verbatim as the gateway has them now."""
    shown = az(["rest", "--method", "get", "--url", pool_url(stack, model)])
    services = (((shown or {}).get("properties") or {}).get("pool") or {}).get("services")
    if not isinstance(services, list) or not all(isinstance(s, dict) and "id" in s for s in services):
        raise common.Failure(f"the gateway's pool-{model} has no pool services")
    return services


ARM = "https://management.azure.com"
DEPLOYMENTS_API = "2024-10-01"  # Deployments - Update (PATCH: sku and tags only)


def scale_standby(stack: Stack, env: str, model: str, capacity: int) -> list[str]:
    """Scale every deployment of MODEL that takes no traffic down to CAPACITY; the names scaled.

    A colour that stands by costs quota (and PTUs) at full capacity; the next deploy that makes it
    the candidate scales it up again before any traffic moves to it (see ai-services.bicep).
    """
    routing = foundation_routing(stack, env, model)
    serving = {routing["active"], routing["canary"]["deployment"] if routing["canary"]["percent"] else None}
    if routing["active"] is None:
        return []  # nothing serves yet: nothing to tell standby from
    listed = model_deployments(stack)
    scaled = []
    for item in listed if isinstance(listed, list) else []:
        name, sku = str(item.get("name", "")), item.get("sku") or {}
        colour = name in {f"{model}-{c}" for c in COLOURS}  # not another model's `<model>-mini-blue`
        if not colour or name in serving or int(sku.get("capacity") or 0) <= capacity:
            continue
        body = json.dumps({"sku": {"name": sku.get("name"), "capacity": capacity}})
        url = f"{ARM}{item['id']}?api-version={DEPLOYMENTS_API}"
        az(["rest", "--method", "patch", "--url", url, "--body", body])
        scaled.append(name)
    return scaled


# ---- custom models: the online endpoint's traffic map -----------------------------------------


def ml_scope(stack: Stack) -> list[str]:
    return ["-g", stack.resource_group, "-w", stack.workspace]


def endpoint_show(stack: Stack, endpoint: str) -> dict[str, Any]:
    shown = az(["ml", "online-endpoint", "show", "--name", endpoint, *ml_scope(stack)])
    if not isinstance(shown, dict):
        raise common.Failure(f"az ml online-endpoint show {endpoint} did not answer an object")
    return shown


def traffic_of(stack: Stack, endpoint: str) -> dict[str, int]:
    traffic = endpoint_show(stack, endpoint).get("traffic") or {}
    return {str(name): int(share) for name, share in traffic.items()}


def set_traffic(stack: Stack, endpoint: str, traffic: dict[str, int]) -> None:
    split = " ".join(f"{name}={share}" for name, share in sorted(traffic.items()))
    az(["ml", "online-endpoint", "update", "--name", endpoint, *ml_scope(stack), "--traffic", split])


def ml_deployments(stack: Stack, model: str, endpoint: str) -> list[dict[str, Any]]:
    live = live_colour(traffic_of(stack, endpoint))
    listed = az(["ml", "online-deployment", "list", "--endpoint-name", endpoint, *ml_scope(stack)])
    if not isinstance(listed, list):
        raise common.Failure(f"az ml online-deployment list {endpoint} did not answer a list")
    entries = [
        {
            "model": model,
            "colour": str(d["name"]),
            "version": model_version(str(d.get("model") or "")),
            "live": False,
        }
        for d in listed
        if isinstance(d, dict) and "name" in d
    ]
    for entry in entries:
        entry["live"] = entry["colour"] == live
    return sorted(entries, key=lambda entry: entry["colour"])


# ---- state and plan ----------------------------------------------------------------------------


def model_deployments(stack: Stack) -> Any:
    """The AI Services model deployments of a region, as `az` lists them."""
    return az(
        [
            "cognitiveservices",
            "account",
            "deployment",
            "list",
            "-g",
            stack.resource_group,
            "-n",
            stack.ai_services,
        ]
    )


FINE_TUNED = re.compile(r"\.ft-[0-9A-Za-z]")  # Azure OpenAI's fine-tuned model ids: <base>.ft-<job>


def live_regions(stacks: list[Stack], env: str, primary: dict[str, str]) -> dict[str, Any]:
    """Every region with a gateway, when there are several: its AI Services endpoint, the scoring
    URIs of its online endpoints and what serves there (its own App Configuration; PRIMARY: the
    primary's keys, already read). gateway.bicep writes each pool's priority 2 from it."""
    gated = [s for s in stacks if s.gateway_id]
    if len(gated) < 2:
        return {}
    return {
        s.location: {
            "aiServicesEndpoint": s.ai_services_endpoint,
            "active": primary if s is stacks[0] else actives_of(routing_keys(s, env)),
        }
        | ({"scoringUris": dict(s.scoring_uris)} if s.scoring_uris else {})
        for s in gated
    }


def live_state(stack: Stack, env: str, stacks: list[Stack] | None = None) -> dict[str, Any]:
    """The state Bicep needs so that a re-deploy changes no live traffic and no serving version
    (STACK: the primary; STACKS: every region, primary first, for the failover's `regions`)."""
    keys = routing_keys(stack, env)
    active = actives_of(keys)
    canary = {}
    for key, value in keys.items():
        if key.startswith("almgen:canary:"):
            model = key.removeprefix("almgen:canary:")
            parsed = parse_canary(model, value)
            if parsed["deployment"] and parsed["percent"] > 0:
                canary[model] = parsed
    listed = model_deployments(stack)
    versions: dict[str, str] = {}
    tuned: dict[str, str] = {}
    sources: dict[str, str] = {}
    for item in listed if isinstance(listed, list) else []:
        served = (item.get("properties") or {}).get("model") or {}
        version, name = served.get("version"), str(served.get("name") or "")
        if item.get("name") and version:
            versions[str(item["name"])] = str(version)
        if item.get("name") and FINE_TUNED.search(name):  # a re-deploy keeps the fine-tuned model it serves
            tuned[str(item["name"])] = name
            # and the account that holds it: `source`, or this one (the deployment's ID without its tail)
            own = str(item.get("id") or "").rpartition("/deployments/")[0]
            if served.get("source") or own:
                sources[str(item["name"])] = str(served.get("source") or own)
    ml = [d for model, ep in sorted(stack.online_endpoints.items()) for d in ml_deployments(stack, model, ep)]
    state: dict[str, Any] = {"active": active, "versions": versions, "canary": canary, "ml": ml}
    regions = live_regions(stacks or [stack], env, active)
    if regions:
        state["regions"] = regions
    if sources:
        state["fineTunedSource"] = sources
    return {**state, "fineTuned": tuned} if tuned else state


def plan_ml(
    state: dict[str, Any], models: list[dict[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The `ml` list of the next deploy, and the colour each model's new version goes to."""
    current = [e for e in state.get("ml") or [] if isinstance(e, dict)]
    planned: list[dict[str, Any]] = []
    candidates: dict[str, str] = {}
    for model in models:
        name, version = model["name"], model["version"]
        entries = [e for e in current if e.get("model") == name]
        live = next((e for e in entries if e.get("live")), None)
        if live is None:
            planned.append({"model": name, "colour": COLOURS[0], "version": version, "live": True})
            candidates[name] = COLOURS[0]
        elif live.get("version") == version:
            planned.extend(sorted(entries, key=lambda e: str(e.get("colour"))))
        else:
            other = COLOURS[1] if live.get("colour") == COLOURS[0] else COLOURS[0]
            planned.append({**live, "live": True})
            planned.append({"model": name, "colour": other, "version": version, "live": False})
            candidates[name] = other
    return planned, candidates


def candidate(
    state: dict[str, Any], model: str, kind: str, version: str | None, picked: dict[str, Any]
) -> str:
    """The deployment that receives the new version: the colour that does not serve now.

    Foundation models: `<model>-blue` serves first. When nothing serves yet (a first deploy) or
    the active deployment already serves `version`, the active deployment itself: the rollout
    has nothing to move. Otherwise the other colour, which the deploy gave the new version.
    A fine-tuned model (always version 1): the colour `models.py fine-tune` gave it (`picked`).
    Custom models: the colour plan-ml gave the new version (`picked`, its candidates file), else
    the live one (which already serves it: the rollout then has nothing to move).
    STATE is the live state from before the deploy (`traffic.py state`).
    """
    if kind == "foundation" and isinstance(picked.get(model), str):
        return str(picked[model])
    if kind == "foundation":
        live = (state.get("active") or {}).get(model)
        active = str(live or f"{model}-blue")
        serving = (state.get("versions") or {}).get(active)
        if live is None or (version is not None and serving == version):
            return active
        return f"{model}-green" if active.endswith("-blue") else f"{model}-blue"
    if isinstance(picked.get(model), str):
        return str(picked[model])
    for entry in state.get("ml") or []:
        if isinstance(entry, dict) and entry.get("model") == model and entry.get("live"):
            return str(entry.get("colour"))
    return "blue"


# ---- shift and restore -------------------------------------------------------------------------


def snapshot(stacks: list[Stack], env: str, model: str, kind: str) -> dict[str, Any]:
    """The routing of MODEL in every region, in the form `restore` puts back."""
    regions = []
    for stack in stacks:
        region: dict[str, Any] = {"location": stack.location, "resourceGroup": stack.resource_group}
        if kind == "foundation":
            region.update(foundation_snapshot(stack, env, model))
        else:
            endpoint = endpoint_of(stack, model)
            region.update({"endpoint": endpoint, "traffic": traffic_of(stack, endpoint)})
        regions.append(region)
    return {"kind": kind, "model": model, "env": env, "stacks": regions}


def shift(stacks: list[Stack], args: argparse.Namespace, percent: int) -> None:
    """Send PERCENT of the model's traffic to `args.to` in every region, primary first. With the
    gateway in several regions, each pool's priority 2 names what serves in the other regions; at
    100 % (a swap) the regions shifted before the last one get theirs again, so that every region's
    priority 2 ends on the new colour of every other region."""
    actives = region_actives(stacks, args.env, args.model) if args.kind == "foundation" else {}
    for stack in stacks:
        if args.kind == "foundation":
            apply_foundation(stack, args, percent, actives)
            if percent == 100 and stack.location in actives:
                actives[stack.location] = args.to
        else:
            endpoint = endpoint_of(stack, args.model)
            set_traffic(stack, endpoint, compose_traffic(traffic_of(stack, endpoint), args.to, percent))
        print(f"{stack.location}: {args.model} sends {percent}% to {args.to}")
    if percent == 100 and actives:
        for stack in [s for s in stacks if s.gateway_id][:-1]:
            set_pool(stack, args.model, args.to, CLEARED_CANARY, actives)
            print(f"{stack.location}: {args.model}'s failover follows the other regions' {args.to}")


def restore(stacks: list[Stack], previous: dict[str, Any]) -> None:
    """Put back the saved routing in every region it names."""
    by_region = {(s.location, s.resource_group): s for s in stacks}
    model, env = str(previous["model"]), str(previous["env"])
    actives = {str(saved["location"]): saved.get("active") for saved in previous["stacks"]}
    for saved in previous["stacks"]:
        stack = by_region.get((saved["location"], saved["resourceGroup"]))
        if stack is None:
            raise common.InputError(
                f"region {saved['location']} of the saved state is not in the deployment outputs"
            )
        if previous["kind"] == "foundation":
            canary = saved.get("canary") or CLEARED_CANARY
            if saved.get("active"):
                set_key(stack, env, f"almgen:active:{model}", str(saved["active"]))
            set_key(stack, env, f"almgen:canary:{model}", json.dumps(canary), True)
            if stack.gateway_id and isinstance(saved.get("pool"), list):  # the services as they were
                patch_pool(stack, model, list(saved["pool"]))
            elif saved.get("active"):
                set_pool(stack, model, str(saved["active"]), canary, actives)
        else:
            endpoint = str(saved["endpoint"])
            wanted = {str(k): int(v) for k, v in (saved.get("traffic") or {}).items()}
            current = traffic_of(stack, endpoint)
            set_traffic(stack, endpoint, {**{name: 0 for name in current}, **wanted})
        print(f"{stack.location}: {model} restored to {json.dumps(saved, sort_keys=True)}")
