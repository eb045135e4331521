"""`.almgen/manifest.json`: what almgen wrote, so it never mistakes a user's file for its own.

A manifest is untrusted input. It is read within bounds (size, depth, number of entries); each
entry is checked on its own (types, a sha256, a path inside the repository that runs through no
symlink) and one that does not fit is ignored and reported, never acted on. `screen` then ignores
entries almgen could not have written for this spec (the spec itself, a user's script, `.git/`)
or that are not regular files. The manifest carries a seal (generator/regen/seal.py) and, while
a generate writes, a journal (generator/regen/journal.py) of what it is writing.

Beside the seal, a manifest that `generate` wrote carries one BLAKE2b digest over the content of
every managed file as almgen wrote it (`seal.content`), which the fast path of `check` compares
with the disk instead of every file's SHA-256 (generator/regen/fastpath.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from generator import __version__
from generator.errors import Issue, SpecInvalid
from generator.frozen import frozen, record
from generator.regen import files, seal
from generator.regen.digests import content_digest
from generator.regen.fastpath import safe_target
from generator.regen.places import could_generate

MANIFEST = ".almgen/manifest.json"
SCHEMA_VERSION = 1
MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_PATH = 1024
MAX_NAME = 255  # bytes in one file or folder name (NAME_MAX on Linux and macOS)
OWNERSHIPS = ("managed", "seeded", "user")
CONTENT_ALGORITHM = "blake2b-256"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@frozen
class Entry:
    path: str
    ownership: str
    sha256: str


@record
class Manifest:
    files: dict[str, Entry] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    version: str = __version__
    ignored: dict[str, str] = field(default_factory=dict)  # entry -> why it is not acted on
    sealed: bool = False  # as loaded: the seal verified, nothing was ignored or recovered
    present: bool = False  # read from disk (not a repository's first generate)
    recovered: list[str] = field(default_factory=list)  # files an interrupted generate wrote
    # path -> BLAKE2b-256 of the bytes this run wrote (or found current) for a managed file
    written: dict[str, str] = field(default_factory=dict)

    def content(self) -> str:
        """The managed files' content digest, when this run knows every one of them, else ""."""
        managed = [path for path, e in self.files.items() if e.ownership == "managed"]
        if not all(path in self.written for path in managed):
            return ""  # e.g. a tampered file kept, or eject: the fast path then renders
        return content_digest((path, self.written[path]) for path in managed)

    def seal(self, content: str = "") -> str:
        return seal.seal(
            self.version, self.inputs, [(e.path, e.ownership, e.sha256) for e in self.files.values()], content
        )

    def to_json(self, *, sealed: bool = True) -> str:
        """The manifest's JSON; `sealed=False` leaves the seal out (the fast path then never trusts it)."""
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "generator": {"name": "almgen", "version": self.version},
            "inputs": [{"path": p, "sha256": h} for p, h in sorted(self.inputs.items())],
            "files": entries_json(self.files.values()),
        }
        if sealed:
            content = self.content()
            data["seal"] = {"algorithm": seal.ALGORITHM, "value": self.seal(content)}
            if content:
                data["seal"]["content"] = {"algorithm": CONTENT_ALGORITHM, "value": content}
        return json.dumps(data, indent=2) + "\n"


def entries_json(entries: Iterable[Entry]) -> list[dict[str, str]]:
    return [
        {"path": e.path, "ownership": e.ownership, "sha256": e.sha256}
        for e in sorted(entries, key=lambda e: e.path)
    ]


def holds(root: Path, path: str, digest: str) -> bool:
    """True when `root/path` is a regular file inside the repository whose sha256 is `digest`."""
    target = safe_target(root, path)
    if target is None or files.irregular(target) or not target.exists():
        return False
    return sha256(files.read_bytes(target)) == digest


def relative_input(root: Path, path: Path) -> str:
    """An input's path as the manifest records it: relative to the spec's folder, POSIX."""
    return Path(os.path.relpath(path, root)).as_posix()


def corrupt(path: str, reason: str) -> SpecInvalid:
    return SpecInvalid(
        [
            Issue(
                path,
                1,
                1,
                "",
                f"the manifest is corrupt: {reason}",
                "the JSON almgen writes",
                f"restore it from version control, or delete {MANIFEST} and run "
                "`almgen generate --adopt` to take the files over again",
            )
        ]
    )


def inside(root: Path, relative: str) -> Path:
    """`root/relative` for a file almgen keeps under `.almgen/`; refused through a symlink."""
    target = safe_target(root, relative)
    if target is None:
        raise files.FileProblem(
            f"{relative} runs through a symbolic link: almgen writes its own files only inside the "
            "repository; replace the link with a folder and run the command again"
        )
    return target


