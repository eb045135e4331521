"""Files the spec names outside the repository: their names are checked before they are read,
and errors in them never print what they hold.

`extends:` is read before the schema runs, so its value is held to the schema's own pattern here
(a relative path: no absolute path, no `~`, no drive). A base found outside the repository (the
nearest folder above the spec holding `.git`, else the spec's folder) is still read, but an error
in it is reported by file, line and column only: its message, field and values could come from
any file on the machine (a credentials file named by a hostile pull request, say).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from generator.errors import Issue

OUTSIDE = "the file is outside the repository, so its content is not shown"


@cache
def _relative_path() -> tuple[re.Pattern[str], int]:
    from generator.package_data import spec_schema

    field = spec_schema()["properties"]["extends"]
    return re.compile(field["pattern"]), int(field["maxLength"])


def relative_path_problem(value: str) -> str | None:
    """Why `value` is not a path the schema allows for `extends`, or None."""
    pattern, longest = _relative_path()
    if len(value) > longest:
        return f"the path is {len(value)} characters long"
    if not pattern.search(value):
        return "the path is not relative (or holds characters other than letters, digits, spaces and . _ - /)"
    return None


def repository_root(spec: Path) -> Path:
    """The nearest folder at or above the spec's folder that holds `.git`, else the spec's folder."""
    folder = spec.resolve().parent
    for candidate in (folder, *folder.parents):
        try:
            if (candidate / ".git").exists():
                return candidate
        except OSError:
            break
    return folder


def redact_outside(issues: list[Issue], root: Path) -> list[Issue]:
    """`issues` with those located in files outside `root` reduced to their position."""
    return [_redacted(issue) if _outside(issue.file, root) else issue for issue in issues]


def outside(path: Path, root: Path) -> bool:
    """True when the resolved `path` is not `root` nor below it."""
    return path != root and root not in path.parents


def _outside(shown: str, root: Path) -> bool:
    try:
        return outside(Path(shown).resolve(), root)
    except (OSError, RuntimeError):
        return True


def _redacted(issue: Issue) -> Issue:
    return Issue(
        issue.file,
        issue.line,
        issue.column,
        "",
        f"a problem at this position; {OUTSIDE}",
        "a valid base spec",
        "open the file at this line, or run almgen from the repository that holds it",
    )
