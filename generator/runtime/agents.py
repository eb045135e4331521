"""Agents: versioned agents of almgen.yaml in the Foundry project of every region, and which version is live.

Usage:
  python agents.py candidate --env ENV --outputs FILE [--release FILE] [--root DIR]
                             [--target live|candidate] [--state FILE] [--candidates FILE] [--out FILE]
  python agents.py live      --env ENV --outputs FILE --candidate FILE [--save-previous FILE] [--out FILE]
  python agents.py restore   --outputs FILE --previous FILE

The Foundry Agent Service keeps an agent as a name with immutable, numbered versions
(`POST {project}/agents/{name}/versions`, `GET {project}/agents/{name}/versions`,
`DELETE {project}/agents/{name}/versions/{version}`, api-version `v1`, the GA surface of
Azure/azure-rest-api-specs `specification/ai-foundry/data-plane/Foundry`). A version is a prompt
agent definition: the model deployment it binds, its instructions and its tools with their
resources (the `azure_ai_search` tool names the project's search connection and the retrieval
alias; `code_interpreter` runs in an automatic container).

`candidate` (finish job, before the tests) gives every agent of ENV in `.almgen/release.json` a
version in every region (primary first; every region is read before any is written): the newest
version whose definition and semver (`metadata.version`) are the release's is reused, otherwise a
new version is created with the semver, service, environment and commit in its metadata. A `git
revert` finds the earlier definition's version and reuses it. The model binding is the
deployment that serves the agent's model after this release: the live one (App Configuration
`almgen:active:<model>`), or with `--target candidate` (a blue-green environment, tested before
its swap) the candidate colour. With the AI gateway (the outputs name the region's project
connection to it, `agentsConnection`) a foundation model is bound as `<connection>/<model>`
instead, the model's pool in the gateway: a canary step moves the agent's calls with the model's
(a candidate tested before its swap still binds its colour). Nothing changes what serves: the
summary (`--out`) names each candidate, and the environment contract hands it to the tests
(`ALMGEN_AGENT_<NAME>_VERSION`).

`live` (after the tests, the swap and the index switch) makes the candidates live: almgen owns
the pointer, the App Configuration key `almgen:agent:<name>` (label: the environment) in each
region's store, whose value is the Foundry version an application passes in its `agent_reference`
(`{"type": "agent_reference", "name": ..., "version": ...}` of the Responses API). The service's
own "latest" is not a live pointer: creating a candidate makes it the latest. `--save-previous`
writes the pointers as they were first; `restore` (a failure after the switch) puts them back,
deleting a pointer that did not exist.

All HTTP goes through `http()`, which calls `az rest --resource https://ai.azure.com` (`ALMGEN_AZ`
names another executable, for tests): the CLI gets the token and never prints it. Set
`ALMGEN_AGENTS_API_VERSION` to use another api-version.

Exit codes: 0 ok; 1 failure (Azure refused); 2 usage or bad input, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

if __package__:
    from . import common, definitions, routing
else:  # run as .almgen/scripts/agents.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    definitions = importlib.import_module("definitions")
    routing = importlib.import_module("routing")

DEFAULT_API_VERSION = "v1"
PROJECT = "agents"
TOKEN_RESOURCE = "https://ai.azure.com"
LIVE_KEY = "almgen:agent:"  # + the agent's name: the Foundry version that serves, per environment label
RETRY_STATUSES = (429, 500, 502, 503, 504)
PHRASES = {status.phrase.lower(): status.value for status in HTTPStatus}


class HttpError(common.Failure):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


# --------------------------------------------------------------------------- Azure


def http(method: str, url: str, body: dict[str, Any] | None, resource: str = TOKEN_RESOURCE) -> Any:
    """One JSON request through `az rest`, which gets (and never prints) the token for RESOURCE (by
    default the Agent Service's; retrieval.py asks for the search data plane's).

    Throttling and server errors are retried. Going through the CLI keeps one way in to Azure for every
    script: the pipeline's fresh login, `ALMGEN_AZ` in tests and the rehearsal's simulated Azure.
    """
    args = ["rest", "--method", method.lower(), "--url", url, "--resource", resource]
    where = f"{method} {url.partition('?')[0]}"
    with tempfile.TemporaryDirectory(prefix="almgen-agents-") as folder:
        if body is not None:  # a file, not an argument: instructions may be longer than a command line
            payload = Path(folder) / "body.json"
            payload.write_text(json.dumps(body), "utf-8")
            args += ["--headers", "Content-Type=application/json", "--body", f"@{payload}"]
        for attempt in range(4):
            result = common.az([*args, "--output", "json"])
            if result.returncode == 0:
                try:
                    return json.loads(result.stdout) if result.stdout.strip() else None
                except json.JSONDecodeError as exc:
                    raise common.Failure(f"{where}: the answer is not JSON") from exc
            status, message = rest_error(common.az_error(result))
            if status in RETRY_STATUSES and attempt < 3:
                common.sleep(2.0 * (attempt + 1))
                continue
            if status is None:
                raise common.Failure(f"{where}: {message}")
            raise HttpError(status, message)
    raise common.Failure(f"{where}: no answer")  # pragma: no cover


def rest_error(line: str) -> tuple[int | None, str]:
    """The status and message of an `az rest` failure, `ERROR: Not Found({"error": ...})`.

    az names the status by its reason phrase and appends the body in parentheses; a line without a
    known phrase (no login, no network) has no status.
    """
    text = line.removeprefix("ERROR:").strip()
    phrase, _, rest = text.partition("(")
    status = PHRASES.get(phrase.strip().lower())
    if status is None:
        return None, text[:300] or "no details"
    return status, error_message(rest.removesuffix(")"))


def error_message(text: str) -> str:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:300] or "no details"
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('code') or 'error'}: {error['message']}"[:300]
    return text.strip()[:300]


def api_version() -> str:
    return os.environ.get("ALMGEN_AGENTS_API_VERSION") or DEFAULT_API_VERSION


def project_endpoint(account: str) -> str:
    return f"https://{account}.services.ai.azure.com/api/projects/{PROJECT}"


def versions_url(endpoint: str, name: str) -> str:
    return f"{endpoint}/agents/{quote(name, safe='')}/versions"


def version_order(item: dict[str, Any]) -> tuple[int, int]:
    """Newest first: by creation time, then by the version number."""
    number = str(item.get("version") or "")
    created = item.get("created_at")
    return (int(created) if isinstance(created, int) else 0, int(number) if number.isdigit() else -1)


def list_versions(endpoint: str, name: str) -> list[dict[str, Any]]:
    """Every version of agent NAME, newest first; none when the project has no such agent."""
    found: list[dict[str, Any]] = []
    after = ""
    for _ in range(1000):
        url = f"{versions_url(endpoint, name)}?api-version={quote(api_version())}&limit=100&order=desc"
        if after:
            url += f"&after={quote(after)}"
        try:
            page = http("GET", url, None)
        except HttpError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return []
            raise
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise common.Failure(f"GET {versions_url(endpoint, name)}: unexpected answer (no 'data' list)")
        items = [item for item in page["data"] if isinstance(item, dict)]
        found += items
        last = page.get("last_id") or (items[-1].get("id") if items else None)
        if not page.get("has_more") or not isinstance(last, str) or last == after:
            break
        after = last
    return sorted(found, key=version_order, reverse=True)


def create_version(endpoint: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{versions_url(endpoint, name)}?api-version={quote(api_version())}"
    answer = http("POST", url, body)
    if not isinstance(answer, dict) or not str(answer.get("version") or ""):
        raise common.Failure(f"POST {versions_url(endpoint, name)}: the answer names no version")
    return answer


def delete_version(endpoint: str, name: str, version: str) -> None:
    url = f"{versions_url(endpoint, name)}/{quote(version, safe='')}?api-version={quote(api_version())}"
    http("DELETE", url, None)


# --------------------------------------------------------------------------- inputs


def agents_of(release: dict[str, Any], env: str) -> list[dict[str, Any]]:
    facts = common.environment(release, env)
    agents = facts.get("agents") or []
    if not isinstance(agents, list):
        raise common.InputError(f"release.json environments.{env}.agents must be a list")
    for index, agent in enumerate(agents):
        where = f"release.json environments.{env}.agents[{index}]"
        if not isinstance(agent, dict):
            raise common.InputError(f"{where} must be an object")
        for key in ("name", "version", "model"):
            common.text_of(agent, key, where)
        if semver(agent["version"]) is None:
            raise common.InputError(f"{where}: version {agent['version']!r} is not semver")
        tools = agent.get("tools") or []
        if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
            raise common.InputError(f"{where}: 'tools' must be a list of tool types")
    return agents


# --------------------------------------------------------------------------- versions

semver, newer = common.semver, common.newer  # the versions of agents in the spec are semver
instructions_of, semver_of, search_tool = (
    definitions.instructions_of,
    definitions.semver_of,
    definitions.search_tool,
)
definition_of, same_definition, matching = (
    definitions.definition_of,
    definitions.same_definition,
    definitions.matching,
)


# --------------------------------------------------------------------------- model binding and live pointer


def model_versions(release: dict[str, Any], env: str) -> dict[str, tuple[str, str]]:
    """Each model of ENV: (kind, version)."""
    models = common.environment(release, env).get("models") or []
    return {
        str(m["name"]): (str(m.get("kind") or "foundation"), str(m.get("version") or ""))
        for m in models
        if isinstance(m, dict) and "name" in m
    }


def binding(
    model: str,
    kinds: dict[str, tuple[str, str]],
    keys: Mapping[str, str],
    args: argparse.Namespace,
    connection: str = "",
) -> str:
    """What an agent's version binds for MODEL.

    With the AI gateway (CONNECTION, the region's Foundry project connection to it, category
    ApiManagement) a foundation model is bound as `<connection>/<model>`: the model's API in the
    gateway, whose pool does the canary, the blue-green swap and the failover, so the agent's calls
    move with the model's and the binding (the definition) stays the same across releases. A
    candidate tested before its swap (`--target candidate`, a blue-green environment) binds the
    candidate colour directly, as without a gateway: the pool does not reach that colour until the
    swap, and that version is what goes live after it. Otherwise the deployment that serves MODEL
    (App Configuration `almgen:active:<model>`), or MODEL itself with one colour."""
    kind, version = kinds.get(model, ("foundation", ""))
    if args.target == "candidate":
        state = common.read_object(args.state, "live state") if args.state and args.state.exists() else {}
        picked = (
            common.read_json(args.candidates, "candidates")
            if args.candidates and args.candidates.exists()
            else {}
        )
        return routing.candidate(
            state, model, kind, version or None, picked if isinstance(picked, dict) else {}
        )
    if connection and kind == "foundation":
        return f"{connection}/{model}"
    live = keys.get(f"almgen:active:{model}")
    return live if live else model


def live_versions(stack: routing.Stack, env: str) -> dict[str, str]:
    """The live pointer of every agent of ENV in a region: name -> Foundry version."""
    if not stack.app_configuration:
        return {}
    keys = routing.routing_keys(stack, env)
    return {k.removeprefix(LIVE_KEY): v for k, v in keys.items() if k.startswith(LIVE_KEY) and v}


def git_commit(environ: Mapping[str, str]) -> str:
    return environ.get("GITHUB_SHA") or environ.get("BUILD_SOURCEVERSION") or "unknown"


# --------------------------------------------------------------------------- commands


def cmd_candidate(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    agents = agents_of(release, args.env)
    if not agents:
        print(f"no agents in environment {args.env}: nothing to create")
        if args.out:
            common.write_json(args.out, [])
        return 0
    stacks = common.stacks_of(args.outputs, "aiServicesName")
    kinds = model_versions(release, args.env)
    service = release.get("service") if isinstance(release.get("service"), str) else ""
    commit = git_commit(os.environ)
    texts = {agent["name"]: instructions_of(agent, args.root) for agent in agents}

    # Read every region first: a bad input anywhere creates nothing anywhere.
    plans: list[tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dict[str, Any] | None, str]] = []
    for raw in stacks:
        stack = routing.stack_of(raw)
        endpoint = project_endpoint(raw["aiServicesName"])
        keys = routing.routing_keys(stack, args.env) if stack.app_configuration else {}
        for agent in agents:
            name = agent["name"]
            model = binding(agent["model"], kinds, keys, args, str(raw.get("agentsConnection") or ""))
            wanted = definition_of(agent, model, texts[name], search_tool(release, args.env, name, raw))
            found = matching(list_versions(endpoint, name), wanted, agent["version"])
            plans.append((raw, agent, endpoint, wanted, found, keys.get(LIVE_KEY + name, "")))

    summary: list[dict[str, Any]] = []
    for raw, agent, endpoint, wanted, found, live in plans:
        name, semver_ = agent["name"], agent["version"]
        chosen = found
        if chosen is None:
            metadata = {"version": semver_, "service": service, "environment": args.env, "gitCommit": commit}
            body = {
                "definition": wanted,
                "description": str(agent.get("description") or ""),
                "metadata": metadata,
            }
            chosen, action = create_version(endpoint, name, body), "created"
        else:
            action = "reused"
        version = str(chosen.get("version"))
        print(
            f"{action} {name} version {version} ({semver_}) in {raw['location']} on {wanted['model']}; "
            f"live: {live or 'none'}"
        )
        summary.append(
            {
                "agent": name,
                "semver": semver_,
                "version": version,
                "id": str(chosen.get("id") or ""),
                "region": raw["location"],
                "resourceGroup": str(raw.get("resourceGroup") or ""),
                "model": wanted["model"],
                "action": action,
                "live": live,
            }
        )
    if args.out:
        common.write_json(args.out, summary)
    return 0


def candidates_of(path: Path) -> list[dict[str, Any]]:
    items = common.read_json(path, "agent candidates")
    if not isinstance(items, list) or not all(
        isinstance(i, dict)
        and all(isinstance(i.get(k), str) and i.get(k) for k in ("agent", "version", "region"))
        for i in items
    ):
        raise common.InputError(f"{path}: not the summary of agents.py candidate")
    return items


def region_of(stacks: list[routing.Stack], location: str, group: str) -> routing.Stack:
    for stack in stacks:
        if stack.location == location and (not group or stack.resource_group == group):
            return stack
    raise common.InputError(f"region {location} is not in the deployment outputs")


def set_live(stack: routing.Stack, env: str, agent: str, version: str | None) -> None:
    key = LIVE_KEY + agent
    if version:
        routing.set_key(stack, env, key, version)
        return
    store = ["--endpoint", stack.app_configuration, "--auth-mode", "login"]
    routing.az(["appconfig", "kv", "delete", *store, "--key", key, "--label", env, "--yes"])


def cmd_live(args: argparse.Namespace) -> int:
    candidates = candidates_of(args.candidate)
    stacks = routing.load_stacks(args.outputs)
    regions = []
    for stack in stacks:  # the pointers as they are, saved before any changes
        names = sorted({c["agent"] for c in candidates if c["region"] == stack.location})
        if names:
            live = live_versions(stack, args.env)
            regions.append(
                {
                    "location": stack.location,
                    "resourceGroup": stack.resource_group,
                    "agents": {name: live.get(name) for name in names},
                }
            )
    if args.save_previous:
        common.write_json(args.save_previous, {"env": args.env, "regions": regions})
    for item in candidates:
        stack = region_of(stacks, item["region"], str(item.get("resourceGroup") or ""))
        set_live(stack, args.env, item["agent"], item["version"])
        print(
            f"{stack.location}: {item['agent']} {item.get('semver', '')} is live as version {item['version']}"
        )
    if args.out:
        common.write_json(args.out, [{**c, "live": c["version"]} for c in candidates])
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    previous = common.read_object(args.previous, "previous agent versions")
    regions = previous.get("regions")
    env = previous.get("env")
    if not isinstance(env, str) or not isinstance(regions, list):
        raise common.InputError(f"{args.previous}: not what agents.py live saved")
    stacks = routing.load_stacks(args.outputs)
    for region in regions:
        stack = region_of(stacks, str(region["location"]), str(region.get("resourceGroup") or ""))
        now = live_versions(stack, env)
        for agent, version in sorted((region.get("agents") or {}).items()):
            saved = str(version) if version else None
            restored = f"version {saved}" if saved else "no live version"
            if now.get(agent) == saved:  # never switched here (the switch failed before it)
                print(f"{stack.location}: {agent} is as it was ({restored})")
                continue
            set_live(stack, env, agent, saved)
            print(f"{stack.location}: {agent} restored to {restored}")
    return 0


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    result = common.Parser(
        prog="agents.py", description="Versioned agents of almgen.yaml in the Foundry project."
    )
    commands = result.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    candidate = commands.add_parser(
        "candidate", help="give every agent of an environment a version (not live)"
    )
    candidate.add_argument("--env", required=True, help="environment name in release.json")
    candidate.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    candidate.add_argument(
        "--release", type=Path, default=Path(".almgen/release.json"), help="release.json path"
    )
    candidate.add_argument("--root", type=Path, default=Path("."), help="folder the instruction paths are in")
    candidate.add_argument(
        "--target",
        choices=("live", "candidate"),
        default="live",
        help="bind the live or the candidate deployment",
    )
    candidate.add_argument(
        "--state", type=Path, help="live state JSON from before the deploy (traffic.py state)"
    )
    candidate.add_argument(
        "--candidates", type=Path, help="custom models' candidate colours (traffic.py plan-ml)"
    )
    candidate.add_argument("--out", type=Path, help="write the summary JSON here")
    live = commands.add_parser("live", help="make the candidate versions live (App Configuration)")
    live.add_argument("--env", required=True, help="environment name")
    live.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    live.add_argument("--candidate", type=Path, required=True, help="the summary of agents.py candidate")
    live.add_argument("--save-previous", type=Path, help="write the live versions from before here")
    live.add_argument("--out", type=Path, help="write what is live now here")
    restore = commands.add_parser("restore", help="put back the live versions agents.py live saved")
    restore.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    restore.add_argument("--previous", type=Path, required=True, help="the file --save-previous wrote")
    return result


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), {"candidate": cmd_candidate, "live": cmd_live, "restore": cmd_restore}, argv)


if __name__ == "__main__":
    sys.exit(main())
