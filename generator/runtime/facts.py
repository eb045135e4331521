"""What models.py reads: release.json's models, the deployment outputs' stacks, and the CI run."""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

if __package__:
    from . import common
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")


JOB_TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")
LINEAGE_KEYS = (  # compared when a version already exists: they define what the version is
    "trainingDataAsset",
    "trainingDataVersion",
    "preprocessing",
    "featureEngineering",
    "hyperparametersSha256",
)
# recorded with the version, compared with a warning: a code folder can be the whole repository, so
# any commit changes it; the version number, which the team bumps, says when the model is new
CODE_KEY = "trainingCodeSha256"
COLOURS = ("blue", "green")
DEPRECATED_STATUSES = ("deprecating", "deprecated")
NOT_FOUND = re.compile(r"not found|could not be found|ResourceNotFound|does not exist", re.IGNORECASE)


def asset(name: str, version: str) -> list[str]:
    return ["--name", name, "--version", version]


def scope(group: str, workspace: str) -> list[str]:
    return ["-g", group, "-w", workspace]


CONTENT_KEY = "contentSha256"  # what the registered bytes are: compared, never overwritten


def registry_of(release: dict[str, Any]) -> dict[str, str]:
    """release.json's modelRegistry: the registry's name and the environment that publishes into it."""
    value = release.get("modelRegistry")
    if not isinstance(value, dict):
        raise common.InputError(
            "release.json has no modelRegistry: regenerate with this almgen (almgen generate)"
        )
    return {
        "name": common.text_of(value, "name", "release.json modelRegistry"),
        "home": common.text_of(value, "home", "release.json modelRegistry"),
    }


def in_registry(registry: str) -> list[str]:
    return ["--registry-name", registry]


def registry_asset(registry: str, name: str, version: str) -> str:
    """What every environment's online deployment serves: the one asset, the same bytes."""
    return f"azureml://registries/{registry}/models/{name}/versions/{version}"


def not_found(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and bool(NOT_FOUND.search(result.stderr or ""))


def strings(item: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise common.InputError(f"{where}: {key!r} must be a list of strings")
    return value


def models_of(facts: dict[str, Any], env: str) -> list[dict[str, Any]]:
    models = facts.get("models") or []
    if not isinstance(models, list):
        raise common.InputError(f"release.json environments.{env}.models must be a list")
    for index, model in enumerate(models):
        where = f"release.json environments.{env}.models[{index}]"
        if not isinstance(model, dict):
            raise common.InputError(f"{where} must be an object")
        common.text_of(model, "name", where)
        common.text_of(model, "version", where)
        if model.get("kind") not in ("foundation", "custom"):
            raise common.InputError(f"{where}: 'kind' must be 'foundation' or 'custom'")
    return models


def foundation_models(release: dict[str, Any]) -> list[dict[str, Any]]:
    """Foundation models of every environment, once per (format, model, version, sku)."""
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for env, facts in common.environments(release).items():
        if not isinstance(facts, dict):
            raise common.InputError(f"release.json environments.{env} must be an object")
        for model in models_of(facts, env):
            if model["kind"] != "foundation":
                continue
            where = f"release.json environments.{env} model {model['name']}"
            entry = {
                "name": model["name"],
                "model": common.text_of(model, "model", where),
                "version": model["version"],
                "format": model.get("format") or "OpenAI",
                "sku": model.get("sku") or "",
                "versionUpgrade": model.get("versionUpgrade") or "",
            }
            seen.setdefault((entry["format"], entry["model"], entry["version"], entry["sku"]), entry)
    return list(seen.values())


def stacks_of(path: Path) -> list[dict[str, Any]]:
    """The regions of an environment from its ARM deployment outputs, primary first."""
    return common.stacks_of(path, "resourceGroup")


def workspace_of(stack: dict[str, Any]) -> str:
    name = stack.get("workspaceName")
    if not isinstance(name, str) or not name:
        raise common.InputError(
            f"the {stack['location']} stack has no workspaceName: does the spec have custom models?"
        )
    return name


def inside(root: Path, relative: object, what: str) -> Path:
    """A path release.json names, resolved under ROOT; InputError when it is absolute or leaves ROOT."""
    if not isinstance(relative, str) or not relative:
        raise common.InputError(f"{what} must be a non-empty path")
    if Path(relative).is_absolute() or re.match(r"^[A-Za-z]:", relative):
        raise common.InputError(f"{what} {relative!r} must be relative to the repository")
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise common.InputError(f"{what} {relative!r} leaves the repository")
    return path


def regions_of(text: str) -> list[str]:
    regions = [r.strip() for r in text.split(",") if r.strip()]
    if not regions:
        raise common.InputError("--regions names no region")
    return regions


def git_commit(environ: Mapping[str, str]) -> str:
    return environ.get("GITHUB_SHA") or environ.get("BUILD_SOURCEVERSION") or ""


def run_url(environ: Mapping[str, str]) -> str | None:
    if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    collection, project = environ.get("SYSTEM_COLLECTIONURI"), environ.get("SYSTEM_TEAMPROJECT")
    if environ.get("BUILD_BUILDID") and collection and project:
        build = quote(environ["BUILD_BUILDID"])
        return f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={build}"
    return None
