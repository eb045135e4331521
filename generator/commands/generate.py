"""`almgen generate` for a list of specs: the click command's body, also run without click.

generator/entry.py runs a plain `almgen generate [SPEC...]` (no option, output not on a terminal:
the pre-commit hook, CI, scripts) through `generate` here without importing click, whose import
costs a tenth of a generate; every other form goes through the click command, which calls the
same function. What is printed and the exit codes are the same either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator import reports
from generator.console import echo
from generator.errors import AlmgenError, ExitCode


class RefusedError(AlmgenError):
    exit_code = ExitCode.DRIFT


def generate(specs: list[Path], *, force: bool, adopt: bool, dry_run: bool, fmt: str) -> None:
    from generator.regen.generate import generate_spec

    data: dict[str, Any] = {}
    refused: list[str] = []
    for path in specs:
        report = generate_spec(path, force=force, adopt=adopt, dry_run=dry_run)
        if fmt == "json":
            data[str(path)] = reports.generate_entry(report, dry_run=dry_run)
        else:
            reports.print_generate(str(path), report, dry_run=dry_run)
        if report.refused:
            refused.append(str(path))
    if fmt == "json":
        echo(reports.dump(data))
    if refused:
        raise RefusedError(
            f"nothing was written for {', '.join(refused)}: files were refused (see above); "
            + reports.WAYS_OUT
        )
