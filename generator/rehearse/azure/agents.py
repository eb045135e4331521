"""The Foundry Agent Service of a project, as the simulated Azure answers it (agents.py).

`https://<account>.services.ai.azure.com/api/projects/agents/agents/<name>[/versions[/<version>]]`
with `api-version=v1` (Azure/azure-rest-api-specs `specification/ai-foundry/data-plane/Foundry`,
the GA surface): list, create and delete the immutable, numbered versions of an agent, and get an
agent (`versions.latest`). A version binds a model deployment of the account, or
`<connection>/<model>`: a model behind the AI gateway through the project's ApiManagement connection
(gateway.py `through`; a connection that does not exist, or a model the gateway does not front, is
refused), whose calls then land on the members of the model's pool (`shares`); a tool needs its
resources (`code_interpreter` a container, `azure_ai_search` one index through a project
connection, `file_search` vector stores), as the service refuses it otherwise. The fault
`ENV:agents:fail` refuses the writes of ENV's accounts (403). The account's `agents` holds
`{name: {"versions": [version, ...]}}`, oldest first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generator.rehearse.azure import gateway, metrics
from generator.rehearse.azure.store import AzFailure, env_of_group
from generator.rehearse.world import World

PREFIX = "/api/projects/agents/agents"
API_VERSIONS = ("v1",)


def is_agents(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _error(status: str, code: str, message: str) -> AzFailure:
    return AzFailure(f"{status}({json.dumps({'error': {'code': code, 'message': message}})})", 1)


def _tool_problem(tool: Any) -> str | None:
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        return "a tool must be an object with a type"
    kind = tool["type"]
    if kind == "code_interpreter" and not tool.get("container"):
        return "code_interpreter needs a container"
    if kind == "file_search" and not tool.get("vector_store_ids"):
        return "file_search needs vector_store_ids"
    if kind == "azure_ai_search":
        indexes = (tool.get("azure_ai_search") or {}).get("indexes")
        if not isinstance(indexes, list) or len(indexes) != 1:
            return "azure_ai_search needs exactly one index"
        if not indexes[0].get("project_connection_id") or not indexes[0].get("index_name"):
            return "an azure_ai_search index needs project_connection_id and index_name"
    return None


def _create(
    world: World, state: dict[str, Any], account: dict[str, Any], name: str, body: dict[str, Any]
) -> dict[str, Any]:
    definition = body.get("definition")
    if not isinstance(definition, dict) or definition.get("kind") != "prompt":
        raise _error("Bad Request", "invalid_request", "definition.kind must be 'prompt'")
    model = str(definition.get("model") or "")
    if "/" in model:  # `<connection>/<model>`: a model behind a gateway the project is connected to
        if gateway.through(state, account, model) is None:
            connection = model.partition("/")[0]
            raise _error(
                "Bad Request", "invalid_request", f"Connection '{connection}' not found for model {model!r}"
            )
    elif model not in account["deployments"]:
        raise _error("Bad Request", "invalid_request", f"model deployment {model!r} not found")
    for tool in definition.get("tools") or []:
        problem = _tool_problem(tool)
        if problem:
            raise _error("Bad Request", "invalid_request", problem)
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise _error("Bad Request", "invalid_request", "metadata: at most 16 string pairs")
    agent = account.setdefault("agents", {}).setdefault(name, {"versions": [], "next": 1})
    number = str(agent["next"])
    agent["next"] += 1
    tags = {str(k): str(v) for k, v in metadata.items()}
    version = {
        "object": "agent.version",
        "id": f"{name}:{number}",
        "name": name,
        "version": number,
        "description": str(body.get("description") or ""),
        "metadata": tags,
        "created_at": int(world.now()),
        "definition": definition,
    }
    agent["versions"].append(version)
    world.record(
        "azure-agent-version",
        account=account["name"],
        agent=name,
        version=number,
        semver=tags.get("version"),
    )
    return version


def rest(world: World, state: dict[str, Any], account: dict[str, Any], url: str, flags: Any) -> Any:
    method = str(flags.get("--method", "get")).lower()
    path, _, query = url.partition("?")
    path = "/" + path.removeprefix("https://").partition("/")[2]
    params = dict(part.partition("=")[::2] for part in query.split("&") if part)
    if params.get("api-version") not in API_VERSIONS:
        raise _error("Bad Request", "invalid_api_version", f"api-version {params.get('api-version')!r}")
    parts = [p for p in path.removeprefix(PREFIX).split("/") if p]
    agents = account.setdefault("agents", {})
    if not parts or len(parts) > 3 or (len(parts) >= 2 and parts[1] != "versions"):
        raise _error("Not Found", "not_found", path)
    name = parts[0]
    agent = agents.get(name)
    if method in ("post", "delete"):
        env = env_of_group(state, account["group"])
        if any(f.get("kind") == "agents" and f.get("env") == env for f in world.faults()):
            message = "The principal lacks the required data action to perform this operation."
            raise _error("Forbidden", "PermissionDenied", message)
    if method == "post" and len(parts) == 2:
        raw = flags.get("--body", "") or "{}"
        body = json.loads(Path(raw[1:]).read_text("utf-8") if raw.startswith("@") else raw)
        return _create(world, state, account, name, body)
    if agent is None:
        raise _error("Not Found", "not_found", f"agent {name} not found")
    versions = agent["versions"]
    if method == "get" and len(parts) == 1:
        return {"object": "agent", "id": name, "name": name, "versions": {"latest": versions[-1]}}
    if method == "get" and len(parts) == 2:
        data = list(reversed(versions)) if params.get("order", "desc") == "desc" else list(versions)
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}
    found = next((v for v in versions if len(parts) == 3 and v["version"] == parts[2]), None)
    if found is None:
        raise _error("Not Found", "not_found", f"agent {name} has no version {parts[-1]}")
    if method == "get":
        return found
    if method == "delete":
        versions.remove(found)
        if not versions:
            del agents[name]
        world.record(
            "azure-agent-version-deleted", account=account["name"], agent=name, version=found["version"]
        )
        return {"object": "agent.version.deleted", "name": name, "version": found["version"], "deleted": True}
    raise AzFailure(f"(MethodNotAllowed) {method.upper()} {path}", 1)


def live_pointer(state: dict[str, Any], account: dict[str, Any], agent: str) -> str | None:
    """The version App Configuration names live for AGENT in the account's environment and region."""
    env = env_of_group(state, account["group"])
    for store in state["stores"].values():
        if store["location"] != account["location"]:
            continue
        if (env_of_group(state, store["group"]) or store.get("env", "")) != env:
            continue
        item = store["kv"].get(f"almgen:agent:{agent}\u0000{env}")
        return str(item["value"]) if item and item.get("value") else None
    return None


