"""`almgen generate` for one spec: load → render → verify → write.

The inputs (the spec, its bases and policies, the template pack) are hashed before the spec is
read and again before and after anything is written. A change in between means the rendered
files may not match what the manifest would record, so the run stops with "run again": nothing
is written when the change is seen before writing, and the manifest records only the hashes of
what was rendered, never the new ones against old output.
"""

from __future__ import annotations

from pathlib import Path

from generator.regen import journal
from generator.regen import manifest as mf
from generator.regen.files import FileProblem, digest
from generator.regen.write import Change, ChangedWhileGenerating, Report, apply, plan_writes
from generator.render.all import render
from generator.render.verify import verify
from generator.spec.model import Spec
from generator.spec.validate import load_spec


def _hashes(spec: Spec) -> dict[str, str]:
    return {mf.relative_input(spec.root, p): digest(p) for p in spec.inputs}


def _unchanged(spec: Spec, before: dict[str, str], *, written: bool) -> None:
    changed = sorted(path for path, sha in _hashes(spec).items() if before.get(path) != sha)
    if changed:
        what = "the spec" if changed == [spec.source.name] else ", ".join(changed)
        done = (
            "files were written from the version read before; the manifest records that version, so "
            "`almgen check` reports them stale"
            if written
            else "nothing was written"
        )
        raise ChangedWhileGenerating(f"{what} changed while generating ({done}); run again")


def generate_spec(path: Path, *, force: bool = False, adopt: bool = False, dry_run: bool = False) -> Report:
    try:
        first = digest(path) if path.is_file() else ""  # never a folder's tree
    except FileProblem:
        first = ""  # load_spec says why, with the spec's location
    spec = load_spec(path)
    before = _hashes(spec)
    if first and before.get(spec.source.name, first) != first:
        raise ChangedWhileGenerating("the spec changed while generating (nothing was written); run again")
    outputs = render(spec)
    verify(outputs)
    root = spec.root
    old = mf.load(root)
    mf.screen(root, old, {o.path for o in outputs}, set(before))
    report, writes, removals, new = plan_writes(root, outputs, old, force=force, adopt=adopt)
    new.inputs = before
    if dry_run or report.refused:
        return report
    _unchanged(spec, before, written=False)
    cleaned = journal.clean_temporaries(root, [*(o.path for o in outputs), mf.MANIFEST])
    apply(root, writes, removals, new)
    report.changes.extend(Change(p, "removed", "left by an interrupted generate") for p in cleaned)
    _unchanged(spec, before, written=True)
    return report
