"""models.py retain: archive the registered versions of custom models past `keepVersions`.

After a release of the environment that publishes into the Azure ML registry (the first), the
registry keeps, per custom model, the `keepVersions` highest semver versions, the version this
release deploys, and every version an online deployment of that environment still references
(serving or standing by for a rollback); the others are archived (`az ml model archive`: hidden
from lists, still resolvable, so a later environment still serving one keeps serving it, and
restorable). Later environments only read the registry: their retain step archives nothing.
Versions that are not semver are never archived. The record (`--out`) names what was kept and
archived, where, when and by which run.
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
    registry = facts.registry_of(release) if models else None
    entries: list[dict[str, Any]] = []
    if registry is not None and registry["home"] != args.env:
        common.say(f"the versions of the registry {registry['name']} are archived by {registry['home']}")
        models = []
    stacks = facts.stacks_of(args.outputs) if models else []
    for model in models:
        assert registry is not None
        name, reg = model["name"], registry["name"]
        listed = common.az_json(
            ["ml", "model", "list", "--name", name, *facts.in_registry(reg)],
            f"list the versions of {name} in the registry {reg}",
        )
        registered = [str(v["version"]) for v in listed or [] if isinstance(v, dict) and "version" in v]
        in_use = {str(model["version"])}
        for stack in stacks:
            in_use |= referenced_versions(name, stack, stack["resourceGroup"], facts.workspace_of(stack))
        archive = to_archive(registered, args.keep, in_use)
        for version in archive:
            common.az_text(
                ["ml", "model", "archive", *facts.asset(name, version), *facts.in_registry(reg)],
                f"archive {name} {version} in the registry {reg}",
            )
            common.say(f"{name} {version}: archived in the registry {reg} (past the {args.keep} kept)")
        entries.append(
            {
                "model": name,
                "registry": reg,
                "regions": [stack["location"] for stack in stacks],
                "inUse": sorted(in_use & set(registered)),
                "kept": [v for v in registered if v not in archive],
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
