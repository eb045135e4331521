"""models.py register: register custom models with immutable lineage; the stage moves by tag."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any

if __package__:
    from . import common, facts
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")


# --------------------------------------------------------------------------- register


def canonical_sha256(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hyperparameters_sha256(model: dict[str, Any], root: Path) -> str | None:
    """sha256 of the hyperparameters file, or of the canonical JSON of an inline map; None if none."""
    value = model.get("hyperparameters")
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise common.InputError(f"hyperparameters of {model['name']} must be an object")
    if set(value) == {"file"} and isinstance(value["file"], str):
        path = facts.inside(root, value["file"], f"hyperparameters file of {model['name']}")
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise common.InputError(
                f"cannot read hyperparameters file {value['file']}: {exc.strerror or exc}"
            ) from exc
    return canonical_sha256(value)


MAX_CODE_FILES = 10_000  # past this, only the job file is hashed (a warning says so)
SKIPPED_FOLDERS = frozenset({".git", "__pycache__", "node_modules", ".venv", ".venv-tools"})


def _code_folder(job_file: Path) -> str | None:
    """The `code:` folder of an Azure ML command job file (a top-level key), or None."""
    for line in job_file.read_text("utf-8", errors="replace").splitlines():
        match = re.match(r"^code:\s*['\"]?([^'\"#]+?)['\"]?\s*(#.*)?$", line)
        if match:
            return match.group(1)
    return None


def _code_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if SKIPPED_FOLDERS.intersection(path.relative_to(folder).parts) or not path.is_file():
            continue
        files.append(path)
        if len(files) > MAX_CODE_FILES:
            common.say(f"warning: {folder} has over {MAX_CODE_FILES} files: only the job file is hashed")
            return []
    return files


def _add_tree(digest: Any, folder: Path) -> None:
    for path in _code_files(folder):
        name = path.relative_to(folder).as_posix().encode("utf-8")
        digest.update(b"\0file\0" + name + b"\0" + hashlib.sha256(path.read_bytes()).digest())


def folder_sha256(folder: Path) -> str:
    """sha256 over the names and bytes of the files of a model folder (what `path` registers)."""
    digest = hashlib.sha256(b"folder")
    try:
        _add_tree(digest, folder)
    except OSError as exc:
        raise common.InputError(f"cannot read the model folder {folder}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def training_code_sha256(model: dict[str, Any], root: Path) -> str | None:
    """sha256 over the training job file and the files of its `code:` folder (names and bytes)."""
    job = model.get("trainingJob")
    if not job:
        return None
    where = f"trainingJob of {model['name']}"
    job_file = facts.inside(root, job, where)
    try:
        digest = hashlib.sha256(b"job\0" + job_file.read_bytes())
        code = _code_folder(job_file)
        if code and not code.startswith(("azureml:", "http://", "https://", "git+")):
            relative = os.path.relpath(job_file.parent / code, root.resolve())
            folder = facts.inside(root, relative, f"code folder of {where}")
            _add_tree(digest, folder)
    except OSError as exc:
        raise common.InputError(f"cannot read the {where}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def code_changed(model: dict[str, Any], root: Path, registered_props: object) -> str:
    """A warning when the training code differs from the code the version was registered with."""
    props = registered_props if isinstance(registered_props, dict) else {}
    now, then = training_code_sha256(model, root), props.get(facts.CODE_KEY)
    if now is None or then is None or str(then) == now:
        return ""
    return (
        f"warning: the training code of {model['name']} {model['version']} changed since it was "
        f"registered ({facts.CODE_KEY}: registered {then}, now {now}); bump the version "
        f"(almgen bump {model['name']} --patch) to train and register the new code"
    )


def lineage(model: dict[str, Any], root: Path) -> dict[str, str]:
    """The properties that define a model version (compared when it already exists)."""
    where = f"model {model['name']}"
    props: dict[str, str] = {}
    data = model.get("trainingData")
    if data is not None:
        if not isinstance(data, dict):
            raise common.InputError(f"{where}: trainingData must be an object")
        props["trainingDataAsset"] = common.text_of(data, "asset", f"{where} trainingData")
        version = data.get("version")
        if not isinstance(version, (str, int)) or isinstance(version, bool) or version == "":
            raise common.InputError(f"{where} trainingData: 'version' must be a string")
        props["trainingDataVersion"] = str(version)
    for key in ("preprocessing", "featureEngineering"):
        steps = facts.strings(model, key, where)
        if steps:
            props[key] = ",".join(steps)
    digest = hyperparameters_sha256(model, root)
    if digest:
        props["hyperparametersSha256"] = digest
    return props


def recorded(model: dict[str, Any], root: Path) -> dict[str, str]:
    """What a new version records: its lineage and the hash of its training code."""
    props = lineage(model, root)
    code = training_code_sha256(model, root)
    if code:
        props[facts.CODE_KEY] = code
    return props


def registered(name: str, version: str, group: str, workspace: str) -> dict[str, Any] | None:
    """The model version registered in a workspace, or None when the workspace does not have it."""
    return registered_at(name, version, facts.scope(group, workspace), workspace)


def published(name: str, version: str, registry: str) -> dict[str, Any] | None:
    """The model version in the Azure ML registry, or None when the registry does not have it."""
    return registered_at(name, version, facts.in_registry(registry), f"registry {registry}")


def registered_at(name: str, version: str, where: list[str], what: str) -> dict[str, Any] | None:
    result = common.az(["ml", "model", "show", *facts.asset(name, version), *where, "-o", "json"])
    if result.returncode != 0:
        if facts.not_found(result):
            return None
        raise common.Failure(f"cannot look up {name} {version} in {what}: {common.az_error(result)}")
    try:
        parsed = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise common.Failure(f"az ml model show did not answer JSON ({exc.msg})") from exc
    return parsed if isinstance(parsed, dict) else {}


def lineage_differences(expected: dict[str, str], registered: object) -> list[str]:
    props = registered if isinstance(registered, dict) else {}
    out = []
    for key in facts.LINEAGE_KEYS:
        want, have = expected.get(key), props.get(key)
        have = None if have is None else str(have)
        if want != have:
            out.append(f"{key}: registered {have!r}, release {want!r}")
    return out


def read_trained(paths: list[Path]) -> dict[str, dict[str, str]]:
    trained: dict[str, dict[str, str]] = {}
    for path in paths:
        document = common.read_object(path, "trained job file")
        model = common.text_of(document, "model", str(path))
        common.text_of(document, "job", str(path))
        trained[model] = {k: v for k, v in document.items() if isinstance(v, str)}
    return trained


def job_output(job: dict[str, str], subscription: str) -> str:
    """A training job's model output, addressed from outside its workspace (a registry copies it)."""
    return (
        f"azureml://subscriptions/{subscription}/resourceGroups/{job['resourceGroup']}/workspaces/"
        f"{job['workspace']}/datastores/workspaceartifactstore/paths/ExperimentRun/dcid.{job['job']}/model"
    )


