"""Azure OpenAI fine-tuning, simulated: files and fine-tuning jobs of an AI Services account, and the
registry's training data.

State: `state["accounts"][ID]["files"][FILE_ID]` and `["fineTuning"][JOB_ID]`, as the data plane returns
them. `rest` answers `az rest --resource https://cognitiveservices.azure.com --url
https://<account>.openai.azure.com/openai/<path>?api-version=...` (the 2024-10-21 REST API):

- `POST /files/import` (purpose fine-tune, filename, content_url): `processed` at once;
- `GET /files/<id>`;
- `POST /fine_tuning/jobs` (model, training_file, validation_file, hyperparameters, suffix, seed): the
  job is `pending` for a minute, `running` until FINE_TUNING_MINUTES of simulated time passed, then
  `succeeded` with `fine_tuned_model` `<model>.ft-<job hex>`, or `failed` under a `fine-tune` fault of
  the account's environment (`ENV:fine-tune:fail`);
- `GET /fine_tuning/jobs` (newest first, `limit`, `after`, `has_more`) and `GET /fine_tuning/jobs/<id>`.

The data assets a spec names are taken to exist, as its training data would in a real registry:
`az ml data show --registry-name R` answers any name and version with a uri_file in the registry's
storage, `az storage blob generate-sas --as-user` signs it, and `POST /files/import` of the signed
address makes a processed file (an address without a signature is refused, as Azure cannot read it).
The data clean-up deletes a version's blob (`az storage blob delete`, recorded in
`state["deletedData"]`): the asset still shows (Azure ML keeps it), its blob no longer lists, signs or
deletes again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

from generator.rehearse.azure.store import AzFailure, env_of_group
from generator.rehearse.world import World

RESOURCE = "https://cognitiveservices.azure.com"
HOST = ".openai.azure.com"
FINE_TUNING_MINUTES = 25.0
DATA_URL = re.compile(r"https://([a-z0-9]{3,24})\.blob\.core\.windows\.net/data/([^/]+)/([^/]+)/train\.jsonl")


def is_openai(url: str) -> bool:
    return url.removeprefix("https://").partition("/")[0].endswith(HOST)


def _not_found(what: str) -> AzFailure:
    return AzFailure(f'Not Found({{"error": {{"code": "NotFound", "message": "{what} was not found."}}}})', 1)


def _bad(message: str) -> AzFailure:
    return AzFailure(f'Bad Request({{"error": {{"code": "invalidPayload", "message": "{message}"}}}})', 1)


# ---- the registry's training data ----------------------------------------------------------------


def _data_account(registry: str) -> str:
    return ("st" + re.sub(r"[^a-z0-9]", "", registry.lower()))[:24]


def data_registry(state: dict[str, Any], account: str) -> str | None:
    """The registry whose training data ACCOUNT holds, if it is such an account."""
    for registry in state.get("registries") or {}:
        if _data_account(registry) == account:
            return str(registry)
    return None


def _data_blob(account: str, name: str) -> str:
    return f"https://{account}.blob.core.windows.net/data/{name}"


def data_deleted(state: dict[str, Any], url: str) -> bool:
    return url in (state.get("deletedData") or [])


def data_blob_list(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az storage blob list` of a registry's data container: the train.jsonl of every data asset
    version under the prefix (one per `<name>/<version>/`), unless deleted."""
    account, prefix = flags["--account-name"], flags.get("--prefix", "")
    if flags.get("--container-name") != "data":
        raise AzFailure("ErrorCode:ContainerNotFound The specified container does not exist.", 3)
    match = re.fullmatch(r"([^/]+)/([^/]+)/.*", prefix)
    if match is None:
        return []  # the simulated registry storage lists a data asset version's folder only
    name = f"{match.group(1)}/{match.group(2)}/train.jsonl"
    url = _data_blob(account, name)
    if not name.startswith(prefix) or data_deleted(state, url):
        return []
    digest = base64.b64encode(hashlib.md5(name.encode(), usedforsecurity=False).digest()).decode()
    properties = {"contentLength": 4096, "etag": f'"0x{digest.encode().hex()[:16].upper()}"'}
    return [{"name": name, "properties": properties | {"contentSettings": {"contentMd5": digest}}}]


