"""models.py clean-up: delete the training data no version needs, and certify what was deleted.

Opt-in (`registry.retention.cleanup: true`), after `retire`. The custom models' training data is
read through the Azure ML registry every environment shares, so only the last environment (when
every earlier one has retired the versions already) deletes; the others say so and delete nothing.

What is deleted is decided by `decide`, a pure function of the facts read from Azure and
release.json: the data asset versions the retired custom versions were registered with
(`trainingDataAsset`/`trainingDataVersion` properties), minus every data asset version that

- a registered version of a custom model of release.json that is not retired was trained on
  (archived versions too: `keepVersions` archives are restorable, so they are retained, not gone;
  one whose training data is unknown keeps everything),
- a retired version still served by an online deployment of this environment was trained on,
- release.json declares for any model of any environment (a training or fine-tuning input).

Azure ML cannot delete a data asset version (registry assets are immutable; `az ml data archive`
has no `--registry-name`): the clean-up deletes the bytes it points to (`az storage blob delete`,
each blob read first: its name, length and Content-MD5), and the asset stays as a tombstone whose
lineage still resolves. The deletion certificate (`--out`) names what was deleted, the digests read
before deleting, when, by which run, under which rule, and what was kept and why; it is written only
when something was deleted, so a re-run deletes nothing and certifies nothing twice.

Every environment also deletes what its deployments' model data collector wrote while only retired
versions served (collected.py), in the same certificate.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from typing import Any

if __package__:
    from . import collected, common, facts, retention
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    collected = importlib.import_module("collected")
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    retention = importlib.import_module("retention")

RULE = (
    "registry.retention.cleanup: after a retirement, the training data no registered, served or "
    "declared model version needs, and the data the deployments collected while only retired "
    "versions served, is deleted"
)
BLOB_URL = re.compile(r"https://([a-z0-9]{3,24})\.blob\.core\.windows\.net/([^/]+)/(.+)")

Data = tuple[str, str]  # (data asset, version)


def data_needs(model: dict[str, Any]) -> set[Data]:
    """The data asset versions a release.json model entry names ({asset, version} anywhere in it)."""
    found: set[Data] = set()
    stack: list[object] = [model]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            asset, version = item.get("asset"), item.get("version")
            if isinstance(asset, str) and asset and version not in (None, ""):
                found.add((asset, str(version)))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def lineage_data(properties: object) -> Data | None:
    """The training data a registered version names in its properties, if it does."""
    if not isinstance(properties, dict):
        return None
    asset, version = properties.get("trainingDataAsset"), properties.get("trainingDataVersion")
    if not isinstance(asset, str) or not asset or version in (None, ""):
        return None
    return (asset, str(version))


def decide(
    *,
    registered: dict[str, dict[str, Data | None]],
    retired: dict[str, set[str]],
    served: dict[str, set[str]],
    declared: dict[Data, set[str]],
) -> dict[str, Any]:
    """What to delete and what to keep, from the facts only.

    REGISTERED: per model, every registered version (archived too) and the data it was trained on;
    RETIRED: per model, the retired versions; SERVED: per model, the versions an online deployment
    of this environment references; DECLARED: the data release.json names, and by whom.
    Returns {"delete": [{"asset", "version", "trainedVersions"}], "kept": [{"asset", "version",
    "neededBy"}]}, sorted. A data version is deleted only when every registered version trained on
    it is retired and served nowhere here, and release.json does not name it. A version that is not
    retired and whose training data is unknown could need any: then nothing is deleted."""
    needed: dict[Data, set[str]] = {data: set(who) for data, who in declared.items()}
    candidates: dict[Data, set[str]] = {}
    unknown: set[str] = set()
    for model, versions in registered.items():
        for version, data in versions.items():
            label = f"{model} {version}"
            gone = version in retired.get(model, set())
            if data is None:
                if not gone:
                    unknown.add(f"{label} (registered, training data unknown)")
                continue
            if not gone:
                needed.setdefault(data, set()).add(f"{label} (registered, not retired)")
                continue
            candidates.setdefault(data, set()).add(label)
            if version in served.get(model, set()):
                needed.setdefault(data, set()).add(f"{label} (retired, still serves here)")
    for data in candidates if unknown else ():
        needed.setdefault(data, set()).update(unknown)
    delete = [
        {"asset": asset, "version": version, "trainedVersions": sorted(who)}
        for (asset, version), who in sorted(candidates.items())
        if (asset, version) not in needed
    ]
    kept = [
        {"asset": asset, "version": version, "neededBy": sorted(needed[(asset, version)])}
        for (asset, version) in sorted(candidates)
        if (asset, version) in needed
    ]
    return {"delete": delete, "kept": kept}


# --------------------------------------------------------------------------- reading Azure


def _registered(model: str, registry: str) -> dict[str, Data | None]:
    """Every registered version of MODEL (archived too) and its training data; a version the list
    shows without its properties is read on its own."""
    listed = common.az_json(
        ["ml", "model", "list", "--name", model, *facts.in_registry(registry), "--include-archived"],
        f"list the versions of {model} in the registry {registry}",
    )
    found: dict[str, Data | None] = {}
    for item in listed or []:
        if not isinstance(item, dict) or "version" not in item:
            continue
        version = str(item["version"])
        found[version] = lineage_data(item.get("properties"))
        if found[version] is None:
            shown = common.az_json(
                ["ml", "model", "show", *facts.asset(model, version), *facts.in_registry(registry)],
                f"read {model} {version} in the registry {registry}",
            )
            found[version] = lineage_data(shown.get("properties") if isinstance(shown, dict) else None)
    return found


def _blobs(path: str) -> tuple[str, str, str]:
    match = BLOB_URL.fullmatch(path.split("?", 1)[0])
    if match is None:
        raise common.Failure(f"the data asset's path is not a blob address: {path}")
    return match.group(1), match.group(2), match.group(3)


_storage = collected.storage


def delete_data(asset: str, version: str, registry: str, deleted: list[dict[str, Any]]) -> None:
    """Delete the blobs of one data asset version; DELETED gets each, as read just before (none: gone)."""
    shown = common.az_json(
        ["ml", "data", "show", *facts.asset(asset, version), *facts.in_registry(registry)],
        f"read the data asset {asset} {version}",
    )
    path = shown.get("path") if isinstance(shown, dict) else None
    if not isinstance(path, str) or not path:
        raise common.Failure(f"the data asset {asset} {version} has no path")
    account, container, prefix = _blobs(path)
    listed = common.az_json(
        _storage("list", account, container, "--prefix", prefix), f"list the blobs of {asset} {version}"
    )
    for blob in listed or []:
        if not isinstance(blob, dict) or not isinstance(blob.get("name"), str):
            continue
        properties = blob.get("properties") if isinstance(blob.get("properties"), dict) else {}
        settings = properties.get("contentSettings") if isinstance(properties, dict) else None
        common.az_text(
            [*_storage("delete", account, container, "--name", blob["name"]), "-o", "none"],
            f"delete {blob['name']} of {asset} {version}",
        )
        deleted.append(
            {
                "url": f"https://{account}.blob.core.windows.net/{container}/{blob['name']}",
                "contentMd5": (settings or {}).get("contentMd5") if isinstance(settings, dict) else None,
                "contentLength": properties.get("contentLength") if isinstance(properties, dict) else None,
                "etag": properties.get("etag") if isinstance(properties, dict) else None,
                "deletedAt": common.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        common.say(f"deleted {deleted[-1]['url']} (training data {asset} {version})")


def warn(message: str) -> None:
    """A warning the run's summary shows (GitHub Actions and Azure DevOps annotations)."""
    if os.environ.get("TF_BUILD"):
        print(f"##vso[task.logissue type=warning]{message}", flush=True)
    elif os.environ.get("GITHUB_ACTIONS"):
        print(f"::warning title=Data clean-up::{message}", flush=True)
    common.say(f"warning: {message}")


