"""`almgen check`: do the files on disk match what the spec generates? Offline, no git, no writes."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

from generator.frozen import frozen
from generator.regen import files
from generator.regen import manifest as mf
from generator.regen.fastpath import safe_target
from generator.regen.write import classify
from generator.render.all import render
from generator.render.outputs import OutputFile
from generator.render.verify import verify
from generator.spec.validate import load_spec

Kind = Literal["stale", "tampered", "missing", "orphan", "collision", "unsafe", "irregular", "unsealed"]

FIXES = {
    "stale": "run `almgen generate` (the spec, its inputs or almgen changed)",
    "tampered": "move the change into the spec and run `almgen generate --force`",
    "missing": "run `almgen generate`",
    "orphan": "run `almgen generate` to remove it (it is no longer generated)",
    "collision": "move your file away, or run `almgen generate --adopt` to let almgen own it",
    "unsafe": "almgen ignores this manifest entry; remove it from .almgen/manifest.json",
    "irregular": "move it away: almgen reads and writes only regular files",
    "unsealed": "its seal does not match its content (edited by hand, written by another tool, or a "
    "generate was interrupted): review `git diff .almgen/manifest.json`, then run `almgen generate`",
}


@frozen
class Finding:
    kind: Kind
    path: str
    fix: str
    diff: str = ""


def _diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (on disk)",
            tofile=f"{path} (generated)",
        )
    )


def _read(path: Path) -> str:
    return files.read_bytes(path).decode("utf-8", errors="replace")


def compare(root: Path, outputs: list[OutputFile], manifest: mf.Manifest) -> list[Finding]:
    findings = [
        Finding("unsafe", path, f"{reason}: {FIXES['unsafe']}") for path, reason in manifest.ignored.items()
    ]
    if manifest.present and not manifest.sealed:  # its ownerships and hashes are not almgen's word
        findings.append(Finding("unsealed", mf.MANIFEST, FIXES["unsealed"]))
    planned = {o.path for o in outputs}
    for output in outputs:
        target = safe_target(root, output.path)
        state = classify(target, output, manifest.files.get(output.path))
        if state == "irregular":
            assert target is not None
            findings.append(
                Finding("irregular", output.path, f"it is {files.irregular(target)}: {FIXES['irregular']}")
            )
        elif state == "missing":
            findings.append(
                Finding("missing", output.path, FIXES["missing"], _diff(output.path, "", output.text))
            )
        elif state in ("collision", "tampered", "stale"):
            assert target is not None
            findings.append(
                Finding(state, output.path, FIXES[state], _diff(output.path, _read(target), output.text))
            )
    for path, entry in sorted(manifest.files.items()):
        target = safe_target(root, path)
        if path in planned or entry.ownership != "managed" or target is None or files.irregular(target):
            continue
        if target.exists():
            findings.append(Finding("orphan", path, FIXES["orphan"]))
    return sorted(findings, key=lambda f: (f.path, f.kind))


def check_spec(path: Path) -> list[Finding]:
    spec = load_spec(path)
    outputs = render(spec)
    verify(outputs)
    manifest = mf.load(spec.root)
    inputs = {mf.relative_input(spec.root, p) for p in spec.inputs}
    mf.screen(spec.root, manifest, {o.path for o in outputs}, inputs)
    return compare(spec.root, outputs, manifest)
