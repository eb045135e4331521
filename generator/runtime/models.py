"""Model lifecycle: train, register with lineage, retire, and the scheduled retirement and quota checks.

Usage:
  python models.py train --env ENV --model NAME --outputs FILE [--save FILE] [--release FILE] [--root DIR]
                         [--poll-seconds N] [--timeout-minutes N]
  python models.py register --env ENV --outputs FILE [--trained FILE ...] [--out FILE] [--release FILE]
                            [--root DIR]
  python models.py retire --env ENV --outputs FILE --out FILE [--live-state FILE] [--release FILE]
  python models.py check-retirements --regions R1,R2 [--days 60] [--today YYYY-MM-DD] [--release FILE]
  python models.py check-quota --regions R1,R2 --percent N [--release FILE]

Inputs: `.almgen/release.json` (generated from the spec; `--release` overrides the path) and, for the
per-environment commands, the ARM deployment outputs of the environment (`--outputs`, the JSON of
`az deployment sub show --query properties.outputs`: `{"stacks": {"value": [...]}}`). Stacks are
processed primary first. Files that release.json names (job specs, model folders, hyperparameters) are
read relative to `--root` (default: the current directory) and must stay inside it.

- `train` submits the model's Azure ML job (`trainingJob`) in the primary region's workspace, polls its
  status until it ends, fails unless it Completed, and prints the job name; `--save` writes
  `{"model", "job", "workspace", "resourceGroup"}` for `register --trained`.
- `register` registers every custom model of ENV in every region's workspace. Immutable lineage goes
  into the model version's `properties` (training data asset and version, preprocessing, feature
  engineering, hyperparameters sha256, git commit, spec sha256, training job); the mutable stage goes
  into `tags` (`stage=<env>`). A version that already exists is never re-created: its lineage must
  match (else exit 1 and nothing is changed), and only its stage tag moves. The summary
  `[{"model", "version", "workspace", "created"}]` goes to stdout and to `--out`.
- `retire` removes the versions in release.json's `retired` list from ENV: for a custom model, the
  online deployments that serve it (refused while one still receives traffic) and then the model
  version is tagged retired and archived; for a foundation model, an inactive colour deployment that
  still serves it (the active one is skipped with a warning). Nothing changes when anything is
  refused. A retirement record goes to `--out`.
- `check-retirements` and `check-quota` are the scheduled lifecycle checks of the foundation models of
  every environment: a Markdown table on stdout, appended to `$GITHUB_STEP_SUMMARY` (uploaded as a
  summary on Azure DevOps), exit 1 on any finding.

Azure is reached only through the Azure CLI (`ALMGEN_AZ` names another executable, for tests).
Exit codes: 0 ok; 1 failure (an Azure call failed, a check found a problem, a lineage mismatch, a
refused retirement); 2 usage or bad input, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

JOB_TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")
LINEAGE_KEYS = (  # compared when a version already exists: they define what the version is
    "trainingDataAsset",
    "trainingDataVersion",
    "preprocessing",
    "featureEngineering",
    "hyperparametersSha256",
)
COLOURS = ("blue", "green")
DEPRECATED_STATUSES = ("deprecating", "deprecated")
NOT_FOUND = re.compile(r"not found|could not be found|ResourceNotFound|does not exist", re.IGNORECASE)


class InputError(Exception):
    """Bad or missing input: exit 2."""


class Failure(Exception):
    """Azure refused, a check failed, or a rule was broken: exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


# --------------------------------------------------------------------------- Azure CLI


