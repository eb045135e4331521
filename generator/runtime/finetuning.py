"""models.py fine-tune: fine-tune foundation models with Azure OpenAI, only when their inputs changed.

A foundation model with `fineTune` in release.json names its base (`model`, `version`), its training
(and validation) data as Azure ML data assets, its hyperparameters and seed. Their sha256 is the
fine-tuning job's `suffix` (`almgen-<16 hex>`), which Azure keeps on the job and returns when the jobs
are listed, so Azure itself answers "was this already fine-tuned?":

- a succeeded job with the suffix: nothing runs, its `fine_tuned_model` is deployed;
- a pending or running one (a re-run after a cancelled pipeline): it is waited for;
- none, or only failed and cancelled ones: the data assets are resolved in the registry
  (`az ml data show`: a uri_file in blob storage), imported into the account through a read-only user
  delegation SAS (`az storage blob generate-sas --as-user --auth-mode login`, then
  `POST /openai/files/import`, purpose fine-tune; Azure's way for files in blob storage), and a job is
  created (`POST /openai/fine_tuning/jobs`) and waited for, within `--timeout-minutes`.

The data plane is the account's Azure OpenAI endpoint (`https://<account>.openai.azure.com/openai/...`,
api-version `DEFAULT_API_VERSION`, `ALMGEN_OPENAI_API_VERSION` overrides), reached through `az rest`
with an Entra ID token (local auth is off).

Only the home environment fine-tunes (`fineTune.home` in release.json: the first environment, in its
primary region's account). Every other environment, and every other region, deploys the fine-tuned model
the home account holds by reference (the deployment's `properties.model.source`: the home account's
ARM resource ID), the exact artifact dev made and evaluated, never a retrain: a later environment finds
the home account in the home environment's ARM deployment outputs (`az deployment sub show`), and the
succeeded job with the spec's suffix in its jobs; when there is none (the commit has not gone through
the home environment yet), the step fails and deploys nothing.

`--state` is the live state the deploy passes to Bicep; `--out` writes it again with `fineTuned`
(deployment name -> fine-tuned model id) and `fineTunedSource` (deployment name -> the account that
holds it), so the next `az deployment sub create` deploys the fine-tuned model, and only when that
changes what the deployments serve (no file: nothing to deploy). `--save` writes the lineage of each
model (base, data, hyperparameters, seed, job, fine-tuned model, inputs sha256, the account and
environment that fine-tuned it) for the release record.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

if __package__:
    from . import agents, common, facts
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    agents = importlib.import_module("agents")
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")

DEFAULT_API_VERSION = "2024-10-21"  # the GA data-plane version with fine_tuning/jobs and files
TOKEN_RESOURCE = "https://cognitiveservices.azure.com"
SUFFIX_PREFIX = "almgen-"
JOB_DONE = ("succeeded", "failed", "cancelled")
JOB_WAITING = ("created", "pending", "queued", "running", "validating_files")
FILE_DONE = ("processed", "error", "deleted")
SAS_HOURS = 6  # how long Azure OpenAI may take to start reading the training data


def api_version() -> str:
    return os.environ.get("ALMGEN_OPENAI_API_VERSION") or DEFAULT_API_VERSION


def openai_url(account: str, path: str, query: str = "") -> str:
    return f"https://{account}.openai.azure.com/openai{path}?api-version={quote(api_version())}{query}"


def http(method: str, address: str, body: dict[str, Any] | None = None) -> Any:
    return agents.http(method, address, body, resource=TOKEN_RESOURCE)


# --------------------------------------------------------------------------- inputs


def inputs(model: dict[str, Any]) -> dict[str, Any]:
    """What defines the fine-tuned model: a change to any of these fine-tunes again."""
    tune = model["fineTune"]
    return {
        "base": {"model": model["model"], "version": model["version"]},
        "trainingData": tune["trainingData"],
        "validationData": tune.get("validationData"),
        "hyperparameters": tune.get("hyperparameters") or {},
        "seed": tune.get("seed"),
    }


def inputs_sha256(model: dict[str, Any]) -> str:
    text = json.dumps(inputs(model), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def suffix_of(sha: str) -> str:
    """The job's suffix: Azure allows 40 characters of a-z, A-Z, 0-9, - and _."""
    return SUFFIX_PREFIX + sha[:16]


def base_id(model: dict[str, Any]) -> str:
    """The base model as the fine-tuning API names it: `gpt-4o-mini-2024-07-18`."""
    return f"{model['model']}-{model['version']}"


# --------------------------------------------------------------------------- Azure OpenAI


