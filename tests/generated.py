"""Render each sample once per test session and lay it out in a folder for the validators."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from generator.render.all import render
from generator.render.outputs import OutputFile
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES


@cache
def outputs(sample: str) -> tuple[OutputFile, ...]:
    return tuple(render(load_spec(SAMPLES / sample / "almgen.yaml")))


def write_tree(sample: str, root: Path) -> Path:
    """The sample's generated files under `root` (a git repository, as actionlint wants)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    for output in outputs(sample):
        path = root / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output.text, "utf-8", newline="\n")
    return root
