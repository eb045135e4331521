"""Each runtime script is copied into users' repos with its helper modules: it runs from that folder alone.

The scripts the pipelines call (CLIS) and the modules they import (LIBRARIES, shipped beside them in
`.almgen/scripts/`) use the standard library and each other only.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.targets.scripts.files import SCRIPTS as SHIPPED

RUNTIME = Path(__file__).resolve().parents[2] / "generator" / "runtime"
MODULES = sorted(p.name for p in RUNTIME.glob("*.py") if p.name != "__init__.py")
CLIS = [
    "abtest.py",
    "agents.py",
    "contract.py",
    "gate.py",
    "models.py",
    "records.py",
    "release.py",
    "quality.py",
    "retrieval.py",
    "run.py",
    "traffic.py",
]
LIBRARIES = sorted(set(MODULES) - set(CLIS))
SIBLINGS = {name.removesuffix(".py") for name in MODULES}


def test_the_scripts_are_found() -> None:
    assert {"gate.py", "release.py", "traffic.py", "common.py"} <= set(MODULES)


def test_every_module_is_shipped() -> None:
    assert sorted(f"{name}.py" for name in SHIPPED) == MODULES


def test_no_module_is_over_500_lines() -> None:
    assert {
        name: n for name in MODULES if (n := len((RUNTIME / name).read_text("utf-8").splitlines())) > 500
    } == {}


def scripts_folder(tmp_path: Path) -> Path:
    """A copy of `.almgen/scripts/`: every runtime module, and nothing else."""
    folder = tmp_path / ".almgen" / "scripts"
    folder.mkdir(parents=True)
    for name in MODULES:
        shutil.copyfile(RUNTIME / name, folder / name)
    return folder


def run_alone(folder: Path, *args: str, isolated: bool = False) -> subprocess.CompletedProcess[str]:
    """Run without site-packages (or isolated, `-I`) from the repository root: no import from generator."""
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, "-I" if isolated else "-S", *args],
        cwd=folder.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("name", CLIS)
@pytest.mark.parametrize("isolated", [False, True])
def test_runs_alone(tmp_path: Path, name: str, isolated: bool) -> None:
    folder = scripts_folder(tmp_path)
    done = run_alone(folder, f".almgen/scripts/{name}", "--help", isolated=isolated)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


@pytest.mark.parametrize("name", LIBRARIES)
def test_library_imports_alone(tmp_path: Path, name: str) -> None:
    """Each helper module imports from the copied folder, as the scripts import it."""
    folder = scripts_folder(tmp_path)
    module = name.removesuffix(".py")
    code = f"import sys; sys.path.insert(0, {str(folder)!r}); import {module}; print({module}.__file__)"
    done = run_alone(folder, "-c", code)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == folder / name


def imported(tree: ast.AST) -> set[str]:
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
    return modules


@pytest.mark.parametrize("name", MODULES)
def test_imports_only_the_standard_library_and_siblings(name: str) -> None:
    tree = ast.parse((RUNTIME / name).read_text("utf-8"))
    assert imported(tree) - {"__future__"} <= set(sys.stdlib_module_names) | SIBLINGS
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    # `from . import common` when imported as generator.runtime.<name>, `import common` when run as a script
    assert all(node.level == 1 and node.module is None for node in relative)
    assert {alias.name for node in relative for alias in node.names} <= SIBLINGS


@pytest.mark.parametrize("name", CLIS)
def test_is_a_cli(name: str) -> None:
    text = (RUNTIME / name).read_text("utf-8")
    assert 'if __name__ == "__main__":\n    sys.exit(main())\n' in text
    assert "def main(argv: list[str] | None = None" in text


@pytest.mark.parametrize("name", LIBRARIES)
def test_a_library_is_not_a_cli(name: str) -> None:
    assert "__main__" not in (RUNTIME / name).read_text("utf-8")
