"""The simulated AI gateway (API Management, templates/bicep/modules/gateway.bicep.j2).

State: `state["gateways"][ID] = {"name", "group", "env", "location", "endpoint",
"pools": {model: {deployment: weight}}, "remotes": {backend: {"location", "deployment"}},
"failover": {model: {backend: weight}}}`. A deployment of the Bicep creates the gateway with one
pool per model whose weights follow the live state (the serving deployment 100 - p, a canary p),
as gateway.bicep does: that is priority 1, this region's deployments. With more than one region,
gateway.bicep also writes the remote backends and priority-2 members of the regions the live state
knows (`regions`: every region of the last deploy, each with what serves there), so a re-deploy
never leaves a pool without priority 2; after every region is deployed (main.bicep's
gateway-failover modules, `failover` here), each gateway gets a backend
`remote-<location>-<deployment>` for every deployment of the other regions and each pool the
serving deployment of every other region at priority 2 (`failover`). `az rest` on
`<gateway>/backends/pool-<model>` reads the pool (GET: both priorities) and replaces its services
(PATCH, with `If-Match`, as Backend - Update requires). Where a gateway fronts a model, its pool's
priority-1 weights are what serves: they drive the simulated traffic and metrics, and App
Configuration keys no longer do. A regional outage (the fault `ENV:region=REGION:outage`) makes
every deployment in REGION answer 5xx; the circuit breakers of a pool's priority-1 backends then
trip and the gateway sends the model's requests to its priority-2 members outside the outage
(`answered`: which region's deployment answers, in the snapshot).

Custom models (`type: apim` with custom models): the gateway fronts each model's online endpoint,
`"endpoints": {model: endpoint}` (`front_endpoints`, after the workspace's endpoints exist), at
priority 1 with the whole of its traffic (the endpoint splits it between its colours), and after the
region loop the other regions' endpoints at priority 2 (`"remoteEndpoints": {backend: {"location",
"endpoint"}}`, `"endpointFailover": {model: {backend: weight}}`). In a regional outage the endpoint's
requests through the region's gateway are answered by the other region's endpoint (`answered`).

The gateway's request logs (gateway.bicep sends GatewayLogs to the region's Log Analytics
workspace, `logAnalyticsCustomerId` of the outputs): `az rest --method post` to
`https://api.loganalytics.io/v1/workspaces/<customerId>/query` answers almgen's own query
(runtime/health.py `gateway_query`, recognised by its shape; any other KQL is refused as Log
Analytics refuses what it cannot parse) in the Log Analytics shape `{"tables": [{"name":
"PrimaryResult", "columns", "rows"}]}`, from the traffic model of metrics.py: the window's requests
and 5xx of the deployment, faults included, and a real p95. Per-request latency is log-normal with
sigma LATENCY_SIGMA around each minute's level (metrics.py: the baseline, or a latency fault's
value), which is the distribution's mean, as Azure Monitor's average answers it; the p95 is the
95th percentile of the mixture of the window's minutes, weighted by their requests. With sigma 0.5
a steady level L has a p95 of about 2.01 L: a latency the mean proxy judges healthy can breach.
The gateway's language-model log (GatewayLlmLogs, `ApiManagementGatewayLlmLog`) answers the A/B
test's token query (runtime/abtest.py `tokens_query`, its join with the request log by
CorrelationId, recognised by its shape): every answered request (not a 5xx) of the window logged
its tokens, metrics.py's per-minute tokens per request (a baseline, or a `tokens` fault's value).
"""

from __future__ import annotations

import json
import math
import re
import uuid
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


LOGS_API = "https://api.loganalytics.io"
LOGS_URL = re.compile(r"https://api\.loganalytics\.io/v1/workspaces/([0-9a-f-]{36})/query")
LATENCY_SIGMA = 0.5  # the spread of per-request latency (log-normal) around a minute's mean
Z95 = 1.6448536269514722  # the standard normal's 95th percentile
# almgen's own query (runtime/health.py gateway_query); nothing else is answered.
QUERY = re.compile(
    r"ApiManagementGatewayLogs\n"
    r"\| where TimeGenerated between "
    r"\(datetime\((?P<start>[0-9TZ:-]+)\) \.\. datetime\((?P<end>[0-9TZ:-]+)\)\)\n"
    r'\| where BackendUrl contains "/openai/deployments/(?P<deployment>[A-Za-z0-9._-]+)/"\n'
    r"\| summarize requests = count\(\), "
    r"errors = countif\(ResponseCode >= 500 or BackendResponseCode >= 500\), "
    r"p95 = percentile\(BackendTime, 95\)"
)


