"""The simulated subscription, kept in `<world>/azure.json` and changed under a file lock.

{"deployments": {name: {"outputs", "environment"}},
 "accounts": {account: {"resourceGroup", "environment", "region",
                        "deployments": {name: {model, modelName, version, sku, capacity}}}},
 "stores": {endpoint: {"environment", "region", "keys": {"<key>\\u0000<label>": {value, contentType}}}},
 "locks": [...], "rollouts": {"<env>/<region>/<model>": {"candidate", "steps", "last"}}}
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from generator.rehearse.world import World

EMPTY: dict[str, Any] = {"deployments": {}, "accounts": {}, "stores": {}, "locks": [], "rollouts": {}}


@contextmanager
def locked(world: World) -> Iterator[dict[str, Any]]:
    """The subscription's state, written back when the block ends without an error."""
    lock_path = world.root / "azure.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = world.azure_file
        state = json.loads(path.read_text("utf-8")) if path.exists() else json.loads(json.dumps(EMPTY))
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, path)


def read(world: World) -> dict[str, Any]:
    path = world.azure_file
    state: dict[str, Any] = json.loads(path.read_text("utf-8") if path.exists() else json.dumps(EMPTY))
    return state


def reset_rollouts(world: World) -> None:
    """A new pipeline run: fault steps count from its first traffic move."""
    with locked(world) as state:
        state["rollouts"] = {}
