"""The arithmetic of traffic, without Azure: a canary key's value, a gateway pool's services, an
online endpoint's traffic map, and the share a saved snapshot gives a deployment. routing.py reads
and writes Azure with them (and keeps their names for its callers).
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

if __package__:
    from . import common
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
if TYPE_CHECKING:
    from . import routing

CLEARED_CANARY: dict[str, Any] = {"deployment": "", "percent": 0}


def parse_canary(model: str, value: str | None) -> dict[str, Any]:
    """`{"deployment", "percent"}`; an unreadable value fails rather than being silently reset."""
    if not value:
        return dict(CLEARED_CANARY)
    try:
        canary = json.loads(value)
        return {"deployment": str(canary["deployment"]), "percent": int(canary["percent"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise common.Failure(f"almgen:canary:{model} holds {value!r}, not {{deployment, percent}}") from exc


def pool_services(
    stack: routing.Stack, active: str, canary: dict[str, Any], actives: dict[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """The pool as gateway.bicep (and gateway-failover.bicep) compose it: at priority 1 this region's
    ACTIVE takes 100 - p, the canary p, no other colour; at priority 2, for each region of
    `stack.failover`, the deployment serving there (ACTIVES, from that region's App Configuration;
    unknown: ACTIVE) (backend `remote-<location>-<deployment>`), sharing 100 equally."""
    backend = f"{stack.gateway_id}/backends/deployment-"
    percent = int(canary.get("percent") or 0)
    if percent <= 0 or not canary.get("deployment") or canary["deployment"] == active:
        local = [{"id": f"{backend}{active}", "priority": 1, "weight": 100}]
    else:
        local = [
            {"id": f"{backend}{active}", "priority": 1, "weight": 100 - percent},
            {"id": f"{backend}{canary['deployment']}", "priority": 1, "weight": percent},
        ]
    remote = f"{stack.gateway_id}/backends/remote-"
    weight = 100 // max(len(stack.failover), 1)
    serving = actives or {}
    return local + [
        {"id": f"{remote}{where}-{serving.get(where) or active}", "priority": 2, "weight": weight}
        for where in stack.failover
    ]


def live_colour(traffic: dict[str, int]) -> str | None:
    """The deployment with the most traffic (ties: alphabetical), None when nothing serves."""
    serving = sorted((-share, name) for name, share in traffic.items() if share > 0)
    return serving[0][1] if serving else None


def compose_traffic(current: dict[str, int], to: str, percent: int) -> dict[str, int]:
    """`to` gets PERCENT, the live deployment the rest, any other 0; nothing live yet: `to` gets 100."""
    others = {name: share for name, share in current.items() if name != to}
    live = live_colour(others)
    if live is None:
        return {**{name: 0 for name in others}, to: 100}
    return {**{name: 0 for name in others}, live: 100 - percent, to: percent}


def model_version(reference: str) -> str:
    """The version of a deployment's model reference: the last path segment (or `azureml:n:v`)."""
    tail = reference.rstrip("/").rsplit("/", 1)[-1]
    return tail.rsplit(":", 1)[-1] if tail.startswith("azureml:") else tail


def actives_of(keys: dict[str, str]) -> dict[str, str]:
    """model -> serving deployment, from a region's `almgen:*` keys."""
    return {k.removeprefix("almgen:active:"): v for k, v in keys.items() if k.startswith("almgen:active:")}


def share_of(previous: dict[str, Any], to: str) -> int:
    """The smallest share of traffic TO has in any region of a snapshot."""
    shares = []
    for region in previous["stacks"]:
        if previous["kind"] == "foundation":
            canary = region["canary"]
            share = 100 if region.get("active") == to and canary["percent"] == 0 else 0
            shares.append(int(canary["percent"]) if canary.get("deployment") == to else share)
        else:
            shares.append(int((region.get("traffic") or {}).get(to, 0)))
    return min(shares, default=0)


def already_live(previous: dict[str, Any], to: str) -> bool:
    """Whether TO already takes all traffic in every region (a re-run has nothing to do)."""
    for region in previous["stacks"]:
        if previous["kind"] == "foundation":
            if region.get("active") != to or region["canary"]["percent"] > 0:
                return False
        elif region["traffic"].get(to, 0) != 100:
            return False
    return True
