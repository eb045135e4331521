"""The `almgen` executable. A clean `almgen check` (the pre-commit hook) answers before click
or anything heavy is imported; everything else goes to the click command line."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # without importing typing (mypy reads it the same)
if TYPE_CHECKING:
    from typing import NoReturn

_QUIET = ("-q", "--quiet")


def _fast_check(args: list[str]) -> bool:
    """True when `args` is a plain `check` (or `check -q`) of specs that are all certainly up to date."""
    if not args or args[0] != "check" or any(a.startswith("-") and a not in _QUIET for a in args[1:]):
        return False
    from generator.regen.fastpath import shown, up_to_date

    specs = [shown(a) for a in args[1:] if a not in _QUIET] or ["almgen.yaml"]
    if not all(up_to_date(spec) for spec in specs):
        return False
    if not any(a in _QUIET for a in args[1:]):
        for spec in specs:
            print(f"{spec}: up to date")
    return True


def _plain_generate(args: list[str]) -> bool:
    """Run `almgen generate [SPEC...]` without click when nothing needs it: no option (not even
    `--`), no empty argument, output not on a terminal (no colour). False: click runs the command."""
    if not args or args[0] != "generate" or any(not a or a.startswith("-") for a in args[1:]):
        return False
    import os

    if os.name != "posix" or sys.stdout.isatty() or sys.stderr.isatty():
        return False
    from pathlib import Path

    from generator.commands.generate import generate
    from generator.errorhandler import handle_errors

    specs = [Path(a) for a in args[1:]] or [Path("almgen.yaml")]
    handle_errors(generate)(specs, force=False, adopt=False, dry_run=False, fmt="text")
    return True


# Commands over one spec: what they allocate is bounded by the spec's size, and nearly all of it
# (modules, the spec's model, the rendered files) lives until the process ends. The cyclic
# collector's sixty-odd passes over it free nothing and cost about 4% of a generate; with it off,
# the enterprise sample's generate peaks 0.5 MB higher (benchmarks/README.md). `rehearse`,
# `setup` and `init` keep it: they run longer over inputs almgen does not bound.
_WITHOUT_GC = frozenset({"check", "diff", "explain", "generate", "validate"})


def main() -> None:
    """The command line, for a caller in this process (a test): it returns, or raises SystemExit."""
    import gc

    collecting = gc.isenabled()
    if sys.argv[1:2] and sys.argv[1] in _WITHOUT_GC:
        gc.disable()
    try:
        _main()
    finally:  # for a caller in the same process (a test); a process exits right after
        if collecting:
            gc.enable()


def _main() -> None:
    try:
        answered = _fast_check(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:  # `almgen check | head`: the reader left; no traceback
        from generator.errorhandler import exit_on_broken_pipe

        exit_on_broken_pipe()
    if answered:
        sys.exit(0)
    if _plain_generate(sys.argv[1:]):
        sys.exit(0)
    from generator.cli import main as cli_main

    cli_main()


def run() -> NoReturn:
    """The `almgen` executable and `python -m generator`: `main()`, then the process exits.

    After a command over one spec the interpreter's teardown (every module and object freed one by
    one) is skipped: about a twentieth of a generate's work (benchmarks/README.md), and nothing a
    user sees depends on it, since every file almgen writes is closed by then. What the teardown
    does that matters is done here: atexit functions, stdout and stderr flushed, the status
    `sys.exit` would give. Anything unusual (a flush that fails, a thread still running) takes
    the interpreter's own exit.
    """
    status: int | str | None = None
    try:
        main()
    except SystemExit as exc:
        status = exc.code
    if sys.argv[1:2] and sys.argv[1] in _WITHOUT_GC:
        status = _leave(status)
    sys.exit(status)


def _leave(status: int | str | None) -> int | str | None:
    """Exit now with the status `sys.exit(status)` gives, or the status for the interpreter's exit."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return status
    if status is not None and not isinstance(status, int):
        from contextlib import suppress

        with suppress(OSError, ValueError):
            print(status, file=sys.stderr)  # as the interpreter prints sys.exit("message")
        status = 1
    import atexit
    import os

    atexit._run_exitfuncs()  # once: CPython empties the registry, so the interpreter's exit does not
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return status
    os._exit((status or 0) & 0xFF)  # the byte of the status the OS keeps, as for sys.exit
