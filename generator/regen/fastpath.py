"""The pre-commit fast path of `almgen check`: standard library only.

Nothing is loaded, validated or rendered (no jinja2, ruamel.yaml or jsonschema import) only when
the manifest proves the output is unchanged: it was written by this version of almgen, its seal
(generator/regen/seal.py) verifies, no generate was interrupted (no journal), every input's hash
and every managed file's hash match the disk, and every one of them is a regular file inside the
repository. Anything else (an input outside the repository, a changed or missing file, a
hand-edited manifest) answers "not sure", and the full check renders and compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from generator import __version__
from generator.regen import regular, seal

MANIFEST = ".almgen/manifest.json"
JOURNAL = ".almgen/journal.json"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def safe_target(root: Path, relative: object) -> Path | None:
    """`root/relative` if it stays inside `root` without passing through a symlink, else None.

    Manifest paths are untrusted: absolute paths, `..`, backslashes, drive letters and symlinks
    are refused, so nothing outside the repository is read or written through them.
    """
    if not isinstance(relative, str) or "\\" in relative or "\0" in relative:
        return None
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or ":" in pure.parts[0]:
        return None
    current = root
    for part in pure.parts:
        current = current / part
        try:
            if current.is_symlink():
                return None
        except OSError:  # a name too long for the file system, a path through a file...
            return None
    return current


def _matches(root: Path, path: object, sha256: object) -> bool:
    target = safe_target(root, path)
    return target is not None and regular.digest(target) == sha256


def _present(root: Path, path: object) -> bool:
    target = safe_target(root, path)
    return target is not None and not regular.irregular(target) and target.exists()


def up_to_date(spec: Path) -> bool:
    """True only when the files on disk are certainly what `almgen generate` would write."""
    root = spec.absolute().parent
    try:
        return _proven(spec.name, root)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


def _proven(spec_name: str, root: Path) -> bool:
    if os.path.lexists(root / JOURNAL) or safe_target(root, MANIFEST) is None:
        return False  # an interrupted generate, or a manifest behind a symlink
    manifest = json.loads(regular.read_bytes(root / MANIFEST, MAX_MANIFEST_BYTES))
    version = manifest["generator"]["version"]
    inputs = {item["path"]: item["sha256"] for item in manifest["inputs"]}
    entries = [(item["path"], item["ownership"], item["sha256"]) for item in manifest["files"]]
    unique = len(entries) == len({e[0] for e in entries})
    if version != __version__ or spec_name not in inputs or not unique:
        return False
    if not seal.verifies(manifest["seal"]["value"], version, inputs, entries):
        return False
    return (
        all(_matches(root, path, sha) for path, sha in inputs.items())
        and all(_present(root, path) for path, owner, _ in entries if owner == "seeded")
        and all(_matches(root, path, sha) for path, owner, sha in entries if owner == "managed")
    )