def az(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the Azure CLI (or `$ALMGEN_AZ`) with ARGS; never through a shell."""
    executable = os.environ.get("ALMGEN_AZ", "az")
    resolved = shutil.which(executable) or executable  # `az.cmd` on Windows agents
    try:
        return subprocess.run([resolved, *args], check=False, capture_output=True, text=True)
    except OSError as exc:
        raise Failure(f"cannot run the Azure CLI ({executable}): {exc.strerror or exc}") from exc


def az_error(result: subprocess.CompletedProcess[str]) -> str:
    """The most useful line of the CLI's stderr."""
    lines = [line.strip() for line in (result.stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    text = (errors or lines or [f"exit code {result.returncode}"])[0]
    return text[:400]


def az_text(args: list[str], what: str) -> str:
    result = az(args)
    if result.returncode != 0:
        raise Failure(f"{what}: az {' '.join(args[:3])} failed: {az_error(result)}")
    return result.stdout.strip()


def az_json(args: list[str], what: str) -> Any:
    text = az_text([*args, "-o", "json"], what)
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Failure(f"{what}: the Azure CLI did not answer JSON ({exc.msg})") from exc


def asset(name: str, version: str) -> list[str]:
    return ["--name", name, "--version", version]


def scope(group: str, workspace: str) -> list[str]:
    return ["-g", group, "-w", workspace]


def not_found(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and bool(NOT_FOUND.search(result.stderr or ""))


# --------------------------------------------------------------------------- inputs


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text("utf-8-sig"))
    except FileNotFoundError as exc:
        raise InputError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from exc


def read_object(path: Path, what: str) -> dict[str, Any]:
    document = read_json(path, what)
    if not isinstance(document, dict):
        raise InputError(f"{what} {path} must hold a JSON object")
    return document


def text_of(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: {key!r} must be a non-empty string")
    return value


def strings(item: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: {key!r} must be a list of strings")
    return value


def environments(release: dict[str, Any]) -> dict[str, Any]:
    envs = release.get("environments")
    if not isinstance(envs, dict):
        raise InputError("release.json has no 'environments' object")
    return envs


def environment(release: dict[str, Any], env: str) -> dict[str, Any]:
    envs = environments(release)
    facts = envs.get(env)
    if not isinstance(facts, dict):
        known = ", ".join(sorted(envs)) or "none"
        raise InputError(f"environment {env!r} is not in release.json (known: {known})")
    return facts


def models_of(facts: dict[str, Any], env: str) -> list[dict[str, Any]]:
    models = facts.get("models") or []
    if not isinstance(models, list):
        raise InputError(f"release.json environments.{env}.models must be a list")
    for index, model in enumerate(models):
        where = f"release.json environments.{env}.models[{index}]"
        if not isinstance(model, dict):
            raise InputError(f"{where} must be an object")
        text_of(model, "name", where)
        text_of(model, "version", where)
        if model.get("kind") not in ("foundation", "custom"):
            raise InputError(f"{where}: 'kind' must be 'foundation' or 'custom'")
    return models


def foundation_models(release: dict[str, Any]) -> list[dict[str, Any]]:
    """Foundation models of every environment, once per (format, model, version, sku)."""
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for env, facts in environments(release).items():
        if not isinstance(facts, dict):
            raise InputError(f"release.json environments.{env} must be an object")
        for model in models_of(facts, env):
            if model["kind"] != "foundation":
                continue
            where = f"release.json environments.{env} model {model['name']}"
            entry = {
                "name": model["name"],
                "model": text_of(model, "model", where),
                "version": model["version"],
                "format": model.get("format") or "OpenAI",
                "sku": model.get("sku") or "",
                "versionUpgrade": model.get("versionUpgrade") or "",
            }
            seen.setdefault((entry["format"], entry["model"], entry["version"], entry["sku"]), entry)
    return list(seen.values())


def stacks_of(path: Path) -> list[dict[str, Any]]:
    """The regions of an environment from its ARM deployment outputs, primary first."""
    document = read_object(path, "deployment outputs")
    stacks = document.get("stacks")
    if isinstance(stacks, dict):
        stacks = stacks.get("value")
    if not isinstance(stacks, list) or not stacks or not all(isinstance(s, dict) for s in stacks):
        raise InputError(f"deployment outputs {path} have no 'stacks' array")
    for index, stack in enumerate(stacks):
        text_of(stack, "location", f"deployment outputs stacks[{index}]")
        text_of(stack, "resourceGroup", f"deployment outputs stacks[{index}]")
    return sorted(stacks, key=lambda stack: not stack.get("primary"))


def workspace_of(stack: dict[str, Any]) -> str:
    name = stack.get("workspaceName")
    if not isinstance(name, str) or not name:
        raise InputError(
            f"the {stack['location']} stack has no workspaceName: does the spec have custom models?"
        )
    return name


def inside(root: Path, relative: object, what: str) -> Path:
    """A path release.json names, resolved under ROOT; InputError when it is absolute or leaves ROOT."""
    if not isinstance(relative, str) or not relative:
        raise InputError(f"{what} must be a non-empty path")
    if Path(relative).is_absolute() or re.match(r"^[A-Za-z]:", relative):
        raise InputError(f"{what} {relative!r} must be relative to the repository")
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise InputError(f"{what} {relative!r} leaves the repository")
    return path


def regions_of(text: str) -> list[str]:
    regions = [r.strip() for r in text.split(",") if r.strip()]
    if not regions:
        raise InputError("--regions names no region")
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


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")


def say(message: str) -> None:
    """Progress and warnings go to stderr, so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- train

sleep: Callable[[float], None] = time.sleep  # tests replace it


def wait_for_job(job: str, group: str, workspace: str, poll: float, timeout_minutes: float) -> str:
    """Poll the job's status until it ends; returns the terminal status."""
    deadline = time.monotonic() + timeout_minutes * 60
    errors, last = 0, ""
    while True:
        result = az(
            ["ml", "job", "show", "-n", job, *scope(group, workspace), "--query", "status", "-o", "tsv"]
        )
        if result.returncode != 0:
            errors += 1
            if errors >= 3:
                raise Failure(f"cannot read the status of job {job}: {az_error(result)}")
        else:
            errors, status = 0, result.stdout.strip()
            if status != last:
                say(f"job {job}: {status}")
                last = status
            if status in JOB_TERMINAL:
                return status
        if time.monotonic() >= deadline:
            raise Failure(
                f"job {job} did not finish within {timeout_minutes:g} minutes (cancel it with: "
                f"az ml job cancel -n {job} -g {group} -w {workspace})"
            )
        sleep(poll)


def find_model(release: dict[str, Any], env: str, name: str) -> dict[str, Any]:
    for model in models_of(environment(release, env), env):
        if model["name"] == name:
            return model
    raise InputError(f"model {name!r} is not in release.json for environment {env!r}")


def cmd_train(args: argparse.Namespace) -> int:
    release = read_object(args.release, "release.json")
    model = find_model(release, args.env, args.model)
    if model["kind"] != "custom" or not model.get("trainingJob"):
        raise InputError(f"model {args.model!r} has no trainingJob: only custom models with training train")
    job_file = inside(args.root, model["trainingJob"], f"trainingJob of {args.model}")
    if not job_file.is_file():
        raise InputError(f"trainingJob {model['trainingJob']} of {args.model} does not exist")
    stack = stacks_of(args.outputs)[0]
    group, workspace = stack["resourceGroup"], workspace_of(stack)
    job = az_text(
        [
            "ml",
            "job",
            "create",
            "-f",
            str(job_file),
            *scope(group, workspace),
            "--query",
            "name",
            "-o",
            "tsv",
        ],
        f"submit the training job of {args.model}",
    )
    if not job or len(job.split()) != 1:
        raise Failure(f"az ml job create did not return a job name (got {job!r})")
    say(f"submitted {job} in {workspace} ({stack['location']})")
    status = wait_for_job(job, group, workspace, args.poll_seconds, args.timeout_minutes)
    if status != "Completed":
        raise Failure(f"training job {job} of {args.model} ended {status}; see: az ml job show -n {job}")
    if args.save:
        write_json(
            args.save, {"model": args.model, "job": job, "workspace": workspace, "resourceGroup": group}
        )
    print(job)
    return 0


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
        raise InputError(f"hyperparameters of {model['name']} must be an object")
    if set(value) == {"file"} and isinstance(value["file"], str):
        path = inside(root, value["file"], f"hyperparameters file of {model['name']}")
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise InputError(
                f"cannot read hyperparameters file {value['file']}: {exc.strerror or exc}"
            ) from exc
    return canonical_sha256(value)


def lineage(model: dict[str, Any], root: Path) -> dict[str, str]:
    """The properties that define a model version (compared when it already exists)."""
    where = f"model {model['name']}"
    props: dict[str, str] = {}
    data = model.get("trainingData")
    if data is not None:
        if not isinstance(data, dict):
            raise InputError(f"{where}: trainingData must be an object")
        props["trainingDataAsset"] = text_of(data, "asset", f"{where} trainingData")
        version = data.get("version")
        if not isinstance(version, (str, int)) or isinstance(version, bool) or version == "":
            raise InputError(f"{where} trainingData: 'version' must be a string")
        props["trainingDataVersion"] = str(version)
    for key in ("preprocessing", "featureEngineering"):
        steps = strings(model, key, where)
        if steps:
            props[key] = ",".join(steps)
    digest = hyperparameters_sha256(model, root)
    if digest:
        props["hyperparametersSha256"] = digest
    return props


def lineage_differences(expected: dict[str, str], registered: object) -> list[str]:
    props = registered if isinstance(registered, dict) else {}
    out = []
    for key in LINEAGE_KEYS:
        want, have = expected.get(key), props.get(key)
        have = None if have is None else str(have)
        if want != have:
            out.append(f"{key}: registered {have!r}, release {want!r}")
    return out


def read_trained(paths: list[Path]) -> dict[str, dict[str, str]]:
    trained: dict[str, dict[str, str]] = {}
    for path in paths:
        document = read_object(path, "trained job file")
        model = text_of(document, "model", str(path))
        text_of(document, "job", str(path))
        trained[model] = {k: v for k, v in document.items() if isinstance(v, str)}
    return trained


def cmd_register(args: argparse.Namespace) -> int:
    release = read_object(args.release, "release.json")
    models = [m for m in models_of(environment(release, args.env), args.env) if m["kind"] == "custom"]
    stacks = stacks_of(args.outputs) if models else []
    trained = read_trained(args.trained or [])
    commit = git_commit(os.environ)
    spec_sha = release.get("specSha256") if isinstance(release.get("specSha256"), str) else ""
    service = release.get("service") if isinstance(release.get("service"), str) else ""

    # Read first: a single lineage mismatch anywhere changes nothing anywhere.
    plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, dict[str, str]]] = []
    problems: list[str] = []
    for model in models:
        name, version = model["name"], model["version"]
        expected = lineage(model, args.root)
        for stack in stacks:
            group, workspace = stack["resourceGroup"], workspace_of(stack)
            result = az(
                ["ml", "model", "show", *asset(name, version), *scope(group, workspace), "-o", "json"]
            )
            existing: dict[str, Any] | None = None
            if result.returncode == 0:
                try:
                    parsed = json.loads(result.stdout or "{}")
                except json.JSONDecodeError as exc:
                    raise Failure(f"az ml model show did not answer JSON ({exc.msg})") from exc
                existing = parsed if isinstance(parsed, dict) else {}
                for difference in lineage_differences(expected, existing.get("properties")):
                    problems.append(f"{name} {version} in {workspace}: {difference}")
            elif not not_found(result):
                raise Failure(f"cannot look up {name} {version} in {workspace}: {az_error(result)}")
            plans.append((model, stack, existing, expected))
    if problems:
        for problem in problems:
            say(f"lineage mismatch: {problem}")
        raise Failure(
            f"{len(problems)} lineage difference(s): a registered version is immutable; "
            "bump the model's version (almgen bump NAME --patch) to register new lineage"
        )

    summary: list[dict[str, Any]] = []
    for model, stack, existing, expected in plans:
        name, version = model["name"], model["version"]
        group, workspace = stack["resourceGroup"], workspace_of(stack)
        job = trained.get(name)
        # A job's output is addressable only in the workspace it ran in (the primary's, by default).
        job_here = job is not None and (job.get("workspace") or workspace_of(stacks[0])) == workspace
        if existing is not None:
            if job_here and job is not None:
                say(
                    f"warning: {name} {version} already exists in {workspace}; the output of job "
                    f"{job['job']} is not registered (bump the version to register it)"
                )
            tags = existing.get("tags") if isinstance(existing.get("tags"), dict) else {}
            if (tags or {}).get("stage") != args.env:
                az_text(
                    [
                        "ml",
                        "model",
                        "update",
                        *asset(name, version),
                        *scope(group, workspace),
                        "--set",
                        f"tags.stage={args.env}",
                    ],
                    f"tag {name} {version}",
                )
            say(f"{name} {version}: already registered in {workspace}; stage={args.env}")
            summary.append({"model": name, "version": version, "workspace": workspace, "created": False})
            continue
        if job_here and job is not None:
            source = f"azureml://jobs/{job['job']}/outputs/artifacts/paths/model/"
        elif model.get("path"):
            folder = inside(args.root, model["path"], f"path of {name}")
            if not folder.exists():
                raise InputError(f"model path {model['path']} of {name} does not exist")
            source = str(folder)
        else:
            raise Failure(
                f"{name} {version} is not registered in {workspace} and has no source here (no 'path', "
                "and no training job in this workspace): promote it through an Azure ML registry "
                "or give the model a path"
            )
        props = dict(expected)
        if commit:
            props["gitCommit"] = commit
        if spec_sha:
            props["specSha256"] = spec_sha
        if job_here and job is not None:
            props["trainingJob"] = job["job"]
        description = model.get("description") or f"{name} {version}" + (f" of {service}" if service else "")
        az_text(
            [
                "ml",
                "model",
                "create",
                *asset(name, version),
                "--type",
                "mlflow_model",
                "--path",
                source,
                *scope(group, workspace),
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
        say(f"{name} {version}: registered in {workspace} ({stack['location']})")
        summary.append({"model": name, "version": version, "workspace": workspace, "created": True})
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        write_json(args.out, summary)
    return 0


# --------------------------------------------------------------------------- retire


def retired_entries(release: dict[str, Any]) -> list[dict[str, Any]]:
    entries = release.get("retired") or []
    if not isinstance(entries, list):
        raise InputError("release.json 'retired' must be a list")
    for index, entry in enumerate(entries):
        where = f"release.json retired[{index}]"
        if not isinstance(entry, dict) or entry.get("kind") not in ("model", "agent"):
            raise InputError(f"{where}: 'kind' must be 'model' or 'agent'")
        text_of(entry, "name", where)
        text_of(entry, "version", where)
    return entries


def model_definition(release: dict[str, Any], env: str, name: str) -> dict[str, Any] | None:
    """The model NAME as ENV declares it, else as any environment does."""
    envs = environments(release)
    order = [env, *(e for e in envs if e != env)]
    for candidate in order:
        facts = envs.get(candidate)
        if isinstance(facts, dict):
            for model in models_of(facts, candidate):
                if model["name"] == name:
                    return model
    return None


def serves_version(model_ref: object, name: str, version: str) -> bool:
    if not isinstance(model_ref, str):
        return False
    return model_ref.endswith(f"/versions/{version}") or model_ref == f"azureml:{name}:{version}"


def number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


Action = tuple[str, list[str]]  # (what it does, az arguments)


def plan_custom(
    *,
    name: str,
    version: str,
    reason: str,
    date: str,
    stack: dict[str, Any],
    region: dict[str, Any],
    actions: list[Action],
) -> None:
    group = stack["resourceGroup"]
    workspace = stack.get("workspaceName")
    if not isinstance(workspace, str) or not workspace:
        region["skipped"].append("no Azure ML workspace in this region")
        return
    region["workspace"] = workspace
    shown = az(["ml", "model", "show", *asset(name, version), *scope(group, workspace), "-o", "json"])
    if shown.returncode != 0 and not not_found(shown):
        raise Failure(f"cannot look up {name} {version} in {workspace}: {az_error(shown)}")
    endpoints = [
        e for e in stack.get("onlineEndpoints") or [] if isinstance(e, dict) and e.get("model") == name
    ]
    for endpoint in endpoints:
        ep = endpoint.get("name")
        if not isinstance(ep, str) or not ep:
            continue
        deployments = (
            az_json(
                ["ml", "online-deployment", "list", "--endpoint-name", ep, *scope(group, workspace)],
                f"list the deployments of {ep}",
            )
            or []
        )
        serving = [
            d for d in deployments if isinstance(d, dict) and serves_version(d.get("model"), name, version)
        ]
        if not serving:
            continue
        shown_ep = (
            az_json(
                ["ml", "online-endpoint", "show", "-n", ep, *scope(group, workspace)],
                f"read the traffic of {ep}",
            )
            or {}
        )
        traffic = shown_ep.get("traffic") if isinstance(shown_ep, dict) else None
        mirror = shown_ep.get("mirror_traffic") if isinstance(shown_ep, dict) else None
        traffic = traffic if isinstance(traffic, dict) else {}
        mirror = mirror if isinstance(mirror, dict) else {}
        for deployment in serving:
            colour = str(deployment.get("name"))
            live, mirrored = number(traffic.get(colour)), number(mirror.get(colour))
            if live > 0 or mirrored > 0:
                region["refused"].append(
                    f"deployment {colour} of {ep} serves {name} {version} with {live:g}% traffic"
                    + (f" and {mirrored:g}% mirrored" if mirrored else "")
                    + ": shift traffic away first"
                )
                continue
            actions.append(
                (
                    f"delete deployment {colour} of {ep}",
                    [
                        "ml",
                        "online-deployment",
                        "delete",
                        "--name",
                        colour,
                        "--endpoint-name",
                        ep,
                        *scope(group, workspace),
                        "--yes",
                    ],
                )
            )
    if shown.returncode != 0:
        region["skipped"].append(f"{name} {version} is not registered in {workspace}")
        return
    tags = ["tags.retired=true", f"tags.retire-reason={reason}", f"tags.retire-date={date}"]
    actions.append(
        (
            f"tag {name} {version} retired",
            ["ml", "model", "update", *asset(name, version), *scope(group, workspace), "--set", *tags],
        )
    )
    actions.append(
        (
            f"archive {name} {version}",
            ["ml", "model", "archive", *asset(name, version), *scope(group, workspace)],
        )
    )


def active_deployment(model: str, env: str, stack: dict[str, Any], live: dict[str, Any] | None) -> str | None:
    """The deployment that serves MODEL: from the live state, else App Configuration; None if unknown."""
    active = live.get("active") if live else None
    if isinstance(active, dict) and isinstance(active.get(model), str):
        return str(active[model])
    endpoint = stack.get("appConfigurationEndpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    result = az(
        [
            "appconfig",
            "kv",
            "show",
            "--endpoint",
            endpoint,
            "--auth-mode",
            "login",
            "--key",
            f"almgen:active:{model}",
            "--label",
            env,
            "--query",
            "value",
            "-o",
            "tsv",
        ]
    )
    value = result.stdout.strip() if result.returncode == 0 else ""
    return value or None


def plan_foundation(
    *,
    model: dict[str, Any],
    version: str,
    env: str,
    stack: dict[str, Any],
    region: dict[str, Any],
    live: dict[str, Any] | None,
    actions: list[Action],
) -> None:
    account = stack.get("aiServicesName")
    if not isinstance(account, str) or not account:
        region["skipped"].append("no AI Services account in this region")
        return
    region["account"] = account
    group, name = stack["resourceGroup"], model["name"]
    names = {name, *(f"{name}-{colour}" for colour in COLOURS)}
    listed = (
        az_json(
            ["cognitiveservices", "account", "deployment", "list", "-n", account, "-g", group],
            f"list the deployments of {account}",
        )
        or []
    )
    serving = []
    for deployment in listed if isinstance(listed, list) else []:
        if not isinstance(deployment, dict):
            continue
        spec = (deployment.get("properties") or {}).get("model") or {}
        if (
            deployment.get("name") in names
            and str(spec.get("version")) == version
            and (not model.get("model") or spec.get("name") == model["model"])
        ):
            serving.append(str(deployment["name"]))
    if not serving:
        region["skipped"].append(f"no deployment serves {name} {version}")
        return
    active = active_deployment(name, env, stack, live)
    canary = (live or {}).get("canary")
    canary = canary.get(name) if isinstance(canary, dict) else None
    for deployment in sorted(serving):
        if active is None:
            region["warnings"].append(
                f"{deployment} serves {version}, but the active deployment is unknown "
                "(pass --live-state): kept"
            )
        elif deployment == active:
            region["warnings"].append(
                f"{deployment} is the active deployment of {name}: kept; "
                "deploy the new version and switch first"
            )
        elif (
            isinstance(canary, dict)
            and canary.get("deployment") == deployment
            and number(canary.get("percent"))
        ):
            region["warnings"].append(f"{deployment} receives canary traffic: kept")
        else:
            actions.append(
                (
                    f"delete deployment {deployment} of {account}",
                    [
                        "cognitiveservices",
                        "account",
                        "deployment",
                        "delete",
                        "-n",
                        account,
                        "-g",
                        group,
                        "--deployment-name",
                        deployment,
                    ],
                )
            )
    return


def cmd_retire(args: argparse.Namespace) -> int:
    release = read_object(args.release, "release.json")
    environment(release, args.env)
    entries = retired_entries(release)
    stacks = stacks_of(args.outputs)
    live = read_object(args.live_state, "live state") if args.live_state else None
    records: list[dict[str, Any]] = []
    planned: list[tuple[dict[str, Any], list[Action]]] = []
    for entry in entries:
        record: dict[str, Any] = {
            key: entry.get(key) for key in ("kind", "name", "version", "reason", "date")
        }
        records.append(record)
        if entry["kind"] == "agent":
            record.update(status="skipped", note="retire with agents.py")
            say(f"{entry['name']} {entry['version']}: an agent: retire with agents.py")
            continue
        model = model_definition(release, args.env, entry["name"])
        if model is None:
            record.update(status="skipped", note="the model is not in release.json")
            say(f"warning: retired model {entry['name']} is not in release.json: skipped")
            continue
        record["modelKind"] = model["kind"]
        record["regions"] = []
        for stack in stacks:
            region: dict[str, Any] = {
                "location": stack["location"],
                "resourceGroup": stack["resourceGroup"],
                "done": [],
                "skipped": [],
                "warnings": [],
                "refused": [],
                "errors": [],
            }
            record["regions"].append(region)
            actions: list[Action] = []
            if model["kind"] == "custom":
                plan_custom(
                    name=entry["name"],
                    version=entry["version"],
                    reason=str(entry.get("reason") or ""),
                    date=str(entry.get("date") or ""),
                    stack=stack,
                    region=region,
                    actions=actions,
                )
            else:
                plan_foundation(
                    model=model,
                    version=entry["version"],
                    env=args.env,
                    stack=stack,
                    region=region,
                    live=live,
                    actions=actions,
                )
            planned.append((region, actions))
    refusals = [r for record in records for region in record.get("regions", []) for r in region["refused"]]
    failed = bool(refusals)
    if not refusals:
        for region, actions in planned:
            for what, command in actions:
                result = az(command)
                if result.returncode != 0:
                    region["errors"].append(f"{what}: failed: {az_error(result)}")
                    failed = True
                    break
                region["done"].append(what)
                say(f"{region['location']}: {what}")
    for record in records:
        regions = record.get("regions")
        if regions is None:
            continue
        if any(r["refused"] for r in regions):
            record["status"] = "refused"
        elif any(r["errors"] for r in regions):
            record["status"] = "failed"
        elif refusals:
            record["status"] = "not-attempted"
        else:
            record["status"] = "retired" if any(r["done"] for r in regions) else "nothing-to-do"
        for region in regions:
            for message in region["warnings"]:
                say(f"warning: {region['location']}: {message}")
    document = {
        "service": release.get("service"),
        "environment": args.env,
        "specSha256": release.get("specSha256"),
        "generator": release.get("generator"),
        "commit": git_commit(os.environ) or None,
        "runUrl": run_url(os.environ),
        "recordedAt": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entries": records,
    }
    write_json(args.out, document)
    for refusal in refusals:
        say(f"refused: {refusal}")
    if refusals:
        raise Failure(f"{len(refusals)} deployment(s) still serve a retired version: nothing was changed")
    if failed:
        raise Failure("some retirements failed; see the record " + str(args.out))
    return 0


# --------------------------------------------------------------------------- scheduled checks


def cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown(title: str, header: list[str], rows: list[list[object]], failed: bool) -> str:
    lines = [f"### {cell(title)}: {'FAILED' if failed else 'PASSED'}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def publish(text: str, name: str) -> None:
    sys.stdout.write(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if os.environ.get("TF_BUILD"):
        path = (Path(os.environ.get("AGENT_TEMPDIRECTORY") or ".") / name).resolve()
        path.write_text(text, "utf-8")
        print(f"##vso[task.uploadsummary]{path}")


def iso_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def today_of(text: str | None) -> dt.date:
    if not text:
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--today {text!r} is not a date (YYYY-MM-DD)") from exc


def catalog_entries(catalog: object, model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in catalog if isinstance(catalog, list) else []:
        spec = item.get("model") if isinstance(item, dict) else None
        if not isinstance(spec, dict):
            continue
        if (
            spec.get("name") == model["model"]
            and str(spec.get("version")) == model["version"]
            and str(spec.get("format", "")).casefold() == model["format"].casefold()
        ):
            out.append(item)
    return out


def retirement_findings(
    model: dict[str, Any], entries: list[dict[str, Any]], today: dt.date, days: int
) -> tuple[str, str, list[str]]:
    """(lifecycle status, inference retirement date, findings) of a model in one region's catalog."""
    if not entries:
        return "not offered", "", ["not offered in this region"]
    findings: list[str] = []
    statuses, dates = set(), []
    skus: dict[str, dict[str, Any]] = {}
    for item in entries:
        spec = item["model"]
        status = spec.get("lifecycleStatus") or item.get("lifecycleStatus") or ""
        statuses.add(str(status))
        deprecation = spec.get("deprecation") if isinstance(spec.get("deprecation"), dict) else {}
        raw = (deprecation or {}).get("inference")
        if raw:
            parsed = iso_date(raw)
            if parsed is None:
                findings.append(f"unreadable retirement date {raw!r}")
            else:
                dates.append(parsed)
        for sku in spec.get("skus") or []:
            if isinstance(sku, dict) and isinstance(sku.get("name"), str):
                skus[sku["name"].casefold()] = sku
    for status in sorted(statuses):
        if status.casefold() in DEPRECATED_STATUSES:
            findings.append(f"lifecycle status {status}")
    if model["sku"] and skus:
        sku = skus.get(model["sku"].casefold())
        if sku is None:
            findings.append(f"SKU {model['sku']} not offered")
        else:
            parsed = iso_date(sku.get("deprecationDate"))
            if parsed is not None:
                dates.append(parsed)
    first = min(dates) if dates else None
    if first is not None and (first - today).days <= days:
        left = (first - today).days
        findings.append(f"retires {first.isoformat()} ({'passed' if left < 0 else f'in {left} days'})")
    if findings and model["versionUpgrade"] == "NoAutoUpgrade":
        findings.append("versionUpgrade NoAutoUpgrade: the deployment breaks at retirement")
    return ", ".join(sorted(statuses)) or "unknown", first.isoformat() if first else "", findings


def cmd_check_retirements(args: argparse.Namespace) -> int:
    release = read_object(args.release, "release.json")
    regions = regions_of(args.regions)
    if args.days < 0:
        raise InputError("--days must not be negative")
    today = today_of(args.today)
    models = foundation_models(release)
    if not models:
        print("no foundation models in release.json: nothing to check")
        return 0
    rows: list[list[object]] = []
    failed = False
    for region in regions:
        catalog = az_json(
            ["cognitiveservices", "model", "list", "-l", region], f"list the models of {region}"
        )
        for model in models:
            status, retires, findings = retirement_findings(
                model, catalog_entries(catalog, model), today, args.days
            )
            failed = failed or bool(findings)
            rows.append(
                [
                    f"{model['name']} ({model['format']} {model['model']})",
                    model["version"],
                    region,
                    status,
                    retires or "none announced",
                    "FAIL: " + "; ".join(findings) if findings else "PASS",
                ]
            )
    title = f"Model retirements (within {args.days} days of {today.isoformat()})"
    header = ["model", "version", "region", "lifecycle", "inference retirement", "result"]
    publish(markdown(title, header, rows, failed), "almgen-model-retirements.md")
    if failed:
        say("model retirement check FAILED: plan an upgrade (a new version in almgen.yaml) before the date")
    return 1 if failed else 0


def usage_matches(usage_name: str, model: dict[str, Any]) -> bool:
    """`<Format>.<sku>.<model>`, case-insensitively; any single-word SKU when release.json names none."""
    name, fmt, target = usage_name.casefold(), model["format"].casefold(), model["model"].casefold()
    if model["sku"]:
        return name == f"{fmt}.{model['sku'].casefold()}.{target}"
    prefix, suffix = f"{fmt}.", f".{target}"
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(suffix):
        return False
    middle = name[len(prefix) : -len(suffix)]
    return "." not in middle


def cmd_check_quota(args: argparse.Namespace) -> int:
    release = read_object(args.release, "release.json")
    regions = regions_of(args.regions)
    if not 0 < args.percent <= 100:
        raise InputError("--percent must be above 0 and at most 100")
    models = foundation_models(release)
    if not models:
        print("no foundation models in release.json: nothing to check")
        return 0
    rows: list[list[object]] = []
    failed = False
    for region in regions:
        usages = (
            az_json(["cognitiveservices", "usage", "list", "-l", region], f"list the usage of {region}") or []
        )
        for model in models:
            label = f"{model['format']}.{model['sku'] or '*'}.{model['model']}"
            matches = [
                u
                for u in usages
                if isinstance(u, dict)
                and isinstance(u.get("name"), dict)
                and isinstance(u["name"].get("value"), str)
                and usage_matches(u["name"]["value"], model)
            ]
            if not matches:
                failed = True
                rows.append([label, region, "", "", "", "FAIL: no usage reported for this model and SKU"])
                continue
            for usage in matches:
                current, limit = number(usage.get("currentValue")), number(usage.get("limit"))
                if limit <= 0:
                    share, bad = "n/a", True
                    verdict = "FAIL: no quota (limit 0)"
                else:
                    used = 100 * current / limit
                    share, bad = f"{used:.1f}%", used >= args.percent
                    verdict = f"FAIL: at or above {args.percent:g}%" if bad else "PASS"
                failed = failed or bad
                rows.append([usage["name"]["value"], region, f"{current:g}", f"{limit:g}", share, verdict])
    title = f"Model quota (alert at {args.percent:g}%)"
    publish(
        markdown(title, ["usage", "region", "current", "limit", "used", "result"], rows, failed),
        "almgen-model-quota.md",
    )
    if failed:
        say("quota check FAILED: request more quota, or lower capacity in almgen.yaml")
    return 1 if failed else 0


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    result = _Parser(
        prog="models.py", description="Train, register, retire and check the models of almgen.yaml."
    )
    commands = result.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sub: argparse.ArgumentParser, env: bool = True) -> None:
        sub.add_argument(
            "--release", type=Path, default=Path(".almgen/release.json"), help="release.json path"
        )
        if env:
            sub.add_argument("--env", required=True, help="environment name in release.json")
            sub.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
            sub.add_argument(
                "--root", type=Path, default=Path("."), help="folder the paths in release.json are in"
            )

    train = commands.add_parser("train", help="submit a model's Azure ML training job and wait for it")
    common(train)
    train.add_argument("--model", required=True, help="the custom model to train")
    train.add_argument("--save", type=Path, help="write {model, job, workspace, resourceGroup} here")
    train.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between status checks")
    train.add_argument("--timeout-minutes", type=float, default=24 * 60.0, help="give up after this long")

    register = commands.add_parser("register", help="register custom models with immutable lineage")
    common(register)
    register.add_argument("--trained", type=Path, action="append", help="a file written by train --save")
    register.add_argument("--out", type=Path, help="write the summary JSON here")

    retire = commands.add_parser("retire", help="remove the retired versions from an environment")
    common(retire)
    retire.add_argument("--out", type=Path, required=True, help="write the retirement record here")
    retire.add_argument("--live-state", type=Path, help='live state JSON ({"active": {model: deployment}})')

    check = commands.add_parser("check-retirements", help="fail when a foundation model version retires soon")
    common(check, env=False)
    check.add_argument("--regions", required=True, help="comma-separated Azure regions")
    check.add_argument("--days", type=int, default=60, help="fail when retirement is this close (default 60)")
    check.add_argument("--today", help="YYYY-MM-DD (default: today, UTC)")

    quota = commands.add_parser("check-quota", help="fail when a model's quota use reaches a percentage")
    common(quota, env=False)
    quota.add_argument("--regions", required=True, help="comma-separated Azure regions")
    quota.add_argument(
        "--percent", type=float, required=True, help="fail at or above this share of the limit"
    )
    return result


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train,
    "register": cmd_register,
    "retire": cmd_retire,
    "check-retirements": cmd_check_retirements,
    "check-quota": cmd_check_quota,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"models.py {args.command}: {exc}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"models.py {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"models.py {args.command}: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except Exception as exc:  # a script in a pipeline reports, it never prints a traceback
        print(f"models.py {args.command}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
