"""What the commands print: how much (`--quiet`, `--verbose`) and in colour or not.

Colour is used only where click would keep it (a terminal; `CliRunner(color=True)` in tests) and
never when `NO_COLOR` is set to a non-empty value (https://no-color.org). JSON output is never
coloured and never shortened by `--quiet`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_QUIET = "almgen.quiet"
_VERBOSE = "almgen.verbose"


class Verbosity(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


def _remember(flag: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta[flag] = True  # meta is shared by the group and its command

    return callback


def _flag(short: str, name: str, meta: str, help_text: str) -> Callable[[F], F]:
    remember = _remember(meta)
    return click.option(short, name, is_flag=True, expose_value=False, callback=remember, help=help_text)


def verbosity_options(command: F) -> F:
    """`-q/--quiet` and `-v/--verbose`, accepted before the command (`almgen -q generate`) or after."""
    quiet = _flag("-q", "--quiet", _QUIET, "Print only errors, refusals and what was asked for (diff, JSON).")
    verbose = _flag(
        "-v", "--verbose", _VERBOSE, "Also print what did not change and how each answer was reached."
    )
    return quiet(verbose(command))


def verbosity() -> Verbosity:
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    if meta.get(_QUIET) and meta.get(_VERBOSE):
        raise click.UsageError("--quiet and --verbose contradict each other; give one")
    if meta.get(_QUIET):
        return Verbosity.QUIET
    return Verbosity.VERBOSE if meta.get(_VERBOSE) else Verbosity.NORMAL


def say(text: str, *, at: Verbosity = Verbosity.NORMAL, err: bool = False, nl: bool = True) -> None:
    """Print `text` when the verbosity is at least `at` (QUIET: always)."""
    if verbosity() >= at:
        click.echo(text, err=err, nl=nl)


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def paint(text: str, **styles: Any) -> str:
    """`text` in colour (click.style), unless NO_COLOR; click.echo drops it off a terminal."""
    return text if no_color() else click.style(text, **styles)


ACTION_COLOURS = {
    "created": "green",
    "updated": "yellow",
    "removed": "red",
    "refused": "red",
    "kept": "cyan",
    "ignored": "magenta",
    "stale": "yellow",
    "missing": "yellow",
    "orphan": "yellow",
    "tampered": "red",
    "collision": "red",
    "unsafe": "magenta",
}


def action(word: str, width: int = 9) -> str:
    """A file's action or finding kind, right-aligned, in its colour."""
    return paint(f"{word:>{width}}", fg=ACTION_COLOURS.get(word), bold=word == "refused")


def diff_text(text: str) -> str:
    """A unified diff coloured like git's: headers bold, hunks cyan, - red, + green."""
    if no_color():
        return text
    return "".join(_diff_line(line) for line in text.splitlines(keepends=True))


def _diff_line(line: str) -> str:
    body = line.rstrip("\n")
    end = line[len(body) :]
    if body.startswith(("+++", "---")):
        return click.style(body, bold=True) + end
    if body.startswith("@@"):
        return click.style(body, fg="cyan") + end
    if body.startswith("+"):
        return click.style(body, fg="green") + end
    if body.startswith("-"):
        return click.style(body, fg="red") + end
    return line