def list_jobs(account: str) -> list[dict[str, Any]]:
    """Every fine-tuning job of the account, newest first (the API pages with `after`)."""
    jobs: list[dict[str, Any]] = []
    after = ""
    for _ in range(100):  # 10,000 jobs: far more than an account keeps
        answer = http("GET", openai_url(account, "/fine_tuning/jobs", f"&limit=100{after}")) or {}
        page = [job for job in answer.get("data") or [] if isinstance(job, dict)]
        jobs += page
        if not answer.get("has_more") or not page:
            break
        after = f"&after={quote(str(page[-1].get('id') or ''))}"
    return sorted(jobs, key=lambda job: int(job.get("created_at") or 0), reverse=True)


def matching_job(jobs: list[dict[str, Any]], suffix: str, base: str) -> dict[str, Any] | None:
    """The newest job with SUFFIX on BASE that succeeded or may still succeed."""
    for job in jobs:
        if job.get("suffix") == suffix and job.get("model") == base:
            status = str(job.get("status") or "")
            if status == "succeeded" and job.get("fine_tuned_model"):
                return job
            if status in JOB_WAITING:
                return job
    return None


def data_url(asset: dict[str, str], registry: str) -> str:
    """The blob address of a data asset (a uri_file) of the registry."""
    path = common.az_text(
        ["ml", "data", "show", "--name", asset["asset"], "--version", asset["version"],
         "--registry-name", registry, "--query", "path", "-o", "tsv"],
        f"find the data asset {asset['asset']} {asset['version']} in the registry {registry}",
    )  # fmt: skip
    if not re.fullmatch(r"https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9-]{3,63}/\S+", path):
        raise common.Failure(
            f"the data asset {asset['asset']} {asset['version']} is not one file in blob storage "
            f"(https://<account>.blob.core.windows.net/<container>/<file>): {path}"
        )
    return path


def upload(account: str, asset: dict[str, str], registry: str, poll: float, minutes: float) -> str:
    """The file id of a data asset imported into the account, once Azure OpenAI processed it.

    Files - Import reads the blob through a read-only user delegation SAS (signed with the pipeline's
    Entra ID login: no account key) that expires in SAS_HOURS; the SAS is never printed.
    """
    url = data_url(asset, registry)
    host, container, blob = url.removeprefix("https://").split("/", 2)
    storage = host.removesuffix(".blob.core.windows.net")
    expiry = (common.now() + timedelta(hours=SAS_HOURS)).strftime("%Y-%m-%dT%H:%MZ")
    readable = common.az_text(
        ["storage", "blob", "generate-sas", "--account-name", storage, "--container-name", container,
         "--name", blob, "--permissions", "r", "--expiry", expiry, "--auth-mode", "login", "--as-user",
         "--full-uri", "-o", "tsv"],
        f"sign a read-only address of the data asset {asset['asset']} {asset['version']}",
    )  # fmt: skip
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{asset['asset']}-{asset['version']}.jsonl")
    body = {"purpose": "fine-tune", "filename": name, "content_url": readable.strip().strip('"')}
    file_id = str((http("POST", openai_url(account, "/files/import"), body) or {}).get("id") or "")
    if not file_id:
        raise common.Failure(f"import {name} into {account}: the answer has no file id")
    deadline = common.now() + timedelta(minutes=minutes)
    while True:
        status = str((http("GET", openai_url(account, f"/files/{quote(file_id)}")) or {}).get("status") or "")
        if status == "processed":
            common.say(f"imported {name} as {file_id}")
            return file_id
        if status in FILE_DONE:
            raise common.Failure(f"Azure OpenAI did not accept {name} ({file_id}): {status}")
        if common.now() >= deadline:
            raise common.Failure(f"{file_id} ({name}) was not processed within {minutes:g} minutes")
        common.sleep(poll)


def wait_for(account: str, job_id: str, poll: float, minutes: float) -> dict[str, Any]:
    deadline = common.now() + timedelta(minutes=minutes)
    last = ""
    while True:
        job = http("GET", openai_url(account, f"/fine_tuning/jobs/{quote(job_id)}")) or {}
        status = str(job.get("status") or "")
        if status != last:
            common.say(f"fine-tuning job {job_id}: {status}")
            last = status
        if status in JOB_DONE:
            return dict(job)
        if common.now() >= deadline:
            raise common.Failure(
                f"fine-tuning job {job_id} did not finish within {minutes:g} minutes; it goes on in Azure, "
                "and the next run of the pipeline waits for it instead of starting another"
            )
        common.sleep(poll)


