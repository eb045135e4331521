"""Helpers shared by the regeneration-guarantee tests (test_regen_trust, _hostile, _files)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from generator.cli import cli
from tests.conftest import REPO, SAMPLES

GROUNDEDNESS = 'groundedness: ">= 4.0"'


def sample_copy(tmp_path: Path) -> Path:
    """A copy of the openai-chat-github sample, not generated yet."""
    root = tmp_path / "repo"
    shutil.copytree(SAMPLES / "openai-chat-github", root)
    assert GROUNDEDNESS in (root / "almgen.yaml").read_text()
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def spec(root: Path) -> str:
    return str(root / "almgen.yaml")


def generated(root: Path) -> Path:
    result = run("generate", spec(root))
    assert result.exit_code == 0, result.output
    return root


def set_groundedness(root: Path, value: str) -> None:
    path = root / "almgen.yaml"
    text = path.read_text()
    start = text.index("groundedness: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f'groundedness: ">= {value}"' + text[end:])


def manifest(root: Path) -> dict[str, object]:
    data = json.loads((root / ".almgen" / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def save_manifest(root: Path, data: object) -> None:
    (root / ".almgen" / "manifest.json").write_text(json.dumps(data))


def entries(data: dict[str, object]) -> list[dict[str, str]]:
    files = data["files"]
    assert isinstance(files, list)
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def almgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real executable (the fast path included), bounded in time so a hang fails the test."""
    code = "import sys\nsys.argv = ['almgen', *sys.argv[1:]]\nfrom generator.entry import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        check=False,
    )
