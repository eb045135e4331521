"""Errors as values: every problem with the user's input is an `Issue` with a location.

Exceptions are reserved for control flow across layers: `SpecInvalid` carries the issues
of a spec that cannot be used, `UsageError` a wrong command line.
"""

from __future__ import annotations

from enum import IntEnum

from generator.frozen import frozen


class ExitCode(IntEnum):
    OK = 0
    DRIFT = 1
    USAGE = 2
    INVALID = 3
    INTERNAL = 4


@frozen(order=True)
class Issue:
    """One problem in an input file, sortable by position."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: str  # the field, e.g. "environments[2].strategy.steps"; "" for the document
    message: str
    expected: str = ""
    fix: str = ""

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field = f" {self.path}:" if self.path else ""
        lines = [f"{where}: error:{field} {self.message}"]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class AlmgenError(Exception):
    """Base of the errors almgen reports to the user without a traceback."""

    exit_code = ExitCode.INTERNAL


class SpecInvalid(AlmgenError):
    """The spec (or a file it names) cannot be used; `issues` says why and where."""

    exit_code = ExitCode.INVALID

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues)
        super().__init__(f"{len(self.issues)} error(s)")

    def format(self) -> str:
        count = len(self.issues)
        summary = f"{count} error{'s' if count != 1 else ''} found"
        return "\n".join([*(issue.format() for issue in self.issues), summary])


class UsageError(AlmgenError):
    """The command line asks for something that cannot be done."""

    exit_code = ExitCode.USAGE
