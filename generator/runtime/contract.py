"""The environment contract: what a test or gate command is told about the environment it calls.

Usage:
  python contract.py --outputs FILE --env ENV --release FILE [--target live|candidate]
                     [--state FILE] [--candidates FILE] [--agents FILE] [--format env|devops]
                     [--out FILE | --out-dir DIR]

Prints one `NAME=value` line per variable (`--format env`, for a file of variables or
`$GITHUB_ENV`) or one `##vso[task.setvariable variable=NAME]value` line (`--format devops`).
The pipelines write the `env` form to a file that `run.py --contract` adds to the command's
environment. With `--out-dir`, one `env` file per region, `<n>-<region>.env` (primary first,
every value for that region): the tests run once per region (`run.py --contract DIR`).
Values come from the ARM deployment outputs (`--outputs`), `.almgen/release.json` (the
environment's models and agents) and the live routing, read now from Azure; every value
is checked against a conservative character set (URLs, names, ids), so no line can carry a
newline, a `%`, a `;` or a `]` into a variables file or a logging command.

| name | value |
| --- | --- |
| ALMGEN_ENVIRONMENT | the environment the command calls |
| ALMGEN_REGION | the region called: the primary region, or each region in turn (`--out-dir`) |
| ALMGEN_ENDPOINT, AZURE_OPENAI_ENDPOINT | that region's AI Services endpoint |
| ALMGEN_APPCONFIG_ENDPOINT | that region's App Configuration endpoint |
| ALMGEN_GATEWAY_ENDPOINT | with the AI gateway: that region's gateway URL (`<url>/<model>`) |
| ALMGEN_TARGET | live, or candidate (a blue-green environment before the swap) |
| ALMGEN_MODEL_<MODEL>_DEPLOYMENT | the deployment (custom: colour) of the model that ALMGEN_TARGET names |
| ALMGEN_MODEL_<MODEL>_LIVE_DEPLOYMENT | the deployment (custom: colour) serving customers now |
| ALMGEN_MODEL_<MODEL>_ONLINE_ENDPOINT | custom models: the Azure ML online endpoint |
| ALMGEN_MODEL_<MODEL>_GATEWAY_URL | custom models, with the AI gateway: `<gateway>/models/<model>/score` |
| AZURE_OPENAI_DEPLOYMENT | ALMGEN_MODEL_<MODEL>_DEPLOYMENT of the first foundation model |
| ALMGEN_PROJECT_ENDPOINT, AZURE_AI_PROJECT_ENDPOINT | with agents or a safety gate: the Foundry project |
| ALMGEN_AGENT_<AGENT>_NAME | with agents: the agent's name |
| ALMGEN_AGENT_<AGENT>_VERSION | with agents: the Foundry version to call: tests, the candidate (`--agents`) |
| ALMGEN_AGENT_<AGENT>_LIVE_VERSION | with agents: the live version (App Configuration almgen:agent:<agent>) |
| ALMGEN_AGENT_<AGENT>_ID | with agents: the id of ALMGEN_AGENT_<AGENT>_VERSION ("" when there is none) |
| ALMGEN_SEARCH_ENDPOINT | with retrieval: that region's Azure AI Search endpoint (Entra ID only) |
| ALMGEN_SEARCH_INDEX | with retrieval: the alias the agents query (releases move it to a new index) |

`<MODEL>` and `<AGENT>` are the spec's names in upper case with `-` as `_` (`chat-mini` →
`CHAT_MINI`). The finish job creates each agent's candidate version before the tests and makes it
live only after them (a failing test keeps it out), so tests call the candidate: an application
calls an agent through the Responses API with `agent_reference` `{name, version}`. Gates (no
`--agents`) call the live version; before an agent's first release both versions are "".

Exit codes: 0 printed; 1 Azure refused (routing or agents could not be read); 2 bad input (a
missing file, a value outside the allowed characters), with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Any

if __package__:
    from . import agents, common, routing
else:  # run as .almgen/scripts/contract.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    routing = importlib.import_module("routing")
    agents = importlib.import_module("agents")

SAFE = re.compile(r"^[A-Za-z0-9._:/@+,~-]*$")
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def variable(name: str) -> str:
    """A spec name as part of a variable name: `chat-mini` -> `CHAT_MINI`."""
    return name.upper().replace("-", "_")


def _models(
    stack: routing.Stack, env: str, models: list[dict[str, Any]], args: argparse.Namespace
) -> list[tuple[str, str]]:
    state = common.read_object(args.state, "live state") if args.state and args.state.exists() else {}
    picked = (
        common.read_json(args.candidates, "candidates")
        if args.candidates and args.candidates.exists()
        else {}
    )
    keys = routing.routing_keys(stack, env) if any(m.get("kind") == "foundation" for m in models) else {}
    out: list[tuple[str, str]] = []
    first_foundation = ""
    for model in models:
        name, kind = str(model["name"]), str(model.get("kind", "foundation"))
        prefix = f"ALMGEN_MODEL_{variable(name)}"
        if kind == "foundation":
            live = keys.get(f"almgen:active:{name}") or name
        else:
            endpoint = routing.endpoint_of(stack, name)
            live = routing.live_colour(routing.traffic_of(stack, endpoint)) or ""
            out.append((f"{prefix}_ONLINE_ENDPOINT", endpoint))
            if stack.gateway_endpoint:  # scored as customers score it: the endpoint splits its colours
                out.append((f"{prefix}_GATEWAY_URL", f"{stack.gateway_endpoint}/models/{name}/score"))
        version = model.get("version")
        target = (
            routing.candidate(
                state,
                name,
                kind,
                str(version) if version else None,
                picked if isinstance(picked, dict) else {},
            )
            if args.target == "candidate"
            else live
        )
        out += [(f"{prefix}_DEPLOYMENT", target), (f"{prefix}_LIVE_DEPLOYMENT", live)]
        if kind == "foundation" and not first_foundation:
            first_foundation = target
    if first_foundation:
        out.append(("AZURE_OPENAI_DEPLOYMENT", first_foundation))
    return out


def _project(stack: routing.Stack, release: dict[str, Any]) -> list[tuple[str, str]]:
    """The Foundry project's endpoint, when the environment has one (agents, a safety gate)."""
    if not release.get("foundryProject"):
        return []
    project = agents.project_endpoint(stack.ai_services)
    return [("ALMGEN_PROJECT_ENDPOINT", project), ("AZURE_AI_PROJECT_ENDPOINT", project)]


