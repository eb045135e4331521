"""The agent's tools in a rehearsal: `python` is the runner's interpreter, `pip install` installs
nothing (generator.rehearse.stand_ins records the pin and generator.rehearse.github.installed
leaves a stand-in command per package), `almgen` is this checkout's generator."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
  shift 2
  "{python}" -m generator.rehearse.stand_ins pip "$@" || exit $?
  exec "{python}" -m generator.rehearse.github.installed "$@"
fi
exec "{python}" "$@"
"""
_PIP = """#!/bin/sh
if [ "$1" = "install" ]; then
  "{python}" -m generator.rehearse.stand_ins pip "$@" || exit $?
  exec "{python}" -m generator.rehearse.github.installed "$@"
fi
exec "{python}" -m pip "$@"
"""
_ALMGEN = """#!/bin/sh
exec "{python}" -m generator "$@"
"""


def write_tools(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for names, text in ((("python", "python3"), _PYTHON), (("pip", "pip3"), _PIP), (("almgen",), _ALMGEN)):
        for name in names:
            path = folder / name
            path.write_text(text.format(python=sys.executable), encoding="utf-8")
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder
