"""What serves customers in the simulated subscription, per environment, region and model.

`traffic_snapshot(world)`: {env: {region: {model: {"routes": {deployment: share},
"versions": {deployment: version}}}}}, counting only deployments with a share: a standby
colour's version is not what serves. Two snapshots are equal when traffic is exactly where it
was, which is what a rollback must achieve.
"""

from __future__ import annotations

from typing import Any

from generator.rehearse.azure.metrics import share
from generator.rehearse.azure.state import read
from generator.rehearse.world import World


def traffic_snapshot(world: World) -> dict[str, Any]:
    state = read(world)
    out: dict[str, Any] = {}
    for account in state["accounts"].values():
        env, region = account["environment"], account["region"]
        store = next(
            (s for s in state["stores"].values() if (s["environment"], s["region"]) == (env, region)), None
        )
        models: dict[str, Any] = {}
        for name, deployment in sorted(account["deployments"].items()):
            part = share(store, env, deployment["model"], name) if store else 0.0
            if part > 0:
                entry = models.setdefault(deployment["model"], {"routes": {}, "versions": {}})
                entry["routes"][name] = part
                entry["versions"][name] = deployment["version"]
        out.setdefault(env, {})[region] = models
    return out


def serving_view(snapshot: dict[str, Any], env: str) -> Any:
    """One environment's part of a snapshot ({} when nothing was ever deployed there)."""
    return snapshot.get(env, {})
