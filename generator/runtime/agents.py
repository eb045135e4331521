"""Agents: create or update the agents of almgen.yaml in the Foundry project of every region.

Usage:
  python agents.py deploy --env ENV --outputs FILE [--release FILE] [--live-state FILE] [--root DIR]
                          [--out FILE]

For each agent of ENV in `.almgen/release.json` and each region (stack) of the ARM deployment outputs,
primary first, the agent is found by name in the project `agents` of the region's AI Services account
(`https://<aiServicesName>.services.ai.azure.com/api/projects/agents`) and created, updated, or left
unchanged (same instructions, model deployment, tools and version). Its `model` is the deployment that
serves the agent's model: `active[model]` of the live state (`--live-state`, the JSON the pipeline's
live-state step writes), else the model's name (the deployment name under the `direct` strategy). The
agent's metadata records its semver `version`, the service, the environment and the git commit.

Versions never go down: when a region holds the agent at a higher semver than release.json, nothing is
changed anywhere and the command fails. Every region is read before any is written.

The Agent Service REST surface is versioned by Azure. This script speaks the Assistants-style API
(`GET/POST {project}/assistants`, `POST {project}/assistants/{id}`) with `api-version=v1`; set
`ALMGEN_AGENTS_API_VERSION` to use another version, or change `DEFAULT_API_VERSION` and the paths in
`list_agents` / `save_agent` below when Azure moves the surface. All HTTP goes through `http()`, which
calls `az rest --resource https://ai.azure.com` (`ALMGEN_AZ` names another executable, for tests): the
CLI gets the token and never prints it.

Exit codes: 0 ok; 1 failure (Azure refused, a downgrade); 2 usage or bad input, with a one-line reason
on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

if __package__:
    from . import common
else:  # run as .almgen/scripts/agents.py: common.py is beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")

DEFAULT_API_VERSION = "v1"
PROJECT = "agents"
TOKEN_RESOURCE = "https://ai.azure.com"
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


def list_agents(endpoint: str) -> list[dict[str, Any]]:
    """Every agent of the project, following `has_more` / `last_id` pages."""
    agents: list[dict[str, Any]] = []
    after = ""
    for _ in range(1000):
        url = f"{endpoint}/assistants?api-version={quote(api_version())}&limit=100"
        if after:
            url += f"&after={quote(after)}"
        page = http("GET", url, None)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise common.Failure(f"GET {endpoint}/assistants: unexpected answer (no 'data' list)")
        agents += [item for item in page["data"] if isinstance(item, dict)]
        last = page.get("last_id") or (agents[-1].get("id") if agents else None)
        if not page.get("has_more") or not isinstance(last, str) or last == after:
            break
        after = last
    return agents


def save_agent(endpoint: str, agent_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    path = "/assistants" + (f"/{quote(agent_id, safe='')}" if agent_id else "")
    answer = http("POST", f"{endpoint}{path}?api-version={quote(api_version())}", body)
    return answer if isinstance(answer, dict) else {}


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


def stacks_of(path: Path) -> list[dict[str, Any]]:
    """The regions of an environment from its ARM deployment outputs, primary first."""
    return common.stacks_of(path, "aiServicesName")


def instructions_of(agent: dict[str, Any], root: Path) -> str:
    relative = agent.get("instructions")
    if relative is None or relative == "":
        return ""
    if not isinstance(relative, str) or Path(relative).is_absolute() or re.match(r"^[A-Za-z]:", relative):
        raise common.InputError(
            f"instructions of agent {agent['name']} must be a path relative to the repository"
        )
    base = root.resolve()
    path = (base / relative).resolve()
    if base not in path.parents:
        raise common.InputError(f"instructions {relative!r} of agent {agent['name']} leave the repository")
    try:
        return path.read_text("utf-8-sig")
    except OSError as exc:
        raise common.InputError(
            f"cannot read instructions {relative} of {agent['name']}: {exc.strerror or exc}"
        ) from exc


# --------------------------------------------------------------------------- versions

semver, newer = common.semver, common.newer  # the versions of agents are semver


# --------------------------------------------------------------------------- deploy


def tool_types(tools: object) -> list[str]:
    return [str(t.get("type")) for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


def tool_resources(release: dict[str, Any], env: str, agent: str, stack: dict[str, Any]) -> dict[str, Any]:
    """An agent of retrieval.agents answers from the alias, through the project's search connection."""
    retrieval = common.environment(release, env).get("retrieval")
    if not isinstance(retrieval, dict) or agent not in (retrieval.get("agents") or []):
        return {}
    connection = stack.get("searchConnection")
    if not isinstance(connection, str) or not connection:
        raise common.InputError(f"deployment outputs of {stack['location']} name no search connection")
    index = {"index_connection_id": connection, "index_name": str(retrieval.get("alias") or "")}
    return {"azure_ai_search": {"indexes": [index]}}


