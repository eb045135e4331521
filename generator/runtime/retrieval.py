"""Retrieval: build a versioned search index from the spec's documents, switch its alias, roll back.

Usage:
  python retrieval.py build --env ENV --outputs FILE [--release FILE] [--live-state FILE] --out FILE
  python retrieval.py switch --env ENV --build FILE [--release FILE] --save-previous FILE [--out FILE]
  python retrieval.py restore --previous FILE
  python retrieval.py retain --env ENV --outputs FILE [--release FILE]
  python retrieval.py show --env ENV --outputs FILE [--release FILE]

`.almgen/release.json` names, per environment, the retrieval inputs: the document source (a blob folder
or a data asset of the Azure ML registry) and its version, the chunking, the embedding model (catalog
model, version, dimensions) and the index definition. Their sha256 (`inputsSha256`) decides everything:

- `build`, in every region (stack) of the ARM deployment outputs, looks for the indexer of an index
  `<alias>-v<N>` whose description holds the hash. Found and its last run succeeded: nothing is built
  (an unchanged source, chunking, embedding model and index). Otherwise it creates the next version
  `<alias>-v<N+1>`: a data source on the documents (read as the user-assigned identity that `almgen
  setup` granted Storage Blob Data Reader on their account: the stack's `searchDocumentsIdentity`), a
  skillset (Split skill with the chunking, Azure OpenAI Embedding skill on the embedding deployment),
  the index (vector profile, vectorizer on the same deployment, semantic ranker) and an indexer, then
  waits for the indexer's run. `--out` lists the candidate index of each region.
- `switch` (after the gates and tests passed) points the alias at the candidate in every region and
  saves where it pointed before (`--save-previous`); `restore` points it back (a rollback).
- `retain` deletes index versions past `keepIndexes` (registry.retention.keepVersions), never the one
  the alias serves nor a newer one; with each index go its indexer, skillset and data source.
- `show` prints the alias, the index it serves and that index's inputs hash per region (lineage).

All HTTP goes to the search data plane through `az rest --resource https://search.azure.com` (keys are
off: Entra ID only); `ALMGEN_SEARCH_API_VERSION` overrides `DEFAULT_API_VERSION` (index aliases are a
preview feature of the REST API).

Exit codes: 0 ok; 1 failure (Azure refused, an indexer run failed); 2 usage or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

if __package__:
    from . import agents, common, indexing
else:  # run as .almgen/scripts/retrieval.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    agents = importlib.import_module("agents")
    indexing = importlib.import_module("indexing")

DEFAULT_API_VERSION = "2025-05-01-preview"
USER_IDENTITY = "#Microsoft.Azure.Search.DataUserAssignedIdentity"
TOKEN_RESOURCE = "https://search.azure.com"
POLL_SECONDS = 30.0
WAIT_MINUTES = 120.0
INDEXER_DONE = ("success", "transientFailure", "persistentFailure", "reset")


# --------------------------------------------------------------------------- Azure


def api_version() -> str:
    return os.environ.get("ALMGEN_SEARCH_API_VERSION") or DEFAULT_API_VERSION


def url(endpoint: str, path: str, query: str = "") -> str:
    return f"{endpoint.rstrip('/')}{path}?api-version={quote(api_version())}{query}"


def http(method: str, address: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON request to the search data plane through `az rest` (the CLI holds the token)."""
    return agents.http(method, address, body, resource=TOKEN_RESOURCE)


def get_or_none(address: str) -> Any:
    try:
        return http("GET", address)
    except agents.HttpError as exc:
        if exc.status == 404:
            return None
        raise


# --------------------------------------------------------------------------- inputs


def retrieval_of(release: dict[str, Any], env: str) -> dict[str, Any]:
    facts = common.environment(release, env).get("retrieval")
    if not isinstance(facts, dict):
        raise common.InputError(f"release.json environments.{env} has no retrieval section")
    for key in ("alias", "source", "chunking", "embedding", "index"):
        if key not in facts:
            raise common.InputError(f"release.json environments.{env}.retrieval has no {key!r}")
    return facts


