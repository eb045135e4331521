"""`.almgen/manifest.json`: what almgen wrote, so it never mistakes a user's file for its own.

Paths in a manifest are untrusted input: an entry that is absolute, climbs out of the
repository or runs through a symlink is ignored and reported, never read or written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import __version__
from generator.errors import Issue, SpecInvalid
from generator.regen.fastpath import safe_target

MANIFEST = ".almgen/manifest.json"
SCHEMA_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Entry:
    path: str
    ownership: str
    sha256: str


@dataclass
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    version: str = __version__
    unsafe: list[str] = field(default_factory=list)  # entries ignored because of their path

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "generator": {"name": "almgen", "version": self.version},
            "inputs": [{"path": p, "sha256": h} for p, h in sorted(self.inputs.items())],
            "files": [
                {"path": e.path, "ownership": e.ownership, "sha256": e.sha256}
                for e in sorted(self.files.values(), key=lambda e: e.path)
            ],
        }
        return json.dumps(data, indent=2) + "\n"


def relative_input(root: Path, path: Path) -> str:
    """An input's path as the manifest records it: relative to the spec's folder, POSIX."""
    return Path(os.path.relpath(path, root)).as_posix()


def load(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.exists():
        return Manifest()
    shown = os.path.relpath(path)

    def corrupt(reason: str) -> SpecInvalid:
        return SpecInvalid(
            [
                Issue(
                    shown,
                    1,
                    1,
                    "",
                    f"the manifest is corrupt: {reason}",
                    "the JSON almgen writes",
                    f"restore it from version control, or delete {MANIFEST} and run "
                    "`almgen generate --adopt` to take the files over again",
                )
            ]
        )

    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise corrupt(str(exc).splitlines()[0]) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise corrupt(f"expected a mapping with schema {SCHEMA_VERSION}")
    manifest = Manifest(version=str(data.get("generator", {}).get("version", "")))
    for item in data.get("files", []):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and isinstance(item.get("sha256"), str)
            and item.get("ownership") in ("managed", "seeded", "user")
        ):
            raise corrupt(f"a files entry is malformed: {item!r}"[:200])
        if safe_target(root, item["path"]) is None:
            manifest.unsafe.append(item["path"])
            continue
        manifest.files[item["path"]] = Entry(item["path"], item["ownership"], item["sha256"])
    for item in data.get("inputs", []):
        if (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and isinstance(item.get("sha256"), str)
        ):
            manifest.inputs[item["path"]] = item["sha256"]
    return manifest