def _agents(
    stack: routing.Stack, env: str, deployed: list[dict[str, Any]], candidates: Path | None
) -> list[tuple[str, str]]:
    """Each agent's name, the version the command calls (the candidate for tests) and the live one."""
    if not deployed:
        return []
    project = agents.project_endpoint(stack.ai_services)
    live = agents.live_versions(stack, env)
    picked = {
        str(c["agent"]): c
        for c in (agents.candidates_of(candidates) if candidates and candidates.exists() else [])
        if c.get("region") == stack.location
    }
    out = []
    for agent in deployed:
        name = str(agent["name"])
        version = str(picked[name]["version"]) if name in picked else live.get(name, "")
        ident = str(picked[name].get("id") or "") if name in picked else ""
        if version and not ident:
            found = [v for v in agents.list_versions(project, name) if str(v.get("version")) == version]
            ident = str(found[0].get("id") or "") if found else ""
        out += [
            (f"ALMGEN_AGENT_{variable(name)}_NAME", name),
            (f"ALMGEN_AGENT_{variable(name)}_VERSION", version),
            (f"ALMGEN_AGENT_{variable(name)}_LIVE_VERSION", live.get(name, "")),
            (f"ALMGEN_AGENT_{variable(name)}_ID", ident),
        ]
    return out


