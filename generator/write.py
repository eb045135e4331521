"""Write rendered files: only what changed, atomically, and never over a file almgen does not own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from generator import manifest as mf
from generator.fastcheck import safe_target
from generator.outputs import OutputFile

Action = Literal["created", "updated", "unchanged", "removed", "kept", "refused", "ignored"]


@dataclass
class Change:
    path: str
    action: Action
    reason: str = ""


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.action == "refused"]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


def atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old content or the new, never a mix: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".almgen-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plan_writes(
    root: Path, outputs: Iterable[OutputFile], old: mf.Manifest, *, force: bool, adopt: bool
) -> tuple[Report, dict[str, bytes], list[str], mf.Manifest]:
    """Decide every file's fate without touching the disk: (report, writes, removals, new manifest)."""
    report = Report()
    writes: dict[str, bytes] = {}
    removals: list[str] = []
    new = mf.Manifest(inputs=dict(old.inputs))
    planned = set()
    for output in outputs:
        planned.add(output.path)
        data = output.text.encode("utf-8")
        digest = mf.sha256(data)
        target = safe_target(root, output.path)
        if target is None:
            report.changes.append(Change(output.path, "refused", "the path leaves the repository"))
            continue
        entry = old.files.get(output.path)
        if entry is not None and entry.ownership == "user":
            new.files[output.path] = entry  # ejected: the user's file, never written again
            report.changes.append(Change(output.path, "kept", "ejected: yours, not generated"))
            continue
        if not target.exists():
            writes[output.path] = data
            report.changes.append(Change(output.path, "created"))
            new.files[output.path] = mf.Entry(output.path, output.ownership, digest)
            continue
        on_disk = mf.sha256(target.read_bytes())
        if output.ownership == "seeded":
            # written once, then the user's: keep the recorded hash of what was seeded
            new.files[output.path] = entry or mf.Entry(output.path, "seeded", on_disk)
            report.changes.append(Change(output.path, "unchanged"))
            continue
        if on_disk == digest:
            new.files[output.path] = mf.Entry(output.path, "managed", digest)
            report.changes.append(Change(output.path, "unchanged"))
            continue
        if entry is None and not adopt:
            report.changes.append(
                Change(
                    output.path,
                    "refused",
                    "a file almgen did not write is in the way (use --adopt to take it over)",
                )
            )
            new.files.pop(output.path, None)
            continue
        if entry is not None and on_disk != entry.sha256 and not force:
            report.changes.append(
                Change(
                    output.path,
                    "refused",
                    "edited by hand since almgen wrote it (move the change into the spec, "
                    "or use --force to overwrite it)",
                )
            )
            new.files[output.path] = entry
            continue
        writes[output.path] = data
        report.changes.append(Change(output.path, "updated"))
        new.files[output.path] = mf.Entry(output.path, "managed", digest)
    for path, entry in sorted(old.files.items()):
        if path in planned or entry.ownership == "user":
            if entry.ownership == "user":
                new.files[path] = entry
            continue
        target = safe_target(root, path)
        if target is None or not target.exists():
            continue
        if entry.ownership == "managed" and mf.sha256(target.read_bytes()) == entry.sha256:
            removals.append(path)
            report.changes.append(Change(path, "removed"))
        else:
            report.changes.append(
                Change(path, "kept", "no longer generated, but edited by hand or seeded: it is yours now")
            )
    for path in old.unsafe:
        report.changes.append(Change(path, "ignored", "a manifest entry outside the repository: not touched"))
    report.changes.sort(key=lambda c: c.path)
    return report, writes, removals, new


def apply(root: Path, writes: dict[str, bytes], removals: list[str], new: mf.Manifest) -> None:
    for path, data in sorted(writes.items()):
        target = safe_target(root, path)
        assert target is not None  # checked in plan_writes
        atomic_write(target, data)
    for path in removals:
        target = safe_target(root, path)
        if target is not None and target.exists():
            target.unlink()
    atomic_write(root / mf.MANIFEST, new.to_json().encode("utf-8"))
