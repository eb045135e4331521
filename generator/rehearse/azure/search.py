"""Azure AI Search, simulated: the services search.bicep creates and their data plane (`az rest`).

State: `state["search"][NAME]` = {"name", "group", "location", "endpoint", "datasources", "indexes",
"skillsets", "indexers", "aliases", "documents"}. `deploy` is what search.bicep does for one stack;
`rest` answers `az rest --resource https://search.azure.com --url https://<name>.search.windows.net/...`
as the REST API does: PUT creates or replaces, GET reads (404 `Not Found({...})` when absent), DELETE
removes; `GET /indexes|/indexers?$select=...` lists. A new indexer runs at once: its status is
`inProgress` for INDEXING_MINUTES of simulated time, then `success` with one chunk per
CHUNKS_PER_VERSION (or `persistentFailure` under a `search-indexer` fault of the environment). An index
an alias serves cannot be deleted (Azure refuses it too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from generator.rehearse.azure.store import AzFailure, env_of_group, unique_string
from generator.rehearse.world import World

RESOURCE = "https://search.azure.com"
HOST = ".search.windows.net"
INDEXING_MINUTES = 4.0
CHUNKS = 42  # the chunks an indexer run projects into its index
KINDS = ("datasources", "indexes", "skillsets", "indexers", "aliases")


DOCUMENTS_GROUP = "rg-documents"  # where the user's own document storage stands, outside almgen's groups


def storage_account(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az storage account show`: almgen's record stores, and any other name as the user's document
    storage (retrieval.source.path names an account that exists before almgen, like a data asset)."""
    name = flags["--name"]
    account = (state.get("storage") or {}).get(name)
    group = account["group"] if account else DOCUMENTS_GROUP
    scope = f"/subscriptions/{state['subscription']}/resourceGroups/{group}"
    return {"name": name, "id": f"{scope}/providers/Microsoft.Storage/storageAccounts/{name}"}


def is_search(url: str) -> bool:
    return url.removeprefix("https://").partition("/")[0].endswith(HOST)


def deploy(
    state: dict[str, Any],
    *,
    group: str,
    group_id: str,
    service: str,
    suffix: str,
    location: str,
    account: str = "",
) -> dict[str, str]:
    """search.bicep: the service (data kept across deployments); its outputs."""
    unique = unique_string(state["subscription"], group_id, service, "search")[:6]
    name = f"srch{(service + suffix).replace('-', '')[:40]}{unique}"
    endpoint = f"https://{name}{HOST}"
    services = state.setdefault("search", {})
    item = services.setdefault(name, {kind: {} for kind in KINDS})
    item.update({"name": name, "group": group, "location": location, "endpoint": endpoint})
    project = f"{group_id}/providers/Microsoft.CognitiveServices/accounts/{account}/projects/agents"
    return {
        "searchName": name,
        "searchEndpoint": endpoint,
        "searchConnection": f"{project}/connections/search" if account else "",
    }


def _error(status: str, code: str, message: str) -> AzFailure:
    return AzFailure(f"{status}({json.dumps({'error': {'code': code, 'message': message}})})", 1)


def _body(flags: dict[str, str]) -> dict[str, Any]:
    raw = flags.get("--body", "") or "{}"
    document = json.loads(Path(raw[1:]).read_text("utf-8") if raw.startswith("@") else raw)
    if not isinstance(document, dict):
        raise _error("Bad Request", "InvalidRequestParameter", "the body must be a JSON object")
    return document


def _status(world: World | None, env: str, indexer: dict[str, Any]) -> dict[str, Any]:
    now = world.minutes() if world is not None else float(indexer["started"]) + INDEXING_MINUTES
    if now - float(indexer["started"]) < INDEXING_MINUTES:
        return {"status": "inProgress"}
    failing = world is not None and any(
        f.get("kind") == "search-indexer" and f.get("env") in (env, None) for f in world.faults()
    )
    if failing:
        return {"status": "persistentFailure", "errorMessage": "Could not read the documents (403)."}
    return {"status": "success", "itemsProcessed": CHUNKS, "itemsFailed": 0}


def rest(world: World | None, state: dict[str, Any], method: str, url: str, flags: dict[str, str]) -> Any:
    """One data-plane request; its JSON answer."""
    if flags.get("--resource") != RESOURCE:
        raise AzFailure(
            "Can't derive appropriate Azure AD resource from --url to acquire an access token.", 1
        )
    host, _, tail = url.removeprefix("https://").partition("/")
    path, _, query = tail.partition("?")
    service = (state.get("search") or {}).get(host.removesuffix(HOST))
    if service is None:
        raise AzFailure(
            f"Failed to establish a new connection: [Errno -2] Name or service not known: {host}", 1
        )
    env = env_of_group(state, service["group"])
    if "api-version" not in parse_qs(query):
        raise _error(
            "Bad Request", "MissingApiVersionParameter", "The api-version query parameter is required."
        )
    parts = path.strip("/").split("/")
    kind = parts[0]
    if kind not in KINDS:
        raise _error("Not Found", "NotFound", f"/{path}")
    items: dict[str, Any] = service[kind]
    if len(parts) == 1:
        if method != "get":
            raise _error("Method Not Allowed", "MethodNotAllowed", method.upper())
        return {"value": [{"name": n, "description": i.get("description")} for n, i in sorted(items.items())]}
    name = parts[1]
    if kind == "indexers" and parts[2:] == ["status"]:
        if name not in items:
            raise _error("Not Found", "ResourceNotFound", f"No indexer with the name '{name}' was found.")
        return {"status": "running", "lastResult": _status(world, env, items[name])}
    if method == "get":
        if name not in items:
            raise _error("Not Found", "ResourceNotFound", f"No {kind[:-1]} with the name '{name}' was found.")
        return items[name]
    if method == "delete":
        if kind == "indexes" and any(name in a.get("indexes", []) for a in service["aliases"].values()):
            raise _error("Bad Request", "CannotDeleteIndex", f"The index '{name}' is mapped to an alias.")
        items.pop(name, None)
        return None
    if method != "put":
        raise _error("Method Not Allowed", "MethodNotAllowed", method.upper())
    return _put(world, service, kind, name, _body(flags))


def _put(world: World | None, service: dict[str, Any], kind: str, name: str, body: dict[str, Any]) -> Any:
    if body.get("name") != name:
        raise _error("Bad Request", "InvalidRequestParameter", "The name in the body differs from the URL.")
    if kind == "aliases":
        targets = body.get("indexes") or []
        if len(targets) != 1 or targets[0] not in service["indexes"]:
            raise _error(
                "Bad Request", "InvalidRequestParameter", f"An alias maps to one existing index: {targets}"
            )
        if world is not None:
            world.record("azure-search-alias", service=service["name"], alias=name, index=targets[0])
    if kind == "indexers":
        for key, needed in (
            ("dataSourceName", "datasources"),
            ("targetIndexName", "indexes"),
            ("skillsetName", "skillsets"),
        ):
            if body.get(key) not in service[needed]:
                raise _error(
                    "Bad Request", "InvalidRequestParameter", f"{key} {body.get(key)!r} does not exist."
                )
        body = body | {"started": world.minutes() if world is not None else 0.0}
        if world is not None:
            world.record("azure-search-index", service=service["name"], index=body["targetIndexName"])
    service[kind][name] = body
    return body