def shares(
    state: dict[str, Any], account: dict[str, Any], binding: str, minute: float | None = None
) -> dict[str, int]:
    """Where an agent's calls land, per model deployment (percent), now or at MINUTE: a binding
    `<connection>/<model>` goes through the connection's gateway, so its calls take the weights of
    the model's pool there (canary, swap, as the traffic history records them); a deployment
    binding takes all of them to that deployment."""
    reached = gateway.through(state, account, binding) if "/" in binding else None
    if reached is None:
        return {binding: 100} if binding else {}
    found, model = reached
    if minute is None:
        return dict(found["pools"][model])
    env = env_of_group(state, account["group"]) or ""
    return dict(metrics.shares_at(state, env, account["location"], model, minute))


def region_agents(state: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
    """Every agent of an account: the live version (its semver, model binding, and the deployments
    its calls land on) and every version's semver."""
    out = {}
    for name, agent in sorted((account.get("agents") or {}).items()):
        versions = {v["version"]: (v.get("metadata") or {}).get("version") for v in agent["versions"]}
        live = live_pointer(state, account, name)
        serving = next((v for v in agent["versions"] if v["version"] == live), None)
        model = (serving.get("definition") or {}).get("model") if serving else None
        out[name] = {
            "live": live,
            "version": (serving.get("metadata") or {}).get("version") if serving else None,
            "model": model,
            "shares": shares(state, account, str(model)) if model else {},
            "versions": versions,
        }
    return out
