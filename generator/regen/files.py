"""Reading, hashing and writing files for regeneration: regular files only, bounded, clear errors.

A FIFO, a device, a socket or a folder where a file is expected is refused without being opened
for a blocking read (generator/regen/regular.py, which the fast path uses alone); an OS error (a
full disk, a read-only or unreadable file) becomes a `FileProblem` naming the file, which the
command line reports with exit 2, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from generator import tempname
from generator.errors import AlmgenError, ExitCode
from generator.regen import regular

TEMP_SUFFIX = ".almgen-tmp"


class FileProblem(AlmgenError):
    """A file almgen must read or write cannot be used (not regular, unreadable, disk full...)."""

    exit_code = ExitCode.USAGE


def shown(path: str | os.PathLike[str]) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def irregular(path: Path) -> str:
    """ "" when `path` is missing or a regular file, else what it is (without following a symlink)."""
    try:
        return regular.irregular(path)
    except OSError as exc:
        raise _problem("cannot inspect", path, exc) from None


def _problem(verb: str, path: Path, exc: OSError) -> FileProblem:
    reason = exc.strerror or str(exc)
    return FileProblem(
        f"{verb} {shown(path)}: {reason}; every file almgen writes is either as before or complete, "
        "so fix the cause (free space, permissions) and run the command again"
    )


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The content of the regular file `path`, never blocking on a FIFO or following a symlink."""
    try:
        return regular.read_bytes(path, limit)
    except OSError as exc:
        raise _explained(path, exc) from None


def digest(path: Path) -> str:
    """sha256 of a regular file, or of a folder's files, within bounds (regular.digest)."""
    try:
        return regular.digest(path)
    except OSError as exc:
        raise _explained(path, exc) from None


def _explained(path: Path, exc: OSError) -> FileProblem:
    if isinstance(exc, regular.NotRegular):
        return not_regular(exc.path, exc.what)
    if isinstance(exc, regular.TooLarge):
        return FileProblem(f"{shown(exc.path)} {exc.reason}")
    return _problem("cannot read", Path(exc.filename) if exc.filename else path, exc)


def not_regular(path: str | os.PathLike[str], what: str) -> FileProblem:
    return FileProblem(
        f"{shown(path)} is {what}, not a regular file: almgen reads and writes only regular files; "
        "move it away and run the command again"
    )


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
        try:
            fd, tmp = tempname.create(path.parent, f".{path.name}.", TEMP_SUFFIX)
        except FileNotFoundError:  # the folder's first file: make it (most files find it made)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempname.create(path.parent, f".{path.name}.", TEMP_SUFFIX)
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
