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
            for path in _code_files(folder):
                name = path.relative_to(folder).as_posix().encode("utf-8")
                digest.update(b"\0file\0" + name + b"\0" + hashlib.sha256(path.read_bytes()).digest())
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
    """The registered model version, or None when the workspace does not have it."""
    result = common.az(
        ["ml", "model", "show", *facts.asset(name, version), *facts.scope(group, workspace), "-o", "json"]
    )
    if result.returncode != 0:
        if facts.not_found(result):
            return None
        raise common.Failure(f"cannot look up {name} {version} in {workspace}: {common.az_error(result)}")
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


def cmd_register(args: argparse.Namespace) -> int:  # noqa: PLR0912, PLR0915 (moved from models.py as it was)
    release = common.read_object(args.release, "release.json")
    models = [
        m for m in facts.models_of(common.environment(release, args.env), args.env) if m["kind"] == "custom"
    ]
    stacks = facts.stacks_of(args.outputs) if models else []
    trained = read_trained(args.trained or [])
    commit = facts.git_commit(os.environ)
    spec_sha = release.get("specSha256") if isinstance(release.get("specSha256"), str) else ""
    service = release.get("service") if isinstance(release.get("service"), str) else ""

    # Read first: a single lineage mismatch anywhere changes nothing anywhere.
    plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]] = []
    problems: list[str] = []
    for model in models:
        name, version = model["name"], model["version"]
        expected = lineage(model, args.root)
        for stack in stacks:
            group, workspace = stack["resourceGroup"], facts.workspace_of(stack)
            existing = registered(name, version, group, workspace)
            if existing is not None:
                for difference in lineage_differences(expected, existing.get("properties")):
                    problems.append(f"{name} {version} in {workspace}: {difference}")
                warning = code_changed(model, args.root, existing.get("properties"))
                if warning:
                    common.say(warning)
            plans.append((model, stack, existing))
    if problems:
        for problem in problems:
            common.say(f"lineage mismatch: {problem}")
        raise common.Failure(
            f"{len(problems)} lineage difference(s): a registered version is immutable; "
            "bump the model's version (almgen bump NAME --patch) to register new lineage"
        )

    summary: list[dict[str, Any]] = []
    for model, stack, existing in plans:
        name, version = model["name"], model["version"]
        group, workspace = stack["resourceGroup"], facts.workspace_of(stack)
        job = trained.get(name)
        # A job's output is addressable only in the workspace it ran in (the primary's, by default).
        job_here = job is not None and (job.get("workspace") or facts.workspace_of(stacks[0])) == workspace
        if existing is not None:
            if job_here and job is not None:
                common.say(
                    f"warning: {name} {version} already exists in {workspace}; the output of job "
                    f"{job['job']} is not registered (bump the version to register it)"
                )
            tags = existing.get("tags") if isinstance(existing.get("tags"), dict) else {}
            if (tags or {}).get("stage") != args.env:
                common.az_text(
                    [
                        "ml",
                        "model",
                        "update",
                        *facts.asset(name, version),
                        *facts.scope(group, workspace),
                        "--set",
                        f"tags.stage={args.env}",
                    ],
                    f"tag {name} {version}",
                )
            common.say(f"{name} {version}: already registered in {workspace}; stage={args.env}")
            summary.append({"model": name, "version": version, "workspace": workspace, "created": False})
            continue
        if job_here and job is not None:
            source = f"azureml://jobs/{job['job']}/outputs/artifacts/paths/model/"
        elif model.get("path"):
            folder = facts.inside(args.root, model["path"], f"path of {name}")
            if not folder.exists():
                raise common.InputError(f"model path {model['path']} of {name} does not exist")
            source = str(folder)
        else:
            raise common.Failure(
                f"{name} {version} is not registered in {workspace} and has no source here (no 'path', "
                "and no training job in this workspace): promote it through an Azure ML registry "
                "or give the model a path"
            )
        props = recorded(model, args.root)
        if commit:
            props["gitCommit"] = commit
        if spec_sha:
            props["specSha256"] = spec_sha
        if job_here and job is not None:
            props["trainingJob"] = job["job"]
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
                *facts.scope(group, workspace),
                "--description",
                str(description),
                "--tags",
                f"stage={args.env}",
                "-o",
                "json",
                "--set",
                *(f"properties.{key}={value}" for key, value in props.items()),
            ],
            f"register {name} {version} in {workspace}",
        )
        common.say(f"{name} {version}: registered in {workspace} ({stack['location']})")
        summary.append({"model": name, "version": version, "workspace": workspace, "created": True})
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        common.write_json(args.out, summary)
    return 0
