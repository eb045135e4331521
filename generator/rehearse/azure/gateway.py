"""The simulated AI gateway (API Management, templates/bicep/modules/gateway.bicep.j2).

State: `state["gateways"][ID] = {"name", "group", "env", "location", "endpoint",
"pools": {model: {deployment: weight}}}`. A deployment of the Bicep creates the gateway with one
pool per model whose weights follow the live state (the serving deployment 100 - p, a canary p),
as gateway.bicep does. `az rest` on `<gateway>/backends/pool-<model>` reads the pool (GET) and
replaces its services (PATCH, with `If-Match`, as Backend - Update requires). Where a gateway fronts
a model, its pool's weights are what serves: they drive the simulated traffic and metrics, and
App Configuration keys no longer do.
"""

from __future__ import annotations

import json
from typing import Any

from generator.rehearse.azure import metrics
from generator.rehearse.azure.store import AzFailure, env_of_group
from generator.rehearse.world import World

ARM_URL = "https://management.azure.com"
APIS = ("2024-05-01",)  # what gateway.bicep and runtime/routing.py use
BACKENDS = "/backends/"
POOL = "pool-"
DEPLOYMENT = "deployment-"


def gateways(state: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = state.setdefault("gateways", {})
    return found


def weights_of(route: dict[str, Any], active: dict[str, Any], canaries: dict[str, Any]) -> dict[str, int]:
    """A model's pool as gateway.bicep composes it from the live state."""
    serving = str(active.get(route["model"], route["initialDeployment"]))
    canary = canaries.get(route["model"]) or {}
    percent = int(canary.get("percent") or 0)
    if percent > 0 and canary.get("deployment") and canary["deployment"] != serving:
        return {serving: 100 - percent, str(canary["deployment"]): percent}
    return {serving: 100}


def deploy(
    world: World | None,
    state: dict[str, Any],
    *,
    rg: str,
    group: str,
    env: str,
    location: str,
    name: str,
    params: dict[str, Any],
) -> dict[str, str]:
    """Create or update a region's gateway; its outputs (gatewayId, gatewayEndpoint)."""
    live = json.loads(params.get("liveStateJson") or "{}") or {}
    active, canaries = live.get("active") or {}, live.get("canary") or {}
    gateway_id = f"{rg}/providers/Microsoft.ApiManagement/service/{name}"
    endpoint = f"https://{name}.azure-api.net"
    pools = {
        str(route["model"]): weights_of(route, active, canaries)
        for route in (params.get("gateway") or {}).get("models") or []
    }
    gateways(state)[gateway_id] = {
        "name": name,
        "group": group,
        "env": env,
        "location": location,
        "endpoint": endpoint,
        "pools": pools,
    }
    if world is not None:
        for model, weights in pools.items():
            metrics.record_shares(world, state, env, location, model, shares=weights)
    return {"gatewayId": gateway_id, "gatewayEndpoint": endpoint}


def fronts(state: dict[str, Any], env: str, location: str, model: str) -> bool:
    """Whether a gateway serves MODEL in ENV's region (its pool, not the keys, then decides)."""
    return any(
        (g["env"], g["location"]) == (env, location) and model in g["pools"] for g in gateways(state).values()
    )


def _services(gateway_id: str, weights: dict[str, int]) -> list[dict[str, Any]]:
    return [{"id": f"{gateway_id}{BACKENDS}{DEPLOYMENT}{name}", "weight": w} for name, w in weights.items()]


def is_backend(url: str) -> bool:
    return "/providers/Microsoft.ApiManagement/service/" in url and BACKENDS in url


def backend(world: World, state: dict[str, Any], url: str, method: str, flags: dict[str, str]) -> Any:
    """`az rest` on `<gateway>/backends/pool-<model>?api-version=...`: GET, or PATCH of the pool."""
    path, _, query = url.removeprefix(ARM_URL).partition("?")
    gateway_id, _, backend_name = path.partition(BACKENDS)
    gateway = gateways(state).get(gateway_id)
    model = backend_name.removeprefix(POOL)
    if gateway is None or not backend_name.startswith(POOL) or model not in gateway["pools"]:
        raise AzFailure(f'Not Found({{"error": {{"code": "ResourceNotFound", "message": "{path}"}}}})', 1)
    api = dict(part.partition("=")[::2] for part in query.split("&") if part).get("api-version")
    if api not in APIS:
        raise AzFailure(f"(NoRegisteredProviderFound) api-version {api!r} for service/backends", 1)
    if method == "patch":
        if "If-Match" not in flags.get("--headers", ""):
            raise AzFailure('Bad Request({"error": {"code": "IfMatchPreconditionFailed"}})', 1)
        body = json.loads(flags.get("--body", "") or "{}")
        services = ((body.get("properties") or {}).get("pool") or {}).get("services")
        if set(body) != {"properties"} or not isinstance(services, list) or not services:
            raise AzFailure(
                'Bad Request({"error": {"code": "ValidationError", "message": "pool.services"}})', 1
            )
        weights = {}
        for service in services:
            target = str(service.get("id", ""))
            name = target.removeprefix(f"{gateway_id}{BACKENDS}{DEPLOYMENT}")
            if name == target or not 0 <= int(service.get("weight", -1)) <= 100:
                raise AzFailure(
                    f'Bad Request({{"error": {{"code": "ValidationError", "message": "{target}"}}}})', 1
                )
            weights[name] = int(service["weight"])
        gateway["pools"][model] = weights
        env = env_of_group(state, gateway["group"]) or gateway["env"]
        metrics.record_shares(world, state, env, gateway["location"], model, shares=weights)
    elif method != "get":
        raise AzFailure(f"(MethodNotAllowed) {method.upper()} {path}", 1)
    return {
        "id": path,
        "name": backend_name,
        "type": "Microsoft.ApiManagement/service/backends",
        "properties": {"type": "Pool", "pool": {"services": _services(gateway_id, gateway["pools"][model])}},
    }