def stacks_of(path: Path) -> list[dict[str, Any]]:
    return common.stacks_of(path, "searchEndpoint")


def version_of(alias: str, name: str) -> int | None:
    match = re.fullmatch(re.escape(alias) + r"-v([0-9]+)", name)
    return int(match.group(1)) if match else None


def embedding_deployment(facts: dict[str, Any], live: dict[str, Any]) -> str:
    """The deployment serving the spec's embedding version: the active colour, else the candidate."""
    model = facts["embedding"]["model"]
    active = (live.get("active") or {}).get(model)
    versions = live.get("versions") or {}
    if not isinstance(active, str) or not active:
        return str(model)
    if versions.get(active, facts["embedding"]["version"]) == facts["embedding"]["version"]:
        return active
    for colour in ("blue", "green"):
        if versions.get(f"{model}-{colour}") == facts["embedding"]["version"]:
            return f"{model}-{colour}"
    return active


def container_of(facts: dict[str, Any]) -> tuple[str, str, str]:
    """The storage account, container and folder of the documents."""
    source = facts["source"]
    path = source.get("path")
    if not path:
        registry = facts.get("registry") or ""
        path = common.az_text(
            ["ml", "data", "show", "--name", source["asset"], "--version", source["version"],
             "--registry-name", registry, "--query", "path", "-o", "tsv"],
            f"find the data asset {source['asset']} {source['version']}",
        )  # fmt: skip
    match = re.fullmatch(
        r"https://([a-z0-9]{3,24})\.blob\.core\.windows\.net/([a-z0-9-]{3,63})/?(.*?)/?", path
    )
    if not match:
        raise common.Failure(f"the documents are not in a blob folder (https://<account>.blob...): {path}")
    return match.group(1), match.group(2), match.group(3)


# --------------------------------------------------------------------------- build


def existing_versions(endpoint: str, alias: str) -> dict[int, str]:
    """The index versions of ALIAS on the service, each with its indexer's description."""
    answer = http("GET", url(endpoint, "/indexers", "&$select=name,description"))
    found: dict[int, str] = {}
    for item in (answer or {}).get("value") or []:
        number = version_of(alias, str(item.get("name") or ""))
        if number is not None:
            found[number] = str(item.get("description") or "")
    for item in (http("GET", url(endpoint, "/indexes", "&$select=name")) or {}).get("value") or []:
        number = version_of(alias, str(item.get("name") or ""))
        if number is not None:
            found.setdefault(number, "")
    return found


def last_run(endpoint: str, name: str) -> str:
    status = http("GET", url(endpoint, f"/indexers/{quote(name)}/status")) or {}
    return str((status.get("lastResult") or {}).get("status") or "")


def wait_for(endpoint: str, name: str, poll: float, minutes: float) -> dict[str, Any]:
    deadline = common.now().timestamp() + minutes * 60
    while True:
        status = http("GET", url(endpoint, f"/indexers/{quote(name)}/status")) or {}
        result = status.get("lastResult") or {}
        if result.get("status") in INDEXER_DONE:
            return dict(result)
        if common.now().timestamp() >= deadline:
            raise common.Failure(f"indexer {name} did not finish within {minutes:g} minutes")
        common.sleep(poll)


def create_version(
    stack: dict[str, Any], facts: dict[str, Any], name: str, deployment: str, source: tuple[str, str, str]
) -> None:
    endpoint = stack["searchEndpoint"]
    resource_uri = f"https://{stack['aiServicesName']}.openai.azure.com"
    account, container, folder = source
    account_id = common.az_text(
        ["storage", "account", "show", "--name", account, "--query", "id", "-o", "tsv"],
        f"find the storage account {account} of the documents",
    )
    data_source = {
        "name": name,
        "type": "azureblob",
        "credentials": {"connectionString": f"ResourceId={account_id};"},
        "container": {"name": container, **({"query": folder} if folder else {})},
        # the identity `almgen setup` granted read on the documents (the stack output of search.bicep)
        "identity": {"@odata.type": USER_IDENTITY, "userAssignedIdentity": stack["searchDocumentsIdentity"]},
    }
    http("PUT", url(endpoint, f"/datasources/{quote(name)}"), data_source)
    http(
        "PUT",
        url(endpoint, f"/indexes/{quote(name)}"),
        indexing.index_definition(name, facts, resource_uri, deployment),
    )
    http(
        "PUT",
        url(endpoint, f"/skillsets/{quote(name)}"),
        indexing.skillset_definition(name, facts, resource_uri, deployment),
    )
    indexer = {
        "name": name,
        "description": f"{indexing.HASH_MARK}{indexing.inputs_hash(facts)}",
        "dataSourceName": name,
        "targetIndexName": name,
        "skillsetName": name,
        "parameters": {"configuration": {"dataToExtract": "contentAndMetadata", "parsingMode": "default"}},
    }
    http("PUT", url(endpoint, f"/indexers/{quote(name)}"), indexer)  # a new indexer runs at once


