"""The model data collector of the online deployments, simulated: what each colour collected, when.

online-deployment.bicep enables the collections `model_inputs` and `model_outputs` with an hourly
rolling rate and no destination, so Azure ML writes to the workspace's default datastore
(`workspaceblobstore`: a container `azureml-blobstore-<id>` of the workspace's storage account) as
`modelDataCollector/<endpoint>/<deployment>/<collection>/<yyyy>/<MM>/<dd>/<HH>/<id>.jsonl`.

State: each endpoint's `collected` list of segments `{"colour", "version", "from", "to"}` (epoch
seconds; `to` None while the deployment serves that version): a colour deployment that Bicep creates
or gives another version opens one (closing the previous), `az ml online-deployment delete` closes
it. `az storage blob list` of the workspace's container shows, per segment, collection and hour, one
blob written from the segment's start (or the hour's) to its end (or the hour's, or now): the
simulated collector writes while the deployment exists (the real one when it is called).
`az storage blob delete` removes one for good (`state["deletedCollected"]`, and a timeline event).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from typing import Any

from generator.rehearse.azure.store import AzFailure, workspace
from generator.rehearse.world import World

DATASTORE = "workspaceblobstore"
COLLECTIONS = ("model_inputs", "model_outputs")
HOUR = 3600


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


def store_of(ws: dict[str, Any]) -> tuple[str, str]:
    """The workspace's storage account and its default datastore's container."""
    digest = _digest(ws["id"])
    return f"stws{digest[:20]}", f"azureml-blobstore-{digest[20:56]}"


def serve(world: World | None, ws: dict[str, Any], endpoint: str, colour: str, version: str) -> None:
    """A colour deployment serves VERSION from now: a new segment unless it already did."""
    if world is None:
        return
    segments = ws["endpoints"][endpoint].setdefault("collected", [])
    open_ = [s for s in segments if s["colour"] == colour and s["to"] is None]
    if open_ and open_[-1]["version"] == version:
        return
    for segment in open_:
        segment["to"] = world.now()
    segments.append({"colour": colour, "version": version, "from": world.now(), "to": None})


def stop(world: World, ws: dict[str, Any], endpoint: str, colour: str) -> None:
    """The colour deployment is deleted: its collector writes no more."""
    for segment in ws["endpoints"].get(endpoint, {}).get("collected") or []:
        if segment["colour"] == colour and segment["to"] is None:
            segment["to"] = world.now()


def _workspaces(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {store_of(ws)[0]: ws for ws in (state.get("workspaces") or {}).values() if "id" in ws}


def is_collector_account(state: dict[str, Any], account: str) -> bool:
    return account in _workspaces(state)


def datastore_show(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """`az ml datastore show --name workspaceblobstore -g G -w W` (the CLI's snake_case dump)."""
    ws = workspace(state, flags.get("--resource-group"), flags.get("--workspace-name"))
    if flags.get("--name") != DATASTORE:
        raise AzFailure(f"(UserError) Datastore '{flags.get('--name')}' was not found.", 3)
    account, container = store_of(ws)
    return {
        "name": DATASTORE,
        "type": "azure_blob",
        "account_name": account,
        "container_name": container,
        "endpoint": "core.windows.net",
        "protocol": "https",
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _blobs(world: World, state: dict[str, Any], ws: dict[str, Any]) -> dict[str, dict[str, Any]]:
    account, container = store_of(ws)
    deleted = set(state.get("deletedCollected") or [])
    now = world.now()
    found: dict[str, dict[str, Any]] = {}
    for endpoint, ep in sorted(ws["endpoints"].items()):
        for segment in ep.get("collected") or []:
            start, end = float(segment["from"]), float(segment["to"] if segment["to"] is not None else now)
            hour = start - start % HOUR
            while hour < end:
                first, last = max(start, hour), min(end, hour + HOUR - 1)
                when = datetime.fromtimestamp(hour, timezone.utc)
                for collection in COLLECTIONS:
                    digest = _digest(
                        endpoint, segment["colour"], segment["version"], segment["from"], collection, hour
                    )
                    name = (
                        f"modelDataCollector/{endpoint}/{segment['colour']}/{collection}/"
                        f"{when:%Y/%m/%d/%H}/{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
                        f"{digest[20:32]}.jsonl"
                    )
                    if f"{account}/{container}/{name}" in deleted or first > last:
                        continue
                    md5 = base64.b64encode(
                        hashlib.md5(name.encode(), usedforsecurity=False).digest()
                    ).decode()
                    found[name] = {
                        "name": name,
                        "properties": {
                            "creationTime": _iso(first),
                            "lastModified": _iso(last),
                            "contentLength": 512 + int(last - first),
                            "etag": f'"0x{digest[:16].upper()}"',
                            "contentSettings": {"contentMd5": md5},
                        },
                    }
                hour += HOUR
    return found


def _workspace_of(state: dict[str, Any], flags: dict[str, str]) -> dict[str, Any]:
    ws = _workspaces(state)[flags["--account-name"]]
    if flags.get("--container-name") != store_of(ws)[1]:
        raise AzFailure("ErrorCode:ContainerNotFound The specified container does not exist.", 3)
    return ws


def blob_list(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    prefix = flags.get("--prefix", "")
    blobs = _blobs(world, state, _workspace_of(state, flags))
    return [blobs[name] for name in sorted(blobs) if name.startswith(prefix)]


def blob_delete(world: World, state: dict[str, Any], flags: dict[str, str]) -> Any:
    """Gone for good (no soft delete); a blob that is not there is refused, as Azure does."""
    ws = _workspace_of(state, flags)
    name = flags["--name"]
    if name not in _blobs(world, state, ws):
        raise AzFailure("ErrorCode:BlobNotFound The specified blob does not exist.", 3)
    account, container = store_of(ws)
    state.setdefault("deletedCollected", []).append(f"{account}/{container}/{name}")
    world.record("azure-collected-deleted", url=f"https://{account}.blob.core.windows.net/{container}/{name}")
    return None