def content_of(
    model: dict[str, Any], job: dict[str, str] | None, root: Path, new: bool
) -> tuple[str, str] | None:
    """What the environment that publishes would register now, as (source kind, contentSha256).

    A trained version is the output of one training job, which Azure keeps immutable: its content
    hash covers the job and the inputs it trained on. A version from `path` is that folder's bytes.
    None when there is nothing to register here (a trained model whose job did not run now).
    NEW: the registry does not have the version (a trained model then falls back to its folder).
    """
    if job is not None:
        return "job", canonical_sha256({"trainingJob": job["job"], **recorded(model, root)})
    if model.get("path") and not model.get("trainingJob"):
        folder = facts.inside(root, model["path"], f"path of {model['name']}")
        if not folder.is_dir():
            raise common.InputError(f"model path {model['path']} of {model['name']} does not exist")
        return "path", folder_sha256(folder)
    if new and model.get("path"):  # a trained model whose training did not run: its folder
        folder = facts.inside(root, model["path"], f"path of {model['name']}")
        if folder.is_dir():
            return "path", folder_sha256(folder)
    return None


# a model, its registry version (None: new), and what the publisher would register (kind, sha256)
Planned = tuple[dict[str, Any], "dict[str, Any] | None", "tuple[str, str] | None"]


