"""Regular files only, read without blocking and hashed within bounds: standard library only.

The pre-commit fast path imports this module and nothing heavier (no pathlib, no hashlib: paths
are `str` or `Path`, hashes come from generator/regen/digests.py); errors are OSErrors
(`NotRegular`, `TooLarge` or the system's own), which `generator/regen/files.py` turns into
messages for the command line.
"""

from __future__ import annotations

import os
import stat

from generator.regen.digests import hex_sha256, sha256

TYPE_CHECKING = False  # without importing typing
if TYPE_CHECKING:
    StrPath = str | os.PathLike[str]

# A template pack or a base outside the repository could name a huge tree (`templates: ../../..`):
# hashing it is bounded, so a mistake fails fast instead of reading the whole file system.
MAX_INPUT_FILES = 2000
MAX_INPUT_BYTES = 32 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


class NotRegular(OSError):
    """A FIFO, device, socket, folder or symlink where a regular file is expected."""

    def __init__(self, path: StrPath, what: str) -> None:
        super().__init__(f"{path} is {what}")
        self.path, self.what = path, what


class TooLarge(OSError):
    """An input beyond the bounds: `reason` says which."""

    def __init__(self, path: StrPath, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path, self.reason = path, reason


def kind(mode: int) -> str:
    """What a file mode is, in words: "a regular file", "a FIFO (named pipe)"..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def irregular(path: StrPath) -> str:
    """ "" when `path` is missing or a regular file, else what it is (without following a symlink)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ""
    return "" if stat.S_ISREG(mode) else kind(mode)


def read_bytes(path: StrPath, limit: int | None = None) -> bytes:
    """The content of the regular file `path`, never blocking on a FIFO or following a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        what = irregular(path)
        if what:
            raise NotRegular(path, what) from None
        raise
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegular(path, kind(status.st_mode))
        data = _read_all(fd, status.st_size, None if limit is None else limit + 1)
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise TooLarge(path, f"is larger than {limit} bytes; almgen does not read it")
    return data


def _read_all(fd: int, size: int, cap: int | None) -> bytes:
    """Up to `cap` bytes (all when None) of `fd`; `size` (fstat's) is a hint: a file may grow."""
    chunks: list[bytes] = []
    total = 0
    while cap is None or total < cap:
        wanted = max(size - total + 1, 64 * 1024)  # one read for a file of the size fstat said
        chunk = os.read(fd, wanted if cap is None else min(wanted, cap - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def digest(path: StrPath) -> str:
    """sha256 of a regular file, or of a folder's files (relative path and content, sorted), bounded."""
    if os.path.isdir(path) and not os.path.islink(path):
        return _folder_digest(path)
    return hex_sha256(read_bytes(path, MAX_INPUT_BYTES))


def _folder_digest(folder: StrPath) -> str:
    from pathlib import Path  # a template pack or a base folder: not on the fast path's way

    items: list[tuple[str, Path]] = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in names:
            items.append((Path(here, name).relative_to(folder).as_posix(), Path(here, name)))
            if len(items) > MAX_INPUT_FILES:
                raise TooLarge(
                    folder,
                    f"holds more than {MAX_INPUT_FILES} files: a template pack is a folder of "
                    "templates; point `templates:` at that folder, not at one high up the tree",
                )
    total, size = sha256(), 0
    for relative, item in sorted(items):
        data = read_bytes(item, MAX_INPUT_BYTES - size)
        size += len(data)
        total.update(relative.encode() + b"\0")
        total.update(bytes.fromhex(hex_sha256(data)))
    return total.hexdigest()