def _search(outputs: Path, environment: dict[str, Any], location: str) -> list[tuple[str, str]]:
    retrieval = environment.get("retrieval")
    if not isinstance(retrieval, dict):
        return []
    stacks = common.stacks_of(outputs, "searchEndpoint")
    region = next((s for s in stacks if s["location"] == location), stacks[0])
    return [
        ("ALMGEN_SEARCH_ENDPOINT", region["searchEndpoint"]),
        ("ALMGEN_SEARCH_INDEX", str(retrieval["alias"])),
    ]


def contract(args: argparse.Namespace, index: int = 0) -> list[tuple[str, str]]:
    """The contract's (name, value) pairs for the INDEXth region (primary first), in a stable order."""
    stack = routing.load_stacks(args.outputs)[index]
    release = common.read_object(args.release, "release.json")
    environment = common.environment(release, args.env)
    pairs = [
        ("ALMGEN_ENVIRONMENT", args.env),
        ("ALMGEN_REGION", stack.location),
        ("ALMGEN_ENDPOINT", stack.ai_services_endpoint),
        ("AZURE_OPENAI_ENDPOINT", stack.ai_services_endpoint),
        ("ALMGEN_APPCONFIG_ENDPOINT", stack.app_configuration),
        *([("ALMGEN_GATEWAY_ENDPOINT", stack.gateway_endpoint)] if stack.gateway_endpoint else []),
        ("ALMGEN_TARGET", args.target),
        *_models(stack, args.env, list(environment.get("models") or []), args),
        *_project(stack, release),
        *_agents(stack, args.env, list(environment.get("agents") or []), args.agents),
        *_search(args.outputs, environment, stack.location),
    ]
    for name, value in pairs:
        if not NAME.match(name) or not SAFE.match(value):
            raise common.InputError(f"{name}: {value!r} has characters a contract value may not have")
    return pairs


def render(pairs: list[tuple[str, str]], form: str) -> str:
    if form == "devops":
        return "".join(f"##vso[task.setvariable variable={name}]{value}\n" for name, value in pairs)
    return "".join(f"{name}={value}\n" for name, value in pairs)


def parser() -> argparse.ArgumentParser:
    result = common.Parser(prog="contract.py", description="Print the environment contract of ENV.")
    result.add_argument("--outputs", required=True, type=Path, help="ARM deployment outputs JSON")
    result.add_argument("--env", required=True, help="the environment the commands call")
    result.add_argument("--release", required=True, type=Path, help=".almgen/release.json")
    result.add_argument("--target", choices=("live", "candidate"), default="live", help="what tests call")
    result.add_argument("--state", type=Path, help="the live state from before the deploy (candidates)")
    result.add_argument("--candidates", type=Path, help="the file plan-ml --candidates wrote (custom models)")
    result.add_argument("--agents", type=Path, help="agents.py candidate's summary: the versions tests call")
    result.add_argument(
        "--format", choices=("env", "devops"), default="env", help="NAME=value or ##vso lines"
    )
    where = result.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="write here instead of printing")
    where.add_argument("--out-dir", type=Path, help="write one env file per region here")
    return result


def per_region(args: argparse.Namespace) -> dict[str, str]:
    """`<n>-<region>.env` -> the contract of that region (the env form), primary first."""
    files = {}
    for index, stack in enumerate(routing.load_stacks(args.outputs)):
        if not SAFE.match(stack.location):
            raise common.InputError(f"region {stack.location!r} has characters a file name may not have")
        files[f"{index}-{stack.location}.env"] = render(contract(args, index), "env")
    return files


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        files = per_region(args) if args.out_dir else {}
        text = "" if args.out_dir else render(contract(args), args.format)
    except common.InputError as exc:
        print(f"contract: {exc}", file=sys.stderr)
        return 2
    except common.Failure as exc:
        print(f"contract: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"contract: unexpected shape of input ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in args.out_dir.glob("*.env"):  # a re-run in the same workspace
            stale.unlink()
        for name, content in files.items():
            (args.out_dir / name).write_text(content, "utf-8")
    elif args.out:
        args.out.write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
