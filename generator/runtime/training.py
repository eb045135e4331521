"""models.py train: submit a model's Azure ML training job and wait for it to end."""

from __future__ import annotations

import argparse
import importlib
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__:
    from . import common, facts, registration
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    registration = importlib.import_module("registration")


# --------------------------------------------------------------------------- train


def wait_for_job(job: str, group: str, workspace: str, poll: float, timeout_minutes: float) -> str:
    """Poll the job's status until it ends; returns the terminal status."""
    deadline = common.now() + timedelta(minutes=timeout_minutes)
    errors, last = 0, ""
    while True:
        result = common.az(
            ["ml", "job", "show", "-n", job, *facts.scope(group, workspace), "--query", "status", "-o", "tsv"]
        )
        if result.returncode != 0:
            errors += 1
            if errors >= 3:
                raise common.Failure(f"cannot read the status of job {job}: {common.az_error(result)}")
        else:
            errors, status = 0, result.stdout.strip()
            if status != last:
                common.say(f"job {job}: {status}")
                last = status
            if status in facts.JOB_TERMINAL:
                return status
        if common.now() >= deadline:
            raise common.Failure(
                f"job {job} did not finish within {timeout_minutes:g} minutes (cancel it with: "
                f"az ml job cancel -n {job} -g {group} -w {workspace})"
            )
        common.sleep(poll)


def find_model(release: dict[str, Any], env: str, name: str) -> dict[str, Any]:
    for model in facts.models_of(common.environment(release, env), env):
        if model["name"] == name:
            return model
    raise common.InputError(f"model {name!r} is not in release.json for environment {env!r}")


def already_trained(model: dict[str, Any], root: Path, registry: str) -> bool:
    """True when the version is in the registry: a no-op push trains nothing.

    The same version with other lineage (data version, preprocessing, features, hyperparameters)
    fails before a training job is paid for: a registered version is immutable. Changed training
    code is a warning that says to bump the version (a code folder may be the whole repository).
    """
    name, version = model["name"], model["version"]
    existing = registration.published(name, version, registry)
    if existing is None:
        return False
    differences = registration.lineage_differences(
        registration.lineage(model, root), existing.get("properties")
    )
    if differences:
        for difference in differences:
            common.say(f"training inputs differ: {name} {version} in the registry {registry}: {difference}")
        raise common.Failure(
            f"{name} {version} is registered with other training inputs; a registered version is "
            f"immutable: bump the model's version (almgen bump {name} --patch) to train it again"
        )
    common.say(
        registration.code_changed(model, root, existing.get("properties"))
        or f"{name} {version} is in the registry {registry} with the same training inputs: not trained"
    )
    return True


def cmd_train(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    model = find_model(release, args.env, args.model)
    if model["kind"] != "custom" or not model.get("trainingJob"):
        raise common.InputError(
            f"model {args.model!r} has no trainingJob: only custom models with training train"
        )
    job_file = facts.inside(args.root, model["trainingJob"], f"trainingJob of {args.model}")
    if not job_file.is_file():
        raise common.InputError(f"trainingJob {model['trainingJob']} of {args.model} does not exist")
    stack = facts.stacks_of(args.outputs)[0]
    group, workspace = stack["resourceGroup"], facts.workspace_of(stack)
    if already_trained(model, args.root, facts.registry_of(release)["name"]):
        return 0
    job = common.az_text(
        [
            "ml",
            "job",
            "create",
            "-f",
            str(job_file),
            *facts.scope(group, workspace),
            "--query",
            "name",
            "-o",
            "tsv",
        ],
        f"submit the training job of {args.model}",
    )
    if not job or len(job.split()) != 1:
        raise common.Failure(f"az ml job create did not return a job name (got {job!r})")
    common.say(f"submitted {job} in {workspace} ({stack['location']})")
    status = wait_for_job(job, group, workspace, args.poll_seconds, args.timeout_minutes)
    if status != "Completed":
        raise common.Failure(
            f"training job {job} of {args.model} ended {status}; see: az ml job show -n {job}"
        )
    if args.save:
        common.write_json(
            args.save, {"model": args.model, "job": job, "workspace": workspace, "resourceGroup": group}
        )
    print(job)
    return 0
