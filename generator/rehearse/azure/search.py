"""Azure AI Search, simulated: the services search.bicep creates and their data plane (`az rest`).

State: `state["search"][NAME]` = {"name", "group", "location", "endpoint", "identities", "datasources",
"indexes", "skillsets", "indexers", "aliases", "documents"}. `deploy` is what search.bicep does for one stack;
`rest` answers `az rest --resource https://search.azure.com --url https://<name>.search.windows.net/...`
as the REST API does: PUT creates or replaces, GET reads (404 `Not Found({...})` when absent), DELETE
removes; `GET /indexes|/indexers?$select=...` lists. A new indexer runs at once: its status is
`inProgress` for INDEXING_MINUTES of simulated time, then `success` with one chunk per
CHUNKS_PER_VERSION, or `persistentFailure` under a `search-indexer` fault of the environment or when
the data source's identity cannot read the documents (not attached to the service, or without Storage
Blob Data Reader on the account: `almgen setup` grants it, rehearse/azure/setup.py seeds that). An index
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
USER_IDENTITY = "#Microsoft.Azure.Search.DataUserAssignedIdentity"
IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # Storage Blob Data Reader
CHUNKS = 42  # the chunks an indexer run projects into its index
KINDS = ("datasources", "indexes", "skillsets", "indexers", "aliases")


DOCUMENTS_GROUP = "rg-documents"  # where the user's own document storage stands, outside almgen's groups


def storage_account(world: World | None, state: dict[str, Any], flags: dict[str, str]) -> Any:
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
    documents_identity: str = "",
) -> dict[str, str]:
    """search.bicep: the service (data kept across deployments), with the identity it reads the
    documents as attached; its outputs."""
    unique = unique_string(state["subscription"], group_id, service, "search")[:6]
    name = f"srch{(service + suffix).replace('-', '')[:40]}{unique}"
    endpoint = f"https://{name}{HOST}"
    services = state.setdefault("search", {})
    item = services.setdefault(name, {kind: {} for kind in KINDS})
    item.update({"name": name, "group": group, "location": location, "endpoint": endpoint})
    item["identities"] = [documents_identity] if documents_identity else []
    project = f"{group_id}/providers/Microsoft.CognitiveServices/accounts/{account}/projects/agents"
    return {
        "searchName": name,
        "searchEndpoint": endpoint,
        "searchConnection": f"{project}/connections/search" if account else "",
        "searchDocumentsIdentity": documents_identity,
    }


def existing_identity(state: dict[str, Any], params: dict[str, Any]) -> str:
    """search.bicep's `existing` documents reader: its resource ID, or the deployment fails as in Azure
    (`almgen setup` creates it; see rehearse/azure/setup.py)."""
    name, group = str(params["documentsIdentity"]), str(params["documentsIdentityGroup"])
    found = f"/subscriptions/{state['subscription']}/resourceGroups/{group}/providers/{IDENTITY_TYPE}/{name}"
    if found not in (state.get("identities") or {}):
        raise AzFailure(
            f'{{"code": "ResourceNotFound", "message": "The Resource \'{IDENTITY_TYPE}/{name}\' under '
            f"resource group '{group}' was not found. For more details please go to "
            f'https://aka.ms/ARMResourceNotFoundFix"}}',
            1,
        )
    return found


def can_read_documents(state: dict[str, Any], service: dict[str, Any], source: dict[str, Any]) -> str:
    """Why the service cannot read a data source's documents ('' when it can): the source must name a
    user-assigned identity attached to the service that holds Storage Blob Data Reader on its account."""
    identity = source.get("identity") or {}
    if identity.get("@odata.type") != USER_IDENTITY:
        return (
            "the data source names no user-assigned identity (the service's own has no role on the account)"
        )
    resource = str(identity.get("userAssignedIdentity") or "")
    if resource not in service.get("identities", []):
        return f"the identity {resource} is not assigned to the search service"
    principal = ((state.get("identities") or {}).get(resource) or {}).get("principalId")
    scope = str((source.get("credentials") or {}).get("connectionString") or "")
    scope = scope.removeprefix("ResourceId=").rstrip(";")
    granted = any(
        role.get("principalId") == principal
        and role.get("roleDefinitionName") in (BLOB_READER, "Storage Blob Data Reader")
        and scope.lower().startswith(str(role.get("scope") or "?").lower())
        for role in state.get("roles") or []
    )
    return "" if granted else f"{resource} holds no Storage Blob Data Reader on {scope}"


def _error(status: str, code: str, message: str) -> AzFailure:
    return AzFailure(f"{status}({json.dumps({'error': {'code': code, 'message': message}})})", 1)


def _body(flags: dict[str, str]) -> dict[str, Any]:
    raw = flags.get("--body", "") or "{}"
    document = json.loads(Path(raw[1:]).read_text("utf-8") if raw.startswith("@") else raw)
    if not isinstance(document, dict):
        raise _error("Bad Request", "InvalidRequestParameter", "the body must be a JSON object")
    return document


def _status(
    world: World | None, state: dict[str, Any], service: dict[str, Any], env: str, indexer: dict[str, Any]
) -> dict[str, Any]:
    now = world.minutes() if world is not None else float(indexer["started"]) + INDEXING_MINUTES
    if now - float(indexer["started"]) < INDEXING_MINUTES:
        return {"status": "inProgress"}
    failing = world is not None and any(
        f.get("kind") == "search-indexer" and f.get("env") in (env, None) for f in world.faults()
    )
    if failing:
        return {"status": "persistentFailure", "errorMessage": "Could not read the documents (403)."}
    refused = can_read_documents(state, service, service["datasources"].get(indexer["dataSourceName"], {}))
    if refused:
        return {
            "status": "persistentFailure",
            "errorMessage": f"Could not read the documents (403): {refused}",
        }
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
        return {"status": "running", "lastResult": _status(world, state, service, env, items[name])}
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
