"""The generated security scan runs as generated: no finding on any sample, and a planted key fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.plan import catalog
from tests.conftest import REPO, SAMPLE_NAMES

pytestmark = pytest.mark.slow


def _scan(repo: Path) -> subprocess.CompletedProcess[str]:
    """The generated secrets scan, less its install line (the test environment pins the same version)."""
    script = "\n".join(
        line for line in catalog.SECRETS_SCAN.splitlines() if not line.startswith("python -m pip install")
    )
    command = ["bash", "-eo", "pipefail", "-c", script]
    return subprocess.run(command, check=False, cwd=repo, capture_output=True, text=True)


def _generated(sample: str, into: Path) -> Path:
    repo = into / sample
    shutil.copytree(REPO / "samples" / sample, repo, ignore=shutil.ignore_patterns("__pycache__"))
    generate = [sys.executable, "-m", "generator", "generate", "almgen.yaml"]
    subprocess.run(generate, cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    return repo


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_no_sample_has_a_finding(sample: str, tmp_path: Path) -> None:
    done = _scan(_generated(sample, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_planted_key_fails_the_scan(tmp_path: Path) -> None:
    repo = _generated("minimal", tmp_path)
    (repo / "settings.py").write_text('API_KEY = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"\n')
    subprocess.run(["git", "add", "settings.py"], cwd=repo, check=True)
    done = _scan(repo)
    assert done.returncode != 0 and "settings.py" in done.stdout