def data_blob_delete(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az storage blob delete` of a data asset's blob: gone for good (no soft delete); a blob that
    is not there is refused, as Azure does."""
    account, name = flags["--account-name"], flags["--name"]
    url = _data_blob(account, name)
    if flags.get("--container-name") != "data" or DATA_URL.fullmatch(url) is None or data_deleted(state, url):
        raise AzFailure("ErrorCode:BlobNotFound The specified blob does not exist.", 3)
    state.setdefault("deletedData", []).append(url)
    world.record("azure-data-deleted", url=url)
    return None


def data_show(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az ml data show --registry-name R --name N --version V`: a uri_file in the registry's storage."""
    registry = flags.get("--registry-name")
    if not registry:
        raise AzFailure("(UserError) this rehearsal keeps data assets in a registry: pass --registry-name", 2)
    name, version = flags["--name"], flags.get("--version", "1")
    path = f"https://{_data_account(registry)}.blob.core.windows.net/data/{name}/{version}/train.jsonl"
    return {"name": name, "version": version, "type": "uri_file", "path": path}


def generate_sas(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az storage blob generate-sas --as-user --auth-mode login --full-uri` of a data asset's blob."""
    if flags.get("--auth-mode") != "login" or flags.get("--as-user") != "true":
        raise AzFailure("Key based authentication is not permitted on this storage account.", 1)
    url = f"https://{flags['--account-name']}.blob.core.windows.net/{flags['--container-name']}/{flags['--name']}"
    if DATA_URL.fullmatch(url) is None or data_deleted(state, url):
        raise AzFailure("ErrorCode:BlobNotFound The specified blob does not exist.", 3)
    expiry = flags["--expiry"]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z", expiry):
        raise AzFailure(f"argument --expiry: invalid datetime value: '{expiry}'", 2)
    permissions = flags.get("--permissions", "")
    token = (
        f"se={expiry.replace(':', '%3A')}&sp={permissions}&sv=2022-11-02&sr=b&skoid=pipeline&sig=simulated"
    )
    return f"{url}?{token}" if flags.get("--full-uri") == "true" else token


# ---- the data plane --------------------------------------------------------------------------------


def _account(state: dict[str, Any], url: str) -> dict[str, Any]:
    name = url.removeprefix("https://").partition("/")[0].removesuffix(HOST)
    account = next((a for a in state["accounts"].values() if a.get("name") == name), None)
    if account is None:
        raise AzFailure(f"HTTPSConnectionPool(host='{name}{HOST}', port=443): Name or service not known", 1)
    return cast(dict[str, Any], account)


def _status(world: World, account: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The job as Azure answers it now: its status moves with the simulated clock."""
    if job["status"] in ("succeeded", "failed", "cancelled"):
        return job
    elapsed = world.minutes() - float(job["createdMinute"])
    if elapsed < 1:
        return job
    if elapsed < FINE_TUNING_MINUTES:
        job["status"] = "running"
        return job
    if job.get("fails"):
        job |= {"status": "failed", "error": {"code": "internalError", "message": "The training failed."}}
        world.record("azure-fine-tune-end", account=account["name"], job=job["id"], status="failed")
        return job
    model = f"{job['model']}.ft-{job['id'].removeprefix('ftjob-')}"
    job |= {
        "status": "succeeded",
        "fine_tuned_model": model,
        "finished_at": int(world.now()),
        "trained_tokens": 4242,
    }
    world.record(
        "azure-fine-tune-end", account=account["name"], job=job["id"], status="succeeded", model=model
    )
    return job


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("createdMinute", "fails")}


def rest(world: World, state: dict[str, Any], method: str, url: str, flags: dict[str, str]) -> Any:
    if flags.get("--resource") != RESOURCE:
        raise AzFailure(
            "Can't derive appropriate Azure AD resource from --url to acquire an access token.", 1
        )
    account = _account(state, url)
    host_path, _, query_text = url.removeprefix("https://").partition("?")
    path = "/" + host_path.partition("/")[2]
    query = {k: v[0] for k, v in parse_qs(query_text).items()}
    if "api-version" not in query:
        raise _bad("Missing required query parameter: api-version")
    files = account.setdefault("files", {})
    jobs = account.setdefault("fineTuning", {})
    raw = flags.get("--body", "")
    text = Path(raw[1:]).read_text("utf-8") if raw.startswith("@") else raw
    if path == "/openai/files/import" and method == "post":
        body = json.loads(text or "{}")
        address, _, signature = str(body.get("content_url") or "").partition("?")
        if body.get("purpose") != "fine-tune" or not body.get("filename"):
            raise _bad("purpose fine-tune and a filename are required")
        if DATA_URL.fullmatch(address) is None or "sig=" not in signature:
            raise _bad("content_url cannot be read: give a SAS address of the blob")
        file_id = f"file-{hashlib.sha256(f'{len(files)}{address}'.encode()).hexdigest()[:32]}"
        files[file_id] = {
            "id": file_id,
            "object": "file",
            "purpose": "fine-tune",
            "filename": body["filename"],
            "bytes": 4096,
            "status": "processed",
            "created_at": int(world.now()),
        }
        world.record("azure-file-import", account=account["name"], file=file_id, filename=body["filename"])
        return files[file_id]
    if path.startswith("/openai/files/") and method == "get":
        file_id = path.removeprefix("/openai/files/")
        if file_id not in files:
            raise _not_found(f"File {file_id}")
        return files[file_id]
    if path == "/openai/fine_tuning/jobs" and method == "post":
        body = json.loads(text or "{}")
        for key in ("training_file", "validation_file"):
            if key in body and (body[key] not in files or files[body[key]]["status"] != "processed"):
                raise _bad(f"{key} {body[key]} is not a processed file of this resource")
        if not body.get("model") or "training_file" not in body:
            raise _bad("model and training_file are required")
        suffix = body.get("suffix", "")
        if suffix and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", suffix):
            raise _bad("suffix: up to 40 characters of a-z, A-Z, 0-9, - and _")
        seed = f"{account['name']}{len(jobs)}{text}"
        job_id = f"ftjob-{hashlib.sha256(seed.encode()).hexdigest()[:32]}"
        env = env_of_group(state, account["group"])
        fails = any(f.get("kind") == "fine-tune" and f.get("env") == env for f in world.faults())
        jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "model": body["model"],
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "hyperparameters": {
                "n_epochs": 3,
                "batch_size": 1,
                "learning_rate_multiplier": 1.0,
                **(body.get("hyperparameters") or {}),
            },
            "suffix": suffix or None,
            "seed": body.get("seed", 1234),
            "status": "pending",
            "created_at": int(world.now()),
            "createdMinute": world.minutes(),
            "fails": fails,
        }
        world.record(
            "azure-fine-tune-start",
            account=account["name"],
            job=job_id,
            model=body["model"],
            suffix=suffix,
            hyperparameters=jobs[job_id]["hyperparameters"],
        )
        return _public(jobs[job_id])
    if path == "/openai/fine_tuning/jobs" and method == "get":
        listed = sorted(jobs.values(), key=lambda j: (j["created_at"], j["id"]), reverse=True)
        after = query.get("after")
        if after:
            ids = [j["id"] for j in listed]
            listed = listed[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", "20"))
        page = [_public(_status(world, account, j)) for j in listed[:limit]]
        return {"object": "list", "data": page, "has_more": len(listed) > limit}
    if path.startswith("/openai/fine_tuning/jobs/") and method == "get":
        job_id = path.removeprefix("/openai/fine_tuning/jobs/")
        if job_id not in jobs:
            raise _not_found(f"Fine-tuning job {job_id}")
        return _public(_status(world, account, jobs[job_id]))
    raise _not_found(f"{method.upper()} {path}")
