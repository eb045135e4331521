"""Which paths almgen could ever have written: the only manifest entries it may act on."""

from __future__ import annotations

from fnmatch import fnmatchcase

from generator.targets import TARGETS


def matches(path: str, pattern: str) -> bool:
    """`pattern` matches `path` folder by folder: `*` never spans a `/`."""
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def could_generate(path: str) -> bool:
    """True when a registered target can write `path` (never the spec, a user file or `.git/`)."""
    if any(part in (".git", "", ".", "..") for part in path.split("/")):
        return False
    return any(matches(path, pattern) for target in TARGETS for pattern in target.places)
