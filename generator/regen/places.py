"""Which paths almgen could ever have written: the only manifest entries it may act on."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from generator.targets import TARGETS


def could_generate(path: str) -> bool:
    """True when a registered target can write `path` (never the spec, a user file or `.git/`)."""
    parts = PurePosixPath(path).parts
    if any(part in (".git", "", ".", "..") for part in parts):
        return False
    return any(fnmatchcase(path, pattern) for target in TARGETS for pattern in target.places)