def cmd_register(args: argparse.Namespace) -> int:
    """Publish each new custom model version into the registry (the first environment only);
    every environment then deploys the registry's asset. Nothing is ever registered twice."""
    release = common.read_object(args.release, "release.json")
    models = [
        m for m in facts.models_of(common.environment(release, args.env), args.env) if m["kind"] == "custom"
    ]
    if not models:
        print("[]")
        return 0
    registry = facts.registry_of(release)
    reg, publisher = registry["name"], registry["home"] == args.env
    trained = read_trained(args.trained or [])

    # Read first: a single mismatch anywhere changes nothing anywhere.
    plans: list[Planned] = []
    problems: list[str] = []
    for model in models:
        name, version = model["name"], model["version"]
        expected = lineage(model, args.root)  # bad inputs fail before Azure is asked anything
        existing = published(name, version, reg)
        content = content_of(model, trained.get(name), args.root, existing is None) if publisher else None
        if existing is None:
            if not publisher:
                problems.append(
                    f"{name} {version} is not in the registry {reg}: {registry['home']} publishes each "
                    f"version; release this commit through {registry['home']} first"
                )
            elif content is None:
                problems.append(
                    f"{name} {version} has nothing to publish to {reg}: no training job ran and the "
                    "model has no 'path'"
                )
            plans.append((model, None, content))
            continue
        props = existing.get("properties") if isinstance(existing.get("properties"), dict) else {}
        for difference in lineage_differences(expected, props):
            problems.append(f"{name} {version} in the registry {reg}: lineage {difference}")
        then = (props or {}).get(facts.CONTENT_KEY)
        if content is not None and then is not None and str(then) != content[1]:
            problems.append(
                f"{name} {version} in the registry {reg}: {facts.CONTENT_KEY} registered {then}, "
                f"now {content[1]} (from its {'training job' if content[0] == 'job' else 'path folder'})"
            )
        warning = code_changed(model, args.root, props)
        if warning:
            common.say(warning)
        plans.append((model, existing, content))
    if problems:
        for problem in problems:
            common.say(f"error: {problem}")
        raise common.Failure(
            f"{len(problems)} registry problem(s): a published version is immutable; bump the model's "
            "version (almgen bump NAME --patch) to publish new content"
        )

    summary = [_publish(args, release, planned, trained) for planned in plans]
    print(json.dumps(summary, indent=2))
    if args.out:
        common.write_json(args.out, summary)
    return 0


def _publish(
    args: argparse.Namespace, release: dict[str, Any], planned: Planned, trained: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Create the version in the registry unless it is there; the summary entry of one model."""
    model, existing, content = planned
    reg = facts.registry_of(release)["name"]
    name, version = model["name"], model["version"]
    entry: dict[str, Any] = {"model": name, "version": version, "registry": reg}
    entry["asset"] = facts.registry_asset(reg, name, version)
    if existing is not None:
        props = existing.get("properties") if isinstance(existing.get("properties"), dict) else {}
        job = trained.get(name)
        if job is not None:
            common.say(
                f"warning: {name} {version} is already in {reg}; the output of job {job['job']} is not "
                "published (bump the version to publish it)"
            )
        common.say(f"{name} {version}: deployed from the registry {reg} ({entry['asset']})")
        return {**entry, facts.CONTENT_KEY: (props or {}).get(facts.CONTENT_KEY), "created": False}
    assert content is not None  # checked while reading
    job = trained.get(name)
    if content[0] == "job" and job is not None:
        subscription = common.az_text(
            ["account", "show", "--query", "id", "-o", "tsv"], "read the subscription"
        )
        source = job_output(job, subscription)
    else:
        source = str(facts.inside(args.root, model["path"], f"path of {name}"))
    props = recorded(model, args.root)
    props[facts.CONTENT_KEY] = content[1]
    commit = facts.git_commit(os.environ)
    if commit:
        props["gitCommit"] = commit
    if isinstance(release.get("specSha256"), str) and release["specSha256"]:
        props["specSha256"] = release["specSha256"]
    if job is not None:
        props["trainingJob"] = job["job"]
    service = release.get("service") if isinstance(release.get("service"), str) else ""
    description = model.get("description") or f"{name} {version}" + (f" of {service}" if service else "")
    common.az_text(
        [
            "ml",
            "model",
            "create",
            *facts.asset(name, version),
            "--type",
            "mlflow_model",
            "--path",
            source,
            *facts.in_registry(reg),
            "--description",
            str(description),
            "--tags",
            f"publishedBy={args.env}",
            "-o",
            "json",
            "--set",
            *(f"properties.{key}={value}" for key, value in props.items()),
        ],
        f"publish {name} {version} to the registry {reg}",
    )
    common.say(f"{name} {version}: published to the registry {reg} ({facts.CONTENT_KEY} {content[1]})")
    return {**entry, facts.CONTENT_KEY: content[1], "created": True}
