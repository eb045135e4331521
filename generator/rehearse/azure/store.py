"""The simulated subscription's state in `<sim>/azure.json`, read and written under a file lock.

Shape (all keys optional on disk):

    {"subscription": "...", "tenant": "...", "login": {"at": EPOCH, "user": ID} | null,
     "loginLifetimeMinutes": 60,
     "groups": {NAME: {"location", "tags"}},
     "accounts": {ID: AI Services account: {"name", "group", "location", "deployments": {...}}},
     "stores": {ENDPOINT: App Configuration: {"name", "group", "env", "kv": {"key\\u0000label": {...}}}},
     "vaults": {...}, "workspaces": {"group/name": {"endpoints": {...}, "models": {...}, "jobs": {...}}},
     "registries": {NAME: Azure ML registry: {"name", "group", "location", "regions", "models": {...}}},
     "locks": {...}, "roles": [...], "deployments": {NAME: subscription deployment},
     "identities": {RESOURCE ID: user-assigned identity almgen setup made: {"name", "group", "principalId"}},
     "traffic": [{"minute", "env", "region", "model", "shares": {deployment: percent}}],
     "steps": {"env/model/deployment": [minute, ...]}, "events": [...]}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from generator.rehearse.world import write_atomic

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
TENANT = "00000000-0000-4000-8000-0000000000aa"
LOGIN_LIFETIME_MINUTES = 60


class AzFailure(Exception):
    """An az error: the message printed on stderr (after `ERROR: `) and the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def not_found(kind: str, name: str, code: str = "ResourceNotFound") -> AzFailure:
    return AzFailure(f"({code}) The {kind} '{name}' could not be found.", 3)


def empty_state() -> dict[str, Any]:
    return {
        "subscription": SUBSCRIPTION,
        "tenant": TENANT,
        "login": None,
        "loginLifetimeMinutes": LOGIN_LIFETIME_MINUTES,
        "groups": {},
        "accounts": {},
        "stores": {},
        "vaults": {},
        "workspaces": {},
        "registries": {},
        "locks": {},
        "roles": [],
        "identities": {},
        "deployments": {},
        "traffic": [],
        "steps": {},
        "events": [],
    }


@contextlib.contextmanager
def locked(path: Path) -> Iterator[dict[str, Any]]:
    """The state, exclusively; written back atomically when the block ends without an error
    other than AzFailure (a failed call may still have changed state, as a failed ARM deployment does)."""
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = empty_state()
            text = path.read_text("utf-8") if path.exists() else ""
            if text.strip():
                state.update(json.loads(text))
            before = _fingerprint(state) if text.strip() else None
            try:
                yield state
            except AzFailure:
                _write(path, state, before)
                raise
            _write(path, state, before)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fingerprint(state: dict[str, Any]) -> str:
    """The state as compact JSON: json's C encoder (an indented dump is pure Python, ~10x slower)."""
    return json.dumps(state, sort_keys=True)


def _write(path: Path, state: dict[str, Any], before: str | None) -> None:
    """Write the state back unless the call left it as it was (most calls only read)."""
    if before is None or _fingerprint(state) != before:
        write_atomic(path, json.dumps(state, indent=1, sort_keys=True))


def unique_string(*parts: str) -> str:
    """A stand-in for Bicep's uniqueString: 13 lowercase characters, deterministic."""
    import hashlib  # here, not at the top: most `az` calls never need it (start-up time)

    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(alphabet[int(digest[i : i + 2], 16) % 32] for i in range(0, 26, 2))


def group_id(state: dict[str, Any], group: str) -> str:
    return f"/subscriptions/{state['subscription']}/resourceGroups/{group}"


def env_of_group(state: dict[str, Any], group: str) -> str:
    """The environment a resource group belongs to: its `environment` tag."""
    return str(((state["groups"].get(group) or {}).get("tags") or {}).get("environment", ""))


def account_by_name(state: dict[str, Any], group: str | None, name: str) -> dict[str, Any]:
    for account in state["accounts"].values():
        if account["name"] == name and (group is None or account["group"].lower() == group.lower()):
            return cast(dict[str, Any], account)
    raise AzFailure(
        f"(ResourceNotFound) The Resource 'Microsoft.CognitiveServices/accounts/{name}' under resource "
        f"group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFound",
        3,
    )


def store_by_endpoint(state: dict[str, Any], endpoint: str | None, name: str | None) -> dict[str, Any]:
    for key, store in state["stores"].items():
        if (endpoint and key.rstrip("/") == endpoint.rstrip("/")) or (name and store["name"] == name):
            return cast(dict[str, Any], store)
    raise AzFailure(f"The specified App Configuration store {endpoint or name} does not exist.", 1)


def registry(state: dict[str, Any], name: str) -> dict[str, Any]:
    found = state.setdefault("registries", {}).get(name)
    if found is None:
        raise AzFailure(
            f"(ResourceNotFound) The Resource 'Microsoft.MachineLearningServices/registries/{name}' "
            "was not found.",
            3,
        )
    return cast(dict[str, Any], found)


def workspace(state: dict[str, Any], group: str | None, name: str | None) -> dict[str, Any]:
    found = state["workspaces"].get(f"{group}/{name}")
    if found is None:
        raise AzFailure(
            f"(ResourceNotFound) The Resource 'Microsoft.MachineLearningServices/workspaces/{name}' under "
            f"resource group '{group}' was not found.",
            3,
        )
    return cast(dict[str, Any], found)