_WINDOW = r"\(datetime\([0-9TZ:-]+\) \.\. datetime\([0-9TZ:-]+\)\)"
# the A/B test's token query (runtime/abtest.py tokens_query); the same window twice
TOKENS_QUERY = re.compile(
    r"ApiManagementGatewayLogs\n"
    r"\| where TimeGenerated between "
    r"\(datetime\((?P<start>[0-9TZ:-]+)\) \.\. datetime\((?P<end>[0-9TZ:-]+)\)\)\n"
    r'\| where BackendUrl contains "/openai/deployments/(?P<deployment>[A-Za-z0-9._-]+)/"\n'
    r"\| distinct CorrelationId\n"
    r"\| join kind=inner \(ApiManagementGatewayLlmLog\n"
    rf"    \| where TimeGenerated between {_WINDOW}\n"
    r"    \| summarize prompt = max\(PromptTokens\), completion = max\(CompletionTokens\), "
    r"total = max\(TotalTokens\) by CorrelationId\) on CorrelationId\n"
    r"\| summarize requests = count\(\), promptTokens = sum\(prompt\), "
    r"completionTokens = sum\(completion\), totalTokens = sum\(total\)"
)


def customer_id(rg: str) -> str:
    """The customerId (a GUID) of the region's Log Analytics workspace, stable per resource group."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rg}/providers/Microsoft.OperationalInsights/workspaces"))


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
    account: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Create or update a region's gateway; its outputs (gatewayId, gatewayEndpoint, and the
    logAnalyticsCustomerId of the workspace its request logs go to). With agents (the gateway param
    names `agentsConnection`) and ACCOUNT's Foundry project, the project's connection to the gateway
    (category ApiManagement, as gateway.bicep makes it) and its name in the outputs."""
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
        "remotes": {},
        "failover": {},
        "workspace": customer_id(rg),
        "endpoints": {},
        "remoteEndpoints": {},
        "endpointFailover": {},
    }
    _known_failover(gateways(state)[gateway_id], params, live)
    if world is not None:  # what this write of the pools holds at priority 2 (none on a first deploy)
        written = gateways(state)[gateway_id]
        world.record(
            "azure-gateway-write",
            env=env,
            region=location,
            failover=written["failover"],
            endpointFailover=written["endpointFailover"],
        )
        for model, weights in pools.items():
            metrics.record_shares(world, state, env, location, model, shares=weights)
    outputs = {
        "gatewayId": gateway_id,
        "gatewayEndpoint": endpoint,
        "logAnalyticsCustomerId": customer_id(rg),
    }
    connection = str((params.get("gateway") or {}).get("agentsConnection") or "")
    if connection and account is not None:
        account.setdefault("connections", {})[connection] = {
            "category": "ApiManagement",
            "authType": "AAD",
            "target": f"{endpoint}/agents",
            "gateway": gateway_id,
            "models": [str(m["name"]) for m in params["gateway"].get("agentModels") or []],
        }
        outputs["agentsConnection"] = connection
    return outputs


def through(
    state: dict[str, Any], account: dict[str, Any], binding: str
) -> tuple[dict[str, Any], str] | None:
    """The gateway and model an agent's binding `<connection>/<model>` reaches in ACCOUNT's project,
    or None: no such ApiManagement connection, or its gateway has no pool for the model."""
    name, _, model = binding.partition("/")
    connection = (account.get("connections") or {}).get(name) or {}
    if connection.get("category") != "ApiManagement" or model not in connection.get("models", []):
        return None
    found = gateways(state).get(str(connection.get("gateway")))
    return (found, model) if found is not None and model in found["pools"] else None


def front_endpoints(state: dict[str, Any], gateway_id: str, endpoints: list[dict[str, Any]]) -> None:
    """gateway.bicep with custom models: an API, a backend and a pool per online endpoint (priority 1)."""
    gateways(state)[gateway_id]["endpoints"] = {str(e["model"]): str(e["name"]) for e in endpoints}


def _serving(live: dict[str, Any], location: str, model: str, initial: str) -> str:
    """What serves MODEL in LOCATION for priority 2: that region's own live state (`regions`),
    else the primary's `active`, else the route's initial deployment (gateway.bicep's order)."""
    region = (live.get("regions") or {}).get(location) or {}
    return str((region.get("active") or {}).get(model) or (live.get("active") or {}).get(model) or initial)


