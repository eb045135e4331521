"""The prompt agent definitions agents.py gives each version: instructions, model binding, tools.

A definition is what makes two versions the same: `same_definition` compares the fields almgen
sets (kind, model, instructions, tools with their resources), `matching` finds the newest version
with a definition and the spec's semver (`metadata.version`). Tools carry their resources in the
definition (Azure/azure-rest-api-specs `specification/ai-foundry/data-plane/Foundry`, `tools`):
`azure_ai_search` one index through a project connection, `code_interpreter` a container;
`file_search` needs vector stores almgen does not create (spec validation refuses it).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

if __package__:
    from . import common
else:  # run from .almgen/scripts/: common.py is beside it
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")


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


def semver_of(version: dict[str, Any]) -> str:
    """The spec's semver a Foundry version was created for (its metadata), "" if none."""
    metadata = version.get("metadata")
    return str(metadata.get("version") or "") if isinstance(metadata, dict) else ""


def search_tool(
    release: dict[str, Any], env: str, agent: str, stack: dict[str, Any]
) -> dict[str, Any] | None:
    """An agent of retrieval.agents answers from the alias, through the project's search connection."""
    retrieval = common.environment(release, env).get("retrieval")
    if not isinstance(retrieval, dict) or agent not in (retrieval.get("agents") or []):
        return None
    connection = stack.get("searchConnection")
    if not isinstance(connection, str) or not connection:
        raise common.InputError(f"deployment outputs of {stack['location']} name no search connection")
    index = {"project_connection_id": connection, "index_name": str(retrieval.get("alias") or "")}
    return {"indexes": [index]}


def tool_of(kind: str, search: dict[str, Any] | None, agent: str) -> dict[str, Any]:
    """A tool of a prompt agent definition, with the resources it needs."""
    if kind == "code_interpreter":  # the container the service creates for a conversation
        return {"type": kind, "container": {"type": "auto"}}
    if kind == "azure_ai_search":
        if search is None:
            raise common.InputError(
                f"agent {agent} has the azure_ai_search tool but retrieval does not bind it to an index"
            )
        return {"type": kind, "azure_ai_search": search}
    if kind == "file_search":  # spec validation refuses it: almgen creates no vector store
        raise common.InputError(
            f"agent {agent}: the file_search tool needs a vector store almgen does not create"
        )
    return {"type": kind}


def definition_of(
    agent: dict[str, Any], model: str, instructions: str, search: dict[str, Any] | None
) -> dict[str, Any]:
    """The prompt agent definition of a version: model binding, instructions, tools."""
    tools = [tool_of(kind, search, agent["name"]) for kind in agent.get("tools") or []]
    return {"kind": "prompt", "model": model, "instructions": instructions, "tools": tools}


def same_definition(existing: object, wanted: dict[str, Any]) -> bool:
    """Whether a version's definition is WANTED (the fields almgen sets; the service may add others)."""
    if not isinstance(existing, dict):
        return False

    def canonical(value: object) -> str:
        return json.dumps(value, sort_keys=True)

    return (
        existing.get("kind") == wanted["kind"]
        and existing.get("model") == wanted["model"]
        and (existing.get("instructions") or "") == wanted["instructions"]
        and canonical(existing.get("tools") or []) == canonical(wanted["tools"])
    )


def matching(versions: list[dict[str, Any]], wanted: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The newest version with definition WANTED made for semver VERSION, if any."""
    return next(
        (v for v in versions if semver_of(v) == version and same_definition(v.get("definition"), wanted)),
        None,
    )
