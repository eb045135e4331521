"""The rule on paths the spec names (each exists, is a file or folder as expected, and stays
inside the spec's folder where it must), and which model fields belong to which kind of model:
both used by `generator.spec.rules`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from generator.errors import Issue
from generator.spec.defaults import default
from generator.spec.document import Document, FieldPath

FOUNDATION_ONLY = ("format", "model", "sku", "capacity", "versionUpgrade", "contentFilter", "fineTune")
CUSTOM_ONLY = (
    "path",
    "trainingData",
    "preprocessing",
    "featureEngineering",
    "hyperparameters",
    "training",
    "endpoint",
)


def misplaced(model: dict[str, Any]) -> tuple[str, ...]:
    return CUSTOM_ONLY if model.get("kind", default("models.kind")) == "foundation" else FOUNDATION_ONLY


def referenced_files(doc: Document) -> Iterator[Issue]:
    root = doc.root.resolve()
    data = doc.data
    for path, kind, inside in _named_paths(data):
        if path[0] == "models" and path[2] in misplaced(data["models"][int(path[1])]):
            continue  # already reported: the field does not apply to this kind of model
        issue = _path_issue(doc, root, path, kind, inside=inside)
        if issue is not None:
            yield issue


_PathKind = Literal["file", "dir"]


def _named_paths(data: dict[str, Any]) -> list[tuple[FieldPath, _PathKind, bool]]:
    """Every file or folder the spec names: (field, file or dir, must be inside the repository)."""
    wanted: list[tuple[FieldPath, _PathKind, bool]] = []
    for index, model in enumerate(data["models"]):
        if "path" in model:
            wanted.append((("models", index, "path"), "dir", True))
        if isinstance(model.get("hyperparameters"), str):
            wanted.append((("models", index, "hyperparameters"), "file", True))
        if "training" in model:
            wanted.append((("models", index, "training", "job"), "file", True))
    for index, agent in enumerate(data.get("agents", [])):
        if "instructions" in agent:
            wanted.append((("agents", index, "instructions"), "file", True))
    if "dataset" in data.get("evaluation", {}):
        wanted.append((("evaluation", "dataset"), "file", True))
    wanted += _requirements(data)
    for index, _ in enumerate(data.get("policies", [])):
        wanted.append((("policies", index), "file", False))
    if "templates" in data:
        wanted.append((("templates",), "dir", False))
    return wanted


def _requirements(data: dict[str, Any]) -> list[tuple[FieldPath, _PathKind, bool]]:
    """The pip requirements files of the commands' setups."""
    sections: list[tuple[FieldPath, Any]] = [
        (("tests", name), t) for name, t in (data.get("tests") or {}).items()
    ]
    sections += [((gate,), data.get(gate) or {}) for gate in ("evaluation", "safety")]
    return [
        ((*path, "setup", "requirements"), "file", True)
        for path, section in sections
        if "requirements" in (section.get("setup") or {})
    ]


def _path_issue(doc: Document, root: Path, path: FieldPath, kind: _PathKind, *, inside: bool) -> Issue | None:
    """What is wrong with the file or folder the field at `path` names, if anything."""
    value: Any = doc.data
    for part in path:
        value = value[part]
    try:
        target = (doc.origin_dir(path) / str(value)).resolve()
        outside = inside and not _is_within(target, root)
        exists = outside or (target.is_file() if kind == "file" else target.is_dir())
    except (OSError, RuntimeError) as exc:  # a name past the OS limit, a symlink loop
        reason = getattr(exc, "strerror", None) or str(exc)
        return doc.issue(
            path,
            f"the path cannot be used: {reason}",
            "a path the file system accepts (each part at most 255 characters)",
            "shorten the path or correct it",
        )
    if outside:
        return doc.issue(
            path,
            f"{value!r} is outside the spec's folder",
            "a path inside the repository (the pipelines package it)",
            "move the file into the repository and name it relatively",
        )
    if exists:
        return None
    noun = "file" if kind == "file" else "folder"
    return doc.issue(
        path,
        f"the {noun} {value!r} does not exist",
        f"an existing {noun}, relative to the spec's folder",
        f"create the {noun} or correct the path",
    )


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
