"""Workflow-run artifacts as actions/upload-artifact@v4+ and download-artifact@v4+ keep them.

An artifact's name is unique within a run across all its attempts: uploading a name again fails
with 409 Conflict unless `overwrite: true` (which deletes the earlier one first).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from typing import Any

from generator.rehearse.github.results import Artifact

CONFLICT = (
    "Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: "
    "an artifact with this name already exists on the workflow run"
)
_INVALID_NAME = set('":<>|*?\r\n\\/')


class ArtifactError(Exception):
    """The action fails the step with this message."""


class ArtifactStore:
    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / "artifacts"
        self.index_file = run_dir / "artifacts.json"
        self.root.mkdir(parents=True, exist_ok=True)

    def _index(self) -> dict[str, dict[str, Any]]:
        if not self.index_file.exists():
            return {}
        loaded = json.loads(self.index_file.read_text("utf-8"))
        return loaded if isinstance(loaded, dict) else {}

    def _save(self, index: dict[str, dict[str, Any]]) -> None:
        self.index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", "utf-8")

    def all(self) -> dict[str, Artifact]:
        return {
            name: Artifact(
                name,
                int(e["attempt"]),
                str(e["job"]),
                self.root / name,
                list(e["files"]),
                int(e["retention"]),
            )
            for name, e in self._index().items()
        }

    # ------------------------------------------------------------------------ upload
    def upload(
        self,
        *,
        name: str,
        paths: str,
        workspace: Path,
        attempt: int,
        job: str,
        overwrite: bool,
        include_hidden: bool,
        if_no_files_found: str,
        retention_days: int,
    ) -> tuple[Artifact | None, str]:
        """Store the files; (artifact or None when nothing was found, a log message)."""
        name = name or "artifact"
        if any(char in _INVALID_NAME for char in name):
            raise ArtifactError(
                f"The artifact name is not valid: {name}. Contains the following character: "
                f"{''.join(sorted(c for c in set(name) if c in _INVALID_NAME))!r}"
            )
        files, root = _search(paths, workspace, include_hidden)
        if not files:
            message = (
                f"No files were found with the provided path: {paths.strip()}. No artifacts will be uploaded."
            )
            if if_no_files_found == "error":
                raise ArtifactError(message)
            return None, ("Warning: " if if_no_files_found != "ignore" else "") + message
        index = self._index()
        if name in index:
            if not overwrite:
                raise ArtifactError(CONFLICT)
            shutil.rmtree(self.root / name, ignore_errors=True)
        target = self.root / name
        relative: list[str] = []
        for file in files:
            rel = os.path.relpath(file, root)
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target / rel)
            relative.append(rel)
        index[name] = {"attempt": attempt, "job": job, "files": sorted(relative), "retention": retention_days}
        self._save(index)
        artifact = Artifact(name, attempt, job, target, sorted(relative), retention_days)
        return artifact, f"Artifact {name} has been successfully uploaded! ({len(relative)} files)"

    # ------------------------------------------------------------------------ download
    def download(self, *, name: str, pattern: str, path: Path, merge_multiple: bool) -> str:
        index = self._index()
        if name:
            if name not in index:
                raise ArtifactError(
                    f"Unable to download artifact(s): Artifact not found for name: {name}\n"
                    "        Please ensure that your artifact is not expired and the artifact was uploaded "
                    "using a compatible version of toolkit/upload-artifact."
                )
            _copy_tree(self.root / name, path)
            return f"Artifact download completed successfully: {name} -> {path}"
        import fnmatch

        names = [n for n in sorted(index) if not pattern or fnmatch.fnmatchcase(n, pattern)]
        for each in names:
            _copy_tree(self.root / each, path if merge_multiple else path / each)
        return f"Downloaded {len(names)} artifacts to {path}"


def _copy_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)


def _literal_prefix(pattern: str) -> Path:
    parts: list[str] = []
    for part in Path(pattern).parts:
        if any(char in part for char in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _hidden(file: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in file.relative_to(root).parts)


def _search(paths: str, workspace: Path, include_hidden: bool) -> tuple[list[Path], Path]:
    """The files the `path:` lines name and their least common ancestor (the artifact's root)."""
    included: dict[Path, None] = {}
    excluded: set[Path] = set()
    prefixes: list[Path] = []
    for line in paths.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        absolute = pattern if os.path.isabs(pattern) else str(workspace / pattern)
        matches = [Path(m) for m in sorted(glob.glob(absolute, recursive=True))]
        found: list[Path] = []
        for match in matches:
            if match.is_dir():
                found.extend(sorted(p for p in match.rglob("*") if p.is_file()))
            elif match.is_file():
                found.append(match)
        if negate:
            excluded.update(p.resolve() for p in found)
            continue
        if found:  # a file's search path is its folder; a folder's or a glob's, the literal prefix
            prefix = _literal_prefix(absolute)
            prefixes.append(prefix.parent if prefix.is_file() else prefix)
        for file in found:
            included[file] = None
    files = [f for f in included if f.resolve() not in excluded]
    if not files:
        return [], workspace
    root = Path(os.path.commonpath([str(p) for p in prefixes])) if prefixes else workspace
    if root.is_file():
        root = root.parent
    if not include_hidden:
        files = [f for f in files if not _hidden(f, root)]
    return files, root