def _known_failover(gateway: dict[str, Any], params: dict[str, Any], live: dict[str, Any]) -> None:
    """gateway.bicep with failover: the region's entry of `gateway.failover.regions` (by location)
    gives the other regions' backends and priority-2 members, written for the regions the live
    state knows (`regions`: the last deploy's), so a re-deploy keeps priority 2 in every pool."""
    known = live.get("regions") or {}
    own = [
        r
        for r in ((params.get("gateway") or {}).get("failover") or {}).get("regions") or []
        if r.get("location") == gateway["location"]
    ]
    for region in own:
        gateway["remotes"] = {
            str(b["name"]): {"location": str(b["location"]), "deployment": str(b["deployment"])}
            for b in region["backends"]
            if b["location"] in known
        }
        members: dict[str, dict[str, int]] = {}
        for member in region["members"]:
            if member["location"] in known:
                serving = _serving(live, member["location"], member["model"], member["initialDeployment"])
                backend = f"remote-{member['location']}-{serving}"
                if backend not in gateway["remotes"]:  # as APIM: a pool names existing backends only
                    raise AzFailure(
                        f'{{"code": "ValidationError", "message": "backend {backend} not found"}}', 1
                    )
                members.setdefault(str(member["model"]), {})[backend] = int(member["weight"])
        gateway["failover"] = members
        remote_endpoints: dict[str, dict[str, str]] = {}
        for item in region.get("endpointBackends") or []:
            uri = str(((known.get(item["location"]) or {}).get("scoringUris") or {}).get(item["model"]) or "")
            if uri:  # the endpoint's name: the first label of its scoring URI's host
                host = uri.removeprefix("https://").split("/", 1)[0]
                where = {"location": str(item["location"]), "endpoint": host.split(".", 1)[0]}
                remote_endpoints[str(item["name"])] = where
        gateway["remoteEndpoints"] = remote_endpoints
        endpoint_members: dict[str, dict[str, int]] = {}
        for member in region.get("endpointMembers") or []:
            if member["backend"] in remote_endpoints:
                endpoint_members.setdefault(str(member["model"]), {})[str(member["backend"])] = int(
                    member["weight"]
                )
        gateway["endpointFailover"] = endpoint_members


def _endpoint_failover(
    gateway: dict[str, Any], region: dict[str, Any], outputs: list[dict[str, Any]]
) -> None:
    """gateway-failover.bicep's endpoint backends and the custom models' priority-2 members."""
    gateway["remoteEndpoints"] = {
        str(b["name"]): {
            "location": str(outputs[int(b["stack"])]["location"]),
            "endpoint": str(outputs[int(b["stack"])]["onlineEndpoints"][int(b["index"])]["name"]),
        }
        for b in region.get("endpointBackends") or []
    }
    members: dict[str, dict[str, int]] = {}
    for member in region.get("endpointMembers") or []:
        if member["backend"] not in gateway["remoteEndpoints"]:  # as APIM: existing backends only
            raise AzFailure(
                f'{{"code": "ValidationError", "message": "backend {member["backend"]} not found"}}', 1
            )
        members.setdefault(str(member["model"]), {})[str(member["backend"])] = int(member["weight"])
    gateway["endpointFailover"] = members


def failover(state: dict[str, Any], params: dict[str, Any], outputs: list[dict[str, Any]]) -> None:
    """gateway-failover.bicep in every region, after the region loop: the other regions' backends,
    and each pool's priority-2 members (the serving deployment there, from the live state)."""
    live = json.loads(params.get("liveStateJson") or "{}") or {}
    for region in ((params.get("gateway") or {}).get("failover") or {}).get("regions") or []:
        gateway = gateways(state)[str(outputs[int(region["stack"])]["gatewayId"])]
        gateway["remotes"] = {
            str(b["name"]): {
                "location": str(outputs[int(b["stack"])]["location"]),
                "deployment": str(b["deployment"]),
            }
            for b in region["backends"]
        }
        members: dict[str, dict[str, int]] = {}
        for member in region["members"]:
            serving = _serving(live, member["location"], member["model"], member["initialDeployment"])
            backend = f"remote-{member['location']}-{serving}"
            if backend not in gateway["remotes"]:  # as APIM: a pool names existing backends only
                raise AzFailure(f'{{"code": "ValidationError", "message": "backend {backend} not found"}}', 1)
            members.setdefault(str(member["model"]), {})[backend] = int(member["weight"])
        gateway["failover"] = members
        _endpoint_failover(gateway, region, outputs)


