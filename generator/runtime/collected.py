"""models.py clean-up, the collected data: what the deployments' data collector wrote while only
retired versions served, deleted and certified.

online-deployment.bicep enables the model data collector (`model_inputs`, `model_outputs`, hourly);
Azure ML writes to the workspace's default datastore (`workspaceblobstore`) as
`modelDataCollector/<endpoint>/<deployment>/<collection>/<yyyy>/<MM>/<dd>/<HH>/<file>.jsonl`.
The colours (blue, green) are reused, so the deployment name does not say which version wrote a
blob: `collected_windows` (pure) reads it from the environment's release records in the record
store (`deployments`: what each colour served after that release) and, last, from the deployments
Azure has now. Between two consecutive observations a colour that shows the same retired version
in both served it all along; a colour that shows a retired version and then another retired version
or no deployment (retire deleted it) holds only retired data; any other change (to a version that
stays, from no deployment, a record that does not say) could be either side's and is kept.
`collected_to_delete` (pure) deletes a blob only when its writes (creation time to last
modification, else its hour partition) lie wholly in such a window: a blob that straddles the moment
a kept version took the colour over stays. Each deleted blob is certified like the training data's
(cleanup.py writes the certificate). Every environment cleans up its own workspaces.
"""

from __future__ import annotations

import importlib
import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any

if __package__:
    from . import common, facts, records, routing
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    records = importlib.import_module("records")
    routing = importlib.import_module("routing")

COLLECTED_RULE = (
    "registry.retention.cleanup: the data the model data collector gathered while a colour served "
    "a retired version (release records' deployments) is deleted"
)
DATASTORE = "workspaceblobstore"  # the workspace's default datastore: the collector's default destination
COLLECTOR = "modelDataCollector"
PARTITION = re.compile(r"(\d{4})/(\d{2})/(\d{2})(?:/(\d{2}))?/[^/]+")

Colour = tuple[str, str]  # (model, colour)
Seen = tuple[datetime, dict[Colour, str] | None]  # when, what each colour served (None: not said)
Window = tuple[datetime, datetime, list[str]]  # from, to, the retired versions that served


