"""Write rendered files: only what changed, atomically, and never over a file almgen does not own."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Literal

from generator.errors import AlmgenError, ExitCode
from generator.frozen import frozen, record
from generator.regen import files, journal
from generator.regen import manifest as mf
from generator.regen.digests import hex_blake2b
from generator.regen.fastpath import safe_target
from generator.regen.files import atomic_write
from generator.render.outputs import OutputFile


class ChangedWhileGenerating(AlmgenError):
    """An input or a file changed while generate ran: stop, keep what the user saved, run again."""

    exit_code = ExitCode.DRIFT


@frozen
class Write:
    data: bytes
    before: str  # the sha256 the file had when planned; "" when it did not exist


Action = Literal["created", "updated", "unchanged", "removed", "kept", "refused", "ignored"]


@record
class Change:
    path: str
    action: Action
    reason: str = ""


@record
class Report:
    changes: list[Change] = field(default_factory=list)

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.action == "refused"]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


State = Literal[
    "outside", "irregular", "ejected", "missing", "seeded", "current", "collision", "tampered", "stale"
]


def classify(target: Path | None, output: OutputFile, entry: mf.Entry | None) -> State:
    """Where a file the spec generates stands on disk; generate and check both act on this."""
    if target is None:
        return "outside"
    if files.irregular(target):
        return "irregular"
    if entry is not None and entry.ownership == "user":
        return "ejected"
    if not target.exists():
        return "missing"
    if output.ownership == "seeded":
        return "seeded"
    return _content_state(target, output, entry)


def _content_state(target: Path, output: OutputFile, entry: mf.Entry | None) -> State:
    """An existing generated file compared with what the spec renders now."""
    data = files.read_bytes(target)
    if data == output.text.encode("utf-8"):
        return "current"
    if entry is None:
        return "collision"
    return "tampered" if mf.sha256(data) != entry.sha256 else "stale"


def plan_writes(
    root: Path, outputs: Iterable[OutputFile], old: mf.Manifest, *, force: bool, adopt: bool
) -> tuple[Report, dict[str, Write], dict[str, str], mf.Manifest]:
    """Decide every file's fate without touching the disk: (report, writes, removals, new manifest).

    Each write carries the hash its file had, and `removals` map each path to remove to the
    sha256 it must still have: what the user saves meanwhile is never written over or removed.
    """
    plan = _WritePlan(root, mf.Manifest(inputs=dict(old.inputs)), force=force, adopt=adopt)
    planned = set()
    for output in outputs:
        planned.add(output.path)
        plan.decide_output(output, old.files.get(output.path))
    for path, entry in sorted(old.files.items()):
        if entry.ownership == "user":
            plan.manifest.files[path] = entry  # ejected: the user's, whether generated or not
        elif path not in planned:
            plan.decide_no_longer_generated(path, entry)
    for path, reason in old.ignored.items():
        plan.report.changes.append(
            Change(path, "ignored", f"a manifest entry almgen does not act on: {reason}")
        )
    plan.report.changes.sort(key=lambda c: c.path)
    return plan.report, plan.writes, plan.removals, plan.manifest


@record
class _WritePlan:
    """plan_writes' decisions so far: the report, the bytes to write, the files to remove."""

    root: Path
    manifest: mf.Manifest  # the new manifest
    force: bool
    adopt: bool
    report: Report = field(default_factory=Report)
    writes: dict[str, Write] = field(default_factory=dict)
    removals: dict[str, str] = field(default_factory=dict)  # path -> the sha256 it must still have

    def decide_output(self, output: OutputFile, entry: mf.Entry | None) -> None:
        """The fate of one file the spec generates."""
        data = output.text.encode("utf-8")
        target = safe_target(self.root, output.path)
        state = classify(target, output, entry)
        managed = mf.Entry(output.path, output.ownership, mf.sha256(data))
        changes = self.report.changes
        if state == "outside":
            changes.append(Change(output.path, "refused", "the path leaves the repository"))
        elif state == "irregular":
            assert target is not None
            what = files.irregular(target)
            changes.append(
                Change(output.path, "refused", f"{what} is in the way; almgen writes only regular files")
            )
        elif state == "ejected":
            assert entry is not None
            self.manifest.files[output.path] = entry  # the user's file, never written again
            changes.append(Change(output.path, "kept", "ejected: yours, not generated"))
        elif state == "seeded":  # written once, then the user's: keep the hash of what was seeded
            assert target is not None
            seeded = entry or mf.Entry(output.path, "seeded", mf.sha256(files.read_bytes(target)))
            self.manifest.files[output.path] = seeded
            changes.append(Change(output.path, "unchanged"))
        elif state == "current":
            self.keep(managed, data)
            changes.append(Change(output.path, "unchanged"))
        elif state == "collision" and not self.adopt:
            changes.append(
                Change(
                    output.path,
                    "refused",
                    "a file almgen did not write is in the way (use --adopt to take it over)",
                )
            )
        elif state == "tampered" and not self.force:
            assert entry is not None
            self.manifest.files[output.path] = entry
            changes.append(
                Change(
                    output.path,
                    "refused",
                    "edited by hand since almgen wrote it (move "
                    "the change into the spec, or use --force to overwrite it)",
                )
            )
        else:  # missing, stale, or a collision / hand edit the user chose to overwrite
            assert target is not None
            before = "" if state == "missing" else mf.sha256(files.read_bytes(target))
            self.writes[output.path] = Write(data, before)
            self.keep(managed, data)
            changes.append(Change(output.path, "created" if state == "missing" else "updated"))

    def keep(self, entry: mf.Entry, data: bytes) -> None:
        """Record a file as almgen writes it (or found it already written): its hash and content digest."""
        self.manifest.files[entry.path] = entry
        self.manifest.written[entry.path] = hex_blake2b(data)

    def decide_no_longer_generated(self, path: str, entry: mf.Entry) -> None:
        """A file almgen wrote before that the spec no longer generates: removed unless it is yours now."""
        target = safe_target(self.root, path)
        if target is None or files.irregular(target) or not target.exists():
            return
        if entry.ownership == "managed" and mf.sha256(files.read_bytes(target)) == entry.sha256:
            self.removals[path] = entry.sha256
            self.report.changes.append(Change(path, "removed"))
        else:
            self.report.changes.append(
                Change(path, "kept", "no longer generated, but edited by hand or seeded: it is yours now")
            )


def apply(root: Path, writes: dict[str, Write], removals: dict[str, str], new: mf.Manifest) -> None:
    """Write, remove, then record: a journal first, so an interruption anywhere loses nothing."""
    if writes:
        journal.begin(root, (new.files[path] for path in writes))
    for path, write in sorted(writes.items()):
        target = safe_target(root, path)
        assert target is not None  # checked in plan_writes
        if not _as_planned(root, target, path, write.before):
            raise ChangedWhileGenerating(
                f"{path} changed while generating: it is left as you saved it and nothing after it "
                "was written; run again (almgen then sees your change)"
            )
        atomic_write(target, write.data)
    for path, sha in sorted(removals.items()):
        target = safe_target(root, path)
        if target is not None and mf.holds(root, path, sha):  # edited since the plan: the user's now
            files.remove(target)
    atomic_write(mf.inside(root, mf.MANIFEST), new.to_json().encode("utf-8"))
    journal.end(root)


def _as_planned(root: Path, target: Path, path: str, before: str) -> bool:
    return not os.path.lexists(target) if not before else mf.holds(root, path, before)
