"""`almgen generate` for one spec: load → render → verify → write."""

from __future__ import annotations

from pathlib import Path

from generator.regen import manifest as mf
from generator.regen.fastpath import digest
from generator.regen.write import Report, apply, plan_writes
from generator.render.all import render
from generator.render.verify import verify
from generator.spec.validate import load_spec


def generate_spec(path: Path, *, force: bool = False, adopt: bool = False, dry_run: bool = False) -> Report:
    spec = load_spec(path)
    outputs = render(spec)
    verify(outputs)
    root = spec.root
    old = mf.load(root)
    report, writes, removals, new = plan_writes(root, outputs, old, force=force, adopt=adopt)
    new.inputs = {mf.relative_input(root, p): digest(p) for p in spec.inputs}
    if not dry_run and not report.refused:
        apply(root, writes, removals, new)
    return report
