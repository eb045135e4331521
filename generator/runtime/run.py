"""Run a command of almgen.yaml by name: a test, or a gate's evaluation.

The commands live in `.almgen/commands.json` (generated), so text from the spec never enters
a pipeline file, where GitHub (`${{ }}`) or Azure DevOps (`$(var)`) could expand it. The
command runs under bash from the current folder with the environment it was given; its exit
code is this script's.

    python run.py test smoke [--commands .almgen/commands.json]
    python run.py gate evaluation [--commands ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def command(path: Path, kind: str, name: str) -> str:
    try:
        table = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise LookupError(f"cannot read {path}: {exc}") from exc
    section = table.get("tests" if kind == "test" else "gates") if isinstance(table, dict) else None
    value = section.get(name) if isinstance(section, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise LookupError(f"{path} has no {kind} command named {name!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="Run a test or gate command of almgen.yaml.")
    parser.add_argument("kind", choices=("test", "gate"))
    parser.add_argument("name")
    parser.add_argument("--commands", type=Path, default=Path(".almgen/commands.json"))
    args = parser.parse_args(argv)
    try:
        text = command(args.commands, args.kind, args.name)
    except LookupError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    print(f"run: {args.kind} {args.name}: {text}", flush=True)
    return subprocess.run(["bash", "-c", text], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
