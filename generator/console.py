"""What the commands print: how much (`--quiet`, `--verbose`) and in colour or not.

Colour is used only where click would keep it (a terminal; `CliRunner(color=True)` in tests) and
never when `NO_COLOR` is set to a non-empty value (https://no-color.org). JSON output is never
coloured and never shortened by `--quiet`.

click is imported only by the click command line: a plain `almgen generate` off a terminal
(generator/entry.py) runs without it, so here it is looked up in `sys.modules`. Without click
there is no context (normal verbosity) and no colour (that path never runs on a terminal, where
click would keep it); text is written and flushed as `click.echo` writes it off a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
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
    import click

    return click.option(short, name, is_flag=True, expose_value=False, callback=remember, help=help_text)


def verbosity_options(command: F) -> F:
    """`-q/--quiet` and `-v/--verbose`, accepted before the command (`almgen -q generate`) or after."""
    quiet = _flag("-q", "--quiet", _QUIET, "Print only errors, refusals and what was asked for (diff, JSON).")
    verbose = _flag(
        "-v", "--verbose", _VERBOSE, "Also print what did not change and how each answer was reached."
    )
    return quiet(verbose(command))


def verbosity() -> Verbosity:
    click = sys.modules.get("click")
    if click is None:  # the click-free `almgen generate`: no options, no context
        return Verbosity.NORMAL
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
        echo(text, err=err, nl=nl)


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """`click.echo`, or without click (never on a terminal) the same text written and flushed."""
    click = sys.modules.get("click")
    if click is not None:
        click.echo(text, err=err, nl=nl)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n" if nl else text)
    stream.flush()


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def paint(text: str, **styles: Any) -> str:
    """`text` in colour (click.style), unless NO_COLOR; click.echo drops it off a terminal."""
    click = sys.modules.get("click")
    return text if no_color() or click is None else click.style(text, **styles)


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
    import click

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