def build_stack(
    stack: dict[str, Any], facts: dict[str, Any], live: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    endpoint, alias, digest = stack["searchEndpoint"], facts["alias"], indexing.inputs_hash(facts)
    versions = existing_versions(endpoint, alias)
    same = sorted(n for n, description in versions.items() if description == f"{indexing.HASH_MARK}{digest}")
    entry = {"location": stack["location"], "searchEndpoint": endpoint, "inputsSha256": digest}
    if same and last_run(endpoint, f"{alias}-v{same[-1]}") == "success":
        name = f"{alias}-v{same[-1]}"
        common.say(f"{stack['location']}: {name} holds these retrieval inputs already: not rebuilt")
        return entry | {"index": name, "version": same[-1], "built": False}
    number = max(versions, default=0) + 1
    name = f"{alias}-v{number}"
    deployment = embedding_deployment(facts, live)
    common.say(f"{stack['location']}: building {name} with {deployment} ({digest[:12]})")
    create_version(stack, facts, name, deployment, container_of(facts))
    result = wait_for(endpoint, name, args.poll_seconds, args.timeout_minutes)
    if result.get("status") != "success":
        raise common.Failure(
            f"{stack['location']}: indexing {name} ended {result.get('status')}: "
            f"{result.get('errorMessage') or 'see the indexer status'}"
        )
    documents = int(result.get("itemsProcessed") or 0)
    print(f"built {name} in {stack['location']} ({documents} documents)")
    return entry | {"index": name, "version": number, "built": True, "documents": documents}


def cmd_build(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    facts = retrieval_of(release, args.env) | {"registry": (release.get("modelRegistry") or {}).get("name")}
    live = common.read_object(args.live_state, "live state") if args.live_state else {}
    built = [build_stack(stack, facts, live, args) for stack in stacks_of(args.outputs)]
    common.write_json(args.out, {"alias": facts["alias"], "stacks": built})
    return 0


# --------------------------------------------------------------------------- alias


def alias_target(endpoint: str, alias: str) -> str:
    answer = get_or_none(url(endpoint, f"/aliases/{quote(alias)}"))
    indexes = (answer or {}).get("indexes") or []
    return str(indexes[0]) if indexes else ""


def point(endpoint: str, alias: str, index: str) -> None:
    http("PUT", url(endpoint, f"/aliases/{quote(alias)}"), {"name": alias, "indexes": [index]})


def cmd_switch(args: argparse.Namespace) -> int:
    build = common.read_object(args.build, "build result")
    alias = common.text_of(build, "alias", "build result")
    previous, switched = [], []
    for stack in build.get("stacks") or []:
        endpoint, index = stack["searchEndpoint"], stack["index"]
        before = alias_target(endpoint, alias)
        previous.append({"location": stack["location"], "searchEndpoint": endpoint, "index": before})
        common.write_json(args.save_previous, {"alias": alias, "stacks": previous})
        if before == index:
            print(f"{alias} serves {index} in {stack['location']} already")
        else:
            point(endpoint, alias, index)
            print(f"{alias} -> {index} in {stack['location']} (was {before or 'nothing'})")
        switched.append(stack | {"previous": before})
    if args.out:
        common.write_json(args.out, {"alias": alias, "stacks": switched})
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    previous = common.read_object(args.previous, "previous alias targets")
    alias = common.text_of(previous, "alias", "previous alias targets")
    for stack in previous.get("stacks") or []:
        if stack.get("index"):
            point(stack["searchEndpoint"], alias, stack["index"])
            print(f"{alias} -> {stack['index']} in {stack['location']} (restored)")
        else:
            print(f"{alias} served nothing before in {stack['location']}: left as it is")
    return 0


# --------------------------------------------------------------------------- retention and lineage


def cmd_retain(args: argparse.Namespace) -> int:
    facts = retrieval_of(common.read_object(args.release, "release.json"), args.env)
    alias, keep = facts["alias"], int(facts.get("keepIndexes") or 5)
    for stack in stacks_of(args.outputs):
        endpoint = stack["searchEndpoint"]
        serving = version_of(alias, alias_target(endpoint, alias))
        numbers = sorted(existing_versions(endpoint, alias), reverse=True)
        for number in numbers[keep:]:
            if serving is None or number >= serving:
                continue  # never what serves, nor a newer candidate
            name = f"{alias}-v{number}"
            for kind in ("indexers", "skillsets", "datasources", "indexes"):
                if get_or_none(url(endpoint, f"/{kind}/{quote(name)}")) is not None:
                    http("DELETE", url(endpoint, f"/{kind}/{quote(name)}"))
            print(f"deleted {name} in {stack['location']} (past {keep} kept versions)")
    return 0


def served(endpoint: str, alias: str) -> dict[str, str]:
    """The index ALIAS serves on the search service, and the inputs hash it was built from."""
    index = alias_target(endpoint, alias)
    indexer = get_or_none(url(endpoint, f"/indexers/{quote(index)}")) if index else None
    description = str((indexer or {}).get("description") or "")
    built_from = (
        description.removeprefix(indexing.HASH_MARK) if description.startswith(indexing.HASH_MARK) else ""
    )
    return {"alias": alias, "index": index, "inputsSha256": built_from}


def cmd_show(args: argparse.Namespace) -> int:
    facts = retrieval_of(common.read_object(args.release, "release.json"), args.env)
    shown = [
        {"location": stack["location"], **served(stack["searchEndpoint"], facts["alias"])}
        for stack in stacks_of(args.outputs)
    ]
    print(json.dumps(shown, indent=2))
    return 0


# --------------------------------------------------------------------------- CLI


def _release(command: argparse.ArgumentParser) -> None:
    command.add_argument("--release", type=Path, default=Path(".almgen/release.json"), help="release.json")


def parser() -> argparse.ArgumentParser:
    result = common.Parser(
        prog="retrieval.py", description="Versioned search indexes of almgen.yaml's retrieval."
    )
    commands = result.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    build = commands.add_parser("build", help="build a new index version when the inputs changed")
    build.add_argument("--env", required=True)
    build.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    _release(build)
    build.add_argument("--live-state", type=Path, help="live state JSON: which embedding deployment serves")
    build.add_argument("--out", type=Path, required=True, help="the candidate index of each region")
    build.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    build.add_argument("--timeout-minutes", type=float, default=WAIT_MINUTES)
    switch = commands.add_parser("switch", help="point the alias at the candidate index")
    switch.add_argument("--env", required=True)
    switch.add_argument("--build", type=Path, required=True, help="the build step's --out")
    _release(switch)
    switch.add_argument("--save-previous", type=Path, required=True, help="where the alias pointed before")
    switch.add_argument("--out", type=Path)
    restore = commands.add_parser("restore", help="point the alias back where it pointed before")
    restore.add_argument("--previous", type=Path, required=True)
    for name, text in (("retain", "delete index versions past retention"), ("show", "the served index")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--env", required=True)
        command.add_argument("--outputs", type=Path, required=True)
        _release(command)
    return result


COMMANDS = {
    "build": cmd_build,
    "switch": cmd_switch,
    "restore": cmd_restore,
    "retain": cmd_retain,
    "show": cmd_show,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return common.run_command("retrieval.py", args.command, lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
