"""Small builders shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

MINIMAL = """\
apiVersion: almgen/v1
service: {name: demo-svc}
targets: {pipelines: [github-actions]}
environments:
  - name: dev
models:
  - {name: chat, model: gpt-4o, version: "2024-11-20"}
"""


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (relative path -> text or bytes) under `root`; returns root."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), "utf-8")
    return root


def python_c(cwd: Path, code: str, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` in `cwd`, with this checkout's almgen importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
