"""Write rendered files: only what changed, atomically, and never over a file almgen does not own."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from generator.regen import manifest as mf
from generator.regen.fastpath import safe_target
from generator.render.outputs import OutputFile

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


State = Literal["outside", "ejected", "missing", "seeded", "current", "collision", "tampered", "stale"]


def classify(target: Path | None, output: OutputFile, entry: mf.Entry | None) -> State:
    """Where a file the spec generates stands on disk; generate and check both act on this."""
    if target is None:
        return "outside"
    if entry is not None and entry.ownership == "user":
        return "ejected"
    if not target.exists():
        return "missing"
    if output.ownership == "seeded":
        return "seeded"
    data = target.read_bytes()
    if data == output.text.encode("utf-8"):
        return "current"
    if entry is None:
        return "collision"
    return "tampered" if mf.sha256(data) != entry.sha256 else "stale"


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
        entry = old.files.get(output.path)
        target = safe_target(root, output.path)
        state = classify(target, output, entry)
        managed = mf.Entry(output.path, output.ownership, mf.sha256(data))
        if state == "outside":
            report.changes.append(Change(output.path, "refused", "the path leaves the repository"))
        elif state == "ejected":
            assert entry is not None
            new.files[output.path] = entry  # the user's file, never written again
            report.changes.append(Change(output.path, "kept", "ejected: yours, not generated"))
        elif state == "missing":
            writes[output.path] = data
            new.files[output.path] = managed
            report.changes.append(Change(output.path, "created"))
        elif state == "seeded":  # written once, then the user's: keep the hash of what was seeded
            assert target is not None
            new.files[output.path] = entry or mf.Entry(output.path, "seeded", mf.sha256(target.read_bytes()))
            report.changes.append(Change(output.path, "unchanged"))
        elif state == "current":
            new.files[output.path] = managed
            report.changes.append(Change(output.path, "unchanged"))
        elif state == "collision" and not adopt:
            report.changes.append(
                Change(
                    output.path,
                    "refused",
                    "a file almgen did not write is in the way (use --adopt to take it over)",
                )
            )
        elif state == "tampered" and not force:
            assert entry is not None
            new.files[output.path] = entry
            report.changes.append(
                Change(
                    output.path,
                    "refused",
                    "edited by hand since almgen wrote it (move "
                    "the change into the spec, or use --force to overwrite it)",
                )
            )
        else:  # stale, or a collision / hand edit the user chose to overwrite
            writes[output.path] = data
            new.files[output.path] = managed
            report.changes.append(Change(output.path, "updated"))
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
