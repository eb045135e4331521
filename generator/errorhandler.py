"""One place maps failures to exit codes; no traceback ever reaches the terminal."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from generator import __version__
from generator.errors import AlmgenError, ExitCode, SpecInvalid

F = TypeVar("F", bound=Callable[..., Any])

LOG_NAME = "almgen-error.log"


def handle_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SpecInvalid as exc:
            click.echo(exc.format(), err=True)
            sys.exit(exc.exit_code)
        except AlmgenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # anything else is a bug in almgen: log it, say so
            log = _write_log(exc)
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                f"This is a bug in almgen {__version__}; please report it with the log at "
                f"{log}",
                err=True,
            )
            sys.exit(ExitCode.INTERNAL)

    return wrapper  # type: ignore[return-value]


def _write_log(exc: BaseException) -> Path:
    import platform
    import tempfile
    import traceback

    path = Path(tempfile.gettempdir()) / LOG_NAME
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = (
        f"almgen {__version__}\npython {sys.version}\nplatform {platform.platform()}\nargv {sys.argv}\n\n"
    )
    try:
        path.write_text(header + details, "utf-8")
    except OSError:
        return Path("(the log could not be written)")
    return path