def cmd_clean_up(args: argparse.Namespace) -> int:
    """A clean-up that Azure refuses never fails the tested release (a failed finish job would roll
    it back): it warns, certifies what it did delete, and the next run decides and tries again."""
    try:
        return _clean_up(args)
    except common.InputError:
        raise
    except common.Failure as error:
        warn(f"the data clean-up did not finish: {error}")
        return 0


def _release_facts(release: dict[str, Any]) -> tuple[dict[str, set[str]], dict[Data, set[str]], set[str]]:
    """From release.json: the retired versions per model, the data it declares (and by whom), and
    the custom models."""
    retired: dict[str, set[str]] = {}
    for entry in release.get("retired") or []:
        if isinstance(entry, dict) and entry.get("kind") == "model":
            retired.setdefault(str(entry.get("name")), set()).add(str(entry.get("version")))
    declared: dict[Data, set[str]] = {}
    custom: set[str] = set()
    for env, described in common.environments(release).items():
        for model in facts.models_of(described if isinstance(described, dict) else {}, env):
            for data in data_needs(model):
                declared.setdefault(data, set()).add(f"{model['name']} {model['version']} ({env})")
            if model["kind"] == "custom":
                custom.add(model["name"])
    return retired, declared, custom


def _served(models: list[str], stacks: list[dict[str, Any]]) -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for name in models:
        for stack in stacks:
            workspace = stack.get("workspaceName")
            if isinstance(workspace, str) and workspace:
                found = retention.referenced_versions(name, stack, stack["resourceGroup"], workspace)
                served.setdefault(name, set()).update(found)
    return served