def fine_tune(
    model: dict[str, Any], account: str, registry: str, poll: float, minutes: float
) -> dict[str, Any]:
    """The succeeded job that made the fine-tuned model of MODEL's inputs (run one if none did)."""
    sha = inputs_sha256(model)
    suffix, base = suffix_of(sha), base_id(model)
    job = matching_job(list_jobs(account), suffix, base)
    if job is not None and job.get("status") == "succeeded":
        common.say(
            f"{model['name']}: fine-tuned already with the same inputs ({job.get('id')}): "
            f"{job.get('fine_tuned_model')}"
        )
        return {**job, "inputsSha256": sha, "created": False}
    started = job is None
    if job is None:
        tune = model["fineTune"]
        body: dict[str, Any] = {
            "model": base,
            "training_file": upload(account, tune["trainingData"], registry, poll, minutes),
            "suffix": suffix,
        }
        if tune.get("validationData"):
            body["validation_file"] = upload(account, tune["validationData"], registry, poll, minutes)
        if tune.get("hyperparameters"):
            body["hyperparameters"] = tune["hyperparameters"]
        if tune.get("seed") is not None:
            body["seed"] = tune["seed"]
        job = http("POST", openai_url(account, "/fine_tuning/jobs"), body) or {}
        if not job.get("id"):
            raise common.Failure(f"{model['name']}: the fine-tuning job was not created (no id)")
        common.say(f"{model['name']}: fine-tuning {base} as job {job['id']} (inputs {sha[:16]})")
    else:
        common.say(f"{model['name']}: waiting for the fine-tuning job {job.get('id')} with the same inputs")
    done = wait_for(account, str(job["id"]), poll, minutes)
    if done.get("status") != "succeeded" or not done.get("fine_tuned_model"):
        error = done.get("error") or {}
        raise common.Failure(
            f"{model['name']}: fine-tuning job {done.get('id')} ended {done.get('status')}: "
            f"{error.get('message') or 'no message'} (the next run starts a new job)"
        )
    return {**done, "inputsSha256": sha, "created": started}  # False: an earlier run's job, waited for


def tuned_models(release: dict[str, Any], env: str) -> list[dict[str, Any]]:
    return [
        model
        for model in facts.models_of(common.environment(release, env), env)
        if model.get("kind") == "foundation" and isinstance(model.get("fineTune"), dict)
    ]


def account_id(name: str, group: str) -> str:
    """The ARM resource ID of an AI Services account: what a deployment's `model.source` names."""
    found = common.az_text(
        ["cognitiveservices", "account", "show", "--name", name, "--resource-group", group,
         "--query", "id", "-o", "tsv"],
        f"read the AI Services account {name}",
    )  # fmt: skip
    if not found.startswith("/subscriptions/"):
        raise common.Failure(f"the AI Services account {name} has no resource ID: {found or 'empty'}")
    return found


def home_account(model: dict[str, Any], env: str, stack: dict[str, Any]) -> tuple[str, str, str]:
    """(environment, account name, resource group) where MODEL is fine-tuned.

    The home environment fine-tunes in its primary account (STACK); another environment reads the
    home environment's primary account from the home's ARM deployment outputs.
    """
    home = model["fineTune"].get("home") or {}
    where = str(home.get("environment") or env)
    if where == env:
        return env, str(stack["aiServicesName"]), str(stack.get("resourceGroup") or home.get("resourceGroup"))
    name = common.text_of(home, "deployment", f"fineTune.home of {model['name']}")
    outputs = common.az_json(
        ["deployment", "sub", "show", "--name", name, "--query", "properties.outputs"],
        f"read where {where} fine-tunes {model['name']} (its deployment {name})",
    )
    stacks = ((outputs or {}).get("stacks") or {}).get("value") if isinstance(outputs, dict) else None
    primary = next((s for s in stacks or [] if isinstance(s, dict) and s.get("primary")), None)
    if primary is None or not primary.get("aiServicesName"):
        raise common.Failure(
            f"{model['name']}: the deployment {name} has no primary AI Services account: has {where} been "
            f"deployed? {env} deploys the model {where} fine-tuned"
        )
    group = str(primary.get("resourceGroup") or home.get("resourceGroup"))
    return where, str(primary["aiServicesName"]), group


def promoted(model: dict[str, Any], account: str, home: str, env: str) -> dict[str, Any]:
    """The succeeded job of the home account with MODEL's inputs: what ENV deploys, never a retrain."""
    sha = inputs_sha256(model)
    suffix, base = suffix_of(sha), base_id(model)
    job = matching_job(list_jobs(account), suffix, base)
    if job is None or job.get("status") != "succeeded":
        state = f"is still fine-tuning them (job {job.get('id')})" if job else "has not fine-tuned them"
        raise common.Failure(
            f"{model['name']}: {env} deploys the model {home} fine-tuned from the same inputs "
            f"(suffix {suffix}), and {home} {state}: run the pipeline through {home} first"
        )
    common.say(
        f"{model['name']}: deploying {job.get('fine_tuned_model')}, fine-tuned in {home} ({job.get('id')})"
    )
    return {**job, "inputsSha256": sha, "created": False}


