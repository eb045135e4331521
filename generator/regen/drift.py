"""`almgen check`: do the files on disk match what the spec generates? Offline, no git, no writes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator.regen import manifest as mf
from generator.regen.fastpath import safe_target
from generator.regen.write import classify
from generator.render.all import render
from generator.render.outputs import OutputFile
from generator.render.verify import verify
from generator.spec.validate import load_spec

Kind = Literal["stale", "tampered", "missing", "orphan", "collision", "unsafe"]

FIXES = {
    "stale": "run `almgen generate` (the spec, its inputs or almgen changed)",
    "tampered": "move the change into the spec and run `almgen generate --force`",
    "missing": "run `almgen generate`",
    "orphan": "run `almgen generate` to remove it (it is no longer generated)",
    "collision": "move your file away, or run `almgen generate --adopt` to let almgen own it",
    "unsafe": "remove the entry from .almgen/manifest.json: it points outside the repository",
}


@dataclass(frozen=True)
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
    return path.read_bytes().decode("utf-8", errors="replace")


def compare(root: Path, outputs: list[OutputFile], manifest: mf.Manifest) -> list[Finding]:
    findings = [Finding("unsafe", path, FIXES["unsafe"]) for path in manifest.unsafe]
    planned = {o.path for o in outputs}
    for output in outputs:
        target = safe_target(root, output.path)
        state = classify(target, output, manifest.files.get(output.path))
        if state == "missing":
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
        if path not in planned and entry.ownership == "managed" and target is not None and target.exists():
            findings.append(Finding("orphan", path, FIXES["orphan"]))
    return sorted(findings, key=lambda f: (f.path, f.kind))


def check_spec(path: Path) -> list[Finding]:
    spec = load_spec(path)
    outputs = render(spec)
    verify(outputs)
    return compare(spec.root, outputs, mf.load(spec.root))