def _delete(decision: dict[str, Any], registry: str) -> tuple[list[dict[str, Any]], common.Failure | None]:
    """Delete what DECISION says, in order; what was deleted, and the failure that stopped it."""
    deleted: list[dict[str, Any]] = []
    for item in decision["delete"]:
        blobs: list[dict[str, Any]] = []
        failure = None
        try:
            delete_data(item["asset"], item["version"], registry, blobs)
        except common.Failure as error:  # what was deleted before is still certified
            failure = error
        if blobs:
            deleted.append({"kind": "training-data", "registry": registry, **item, "blobs": blobs})
        elif failure is None:
            common.say(f"{item['asset']} {item['version']}: already deleted (certified by an earlier run)")
        if failure is not None:
            return deleted, failure
    return deleted, None


def _clean_training(
    release: dict[str, Any], stacks: list[dict[str, Any]]
) -> tuple[tuple[dict[str, Any], list[dict[str, Any]]], common.Failure | None]:
    """Decide and delete the training data no version needs: (the decision, what was deleted), and
    the failure that stopped it."""
    retired, declared, custom = _release_facts(release)
    models = sorted(name for name in retired if name in custom)
    decision: dict[str, Any] = {"delete": [], "kept": []}
    try:
        registry = facts.registry_of(release)["name"]
        served = _served(models, stacks)
        # every custom model's versions: another model's may have been trained on the same data
        registered = {name: _registered(name, registry) for name in sorted(custom)}
    except common.Failure as error:
        return (decision, []), error
    decision = decide(registered=registered, retired=retired, served=served, declared=declared)
    for kept in decision["kept"]:
        common.say(f"kept {kept['asset']} {kept['version']}: needed by {', '.join(kept['neededBy'])}")
    deleted, failure = _delete(decision, registry)
    return (decision, deleted), failure


def _clean_up(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    common.environment(release, args.env)
    envs = list(common.environments(release))
    retired, _, custom = _release_facts(release)
    models = sorted(name for name in retired if name in custom)
    if not models:
        common.say("no retired custom model: no data to clean up")
        return 0
    stacks = facts.stacks_of(args.outputs)
    # every environment: the data its own deployments collected while retired versions served
    deleted, failure = collected.clean(args.env, models, retired, stacks)
    decision: dict[str, Any] = {"delete": [], "kept": []}
    if envs[-1] != args.env:
        common.say(
            f"the training data the registry's versions share is cleaned up by {envs[-1]}, "
            "once every environment has retired them: no training data deleted here"
        )
    else:
        training, refused = _clean_training(release, stacks)
        decision, deleted, failure = training[0], deleted + training[1], failure or refused
    if not deleted:
        if failure is not None:
            raise failure
        common.say("nothing to delete: no deletion certificate")
        return 0
    certificate = {
        "certificate": "deletion",
        "service": release.get("service"),
        "environment": args.env,
        "rule": RULE,
        "retired": sorted(f"{name} {v}" for name, versions in retired.items() for v in versions),
        "commit": facts.git_commit(os.environ) or None,
        "runUrl": facts.run_url(os.environ),
        "recordedAt": common.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "deleted": deleted,
        "kept": decision["kept"],
    } | ({"error": str(failure)} if failure is not None else {})
    common.write_json(args.out, certificate)
    common.say(f"deletion certificate: {args.out} ({sum(len(d['blobs']) for d in deleted)} blob(s))")
    if failure is not None:
        raise failure
    return 0
