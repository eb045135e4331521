"""Small builders shared by the tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