def answered(world: World, state: dict[str, Any], gateway: dict[str, Any], model: str) -> dict[str, int]:
    """Which region's deployments answer MODEL's requests through GATEWAY: {"<location>/<deployment>":
    share}. Priority 1 unless the gateway's own region is out; then the priority-2 members outside
    the outage, by weight; nothing when none is left."""
    env = env_of_group(state, gateway["group"]) or gateway["env"]
    if model in (gateway.get("endpoints") or {}):
        return _answered_by_endpoint(world, env, gateway, model)
    if not metrics.outage(world, env, gateway["location"]):
        weights = gateway["pools"].get(model) or {}
        return {f"{gateway['location']}/{name}": w for name, w in weights.items() if w > 0}
    remotes = gateway.get("remotes") or {}
    standing = {
        f"{remotes[name]['location']}/{remotes[name]['deployment']}": weight
        for name, weight in ((gateway.get("failover") or {}).get(model) or {}).items()
        if name in remotes and weight > 0 and not metrics.outage(world, env, remotes[name]["location"])
    }
    total = sum(standing.values())
    return {where: round(100 * weight / total) for where, weight in standing.items()} if total else {}


def _answered_by_endpoint(world: World, env: str, gateway: dict[str, Any], model: str) -> dict[str, int]:
    """A custom model: the region's own online endpoint, else (a regional outage) the other regions'."""
    if not metrics.outage(world, env, gateway["location"]):
        return {f"{gateway['location']}/{gateway['endpoints'][model]}": 100}
    remotes = gateway.get("remoteEndpoints") or {}
    standing = {
        f"{remotes[name]['location']}/{remotes[name]['endpoint']}": weight
        for name, weight in ((gateway.get("endpointFailover") or {}).get(model) or {}).items()
        if name in remotes and weight > 0 and not metrics.outage(world, env, remotes[name]["location"])
    }
    total = sum(standing.values())
    return {where: round(100 * weight / total) for where, weight in standing.items()} if total else {}


def fronts(state: dict[str, Any], env: str, location: str, model: str) -> bool:
    """Whether a gateway serves MODEL in ENV's region (its pool, not the keys, then decides)."""
    return any(
        (g["env"], g["location"]) == (env, location) and model in g["pools"] for g in gateways(state).values()
    )


def _services(gateway: dict[str, Any], gateway_id: str, model: str) -> list[dict[str, Any]]:
    local = [
        {"id": f"{gateway_id}{BACKENDS}{DEPLOYMENT}{name}", "priority": 1, "weight": w}
        for name, w in gateway["pools"][model].items()
    ]
    remote = [
        {"id": f"{gateway_id}{BACKENDS}{name}", "priority": 2, "weight": w}
        for name, w in ((gateway.get("failover") or {}).get(model) or {}).items()
    ]
    return local + remote


def _patched(
    gateway: dict[str, Any], gateway_id: str, services: list[Any]
) -> tuple[dict[str, int], dict[str, int]]:
    """The priority-1 weights and the priority-2 members of a PATCH's services; a service naming
    no backend of the gateway or a weight outside 0-100 is refused, as APIM refuses it; so is a
    priority other than 1 for this region's deployments and 2 for the other regions'."""
    weights, remote = {}, {}
    for service in services:
        target = str(service.get("id", ""))
        name = target.removeprefix(f"{gateway_id}{BACKENDS}")
        weight, priority = int(service.get("weight", -1)), int(service.get("priority") or 1)
        known = name != target and (name.startswith(DEPLOYMENT) or name in (gateway.get("remotes") or {}))
        # the pools almgen composes: this region's deployments first, the other regions' second
        if not known or not 0 <= weight <= 100 or priority != (1 if name.startswith(DEPLOYMENT) else 2):
            raise AzFailure(
                f'Bad Request({{"error": {{"code": "ValidationError", "message": "{target}"}}}})', 1
            )
        if priority == 1:
            weights[name.removeprefix(DEPLOYMENT)] = weight
        else:
            remote[name] = weight
    return weights, remote


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
        weights, remote = _patched(gateway, gateway_id, services)
        gateway["pools"][model] = weights
        gateway.setdefault("failover", {})[model] = remote
        env = env_of_group(state, gateway["group"]) or gateway["env"]
        metrics.record_shares(world, state, env, gateway["location"], model, shares=weights)
    elif method != "get":
        raise AzFailure(f"(MethodNotAllowed) {method.upper()} {path}", 1)
    return {
        "id": path,
        "name": backend_name,
        "type": "Microsoft.ApiManagement/service/backends",
        "properties": {"type": "Pool", "pool": {"services": _services(gateway, gateway_id, model)}},
    }


