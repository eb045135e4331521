"""Each runtime script is copied verbatim into users' repos: it must run alone, on the standard library."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[2] / "generator" / "runtime"
SCRIPTS = sorted(p.name for p in RUNTIME.glob("*.py") if p.name != "__init__.py")


def test_the_scripts_are_found() -> None:
    assert {"gate.py", "release.py", "traffic.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_runs_alone(tmp_path: Path, name: str) -> None:
    """Copied alone into an empty folder and run without site-packages: no import from generator."""
    script = tmp_path / name
    shutil.copyfile(RUNTIME / name, script)
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-S", str(script), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_imports_only_the_standard_library(name: str) -> None:
    tree = ast.parse((RUNTIME / name).read_text("utf-8"))
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)


@pytest.mark.parametrize("name", SCRIPTS)
def test_is_a_cli(name: str) -> None:
    text = (RUNTIME / name).read_text("utf-8")
    assert 'if __name__ == "__main__":\n    sys.exit(main())\n' in text
    assert "def main(argv: list[str] | None = None" in text
