"""The pre-commit fast path of `almgen check`: standard library only.

When the manifest's generator version, every input's hash and every file's hash match, the
output cannot differ, so nothing is loaded, validated or rendered (no jinja2, ruamel.yaml or
jsonschema import). Anything else (an input outside the repository, a changed or missing file)
answers "not sure", and the full check runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

from generator import __version__

MANIFEST = ".almgen/manifest.json"


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative path and content, in sorted order)."""
    if path.is_dir():
        total = hashlib.sha256()
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            total.update(item.relative_to(path).as_posix().encode() + b"\0")
            total.update(hashlib.sha256(item.read_bytes()).digest())
        return total.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def safe_target(root: Path, relative: object) -> Path | None:
    """`root/relative` if it stays inside `root` without passing through a symlink, else None.

    Manifest paths are untrusted: absolute paths, `..`, backslashes, drive letters and symlinks
    are refused, so nothing outside the repository is read or written through them.
    """
    if not isinstance(relative, str) or "\\" in relative:
        return None
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or ":" in pure.parts[0]:
        return None
    current = root
    for part in pure.parts:
        current = current / part
        if current.is_symlink():
            return None
    return current


def up_to_date(spec: Path) -> bool:
    """True only when the files on disk are certainly what `almgen generate` would write."""
    root = spec.absolute().parent
    try:
        manifest = json.loads((root / MANIFEST).read_text("utf-8"))
        if manifest.get("generator", {}).get("version") != __version__:
            return False
        inputs = manifest["inputs"]
        if spec.name not in {item["path"] for item in inputs}:
            return False
        for item in [*inputs, *manifest["files"]]:
            path = safe_target(root, item["path"])
            if path is None or not path.exists():
                return False
            if item.get("ownership") in (None, "managed") and digest(path) != item["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True
