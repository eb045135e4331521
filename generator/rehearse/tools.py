"""The tools a rehearsed job finds on PATH, for both runners: `python` is the runner's interpreter,
`pip install` installs nothing (generator.rehearse.stand_ins records the pin, and
generator.rehearse.github.installed leaves a stand-in command per package), `almgen` is this
checkout's generator, and any extra stand-ins a caller names."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
from pathlib import Path

from generator.rehearse.world import STAND_IN

_PYTHON = """#!/bin/sh
# rehearse: the runner's python; `python -m pip install` installs nothing, `download` fetches nothing
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "download" ]; then
  shift 2
  exec {stand_in} generator.rehearse.stand_ins pip "$@"
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
  shift 2
  {stand_in} generator.rehearse.stand_ins pip "$@" || exit $?
  exec {stand_in} generator.rehearse.github.installed "$@"
fi
if [ "$1" = "-m" ]; then
  case "$2" in generator.rehearse.*)
    module=$2
    shift 2
    exec {stand_in} "$module" "$@"
  esac
fi
exec "{python}" "$@"
"""
_PIP = """#!/bin/sh
# rehearse: `pip install` installs nothing; other pip commands ask the runner's python
if [ "$1" = "install" ]; then
  {stand_in} generator.rehearse.stand_ins pip "$@" || exit $?
  exec {stand_in} generator.rehearse.github.installed "$@"
fi
exec "{python}" -m pip "$@"
"""
_ALMGEN = """#!/bin/sh
exec "{python}" -m generator "$@"
"""
SCRIPTS = {"python": _PYTHON, "python3": _PYTHON, "pip": _PIP, "pip3": _PIP, "almgen": _ALMGEN}


def write_tools(folder: Path, extra: dict[str, str] | None = None) -> Path:
    """The stand-ins in FOLDER (created), plus EXTRA (name -> shell script); FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SCRIPTS.items():
        _write_exec(folder / name, text.format(python=sys.executable, stand_in=STAND_IN))
    for name, text in (extra or {}).items():
        _write_exec(folder / name, text if text.startswith("#!") else "#!/bin/sh\n" + text)
    return folder


def _write_exec(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def head_commit(repo: Path) -> str:
    """The commit a run builds: the repository's HEAD, or a digest of its files outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and len(out.stdout.strip()) == 40:
            return out.stdout.strip()
    except OSError:
        pass
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts):
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
