"""A loaded spec: plain data plus where each field was written, so errors name file:line:column."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from generator.errors import Issue
from generator.frozen import frozen, record

FieldPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_-]*")


@frozen
class Position:
    file: str  # as shown to the user
    line: int  # 1-based
    column: int  # 1-based


@record
class Document:
    """A loaded (and, with `extends`, merged) spec."""

    path: Path  # the spec the user named, absolute
    data: Any
    positions: dict[FieldPath, Position] = field(default_factory=dict)
    key_positions: dict[FieldPath, Position] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # shown name -> absolute path
    inputs: list[Path] = field(default_factory=list)  # every file read, the spec first

    @property
    def display(self) -> str:
        return display_path(self.path)

    @property
    def root(self) -> Path:
        return self.path.parent

    def locate(self, path: FieldPath, *, key: bool = False) -> Position:
        """Where `path` was written; the nearest written ancestor for a missing field."""
        table = self.key_positions if key else self.positions
        if path in table:
            return table[path]
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.key_positions:
                return self.key_positions[prefix]
            if prefix in self.positions:
                return self.positions[prefix]
        return Position(self.display, 1, 1)

    def origin_dir(self, path: FieldPath) -> Path:
        """The folder of the file that wrote `path`: relative paths in it start there."""
        shown = self.locate(path).file
        return self.files.get(shown, self.path).parent

    def issue(
        self, path: FieldPath, message: str, expected: str = "", fix: str = "", *, key: bool = False
    ) -> Issue:
        pos = self.locate(path, key=key)
        return Issue(pos.file, pos.line, pos.column, format_path(path), message, expected, fix)


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{json.dumps(part)}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


def iter_paths(data: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any]]:
    """Every (path, value) of plain data, depth first, the container before its children."""
    yield path, data
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from iter_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_paths(value, (*path, index))
