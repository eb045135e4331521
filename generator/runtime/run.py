"""Run a command of almgen.yaml by name: a test, or a gate's evaluation, after its setup.

The commands live in `.almgen/commands.json` (generated), so text from the spec never enters
a pipeline file, where GitHub (`${{ }}`) or Azure DevOps (`$(var)`) could expand it. The
command runs under bash from the current folder with the environment it was given, plus the
environment contract (`--contract`, the `NAME=value` file contract.py wrote); its exit code is
this script's.

A command's setup (`setup` in commands.json: a pip requirements file, installed with
`python -m pip install -r`, or a command) runs first, once per job: a marker named after the
setup goes into `--setup-done` (a folder of the job's workspace), so the next command with the
same setup skips it. A failing setup fails the command without running it.

`--contract DIR` (the `*.env` files contract.py --out-dir wrote, one per region): the command
runs once per region, primary first, each time with that region's contract; the first failure
ends it with that exit code.

    python run.py test smoke [--commands .almgen/commands.json] [--contract contract.env|DIR]
    python run.py gate evaluation [--commands ...] [--contract ...] [--setup-done DIR]

Exit codes: the command's (or the failed setup's); 2 usage or a bad commands or contract file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _table(path: Path) -> dict[str, Any]:
    try:
        table = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise LookupError(f"cannot read {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise LookupError(f"{path} does not hold an object")
    return table


def _section(table: dict[str, Any], kind: str) -> dict[str, Any]:
    section = table.get("tests" if kind == "test" else "gates")
    return section if isinstance(section, dict) else {}


def command(path: Path, kind: str, name: str) -> str:
    value = _section(_table(path), kind).get(name)
    if not isinstance(value, str) or not value.strip():
        raise LookupError(f"{path} has no {kind} command named {name!r}")
    return value


def setup_of(path: Path, kind: str, name: str) -> dict[str, str] | None:
    """The command's setup: {"requirements": FILE} or {"command": TEXT}, or None."""
    setups = _table(path).get("setup")
    value = _section(setups, kind).get(name) if isinstance(setups, dict) else None
    if value is None:
        return None
    valid = isinstance(value, dict) and len(value) == 1
    key, text = next(iter(value.items())) if valid else ("", "")
    if key not in ("requirements", "command") or not isinstance(text, str) or not text.strip():
        raise LookupError(f"{path}: the setup of {kind} {name!r} is not {{requirements}} or {{command}}")
    return {key: text}


def read_contract(path: Path | None) -> dict[str, str]:
    """The NAME=value lines contract.py wrote (nothing without a contract)."""
    if path is None:
        return {}
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise LookupError(f"cannot read the contract {path}: {exc}") from exc
    values = {}
    for line in lines:
        name, equals, value = line.partition("=")
        if not equals or not NAME.match(name):
            raise LookupError(f"{path}: {line!r} is not a NAME=value line")
        values[name] = value
    return values


def run_setup(setup: dict[str, str], done: Path, env: dict[str, str]) -> int:
    """Run SETUP unless this job already did; 0 when it is done."""
    key = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:16]
    marker = done / key
    if marker.exists():
        print(f"run: setup already done in this job: {json.dumps(setup)}", flush=True)
        return 0
    if "requirements" in setup:
        argv = ["python", "-m", "pip", "install", "-r", setup["requirements"]]
    else:
        argv = ["bash", "-c", setup["command"]]
    print(f"run: setup: {' '.join(argv) if 'requirements' in setup else setup['command']}", flush=True)
    code = subprocess.run(argv, check=False, env=env).returncode
    if code == 0:
        done.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(setup) + "\n", "utf-8")
    else:
        print(f"run: the setup failed (exit {code}): the command did not run", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="Run a test or gate command of almgen.yaml.")
    parser.add_argument("kind", choices=("test", "gate"))
    parser.add_argument("name")
    parser.add_argument("--commands", type=Path, default=Path(".almgen/commands.json"))
    parser.add_argument(
        "--contract", type=Path, help="NAME=value lines added to the environment (a folder: one per region)"
    )
    parser.add_argument("--setup-done", type=Path, default=Path(".almgen-setup-done"))
    args = parser.parse_args(argv)
    try:
        text = command(args.commands, args.kind, args.name)
        setup = setup_of(args.commands, args.kind, args.name)
        contracts = [read_contract(path) for path in contract_files(args.contract)]
    except LookupError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    for contract in contracts:
        env = {**os.environ, **contract}
        if setup is not None:
            code = run_setup(setup, args.setup_done, env)
            if code != 0:
                return code
        where = (
            f" in {contract['ALMGEN_REGION']}" if len(contracts) > 1 and "ALMGEN_REGION" in contract else ""
        )
        print(f"run: {args.kind} {args.name}{where}: {text}", flush=True)
        code = subprocess.run(["bash", "-c", text], check=False, env=env).returncode
        if code != 0:
            return code
    return 0


def contract_files(path: Path | None) -> list[Path | None]:
    """The contracts to run with: none, the file, or every `*.env` of the folder (in name order)."""
    if path is None or not path.is_dir():
        return [path]
    found = sorted(path.glob("*.env"), key=lambda item: (int(item.name.split("-", 1)[0]), item.name))
    if not found:
        raise LookupError(f"{path} holds no contract (*.env)")
    return list(found)


if __name__ == "__main__":
    sys.exit(main())
