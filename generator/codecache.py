"""Compiled code cached in the user's cache folder: the spec's schema and the built-in templates.

An entry is named by a digest of everything it was compiled from, so it is never stale; one that
cannot be read is compiled again, and one that cannot be written is simply not kept. Each new
entry makes room: only the `KEPT` most recently written of its kind stay (an upgrade, or a
checkout whose templates changed, writes a new one).
"""

from __future__ import annotations

import marshal
import os
from types import CodeType

from generator import tempname

KEPT = 8


def entry(kind: str, key: str) -> str | None:
    """The path of the cached code `key` of `kind`, or None when there is no cache folder to use."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "almgen", kind)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, f"{key}.marshal")


def read(path: str) -> CodeType | None:
    try:
        with open(path, "rb") as handle:
            code = marshal.loads(handle.read())  # marshal.load(handle) reads each object apart
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def write(path: str, code: CodeType) -> None:
    """Keep `code` at `path`, atomically (another process may read it at the same time)."""
    try:
        fd, tmp = tempname.create(os.path.dirname(path), ".code.")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(marshal.dumps(code))
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        return
    _prune(os.path.dirname(path))


def _prune(folder: str) -> None:
    """Remove all but the KEPT newest entries of `folder` (another process may remove them too)."""
    try:
        entries = [
            e for e in os.scandir(folder) if e.name.endswith(".marshal") and e.is_file(follow_symlinks=False)
        ]
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
        for entry in entries[KEPT:]:
            os.unlink(entry.path)
    except OSError:
        pass
