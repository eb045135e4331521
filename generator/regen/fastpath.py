"""The pre-commit fast path of `almgen check`: standard library only, and little of it.

Nothing is loaded, validated or rendered (no jinja2, ruamel.yaml or jsonschema import) only when
the manifest proves the output is unchanged: it was written by this version of almgen, its seal
(generator/regen/seal.py) verifies, no generate was interrupted (no journal), every input's hash
matches the disk, the managed files' content digest (one BLAKE2b over each file's BLAKE2b, which
the seal covers) matches the disk, and every one of them is a regular file inside the repository.
Anything else (an input outside the repository, a changed or missing file, a hand-edited manifest,
a manifest without a content digest) answers "not sure", and the full check renders and compares.

A clean check costs little more than the interpreter's start, so this module works on `str` paths
with `os` (pathlib's import alone costs a third of a start), hashes without hashlib
(generator/regen/digests.py) and reads the manifest without json, whose import of `re` costs
two thirds of a start (generator/regen/cjson.py); `safe_target` is the `Path` form the rest of
almgen uses.
"""

from __future__ import annotations

import errno
import os
import stat

from generator import __version__
from generator.regen import cjson, regular, seal
from generator.regen.digests import content_digest, equal_digests, hex_blake2b

TYPE_CHECKING = False  # without importing typing
if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = ".almgen/manifest.json"
JOURNAL = ".almgen/journal.json"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
# what pathlib's is_symlink() (Python 3.10, 3.11) takes for "missing", i.e. not a symlink
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def safe_path(root: str, relative: object, checked: set[str] | None = None) -> str | None:
    """`root/relative` if it stays inside `root` without passing through a symlink, else None.

    Manifest paths are untrusted: absolute paths, `..`, backslashes, drive letters and symlinks
    are refused, so nothing outside the repository is read or written through them. The parts
    are PurePosixPath's (empty and `.` parts dropped). `checked` remembers the paths already seen
    not to be symlinks, so that many files in one folder look at that folder once.
    """
    if not isinstance(relative, str) or "\\" in relative or "\0" in relative or relative.startswith("/"):
        return None
    parts = [part for part in relative.split("/") if part and part != "."]
    if not parts or ".." in parts or ":" in parts[0]:
        return None
    current = root
    for part in parts:
        current = os.path.join(current, part)
        if checked is not None and current in checked:
            continue
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return None
        except OSError as exc:  # a name too long for the file system, a path through a file...
            if exc.errno not in _MISSING:
                return None
            continue
        except ValueError:  # not encodable: not a symlink (the read that follows fails)
            continue
        if checked is not None:
            checked.add(current)
    return current


def safe_target(root: Path, relative: object) -> Path | None:
    """`safe_path` for a `Path` root: `root/relative`, or None."""
    found = safe_path(os.fspath(root), relative)
    return None if found is None else type(root)(found)


def shown(path: str) -> str:
    """`path` as `str(Path(path))` writes it (on POSIX without importing pathlib)."""
    if os.sep != "/" or os.altsep:
        from pathlib import Path

        return str(Path(path))
    leading = len(path) - len(path.lstrip("/"))
    root = "//" if leading == 2 else "/" if leading else ""  # POSIX keeps exactly two, folds three or more
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


def up_to_date(spec: str | os.PathLike[str]) -> bool:
    """True only when the files on disk are certainly what `almgen generate` would write."""
    spec = shown(os.fspath(spec))
    root = os.path.join(os.getcwd(), os.path.dirname(spec))
    try:
        return _proven(os.path.basename(spec), root)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


def _proven(spec_name: str, root: str) -> bool:
    checked: set[str] = set()
    manifest_path = safe_path(root, MANIFEST, checked)
    if os.path.lexists(os.path.join(root, JOURNAL)) or manifest_path is None:
        return False  # an interrupted generate, or a manifest behind a symlink
    manifest = cjson.loads(regular.read_bytes(manifest_path, MAX_MANIFEST_BYTES).decode("utf-8"))
    version = manifest["generator"]["version"]
    inputs = {item["path"]: item["sha256"] for item in manifest["inputs"]}
    entries = [(item["path"], item["ownership"], item["sha256"]) for item in manifest["files"]]
    unique = len(entries) == len({e[0] for e in entries})
    content = manifest["seal"].get("content")  # absent after an eject, or from an older almgen
    if version != __version__ or spec_name not in inputs or not unique or not isinstance(content, dict):
        return False
    claimed = content.get("value")
    if content.get("algorithm") != "blake2b-256" or not isinstance(claimed, str) or not claimed.isascii():
        return False
    if not seal.verifies(manifest["seal"]["value"], version, inputs, entries, claimed):
        return False

    def matches(path: object, sha256: object) -> bool:
        target = safe_path(root, path, checked)
        return target is not None and regular.digest(target) == sha256

    def present(path: object) -> bool:
        target = safe_path(root, path, checked)
        return target is not None and not regular.irregular(target) and os.path.exists(target)

    def on_disk(path: str) -> tuple[str, str]:
        target = safe_path(root, path, checked)
        if target is None:
            raise ValueError(path)  # up_to_date answers "not sure"
        return path, hex_blake2b(regular.read_bytes(target, regular.MAX_INPUT_BYTES))

    if not (
        all(matches(path, sha) for path, sha in inputs.items())
        and all(present(path) for path, owner, _ in entries if owner == "seeded")
    ):
        return False
    managed = [on_disk(path) for path, owner, _ in entries if owner == "managed"]
    return equal_digests(content_digest(managed), claimed)
