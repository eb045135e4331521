"""One place maps failures to exit codes; no traceback ever reaches the terminal."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from generator import __version__
from generator.console import echo
from generator.errors import AlmgenError, ExitCode, SpecInvalid

F = TypeVar("F", bound=Callable[..., Any])

LOG_PREFIX = "almgen-error-"
BROKEN_PIPE = 128 + 13  # what a shell reports for a tool ended by SIGPIPE (`almgen check | head`)


def exit_on_broken_pipe() -> NoReturn:
    """The reader of stdout went away: leave quietly, as CPython's docs recommend.

    stdout is pointed at devnull so that the interpreter's final flush does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test runner's capture)
        pass
    sys.exit(BROKEN_PIPE)


def handle_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe is found here, not in the interpreter's last flush
            return result
        except BrokenPipeError:
            exit_on_broken_pipe()
        except SpecInvalid as exc:
            echo(exc.format(), err=True)
            sys.exit(exc.exit_code)
        except AlmgenError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # anything else is a bug in almgen: log it, say so
            if _clicks(exc):
                raise  # click's own exits and usage errors (click is loaded when they happen)
            log = _write_log(exc)
            echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                f"This is a bug in almgen {__version__}; please report it with the log at "
                f"{log}",
                err=True,
            )
            sys.exit(ExitCode.INTERNAL)

    return wrapper  # type: ignore[return-value]


def _clicks(exc: Exception) -> bool:
    click = sys.modules.get("click")
    return click is not None and isinstance(
        exc, (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)
    )


def _write_log(exc: BaseException) -> Path:
    """The traceback in a new file of its own in the temp folder: a unique name, mode 0600.

    `mkstemp` creates the file exclusively (O_EXCL), so a symlink or a file planted in the shared
    temp folder is never followed nor overwritten.
    """
    import platform
    import tempfile
    import traceback

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = (
        f"almgen {__version__}\npython {sys.version}\nplatform {platform.platform()}\nargv {sys.argv}\n\n"
    )
    try:
        handle, name = tempfile.mkstemp(prefix=LOG_PREFIX, suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as log:
            log.write(header + details)
    except OSError:
        return Path("(the log could not be written)")
    return Path(name)
