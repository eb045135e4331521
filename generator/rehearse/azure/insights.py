"""Application Insights ingestion and the production evaluation's alert rules, emulated.

Contract (templates/bicep/modules/monitoring.bicep.j2 and alerts.bicep.j2, with the
`productionEvaluation` param): each stack's component has a connection string
(`appInsightsConnectionString` in the stacks output) whose IngestionEndpoint is
`https://<location>-0.in.applicationinsights.azure.com/`. `az rest --method post --url
<endpoint>v2.1/track --resource https://monitor.azure.com --body @FILE` takes one telemetry envelope
(local auth is off: any other --resource is refused as Azure refuses a token of another audience, 401)
and stores it with the component its iKey names (`state["insights"][<resource group>]["events"]`);
an unknown iKey is not accepted (itemsAccepted 0).

`alerts(state, location, now)` evaluates the two log search rules as Azure would at NOW:
`evaluation-breach` (an `almgen.production-evaluation` event in the last hour whose passed is not
"true") and `evaluation-missing` (no such event within `missing`, `PT2H` or `P2D`). The rules exist
only where the deployment's `productionEvaluation` param was not empty (the last environment).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from generator.rehearse.azure.store import AzFailure, unique_string
from generator.rehearse.world import World

HOST = ".in.applicationinsights.azure.com"
RESOURCE = "https://monitor.azure.com"
EVENT = "almgen.production-evaluation"
WINDOWS = {
    "PT1H": timedelta(hours=1),
    "PT2H": timedelta(hours=2),
    "P1D": timedelta(days=1),
    "P2D": timedelta(days=2),
}


def deploy(state: dict[str, Any], *, group: str, location: str, params: dict[str, Any]) -> dict[str, str]:
    """The component of a stack (kept across deployments, with its events) and its stacks output."""
    key = "ikey-" + unique_string(state["subscription"], group, "appinsights")
    component = state.setdefault("insights", {}).setdefault(group, {"events": []})
    rules = dict(params.get("productionEvaluation") or {})
    component.update({"location": location, "instrumentationKey": key, "rules": rules})
    endpoint = f"https://{location}-0{HOST}/"
    connection = f"InstrumentationKey={key};IngestionEndpoint={endpoint}"
    return {"appInsightsConnectionString": connection}


def is_ingestion(url: str) -> bool:
    return url.removeprefix("https://").partition("/")[0].endswith(HOST)


def track(world: World, state: dict[str, Any], method: str, url: str, flags: Any) -> Any:
    path = url.removeprefix("https://").partition("/")[2]
    if method != "post" or path.partition("?")[0] != "v2.1/track":
        raise AzFailure(f'Not Found({{"error": {{"code": "NotFound", "message": "{url}"}}}})', 1)
    if flags.get("--resource") != RESOURCE:
        raise AzFailure('Unauthorized({"error": {"code": "InvalidToken", "message": "wrong audience"}})', 1)
    body = str(flags.get("--body") or "")
    envelope = json.loads(Path(body[1:]).read_text("utf-8") if body.startswith("@") else body)
    components = state.get("insights", {})
    group = next((g for g, c in components.items() if c["instrumentationKey"] == envelope.get("iKey")), None)
    if group is None:  # an unknown instrumentation key: Breeze answers 400 for the item
        return {"itemsReceived": 1, "itemsAccepted": 0, "errors": [{"index": 0, "statusCode": 400}]}
    component = components[group]
    data = envelope["data"]["baseData"]
    event = {"time": envelope["time"], "name": data["name"], "properties": data.get("properties", {})}
    event["measurements"] = data.get("measurements", {})
    component["events"].append(event)
    world.record("insights.event", group=group, location=component["location"], **event)
    return {"itemsReceived": 1, "itemsAccepted": 1, "errors": []}


def alerts(state: dict[str, Any], group: str, now: datetime) -> list[str]:
    """The production evaluation rules of GROUP's workspace (a stack's) that fire at NOW."""
    component = state.get("insights", {}).get(group) or {}
    rules = component.get("rules") or {}
    if not rules:
        return []
    events = [
        (datetime.fromisoformat(e["time"].replace("Z", "+00:00")), e)
        for e in component.get("events", [])
        if e["name"] == rules.get("event", EVENT)
    ]
    fired = []
    if any(
        now - timedelta(hours=1) <= t <= now and e["properties"].get("passed") != "true" for t, e in events
    ):
        fired.append("evaluation-breach")
    missing = WINDOWS[rules.get("missing", "P2D")]
    if not any(now - missing <= t <= now for t, _ in events):
        fired.append("evaluation-missing")
    return fired
