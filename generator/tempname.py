"""A new file with a unique name, created exclusively: what `tempfile.mkstemp` does.

`tempfile` imports `shutil`, `random`, `bz2` and `lzma` on the way, about a fiftieth of a whole
`generate` (benchmarks/README.md), for these few lines.
"""

from __future__ import annotations

import errno
import os

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_ATTEMPTS = 100


def create(folder: str | os.PathLike[str], prefix: str, suffix: str = "") -> tuple[int, str]:
    """(an open descriptor, the path) of a new file only this process can read (mode 0600).

    As `mkstemp`: O_EXCL, so a file or symlink planted at the name is never opened; another name
    is tried when one exists.
    """
    for _ in range(_ATTEMPTS):
        path = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, _FLAGS | getattr(os, "O_BINARY", 0), 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", os.fspath(folder))