def git_commit(environ: Mapping[str, str]) -> str:
    return environ.get("GITHUB_SHA") or environ.get("BUILD_SOURCEVERSION") or "unknown"


def cmd_deploy(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    agents = agents_of(release, args.env)
    if not agents:
        print(f"no agents in environment {args.env}: nothing to deploy")
        if args.out:
            common.write_json(args.out, [])
        return 0
    stacks = stacks_of(args.outputs)
    live = common.read_object(args.live_state, "live state") if args.live_state else {}
    active: dict[str, Any] = live["active"] if isinstance(live.get("active"), dict) else {}
    service = release.get("service") if isinstance(release.get("service"), str) else ""
    commit = git_commit(os.environ)
    texts = {agent["name"]: instructions_of(agent, args.root) for agent in agents}

    # Read every region first: a refused downgrade anywhere changes nothing anywhere.
    plans: list[tuple[dict[str, Any], dict[str, Any], str, dict[str, Any] | None, dict[str, Any]]] = []
    refusals: list[str] = []
    for stack in stacks:
        endpoint = project_endpoint(stack["aiServicesName"])
        existing_agents = list_agents(endpoint)
        for agent in agents:
            name, version = agent["name"], agent["version"]
            same = [a for a in existing_agents if a.get("name") == name]
            if len(same) > 1:
                ids = ", ".join(str(a.get("id")) for a in same)
                raise common.Failure(
                    f"{len(same)} agents are named {name} in {stack['location']} ({ids}): delete all but one"
                )
            existing = same[0] if same else None
            deployment = active.get(agent["model"])
            model = deployment if isinstance(deployment, str) and deployment else agent["model"]
            metadata = dict(existing.get("metadata") or {}) if existing else {}
            metadata.update(version=version, service=service, environment=args.env, gitCommit=commit)
            body = {
                "name": name,
                "model": model,
                "instructions": texts[name],
                "tools": [{"type": t} for t in agent.get("tools") or []],
                "description": str(agent.get("description") or ""),
                "metadata": {str(k): str(v) for k, v in metadata.items()},
            }
            resources = tool_resources(release, args.env, name, stack)
            if resources:
                body["tool_resources"] = resources
            live_version = (existing.get("metadata") or {}).get("version") if existing else None
            if isinstance(live_version, str) and semver(live_version) and newer(live_version, version):
                refusals.append(
                    f"{name} is at {live_version} in {stack['location']}, release.json has {version}: "
                    "versions never go down (bump the agent's version above it)"
                )
            plans.append((stack, agent, endpoint, existing, body))
    if refusals:
        for refusal in refusals:
            print(f"agents.py deploy: refused: {refusal}", file=sys.stderr)
        raise common.Failure(f"{len(refusals)} downgrade(s) refused: nothing was changed")

    summary: list[dict[str, Any]] = []
    for stack, agent, endpoint, existing, body in plans:
        name, version, region = agent["name"], agent["version"], stack["location"]
        if existing is None:
            action, agent_id = "created", str(save_agent(endpoint, None, body).get("id") or "")
        else:
            agent_id = str(existing.get("id") or "")
            live_version = (existing.get("metadata") or {}).get("version")
            unchanged = (
                existing.get("instructions") == body["instructions"]
                and existing.get("model") == body["model"]
                and tool_types(existing.get("tools")) == [t["type"] for t in body["tools"]]
                and (existing.get("tool_resources") or {}) == body.get("tool_resources", {})
                and live_version == version
            )
            if unchanged:
                action = "unchanged"
            else:
                if live_version == version and existing.get("instructions") != body["instructions"]:
                    print(
                        f"agents.py deploy: warning: the instructions of {name} changed but its version "
                        f"{version} did not (bump it so the change is traceable)",
                        file=sys.stderr,
                    )
                save_agent(endpoint, agent_id, body)
                action = "updated"
        print(f"{action} {name} {version} in {region} (model {body['model']}, id {agent_id or 'unknown'})")
        summary.append(
            {
                "agent": name,
                "version": version,
                "region": region,
                "id": agent_id,
                "model": body["model"],
                "action": action,
            }
        )
    if args.out:
        common.write_json(args.out, summary)
    return 0


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    result = common.Parser(
        prog="agents.py", description="Deploy the agents of almgen.yaml to the Foundry project."
    )
    commands = result.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    deploy = commands.add_parser(
        "deploy", help="create or update every agent of an environment in every region"
    )
    deploy.add_argument("--env", required=True, help="environment name in release.json")
    deploy.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    deploy.add_argument(
        "--release", type=Path, default=Path(".almgen/release.json"), help="release.json path"
    )
    deploy.add_argument("--live-state", type=Path, help='live state JSON ({"active": {model: deployment}})')
    deploy.add_argument("--root", type=Path, default=Path("."), help="folder the instruction paths are in")
    deploy.add_argument("--out", type=Path, help="write the summary JSON here")
    return result


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), {"deploy": cmd_deploy}, argv)


if __name__ == "__main__":
    sys.exit(main())