# ---- the gateway's request logs (Log Analytics) ------------------------------------------------


def is_log_query(url: str) -> bool:
    return url.startswith(LOGS_API + "/")


def percentile(points: list[tuple[float, float]], fraction: float) -> float | None:
    """The FRACTION quantile of a mixture of log-normals, one per (requests, mean latency ms) point."""
    mixture = [(weight, math.log(mean) - LATENCY_SIGMA**2 / 2) for weight, mean in points if weight > 0]
    total = sum(weight for weight, _ in mixture)
    if total <= 0:
        return None

    def below(log_x: float) -> float:
        cdf = sum(w * (1 + math.erf((log_x - mu) / (LATENCY_SIGMA * math.sqrt(2)))) / 2 for w, mu in mixture)
        return cdf / total

    low = min(mu for _, mu in mixture) - 6 * LATENCY_SIGMA
    high = max(mu for _, mu in mixture) + 6 * LATENCY_SIGMA
    for _ in range(80):  # bisection on log(ms): far below a millisecond's precision
        middle = (low + high) / 2
        low, high = (middle, high) if below(middle) < fraction else (low, middle)
    return math.exp((low + high) / 2)


def log_query(world: World, state: dict[str, Any], url: str, method: str, flags: dict[str, str]) -> Any:
    """`az rest --method post --url <logs>/v1/workspaces/<id>/query --body {"query"}`: the answer."""
    if flags.get("--resource") != LOGS_API:
        raise AzFailure(
            "Can't derive appropriate Azure AD resource from --url to acquire an access token.", 1
        )
    matched = LOGS_URL.fullmatch(url)
    gateway = next(
        (g for g in gateways(state).values() if matched and g.get("workspace") == matched.group(1)), None
    )
    if gateway is None:
        raise AzFailure(
            f'Not Found({{"error": {{"code": "WorkspaceNotFoundError", "message": "{url}"}}}})', 1
        )
    if method != "post":
        raise AzFailure(f"(MethodNotAllowed) {method.upper()} {url}", 1)
    query = str(json.loads(flags.get("--body", "") or "{}").get("query", ""))
    asked = QUERY.fullmatch(query) or TOKENS_QUERY.fullmatch(query)
    if asked is None:
        raise AzFailure(
            'Bad Request({"error": {"code": "BadArgumentError", "message": "the simulated Log Analytics '
            "answers almgen's own gateway query only\"}})",
            1,
        )
    span = metrics.parse_time(asked["end"]) - metrics.parse_time(asked["start"])
    deployment = asked["deployment"]
    env = env_of_group(state, gateway["group"]) or gateway["env"]
    account = next((a for a in state["accounts"].values() if a["group"] == gateway["group"]), None)
    served = ((account or {}).get("deployments") or {}).get(deployment)
    minutes: list[metrics.Minute] = []
    if served is not None:
        model = str((served.get("tags") or {}).get("model", deployment))
        minutes = metrics.per_minute(
            world,
            state,
            env=env,
            region=gateway["location"],
            model=model,
            deployment=deployment,
            minutes=max(1, round(span / 60)),
            kind="foundation",
        )
    if asked.re is TOKENS_QUERY:
        return _tokens_answer(minutes)
    requests = round(sum(m.requests for m in minutes))
    errors = round(sum(m.errors for m in minutes))
    p95 = percentile([(m.requests, m.latency) for m in minutes if m.latency is not None], 0.95)
    columns = [
        {"name": "requests", "type": "long"},
        {"name": "errors", "type": "long"},
        {"name": "p95", "type": "real"},
    ]
    row = [requests, errors, "NaN" if p95 is None else round(p95, 1)]  # as Log Analytics writes NaN
    return {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}


def _tokens_answer(minutes: list[metrics.Minute]) -> dict[str, Any]:
    """The token query's answer: the answered requests of the window and their tokens."""
    answered = [(m.requests - m.errors, m.tokens) for m in minutes if m.requests > m.errors]
    requests = round(sum(count for count, _ in answered))
    prompt = round(sum(count * min(metrics.BASELINE_PROMPT_TOKENS, per) for count, per in answered))
    total = round(sum(count * per for count, per in answered))
    names = ("requests", "promptTokens", "completionTokens", "totalTokens")
    columns = [{"name": name, "type": "long"} for name in names]
    row = [requests, prompt, total - prompt, total] if requests else [0, None, None, None]  # sum() of no rows
    return {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}