def timestamp(value: object) -> datetime | None:
    """An ISO 8601 UTC time (release records, blob properties), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def colours_of(record: dict[str, Any]) -> dict[Colour, str] | None:
    """What each custom model's colour served after a release (its record's `deployments`), or None
    when the record does not say (a record written before almgen recorded it)."""
    deployments = record.get("deployments")
    if not isinstance(deployments, list):
        return None
    found: dict[Colour, str] = {}
    for item in deployments:
        if isinstance(item, dict) and all(
            isinstance(item.get(k), str) for k in ("model", "colour", "version")
        ):
            found[(item["model"], item["colour"])] = item["version"]
    return found


def observations(history: list[dict[str, Any]], now: datetime, serving: dict[Colour, str]) -> list[Seen]:
    """The release records (any order) as observations, oldest first, then what Azure serves NOW."""
    seen: list[Seen] = []
    for record in history:
        when = timestamp(record.get("timestamp"))
        if when is not None and when <= now:
            seen.append((when, colours_of(record)))
    seen.sort(key=lambda item: item[0])
    return [*seen, (now, dict(serving))]


def collected_windows(seen: list[Seen], retired: dict[str, set[str]]) -> dict[Colour, list[Window]]:
    """Per (model, colour): the time windows whose collected data only retired versions can have
    written, merged, oldest first.

    Between two consecutive observations A and B (SEEN, oldest first) a colour's interval is taken
    when A shows a retired version and B shows the same one, another retired one, or no deployment
    (retire deletes a retired version's deployments; nothing else does). A colour absent from A,
    an observation that does not say (None), or a version in B that is not retired leaves the
    interval out: a kept version may have written there (its candidate before its record)."""
    colours = sorted({c for _, said in seen if said for c in said})
    windows: dict[Colour, list[Window]] = {}
    for colour in colours:
        gone = retired.get(colour[0], set())
        merged: list[Window] = []
        for (start, before), (end, after) in itertools.pairwise(seen):
            if before is None or after is None:
                continue
            first, then = before.get(colour), after.get(colour)
            if first is None or first not in gone or (then is not None and then not in gone):
                continue
            versions = sorted({first} | ({then} if then is not None else set()))
            if merged and merged[-1][1] >= start:
                merged[-1] = (merged[-1][0], end, sorted(set(merged[-1][2]) | set(versions)))
            else:
                merged.append((start, end, versions))
        if merged:
            windows[colour] = merged
    return windows


def written(name: str, properties: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """When a collected blob was written: its creation time to its last modification, else its
    path's hour (or day) partition; None for a blob outside the collector's layout."""
    created, modified = timestamp(properties.get("creationTime")), timestamp(properties.get("lastModified"))
    if created is not None:
        return created, max(created, modified or created)
    match = PARTITION.search(name)
    if match is None:
        return None
    year, month, day, hour = match.groups()
    start = datetime(int(year), int(month), int(day), int(hour or 0), tzinfo=timezone.utc)
    return start, start + (timedelta(hours=1) if hour else timedelta(days=1))


def collected_to_delete(
    endpoint: str, model: str, blobs: list[dict[str, Any]], windows: dict[Colour, list[Window]]
) -> tuple[list[tuple[dict[str, Any], Window]], int]:
    """The collected blobs of ENDPOINT (serving MODEL) written wholly inside a window of their
    colour, each with its window; and how many collected blobs stay."""
    prefix = f"{COLLECTOR}/{endpoint}/"
    chosen: list[tuple[dict[str, Any], Window]] = []
    kept = 0
    for blob in blobs:
        name = blob.get("name") if isinstance(blob, dict) else None
        if not isinstance(name, str) or not name.startswith(prefix):
            continue
        colour = name[len(prefix) :].split("/", 1)[0]
        properties = blob.get("properties") if isinstance(blob.get("properties"), dict) else {}
        span = written(name, properties or {})
        window = next(
            (w for w in windows.get((model, colour), []) if span and w[0] <= span[0] and span[1] <= w[1]),
            None,
        )
        if window is None:
            kept += 1
        else:
            chosen.append((blob, window))
    return chosen, kept


# --------------------------------------------------------------------------- reading Azure


def storage(verb: str, account: str, container: str, *args: str) -> list[str]:
    return [
        "storage",
        "blob",
        verb,
        "--account-name",
        account,
        "--container-name",
        container,
        *args,
        "--auth-mode",
        "login",
    ]


def _endpoints(stack: dict[str, Any], models: list[str]) -> list[tuple[str, str]]:
    """(model, endpoint) of the region's online endpoints of MODELS."""
    return [
        (str(e["model"]), str(e["name"]))
        for e in stack.get("onlineEndpoints") or []
        if isinstance(e, dict) and e.get("model") in models and e.get("name")
    ]


def _serving(stack: dict[str, Any], models: list[str]) -> dict[Colour, str]:
    """What each colour of MODELS serves in one region now (deployments retire deleted are absent)."""
    found: dict[Colour, str] = {}
    workspace = facts.workspace_of(stack)
    for model, endpoint in _endpoints(stack, models):
        listed = common.az_json(
            [
                "ml",
                "online-deployment",
                "list",
                "--endpoint-name",
                endpoint,
                *facts.scope(stack["resourceGroup"], workspace),
            ],
            f"list the deployments of {endpoint}",
        )
        for item in listed or []:
            if (
                isinstance(item, dict)
                and isinstance(item.get("name"), str)
                and isinstance(item.get("model"), str)
            ):
                found[(model, item["name"])] = routing.model_version(item["model"])
    return found


def _collector_store(stack: dict[str, Any]) -> tuple[str, str]:
    """The storage account and container of the workspace's default datastore (the collector's)."""
    shown = common.az_json(
        [
            "ml",
            "datastore",
            "show",
            "--name",
            DATASTORE,
            *facts.scope(stack["resourceGroup"], facts.workspace_of(stack)),
        ],
        f"read the datastore {DATASTORE} of {facts.workspace_of(stack)}",
    )
    account = shown.get("account_name") if isinstance(shown, dict) else None
    container = shown.get("container_name") if isinstance(shown, dict) else None
    if not isinstance(account, str) or not isinstance(container, str) or not account or not container:
        raise common.Failure(f"the datastore {DATASTORE} names no blob account and container")
    return account, container


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def delete_collected(
    env: str,
    stack: dict[str, Any],
    windows: dict[Colour, list[Window]],
    items: list[dict[str, Any]],
) -> int:
    """Delete one region's collected blobs inside the windows, ITEMS getting each as it goes (so a
    refusal midway still certifies what went); how many collected blobs stay."""
    models = sorted({model for model, _ in windows})
    kept_total = 0
    account, container = _collector_store(stack)
    for model, endpoint in _endpoints(stack, models):
        listed = common.az_json(
            storage("list", account, container, "--prefix", f"{COLLECTOR}/{endpoint}/"),
            f"list the data collected by {endpoint}",
        )
        chosen, kept = collected_to_delete(endpoint, model, listed or [], windows)
        kept_total += kept
        by_colour: dict[str, dict[str, Any]] = {}
        for blob, (start, end, versions) in chosen:
            name = str(blob["name"])
            properties = blob.get("properties") if isinstance(blob.get("properties"), dict) else {}
            settings = (properties or {}).get("contentSettings")
            colour = name[len(f"{COLLECTOR}/{endpoint}/") :].split("/", 1)[0]
            item = by_colour.get(colour)
            if item is None:
                item = by_colour[colour] = {
                    "kind": "collected-data",
                    "rule": COLLECTED_RULE,
                    "environment": env,
                    "region": stack.get("location"),
                    "workspace": facts.workspace_of(stack),
                    "endpoint": endpoint,
                    "model": model,
                    "colour": colour,
                    "windows": [],
                    "blobs": [],
                }
                items.append(item)
            window = {"from": _iso(start), "to": _iso(end), "versions": versions}
            if window not in item["windows"]:
                item["windows"].append(window)
            common.az_text(
                [*storage("delete", account, container, "--name", name), "-o", "none"],
                f"delete {name} collected by {endpoint}",
            )
            item["blobs"].append(
                {
                    "url": f"https://{account}.blob.core.windows.net/{container}/{name}",
                    "contentMd5": settings.get("contentMd5") if isinstance(settings, dict) else None,
                    "contentLength": (properties or {}).get("contentLength"),
                    "etag": (properties or {}).get("etag"),
                    "deletedAt": _iso(common.now()),
                }
            )
            common.say(
                f"deleted {item['blobs'][-1]['url']} (collected while {model} {', '.join(versions)} served)"
            )
    return kept_total


def clean(
    env: str, models: list[str], retired: dict[str, set[str]], stacks: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], common.Failure | None]:
    """Delete the data this environment's deployments collected while only retired versions of
    MODELS served; the certified items, and the failure that stopped it."""
    items: list[dict[str, Any]] = []
    try:
        store = next(
            (str(s["recordsAccount"]) for s in stacks if s.get("primary") and s.get("recordsAccount")), ""
        )
        history = records.history(env, store) if store else []  # no store: nothing is known, nothing goes
        now = common.now()
        for stack in stacks:
            if not stack.get("workspaceName"):
                continue
            serving = _serving(stack, models)
            still = {model: {v for (m, _), v in serving.items() if m == model} for model in models}
            gone = {model: retired.get(model, set()) - still[model] for model in models}
            windows = collected_windows(observations(history, now, serving), gone)
            if not windows:
                common.say(f"{stack.get('location')}: no retired version served a colour: no collected data")
                continue
            before = sum(len(i["blobs"]) for i in items)
            kept = delete_collected(env, stack, windows, items)
            common.say(
                f"{stack.get('location')}: {sum(len(i['blobs']) for i in items) - before} collected "
                f"blob(s) deleted, {kept} kept (written while a version that stays could serve)"
            )
    except common.Failure as error:  # what was deleted before is still certified
        return [i for i in items if i["blobs"]], error
    return items, None
