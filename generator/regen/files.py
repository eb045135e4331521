"""Reading, hashing and writing files for regeneration: regular files only, bounded, clear errors.

Standard library only (the pre-commit fast path imports it). A FIFO, a device, a socket or a
folder where a file is expected is refused without being opened for a blocking read; an OS error
(a full disk, a read-only or unreadable file) becomes a `FileProblem` naming the file, which the
command line reports with exit 2, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from generator.errors import AlmgenError, ExitCode

TEMP_SUFFIX = ".almgen-tmp"
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


class FileProblem(AlmgenError):
    """A file almgen must read or write cannot be used (not regular, unreadable, disk full...)."""

    exit_code = ExitCode.USAGE


def shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def kind(mode: int) -> str:
    """What a file mode is, in words: "a regular file", "a FIFO (named pipe)"..."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def irregular(path: Path) -> str:
    """ "" when `path` is missing or a regular file, else what it is (without following a symlink)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise _problem("cannot inspect", path, exc) from None
    return "" if stat.S_ISREG(mode) else kind(mode)


def _problem(verb: str, path: Path, exc: OSError) -> FileProblem:
    reason = exc.strerror or str(exc)
    return FileProblem(
        f"{verb} {shown(path)}: {reason}; every file almgen writes is either as before or complete, "
        "so fix the cause (free space, permissions) and run the command again"
    )


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The content of the regular file `path`, never blocking on a FIFO or following a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        what = irregular(path) if os.path.lexists(path) else ""
        if what:
            raise not_regular(path, what) from None
        raise _problem("cannot read", path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(path, kind(mode))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise _problem("cannot read", path, exc) from None
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise FileProblem(f"{shown(path)} is larger than {limit} bytes; almgen does not read it")
    return data


def not_regular(path: Path, what: str) -> FileProblem:
    return FileProblem(
        f"{shown(path)} is {what}, not a regular file: almgen reads and writes only regular files; "
        "move it away and run the command again"
    )


def digest(path: Path) -> str:
    """sha256 of a regular file, or of a folder's files (relative path and content, sorted), bounded."""
    if os.path.isdir(path) and not os.path.islink(path):
        return _folder_digest(path)
    return hashlib.sha256(read_bytes(path, MAX_INPUT_BYTES)).hexdigest()


def _folder_digest(folder: Path) -> str:
    items: list[tuple[str, Path]] = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in names:
            items.append((Path(here, name).relative_to(folder).as_posix(), Path(here, name)))
            if len(items) > MAX_INPUT_FILES:
                raise FileProblem(
                    f"{shown(folder)} holds more than {MAX_INPUT_FILES} files: a template pack is a "
                    "folder of templates; point `templates:` at that folder, not at one high up the tree"
                )
    total, size = hashlib.sha256(), 0
    for relative, item in sorted(items):
        data = read_bytes(item, MAX_INPUT_BYTES - size)
        size += len(data)
        total.update(relative.encode() + b"\0")
        total.update(hashlib.sha256(data).digest())
    return total.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old content or the new, never a mix: temp file, fsync, rename.

    A failure (disk full, read-only folder) removes the temporary file and raises a FileProblem
    naming `path`; a kill may leave the temporary file, which the next generate removes.
    """
    what = irregular(path)
    if what:
        raise not_regular(path, what)
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise _problem("cannot write", path, exc) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str) -> None:
    if tmp and os.path.lexists(tmp):
        os.unlink(tmp)


def remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _problem("cannot remove", path, exc) from None


def leftover_temporaries(folder: Path) -> list[Path]:
    """Temporary files an interrupted atomic_write left in `folder` (regular files only)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(
        Path(entry.path)
        for entry in entries
        if entry.name.startswith(".")
        and entry.name.endswith(TEMP_SUFFIX)
        and entry.is_file(follow_symlinks=False)
    )
