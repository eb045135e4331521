"""The `az` stand-in: `python -m generator.rehearse.azure ARGS` answers as the Azure CLI would.

State lives in `<ALMGEN_SIM_DIR>/azure.json` (under a file lock); every call is appended to
`<sim>/az-calls.jsonl` as {"argv", "minute"}. Output: `-o json` (default), `tsv`, `none`, and a
`--query` subset (dotted paths, `[N]`, `[]`). Errors go to stderr as `ERROR: ...` with az's exit
codes: 1 failure, 2 bad command line, 3 resource not found.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from generator.rehearse.azure import agents, collector, gateway, insights, metrics, openai, search
from generator.rehearse.azure import commands as c
from generator.rehearse.azure.store import AzFailure, env_of_group, locked
from generator.rehearse.world import World, from_environ

GLOBAL = {"--output", "--query", "--only-show-errors", "--debug", "--verbose", "--subscription", "--yes"}
SWITCHES = {
    "--as-user",
    "--full-uri",
    "--yes",
    "--only-show-errors",
    "--debug",
    "--verbose",
    "--service-principal",
    "--no-wait",
    "--allow-no-subscriptions",
    "--stdout",
    "--all",
    "--include-archived",
    "--no-progress",
}
MULTI = {"--parameters", "--set", "--tags", "--exclude-change-types"}  # take several values


def _none(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return None


def login(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    state["login"] = {"at": world.now(), "user": flags.get("--username", "user")}
    return [{"id": state["subscription"], "tenantId": state["tenant"], "isDefault": True, "state": "Enabled"}]


def account_show(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return {
        "id": state["subscription"],
        "tenantId": state["tenant"],
        "name": "rehearsal",
        "isDefault": True,
        "user": {"name": (state["login"] or {}).get("user", ""), "type": "servicePrincipal"},
    }


def access_token(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return {"accessToken": "sim-token", "expiresOn": "2099-01-01 00:00:00", "tokenType": "Bearer"}


def group_show(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    name = c._need(flags, "--name")
    if name not in state["groups"]:
        raise AzFailure(f"(ResourceGroupNotFound) Resource group '{name}' could not be found.", 3)
    return {"name": name, **state["groups"][name]}


def group_exists(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return c._need(flags, "--name") in state["groups"]


def lock_create(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    name = c._need(flags, "--name")
    item = {"name": name, "level": c._need(flags, "--lock-type"), "group": flags.get("--resource-group")}
    state["locks"][f"{flags.get('--resource-group')}/{name}"] = item
    return item


def lock_list(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return list(state["locks"].values())


def lock_delete(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    state["locks"].pop(f"{flags.get('--resource-group')}/{flags.get('--name')}", None)


def role_create(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    item = {
        "principalId": flags.get("--assignee-object-id") or flags.get("--assignee"),
        "roleDefinitionName": c._need(flags, "--role"),
        "scope": c._need(flags, "--scope"),
    }
    if item not in state["roles"]:
        state["roles"].append(item)
    return item


def role_list(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    return state["roles"]


def monitor_metrics(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    resource = c._need(flags, "--resource")
    for account in state["accounts"].values():
        if account["id"].lower() == resource.lower():
            models = {n: d["tags"].get("model", n) for n, d in account["deployments"].items()}
            target = {
                "id": account["id"],
                "kind": "foundation",
                "env": env_of_group(state, account["group"]),
                "region": account["location"],
                "models": models,
            }
            break
    else:
        for ws in state["workspaces"].values():
            for ep in ws["endpoints"].values():
                if ep["id"].lower() == resource.lower():
                    target = {
                        "id": ep["id"],
                        "kind": "ml",
                        "env": env_of_group(state, ws["group"]),
                        "region": ws["location"],
                        "models": {d: ep["model"] for d in ep["deployments"]},
                    }
                    break
            else:
                continue
            break
        else:
            raise AzFailure(f"(ResourceNotFound) The Resource '{resource}' was not found.", 3)
    try:
        return metrics.metrics_list(world, state, target, flags)
    except metrics.UnsupportedAggregation as exc:
        raise AzFailure(str(exc), 1) from exc
    except ValueError as exc:
        raise AzFailure(
            f"(BadRequest) Failed to find metric configuration for provider, metric name {exc}", 1
        ) from exc


ARM_URL = "https://management.azure.com"
DEPLOYMENT_PATCH_APIS = ("2023-10-01-preview", "2024-04-01-preview", "2024-06-01-preview", "2024-10-01")


def arm_patch(world: World, state: dict[str, Any], url: str, method: str, flags: c.Flags) -> Any:
    """`PATCH <account>/deployments/<name>?api-version=...` (Deployments - Update): sku and tags."""
    path, _, query = url.removeprefix(ARM_URL).partition("?")
    account_id, _, name = path.rpartition("/deployments/")
    account = state["accounts"].get(account_id)
    deployment = (account or {}).get("deployments", {}).get(name)
    if deployment is None:
        raise AzFailure(f'Not Found({{"error": {{"code": "DeploymentNotFound", "message": "{path}"}}}})', 1)
    if method != "patch":
        raise AzFailure(f"(MethodNotAllowed) {method.upper()} {path}", 1)
    api = dict(part.partition("=")[::2] for part in query.split("&") if part).get("api-version")
    if api not in DEPLOYMENT_PATCH_APIS:
        raise AzFailure(f"(NoRegisteredProviderFound) api-version {api!r} for deployments", 1)
    body = json.loads(flags.get("--body", "") or "{}")
    unknown = set(body) - {"sku", "tags"}
    if unknown:
        raise AzFailure(
            f"(BadRequest) a deployment PATCH updates sku and tags only, not {sorted(unknown)}", 1
        )
    if "sku" in body:
        deployment["sku"] = {**deployment["sku"], **body["sku"]}
        world.record(
            "azure-capacity",
            env=env_of_group(state, account["group"]),
            region=account["location"],
            deployment=name,
            capacity=deployment["sku"].get("capacity"),
        )
    deployment["tags"] = {**(deployment.get("tags") or {}), **(body.get("tags") or {})}
    return deployment


def rest(world: World, state: dict[str, Any], flags: c.Flags) -> Any:
    """`az rest`: the gateway, ARM deployment PATCHes, Azure AI Search and the Foundry Agent Service.

    Agents: `https://<account>.services.ai.azure.com/api/projects/agents/agents/...` (`agents.py`);
    the account must exist (a deployment made it). Failures read as az rest's do: `Not Found({...})`.
    """
    url, method = c._need(flags, "--url", "--uri"), flags.get("--method", "get").lower()
    if gateway.is_log_query(url):
        return gateway.log_query(world, state, url, method, flags)
    if url.startswith(ARM_URL + "/") and gateway.is_backend(url):
        return gateway.backend(world, state, url, method, flags)
    if url.startswith(ARM_URL + "/"):
        return arm_patch(world, state, url, method, flags)
    if search.is_search(url):
        return search.rest(world, state, method, url, flags)
    if openai.is_openai(url):
        return openai.rest(world, state, method, url, flags)
    if insights.is_ingestion(url):
        return insights.track(world, state, method, url, flags)
    if flags.get("--resource") != "https://ai.azure.com":
        raise AzFailure(
            "Can't derive appropriate Azure AD resource from --url to acquire an access token.",
            1,
        )
    host, _, tail = url.removeprefix("https://").partition("/")
    path = "/" + tail.partition("?")[0]
    name = host.removesuffix(".services.ai.azure.com")
    account = next((a for a in state["accounts"].values() if a["name"] == name and name != host), None)
    if account is None or not agents.is_agents(path):
        raise AzFailure(f'Not Found({{"error": {{"code": "NotFound", "message": "{url}"}}}})', 1)
    return agents.rest(world, state, account, url, flags)


ML_MODEL_SCOPE = ("--resource-group", "--workspace-name", "--registry-name")  # a workspace, or a registry

COMMANDS: dict[tuple[str, ...], tuple[c.Handler, set[str]]] = {
    ("login",): (
        login,
        {
            "--service-principal",
            "--username",
            "--tenant",
            "--federated-token",
            "--password",
            "--allow-no-subscriptions",
            "--identity",
        },
    ),
    ("account", "set"): (account_show, set()),
    ("account", "show"): (account_show, set()),
    ("account", "get-access-token"): (access_token, {"--resource", "--scope"}),
    ("bicep", "install"): (_none, set()),
    ("bicep", "build"): (_none, {"--file", "--stdout"}),
    ("bicep", "build-params"): (_none, {"--file", "--stdout"}),
    ("bicep", "lint"): (_none, {"--file"}),
    ("group", "show"): (group_show, {"--name"}),
    ("group", "exists"): (group_exists, {"--name"}),
    ("deployment", "sub", "create"): (
        c.deployment_create,
        {"--name", "--location", "--template-file", "--parameters"},
    ),
    ("deployment", "sub", "what-if"): (
        c.deployment_what_if,
        {
            "--name",
            "--location",
            "--template-file",
            "--parameters",
            "--result-format",
            "--no-pretty-print",
            "--exclude-change-types",
        },
    ),
    ("deployment", "sub", "show"): (c.deployment_show, {"--name"}),
    ("cognitiveservices", "account", "show"): (c.account_show, {"--name", "--resource-group"}),
    ("cognitiveservices", "account", "deployment", "list"): (
        c.cs_deployment_list,
        {"--name", "--resource-group"},
    ),
    ("cognitiveservices", "account", "deployment", "show"): (
        c.cs_deployment_show,
        {"--name", "--resource-group", "--deployment-name"},
    ),
    ("cognitiveservices", "account", "deployment", "create"): (
        c.cs_deployment_create,
        {
            "--name",
            "--resource-group",
            "--deployment-name",
            "--model-format",
            "--model-name",
            "--model-version",
            "--sku-name",
            "--sku",
            "--sku-capacity",
            "--capacity",
        },
    ),
    ("cognitiveservices", "account", "deployment", "delete"): (
        c.cs_deployment_delete,
        {"--name", "--resource-group", "--deployment-name"},
    ),
    ("cognitiveservices", "model", "list"): (c.cs_model_list, {"--location"}),
    ("cognitiveservices", "usage", "list"): (c.cs_usage_list, {"--location"}),
    ("storage", "blob", "upload"): (
        c.blob_upload,
        {
            "--account-name",
            "--container-name",
            "--name",
            "--file",
            "--auth-mode",
            "--overwrite",
            "--no-progress",
        },
    ),
    ("storage", "account", "show"): (search.storage_account, {"--name", "--resource-group"}),
    ("storage", "blob", "list"): (
        c.blob_list,
        {"--account-name", "--container-name", "--prefix", "--auth-mode", "--num-results"},
    ),
    ("storage", "blob", "delete"): (
        c.blob_delete,
        {"--account-name", "--container-name", "--name", "--auth-mode", "--delete-snapshots"},
    ),
    ("storage", "blob", "download"): (
        c.blob_download,
        {"--account-name", "--container-name", "--name", "--file", "--auth-mode", "--no-progress"},
    ),
    ("storage", "blob", "generate-sas"): (
        openai.generate_sas,
        {"--account-name", "--container-name", "--name", "--permissions", "--expiry", "--auth-mode"}
        | {"--as-user", "--full-uri"},
    ),
    ("appconfig", "kv", "list"): (
        c.kv_list,
        {"--endpoint", "--name", "--auth-mode", "--key", "--label", "--all"},
    ),
    ("appconfig", "kv", "show"): (c.kv_show, {"--endpoint", "--name", "--auth-mode", "--key", "--label"}),
    ("appconfig", "kv", "set"): (
        c.kv_set,
        {"--endpoint", "--name", "--auth-mode", "--key", "--label", "--value", "--content-type", "--yes"},
    ),
    ("appconfig", "kv", "delete"): (
        c.kv_delete,
        {"--endpoint", "--name", "--auth-mode", "--key", "--label", "--yes"},
    ),
    ("ml", "online-endpoint", "show"): (c.endpoint_show, {"--name", "--resource-group", "--workspace-name"}),
    ("ml", "online-endpoint", "list"): (c.endpoint_list, {"--resource-group", "--workspace-name"}),
    ("ml", "online-endpoint", "update"): (
        c.endpoint_update,
        {"--name", "--resource-group", "--workspace-name", "--traffic", "--file", "--set"},
    ),
    ("ml", "online-deployment", "list"): (
        c.od_list,
        {"--endpoint-name", "--resource-group", "--workspace-name"},
    ),
    ("ml", "online-deployment", "show"): (
        c.od_show,
        {"--name", "--endpoint-name", "--resource-group", "--workspace-name"},
    ),
    ("ml", "online-deployment", "create"): (
        c.od_create,
        {
            "--name",
            "--endpoint-name",
            "--resource-group",
            "--workspace-name",
            "--file",
            "--set",
            "--all-traffic",
            "--no-wait",
            "--skip-script-validation",
        },
    ),
    ("ml", "online-deployment", "update"): (
        c.od_create,
        {
            "--name",
            "--endpoint-name",
            "--resource-group",
            "--workspace-name",
            "--file",
            "--set",
            "--no-wait",
            "--skip-script-validation",
        },
    ),
    ("ml", "online-deployment", "delete"): (
        c.od_delete,
        {"--name", "--endpoint-name", "--resource-group", "--workspace-name", "--yes"},
    ),
    ("ml", "data", "show"): (openai.data_show, {"--name", "--version", *ML_MODEL_SCOPE}),
    ("ml", "datastore", "show"): (
        collector.datastore_show,
        {"--name", "--resource-group", "--workspace-name"},
    ),
    ("ml", "model", "show"): (c.model_show, {"--name", "--version", *ML_MODEL_SCOPE}),
    ("ml", "model", "create"): (
        c.model_create,
        {
            "--name",
            "--version",
            *ML_MODEL_SCOPE,
            "--path",
            "--type",
            "--file",
            "--tags",
            "--description",
            "--set",
        },
    ),
    ("ml", "model", "update"): (
        c.model_update,
        {"--name", "--version", *ML_MODEL_SCOPE, "--set"},
    ),
    ("ml", "model", "archive"): (
        c.model_archive,
        {"--name", "--version", *ML_MODEL_SCOPE},
    ),
    ("ml", "model", "list"): (
        c.model_list,
        {"--name", *ML_MODEL_SCOPE, "--include-archived"},
    ),
    ("ml", "job", "create"): (
        c.job_create,
        {"--file", "--name", "--resource-group", "--workspace-name", "--set", "--stream"},
    ),
    ("ml", "job", "show"): (c.job_show, {"--name", "--resource-group", "--workspace-name"}),
    ("lock", "create"): (lock_create, {"--name", "--lock-type", "--resource-group", "--resource", "--notes"}),
    ("lock", "list"): (lock_list, {"--resource-group", "--resource"}),
    ("lock", "delete"): (lock_delete, {"--name", "--resource-group", "--ids"}),
    ("role", "assignment", "create"): (
        role_create,
        {"--assignee", "--assignee-object-id", "--assignee-principal-type", "--role", "--scope"},
    ),
    ("role", "assignment", "list"): (role_list, {"--assignee", "--scope", "--role", "--all"}),
    ("monitor", "metrics", "list"): (
        monitor_metrics,
        {
            "--resource",
            "--metric",
            "--metrics",
            "--aggregation",
            "--interval",
            "--start-time",
            "--end-time",
            "--offset",
            "--filter",
            "--dimension",
        },
    ),
    ("rest",): (
        rest,
        {"--method", "--url", "--uri", "--body", "--headers", "--resource", "--uri-parameters"},
    ),
}
# What a read-only identity (`state["readOnlyClients"]`: the production evaluation's monitoring
# identity) may not do: ARM writes. Data-plane calls (`rest` outside management.azure.com) and the
# CLI's own `account` commands pass.
WRITES = {"create", "delete", "set", "update", "archive", "upload", "what-if", "generate-sas"}


def _refuse_writes(state: dict[str, Any], command: tuple[str, ...], flags: c.Flags) -> None:
    client = (state.get("login") or {}).get("user")
    if client not in (state.get("readOnlyClients") or []):
        return
    url = flags.get("--url") or flags.get("--uri") or ""
    arm_write = command == ("rest",) and flags.get("--method", "get").lower() in {"put", "patch", "delete"}
    if (command[0] != "account" and command[-1] in WRITES) or (
        arm_write and url.startswith("https://management.azure.com")
    ):
        raise AzFailure(
            f"(AuthorizationFailed) The client '{client}' does not have authorization to perform "
            f"'{' '.join(command)}' over scope '/subscriptions/{state['subscription']}' or the scope is "
            "invalid.",
            1,
        )


NO_LOGIN = {
    ("login",),
    ("bicep", "install"),
    ("bicep", "build"),
    ("bicep", "build-params"),
    ("bicep", "lint"),
}


def parse(argv: list[str]) -> tuple[tuple[str, ...], c.Flags]:
    words: list[str] = []
    i = 0
    while i < len(argv) and not argv[i].startswith("-"):
        words.append(argv[i])
        i += 1
    command = next((k for k in sorted(COMMANDS, key=len, reverse=True) if tuple(words[: len(k)]) == k), None)
    if command is None or len(words) != len(command):
        raise AzFailure(f"'{' '.join(words)}' is misspelled or not recognized by the system.", 2)
    allowed = COMMANDS[command][1] | GLOBAL
    flags: c.Flags = {}
    unknown: list[str] = []
    while i < len(argv):
        raw = argv[i]
        name, has_eq, inline = raw.partition("=") if raw.startswith("--") else (raw, "", "")
        name = c.ALIASES.get(name, name)
        if not name.startswith("-") or name not in allowed:
            unknown.append(raw)
            i += 1
            continue
        if has_eq:
            value = inline
        elif name in SWITCHES or i + 1 >= len(argv) or argv[i + 1].startswith("--"):
            value = "true"
        else:
            value, i = argv[i + 1], i + 1
            while name in MULTI and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value, i = f"{value}\u0000{argv[i + 1]}", i + 1
        flags[name] = f"{flags[name]}\u0000{value}" if name in MULTI and name in flags else value
        i += 1
    if unknown:
        raise AzFailure(f"unrecognized arguments: {' '.join(unknown)}", 2)
    return command, flags


def query(value: Any, expression: str) -> Any:
    """The JMESPath subset callers use: `a.b`, `a[0]`, `a[].b`."""
    for part in expression.replace("[]", ".[]").split("."):
        if not part:
            continue
        if part == "[]":
            continue
        name, _, index = part.partition("[")
        if name:
            value = [v.get(name) for v in value] if isinstance(value, list) else (value or {}).get(name)
        if index:
            value = value[int(index.rstrip("]"))] if isinstance(value, list) else None
    return value


def render(value: Any, output: str) -> str:
    if output == "none" or value is None:
        return ""
    if output == "tsv":
        rows = value if isinstance(value, list) else [value]
        out = []
        for row in rows:
            cells = list(row.values()) if isinstance(row, dict) else [row]
            out.append(
                "\t".join(
                    "true" if x is True else "false" if x is False else str(x)
                    for x in cells
                    if not isinstance(x, (dict, list))
                )
            )
        return "\n".join(out) + "\n"
    return json.dumps(value, indent=2) + "\n"


def main(argv: list[str]) -> int:
    world = from_environ()
    with (world.root / "az-calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "minute": round(world.minutes(), 3)}) + "\n")
    try:
        command, flags = parse(argv)
        with locked(world.azure_file) as state:
            if command not in NO_LOGIN:
                login_at = (state.get("login") or {}).get("at")
                if login_at is None:
                    raise AzFailure("Please run 'az login' to setup account.", 1)
                if world.now() - float(login_at) > float(state["loginLifetimeMinutes"]) * 60:
                    raise AzFailure("AADSTS700024: Client assertion is not within its valid time range.", 1)
                _refuse_writes(state, command, flags)
            result = COMMANDS[command][0](world, state, flags)
        if "--query" in flags:
            result = query(result, flags["--query"])
        sys.stdout.write(render(result, flags.get("--output", "json")))
        return 0
    except AzFailure as failure:
        print(f"ERROR: {failure.message}", file=sys.stderr)
        return failure.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