def _same(a: dict[str, str], b: dict[str, str]) -> bool:
    """Resource IDs compare without case (Azure answers them in either)."""
    return {k: v.lower() for k, v in a.items()} == {k: v.lower() for k, v in b.items()}


def colour_for(model: dict[str, Any], state: dict[str, Any], tuned_model: str) -> str:
    """The deployment that gets TUNED_MODEL: with one deployment (direct) that one; with two colours
    (blue-green, canary) the colour that serves when it serves TUNED_MODEL already, or nothing
    serves yet (a first deploy), else the other one: the candidate, which the rollout then moves
    traffic to. Colours are told apart by the fine-tuned model's id (every fine-tuned model is
    version 1)."""
    names = [str(n) for n in model["fineTune"].get("deployments") or [model["name"]]]
    if len(names) == 1:
        return names[0]
    active = (state.get("active") or {}).get(model["name"])
    serving = (state.get("fineTuned") or {}).get(active) if active in names else None
    if not serving or serving == tuned_model:  # nothing (of ours) serves yet, or it serves this model
        return str(active) if active in names else names[0]
    return names[1] if active == names[0] else names[0]


def cmd_fine_tune(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    stack = common.stacks_of(args.outputs, "aiServicesName")[0]
    state = common.read_json(args.state, "state") if args.state else {}
    if not isinstance(state, dict):
        raise common.InputError("--state must hold an object")
    tuned: dict[str, str] = dict(state.get("fineTuned") or {})
    sources: dict[str, str] = dict(state.get("fineTunedSource") or {})
    candidates: dict[str, str] = {}  # model -> the colour a rollout moves traffic to (a new fine-tune)
    picked: dict[str, str] = {}  # model -> the deployment that serves its fine-tuned model after this run
    lineage = []
    for model in tuned_models(release, args.env):
        home, account, group = home_account(model, args.env, stack)
        if home == args.env:
            registry = common.text_of(model["fineTune"], "registry", f"fineTune of {model['name']}")
            job = fine_tune(model, account, registry, args.poll_seconds, args.timeout_minutes)
        else:
            job = promoted(model, account, home, args.env)
        source = account_id(account, group)
        deployment = colour_for(model, state, str(job["fine_tuned_model"]))
        tuned[deployment] = str(job["fine_tuned_model"])
        sources[deployment] = source
        picked[model["name"]] = deployment
        if deployment != (state.get("active") or {}).get(model["name"], deployment):
            candidates[model["name"]] = deployment
            common.say(
                f"{model['name']}: {deployment} gets {job['fine_tuned_model']}; the rollout moves to it"
            )
        tune = model["fineTune"]
        lineage.append(
            {
                "model": model["name"],
                "base": {"model": model["model"], "version": model["version"]},
                "trainingData": tune["trainingData"],
                "validationData": tune.get("validationData"),
                "hyperparameters": (job.get("hyperparameters") or tune.get("hyperparameters") or {}),
                "seed": job.get("seed", tune.get("seed")),
                "job": job.get("id"),
                "fineTunedModel": job["fine_tuned_model"],
                "inputsSha256": job["inputsSha256"],
                "account": account,
                "sourceAccount": source,
                "fineTunedIn": home,
                "created": job["created"],
                "deployment": deployment,
            }
        )
    unchanged = tuned == dict(state.get("fineTuned") or {}) and _same(
        sources, dict(state.get("fineTunedSource") or {})
    )
    # a candidate colour deploys again even when it has its model already (a re-run after a rollback):
    # at full capacity (`fineTunedCandidate`), before any traffic moves to it
    if args.out and (not unchanged or candidates):  # else the deploy already serves them
        out = {**state, "fineTuned": tuned, "fineTunedSource": sources}
        common.write_json(args.out, out | ({"fineTunedCandidate": candidates} if candidates else {}))
    if args.candidates:  # beside the custom models' (plan-ml adds to it): what tests and rollout target
        before = common.read_json(args.candidates, "candidates") if args.candidates.exists() else {}
        common.write_json(args.candidates, {**(before if isinstance(before, dict) else {}), **picked})
    if args.save:
        common.write_json(args.save, lineage)
    print(json.dumps(lineage, indent=2))
    return 0
