"""The `az` of a rehearsal: the commands almgen's pipelines and scripts run, against azure.json.

Every call is logged to `<world>/az-calls.jsonl` (the suite checks each line with the real Azure
CLI's parser). A command or flag this stand-in does not model fails as az does (exit 2), so a
pipeline cannot pass a rehearsal with a line Azure would refuse.

Logins live in the job's AZURE_CONFIG_DIR, as az keeps them: a new job must log in itself. An
Azure Resource Manager token lasts TOKEN_MINUTES from the login; a data-plane token (App
Configuration) is fetched on first use, which needs the federated assertion still valid
(ASSERTION_MINUTES after the login); past either, Azure answers AADSTS700024.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from generator.rehearse.azure import deploy, metrics
from generator.rehearse.azure.state import locked
from generator.rehearse.world import World, from_environ

TOKEN_MINUTES = 60.0
ASSERTION_MINUTES = 5.0
EXPIRED = (
    "ERROR: AADSTS700024: Client assertion is not within its valid time range. Current time: {now}, "
    "assertion valid from {start}, expiry time of assertion {end}."
)
GLOBAL_VALUE = {"--output", "-o", "--query", "--subscription"}
GLOBAL_FLAG = {"--only-show-errors", "--debug", "--verbose", "--yes", "-y"}


class AzError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


Args = dict[str, list[str]]
Handler = Callable[[World, Args], Any]
# command words -> (flags that take a value, flags that take none, handler, audience)
COMMANDS: dict[tuple[str, ...], tuple[set[str], set[str], Handler, str]] = {}


def command(words: str, values: str, flags: str = "", audience: str = "arm") -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[tuple(words.split())] = (set(values.split()), set(flags.split()), handler, audience)
        return handler

    return register


def one(args: Args, *names: str) -> str:
    for name in names:
        if name in args:
            return args[name][0]
    raise AzError(f"ERROR: the following arguments are required: {'/'.join(names)}", 2)


# ---- login --------------------------------------------------------------------------------------


def _login_file() -> Path:
    folder = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "almgen-rehearsal-login.json"


@command(
    "login", "--username -u --tenant -t --federated-token --password -p", "--service-principal", audience=""
)
def _login(world: World, args: Args) -> Any:
    one(args, "--federated-token", "--password", "-p")
    _login_file().write_text(json.dumps({"at": world.now(), "data": {}}), "utf-8")
    world.record("az-login", tenant=args.get("--tenant", [""])[0])
    return [{"cloudName": "AzureCloud", "isDefault": True, "state": "Enabled"}]


@command("account set", "--subscription -s --name -n")
def _account_set(world: World, args: Args) -> Any:
    return None


@command("account show", "")
def _account_show(world: World, args: Args) -> Any:
    return {"id": "00000000-0000-0000-0000-0000000000b1", "tenantId": "00000000-0000-0000-0000-0000000000e1"}


def _authorize(world: World, audience: str) -> None:
    path = _login_file()
    if not path.exists():
        raise AzError("ERROR: Please run 'az login' to setup account.")
    login = json.loads(path.read_text("utf-8"))
    now = world.now()
    first = login["data"].setdefault(audience, now) if audience != "arm" else login["at"]
    if audience != "arm" and first == now and now - login["at"] > ASSERTION_MINUTES * 60:
        raise AzError(_expired(login["at"], now))
    if now - first > TOKEN_MINUTES * 60:
        raise AzError(_expired(login["at"], now))
    path.write_text(json.dumps(login), "utf-8")


def _expired(at: float, now: float) -> str:
    def iso(value: float) -> str:
        return datetime.utcfromtimestamp(value).strftime("%m/%d/%Y %H:%M:%S")

    return EXPIRED.format(now=iso(now), start=iso(at), end=iso(at + ASSERTION_MINUTES * 60))


# ---- Bicep (local: no login) --------------------------------------------------------------------


@command("bicep install", "--version -v --target-platform -t", audience="")
def _bicep_install(world: World, args: Args) -> Any:
    return None


def _source(args: Args) -> Path:
    path = Path(one(args, "--file", "-f"))
    if not path.is_file():
        raise AzError(f"ERROR: {path}: no such file", 1)
    return path


@command("bicep build", "--file -f --outfile --outdir", "--stdout --no-restore", audience="")
def _bicep_build(world: World, args: Args) -> Any:
    _source(args)  # the rehearsal cannot compile Bicep: the suite parses it (pycep) and scans it (checkov)
    return {
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
    }


@command("bicep lint", "--file -f --diagnostics-format", "--no-restore", audience="")
def _bicep_lint(world: World, args: Args) -> Any:
    _source(args)
    return None


@command("bicep build-params", "--file -f --outfile", "--stdout --no-restore", audience="")
def _bicep_build_params(world: World, args: Args) -> Any:
    return {"parameters": {k: {"value": v} for k, v in deploy.parameters(str(_source(args))).items()}}


# ---- deployments ----------------------------------------------------------------------------------


@command("deployment sub show", "--name -n")
def _deployment_show(world: World, args: Args) -> Any:
    name = one(args, "--name", "-n")
    with locked(world) as state:
        found = state["deployments"].get(name)
    if found is None:
        raise AzError(f"ERROR: (DeploymentNotFound) Deployment '{name}' could not be found.", 3)
    return {"name": name, "properties": {"outputs": found["outputs"], "provisioningState": "Succeeded"}}


def _faults(world: World, kind: str, env: str) -> list[dict[str, Any]]:
    return [f for f in world.faults() if f.get("kind") == kind and f.get("env") == env]


@command(
    "deployment sub create",
    "--name -n --location -l --template-file -f --parameters -p --mode",
    "--no-prompt --no-wait",
)
def _deployment_create(world: World, args: Args) -> Any:
    name, file = one(args, "--name", "-n"), one(args, "--parameters", "-p")
    one(args, "--location", "-l")
    env = deploy.parameters(file)["environmentName"]
    slow = _faults(world, "slow-deploy", env)
    region = next((f["region"] for f in _faults(world, "region", env)), None)
    minutes = (
        float(slow[0]["minutes"])
        if slow
        else deploy.MINUTES_PER_STACK * len(deploy.parameters(file)["stacks"])
    )
    if not world.advance(minutes * 60):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    with locked(world) as state:
        try:
            outputs = deploy.create(state, name, file, region)
        except deploy.DeployFailed as exc:
            world.record("deploy", env=env, deployment=name, outcome="failure", reason=str(exc))
            raise AzError(f'ERROR: {{"code": "DeploymentFailed", "message": "{exc}"}}') from exc
    world.record("deploy", env=env, deployment=name, outcome="success")
    return {"name": name, "properties": {"outputs": outputs, "provisioningState": "Succeeded"}}


@command(
    "deployment sub what-if",
    "--name -n --location -l --template-file -f --parameters -p --exclude-change-types --result-format",
    "--no-pretty-print --no-prompt",
)
def _deployment_what_if(world: World, args: Args) -> Any:
    name, file = one(args, "--name", "-n"), one(args, "--parameters", "-p")
    with locked(world) as state:
        sys.stdout.write(deploy.what_if(state, name, file))
    return None


# ---- AI Services ----------------------------------------------------------------------------------


def _account(state: dict[str, Any], args: Args) -> dict[str, Any]:
    name = one(args, "--name", "-n")
    one(args, "--resource-group", "-g")
    if name not in state["accounts"]:
        raise AzError(
            f"ERROR: (ResourceNotFound) The Resource 'Microsoft.CognitiveServices/accounts/{name}' "
            "was not found.",
            3,
        )
    account: dict[str, Any] = state["accounts"][name]
    return account


@command("cognitiveservices account show", "--name -n --resource-group -g")
def _account_show_ai(world: World, args: Args) -> Any:
    with locked(world) as state:
        account = _account(state, args)
    name = one(args, "--name", "-n")
    return {
        "id": f"/subscriptions/sub/resourceGroups/{account['resourceGroup']}/providers/"
        f"Microsoft.CognitiveServices/accounts/{name}",
        "name": name,
    }


@command("cognitiveservices account deployment list", "--name -n --resource-group -g")
def _ai_deployments(world: World, args: Args) -> Any:
    with locked(world) as state:
        account = _account(state, args)
    return [
        {
            "name": name,
            "sku": {"name": d["sku"], "capacity": d["capacity"]},
            "properties": {"model": {"format": "OpenAI", "name": d["modelName"], "version": d["version"]}},
        }
        for name, d in sorted(account["deployments"].items())
    ]


# ---- App Configuration ------------------------------------------------------------------------------

_STORE = "--endpoint --auth-mode --label --key"


def _store(state: dict[str, Any], args: Args) -> dict[str, Any]:
    endpoint = one(args, "--endpoint")
    if one(args, "--auth-mode") != "login":
        raise AzError("ERROR: Local authentication is disabled for this store: use --auth-mode login.")
    if endpoint not in state["stores"]:
        raise AzError(f"ERROR: Failed to establish a connection to {endpoint}.")
    store: dict[str, Any] = state["stores"][endpoint]
    return store


@command("appconfig kv list", _STORE + " --all --top", audience="appconfig")
def _kv_list(world: World, args: Args) -> Any:
    label, pattern = args.get("--label", ["\u0000"])[0], args.get("--key", ["*"])[0]
    with locked(world) as state:
        store = _store(state, args)
    out = []
    for composite, item in sorted(store["keys"].items()):
        key, item_label = composite.split("\u0000")
        matches = key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern
        if matches and label in ("*", item_label):
            out.append(
                {"key": key, "label": item_label, "value": item["value"], "contentType": item["contentType"]}
            )
    return out


@command("appconfig kv set", _STORE + " --value --content-type", audience="appconfig")
def _kv_set(world: World, args: Args) -> Any:
    key, label, value = one(args, "--key"), args.get("--label", [""])[0], one(args, "--value")
    with locked(world) as state:
        store = _store(state, args)
        _count_step(state, store, key, value)
        store["keys"][f"{key}\u0000{label}"] = {
            "value": value,
            "contentType": args.get("--content-type", [""])[0],
        }
    world.record("route", env=store["environment"], region=store["region"], key=key, value=value)
    return {"key": key, "label": label, "value": value}


def _count_step(state: dict[str, Any], store: dict[str, Any], key: str, value: str) -> None:
    """A traffic move towards a new deployment counts as a rollout step (faults name steps)."""
    env, region = store["environment"], store["region"]
    if key.startswith("almgen:canary:"):
        model = key.removeprefix("almgen:canary:")
        canary = json.loads(value or "{}")
        to, percent = canary.get("deployment"), int(canary.get("percent") or 0)
    elif key.startswith("almgen:active:"):
        model, to, percent = key.removeprefix("almgen:active:"), value, 100
    else:
        return
    active = store["keys"].get(f"almgen:active:{model}\u0000{env}", {}).get("value")
    rollout = state["rollouts"].setdefault(f"{env}/{region}/{model}", {"steps": 0, "last": 0})
    if to and to != active and percent > rollout["last"]:
        rollout.update(candidate=to, last=percent, steps=rollout["steps"] + 1)
    elif to and to == rollout.get("candidate") and percent == 100 and rollout["last"] < 100:
        rollout.update(last=100, steps=rollout["steps"] + 1)


# ---- Azure Monitor ------------------------------------------------------------------------------------


@command(
    "monitor metrics list",
    "--resource --metric --metrics --interval --aggregation --filter --start-time --end-time --offset",
)
def _metrics(world: World, args: Args) -> Any:
    resource, metric = one(args, "--resource"), one(args, "--metric", "--metrics")
    start = datetime.fromisoformat(one(args, "--start-time").replace("Z", "+00:00"))
    end = datetime.fromisoformat(one(args, "--end-time").replace("Z", "+00:00"))
    account = resource.rstrip("/").rsplit("/", 1)[-1]
    with locked(world) as state:
        if account not in state["accounts"]:
            raise AzError(f"ERROR: (ResourceNotFound) {resource} was not found.", 3)
        query = metrics.Query(metric, args.get("--filter", [""])[0], (end - start).total_seconds() / 60)
        found = metrics.series(state, world.faults(), account, query)
    return {"value": [{"name": {"value": metric}, "timeseries": found}]}


# ---- the command line -----------------------------------------------------------------------------------


def _parse(argv: list[str]) -> tuple[tuple[str, ...], Args]:
    words: list[str] = []
    while argv and not argv[0].startswith("-"):
        words.append(argv.pop(0))
    key = tuple(words)
    if key not in COMMANDS:
        raise AzError(f"ERROR: '{' '.join(words)}' is misspelled or not recognized by the system.", 2)
    values, flags, _, _ = COMMANDS[key]
    args: Args = {}
    while argv:
        flag = argv.pop(0)
        if flag in flags | GLOBAL_FLAG:
            args[flag] = []
        elif flag in values | GLOBAL_VALUE:
            taken: list[str] = []
            while argv and (not argv[0].startswith("-") or not taken):
                taken.append(argv.pop(0))
                if flag != "--exclude-change-types":
                    break
            args[flag] = taken
        else:
            raise AzError(f"ERROR: unrecognized arguments: {flag}", 2)
    return key, args


def _query(value: Any, query: str) -> Any:
    for part in query.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def main(argv: list[str]) -> int:
    world = from_environ()
    with (world.root / "az-calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "minute": round(world.minutes(), 2)}) + "\n")
    try:
        key, args = _parse(list(argv))
        _, _, handler, audience = COMMANDS[key]
        if audience:
            _authorize(world, audience)
        result = handler(world, args)
    except AzError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    if "--query" in args:
        result = _query(result, args["--query"][0])
    output = args.get("--output", args.get("-o", ["json"]))[0]
    if result is not None and output != "none":
        text = "\n".join(map(str, result)) if output == "tsv" and isinstance(result, list) else None
        print(text if text is not None else (result if output == "tsv" else json.dumps(result, indent=2)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
