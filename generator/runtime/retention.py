"""models.py retain: archive the registered versions of custom models past `keepVersions`.

After a release, each region's workspace keeps, per custom model, the `keepVersions` highest
semver versions, the version this release deploys, and every version an online deployment of the
model still references (serving or standing by for a rollback); the others are archived
(`az ml model archive`: hidden from lists, still resolvable, restorable). Versions that are not
semver are never archived. The record (`--out`) names what was kept and archived, where, when and
by which run.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any

if __package__:
    from . import common, facts, routing
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    routing = importlib.import_module("routing")


def referenced_versions(name: str, stack: dict[str, Any], group: str, workspace: str) -> set[str]:
    """The versions of NAME that an online deployment of its endpoints references, in one region."""
    versions: set[str] = set()
    for endpoint in stack.get("onlineEndpoints") or []:
        if not isinstance(endpoint, dict) or endpoint.get("model") != name or not endpoint.get("name"):
            continue
        deployments = common.az_json(
            [
                "ml",
                "online-deployment",
                "list",
                "--endpoint-name",
                str(endpoint["name"]),
                *facts.scope(group, workspace),
            ],
            f"list the deployments of {endpoint['name']}",
        )
        for deployment in deployments or []:
            model = deployment.get("model") if isinstance(deployment, dict) else None
            if isinstance(model, str):  # azureml:NAME:VERSION or an ARM id ending in /versions/VERSION
                versions.add(routing.model_version(model))
    return versions


def to_archive(registered: list[str], keep: int, protected: set[str]) -> list[str]:
    """The semver versions past the KEEP highest, except the protected ones; highest first."""
    keyed = [(key, v) for v in registered if (key := common.semver(v)) is not None]
    ordered = [v for _, v in sorted(keyed, reverse=True)]
    return [v for v in ordered[keep:] if v not in protected]


def cmd_retain(args: argparse.Namespace) -> int:
    if args.keep < 1:
        raise common.InputError("--keep must be at least 1")
    release = common.read_object(args.release, "release.json")
    models = [
        m for m in facts.models_of(common.environment(release, args.env), args.env) if m["kind"] == "custom"
    ]
    stacks = facts.stacks_of(args.outputs) if models else []
    entries: list[dict[str, Any]] = []
    for model in models:
        name = model["name"]
        for stack in stacks:
            group, workspace = stack["resourceGroup"], facts.workspace_of(stack)
            listed = common.az_json(
                ["ml", "model", "list", "--name", name, *facts.scope(group, workspace)],
                f"list the versions of {name} in {workspace}",
            )
            registered = [str(v["version"]) for v in listed or [] if isinstance(v, dict) and "version" in v]
            in_use = referenced_versions(name, stack, group, workspace) | {str(model["version"])}
            archive = to_archive(registered, args.keep, in_use)
            for version in archive:
                common.az_text(
                    ["ml", "model", "archive", *facts.asset(name, version), *facts.scope(group, workspace)],
                    f"archive {name} {version} in {workspace}",
                )
                common.say(f"{name} {version}: archived in {workspace} (past the {args.keep} kept)")
            kept = [v for v in registered if v not in archive]
            entries.append(
                {
                    "model": name,
                    "workspace": workspace,
                    "region": stack["location"],
                    "inUse": sorted(in_use & set(registered)),
                    "kept": kept,
                    "archived": archive,
                }
            )
    document = {
        "environment": args.env,
        "keepVersions": args.keep,
        "commit": facts.git_commit(os.environ) or None,
        "runUrl": facts.run_url(os.environ),
        "recordedAt": common.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entries": entries,
    }
    if args.out:
        common.write_json(args.out, document)
    return 0