def read_json(root: Path, relative: str) -> Any | None:
    """The JSON document at `root/relative` (None when absent), bounded in size and depth."""
    path = inside(root, relative)
    if not os.path.lexists(path):
        return None
    raw = files.read_bytes(path, MAX_BYTES)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise corrupt(files.shown(path), str(exc).splitlines()[0]) from None
    except RecursionError:
        raise corrupt(files.shown(path), "it is nested too deeply") from None


def entry(root: Path, item: object, ownerships: tuple[str, ...] = OWNERSHIPS) -> Entry | str:
    """An entry of `files` (or a journal's), or why it does not fit."""
    if not isinstance(item, dict):
        return f"expected a mapping with path, ownership and sha256, got {type(item).__name__}"
    path, ownership, digest = item.get("path"), item.get("ownership"), item.get("sha256")
    problem = path_problem(root, path)
    if problem:
        return problem
    if ownership not in ownerships:
        return f"ownership must be one of {', '.join(ownerships)}"
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        return "sha256 must be 64 lowercase hexadecimal digits"
    assert isinstance(path, str) and isinstance(ownership, str)
    return Entry(path, ownership, digest)


def path_problem(root: Path, path: object) -> str:
    if not isinstance(path, str) or not path:
        return "path must be a non-empty string"
    if len(path) > MAX_PATH or _CONTROL.search(path):
        return f"path must be at most {MAX_PATH} characters without control characters"
    if any(len(part.encode("utf-8")) > MAX_NAME for part in path.split("/")):
        return f"a name in the path is longer than {MAX_NAME} bytes, more than file systems allow"
    if safe_target(root, path) is None:
        return "the path leaves the repository or runs through a symbolic link"
    return ""


def label(item: object, where: str) -> str:
    """How a report names an entry: its path when it has a usable one, else its position."""
    path = item.get("path") if isinstance(item, dict) else None
    if isinstance(path, str) and path and len(path) <= MAX_PATH and not _CONTROL.search(path):
        return path
    return where


def listed(data: dict[str, Any], key: str, shown: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise corrupt(shown, f"{key} must be a list, not {type(value).__name__}")
    if len(value) > MAX_ENTRIES:
        raise corrupt(shown, f"{key} has {len(value)} entries; at most {MAX_ENTRIES} are read")
    return value


def load(root: Path) -> Manifest:
    data = read_json(root, MANIFEST)
    manifest = Manifest() if data is None else _parse(root, data, os.path.relpath(root / MANIFEST))
    from generator.regen.journal import recover

    recover(root, manifest)
    return manifest


def _parse(root: Path, data: object, shown: str) -> Manifest:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise corrupt(shown, f"expected a mapping with schema {SCHEMA_VERSION}")
    generator = data.get("generator")
    version = generator.get("version") if isinstance(generator, dict) else None
    manifest = Manifest(version=version if isinstance(version, str) else "", present=True)
    for index, item in enumerate(listed(data, "files", shown)):
        found = entry(root, item)
        where = label(item, f"files[{index}]")
        if isinstance(found, str):
            manifest.ignored[where] = found
        elif found.path in manifest.files:
            manifest.ignored[f"{where} (again)"] = "the path is listed twice; the first entry counts"
        else:
            manifest.files[found.path] = found
    for index, item in enumerate(listed(data, "inputs", shown)):
        path = item.get("path") if isinstance(item, dict) else None
        digest = item.get("sha256") if isinstance(item, dict) else None
        if isinstance(path, str) and isinstance(digest, str) and _SHA256.fullmatch(digest):
            manifest.inputs[path] = digest
        else:
            manifest.ignored[f"inputs[{index}]"] = "expected a mapping with path and sha256"
    claimed = data.get("seal")
    value = claimed.get("value") if isinstance(claimed, dict) else None
    content = claimed.get("content", {}) if isinstance(claimed, dict) else {}
    digest = content.get("value", "") if isinstance(content, dict) else None
    entries = [(e.path, e.ownership, e.sha256) for e in manifest.files.values()]
    manifest.sealed = not manifest.ignored and seal.verifies(
        value, manifest.version, manifest.inputs, entries, digest
    )
    return manifest


def screen(root: Path, manifest: Manifest, planned: set[str], inputs: set[str]) -> None:
    """Ignore (and report) entries almgen could not have written for this spec, or not regular files."""
    for path in sorted(manifest.files):
        reason = ""
        if path in inputs:
            reason = "it names an input of the spec, which almgen never writes"
        elif path not in planned and not could_generate(path):
            reason = "almgen's targets never write this path"
        else:
            target = safe_target(root, path)
            what = files.irregular(target) if target is not None else ""
            if what:
                reason = f"it is {what}, not a regular file"
        if reason:
            del manifest.files[path]
            manifest.ignored[path] = reason
            manifest.sealed = False
