"""What the runtime scripts share: the Azure CLI, JSON files, errors, output, and the clock.

Copied beside the scripts into `.almgen/scripts/`. Every runtime module imports its siblings the
same way: `from . import common` when imported as `generator.runtime.<name>` (the generator's
tests), and `importlib.import_module("common")` when run as `python .almgen/scripts/<name>.py`
(a command-line script puts its own folder first on sys.path, so that `python -I` works too).
Standard library only.

Azure CLI: `az()` runs `$ALMGEN_AZ` when set (tests, rehearsals), else `az` on PATH, never through a
shell, and returns the CompletedProcess; `az_text()` and `az_json()` raise `Failure` when it exits
non-zero. Errors: `InputError` is bad or missing input (exit 2), `Failure` is Azure refusing, a
check failing or a rule broken (exit 1).

Clock: every script reads the time with `now()` and waits with `sleep()`, never with `datetime.now`
or `time.sleep` directly. Without `ALMGEN_CLOCK_FILE` they are the real clock: `now()` is
`datetime.now(timezone.utc)` and `sleep(s)` is `time.sleep(s)`. When `ALMGEN_CLOCK_FILE` names a
file (a rehearsal against a simulated Azure), the file holds JSON `{"now": <epoch seconds>,
"deadline": <epoch seconds>}`: `now()` is its `now` (UTC, read afresh on every call) and `sleep(s)`
runs the `sleep` command on PATH with one argument, the seconds; the rehearsal's stand-in for
`sleep` advances the simulated clock, and may end the process group when the deadline passes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

CLOCK_FILE = "ALMGEN_CLOCK_FILE"


class InputError(Exception):
    """Bad or missing input: exit 2."""


class Failure(Exception):
    """Azure refused, a check failed, or a rule was broken: exit 1."""


class Parser(argparse.ArgumentParser):
    """Usage errors print one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


# --------------------------------------------------------------------------- clock


def now() -> datetime:
    """The current time, UTC: the simulated clock's when ALMGEN_CLOCK_FILE is set."""
    clock = os.environ.get(CLOCK_FILE)
    if not clock:
        return datetime.now(timezone.utc)
    try:
        seconds = json.loads(Path(clock).read_text("utf-8"))["now"]
        return datetime.fromtimestamp(float(seconds), timezone.utc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failure(f"cannot read the clock file {clock}: {exc}") from exc


def sleep(seconds: float) -> None:
    """Wait SECONDS: the `sleep` command on PATH when ALMGEN_CLOCK_FILE is set, else time.sleep."""
    if os.environ.get(CLOCK_FILE):
        subprocess.run(["sleep", str(seconds)], check=False)
    else:
        time.sleep(seconds)


# --------------------------------------------------------------------------- Azure CLI


def az(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the Azure CLI (or `$ALMGEN_AZ`) with ARGS; never through a shell."""
    executable = os.environ.get("ALMGEN_AZ") or "az"
    resolved = shutil.which(executable) or executable  # `az.cmd` on Windows agents
    try:
        return subprocess.run([resolved, *args], check=False, capture_output=True, text=True)
    except OSError as exc:
        raise Failure(f"cannot run the Azure CLI ({executable}): {exc.strerror or exc}") from exc


def az_error(result: subprocess.CompletedProcess[str]) -> str:
    """The most useful line of the CLI's stderr."""
    lines = [line.strip() for line in (result.stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    text = (errors or lines or [f"exit code {result.returncode}"])[0]
    return text[:400]


def az_text(args: list[str], what: str) -> str:
    """The CLI's stdout, stripped; Failure when it exits non-zero."""
    result = az(args)
    if result.returncode != 0:
        raise Failure(f"{what}: az {' '.join(args[:3])} failed: {az_error(result)}")
    return result.stdout.strip()


def az_json(args: list[str], what: str) -> Any:
    """The CLI's answer parsed (`-o json`), None when empty; Failure when it fails or is not JSON."""
    text = az_text([*args, "-o", "json"], what)
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Failure(f"{what}: the Azure CLI did not answer JSON ({exc.msg})") from exc


# --------------------------------------------------------------------------- files


def number_in(low: float, high: float) -> Any:
    """An argparse type: a number from LOW to HIGH."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {low:g} to {high:g}")
        return value

    return parse


def whole_in(low: int, high: int) -> Any:
    """An argparse type: a whole number from LOW to HIGH."""

    def parse(text: str) -> int:
        value = number_in(low, high)(text)
        if not float(value).is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        return int(value)

    return parse


def read_json(path: Path, what: str) -> Any:
    """The JSON document at PATH; InputError naming WHAT when it is missing or unreadable."""
    try:
        return json.loads(path.read_text("utf-8-sig"))
    except FileNotFoundError as exc:
        raise InputError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from exc


def read_object(path: Path, what: str) -> dict[str, Any]:
    document = read_json(path, what)
    if not isinstance(document, dict):
        raise InputError(f"{what} {path} must hold a JSON object")
    return document


def write_json(path: Path, document: object, sort_keys: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=sort_keys) + "\n", "utf-8")


def text_of(item: Any, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: {key!r} must be a non-empty string")
    return value


def environments(release: dict[str, Any]) -> dict[str, Any]:
    envs = release.get("environments")
    if not isinstance(envs, dict):
        raise InputError("release.json has no 'environments' object")
    return envs


def environment(release: dict[str, Any], env: str) -> dict[str, Any]:
    envs = environments(release)
    facts = envs.get(env)
    if not isinstance(facts, dict):
        known = ", ".join(sorted(envs)) or "none"
        raise InputError(f"environment {env!r} is not in release.json (known: {known})")
    return facts


def stacks_of(path: Path, key: str) -> list[dict[str, Any]]:
    """The regions of ARM deployment outputs (`{"stacks": {"value": [...]}}`), primary first.

    Each must name its location and KEY.
    """
    document = read_object(path, "deployment outputs")
    stacks = document.get("stacks")
    if isinstance(stacks, dict):
        stacks = stacks.get("value")
    if not isinstance(stacks, list) or not stacks or not all(isinstance(s, dict) for s in stacks):
        raise InputError(f"deployment outputs {path} have no 'stacks' array")
    for index, stack in enumerate(stacks):
        text_of(stack, "location", f"deployment outputs stacks[{index}]")
        text_of(stack, key, f"deployment outputs stacks[{index}]")
    return sorted(stacks, key=lambda stack: not stack.get("primary"))


# --------------------------------------------------------------------------- output


def say(message: str) -> None:
    """Progress and warnings go to stderr, so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


def publish_summary(markdown: str, name: str, environ: Any = None) -> None:
    """Append MARKDOWN to the GitHub step summary, or upload it as NAME on Azure DevOps."""
    environ = os.environ if environ is None else environ
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if environ.get("TF_BUILD"):
        path = (Path(environ.get("AGENT_TEMPDIRECTORY") or ".") / name).resolve()
        path.write_text(markdown, "utf-8")
        print(f"##vso[task.uploadsummary]{path}")


def main(parser: argparse.ArgumentParser, commands: dict[str, Any], argv: list[str] | None = None) -> int:
    """A script with subcommands: parse ARGV (usage errors exit 2), run COMMANDS[command](args)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return run_command(parser.prog, args.command, lambda: commands[args.command](args))


def run_command(prog: str, command: str, run: Any) -> int:
    """RUN(), reporting errors as one line on stderr: InputError exits 2, anything else 1."""
    try:
        return int(run())
    except InputError as exc:
        print(f"{prog} {command}: {exc}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"{prog} {command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog} {command}: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except Exception as exc:  # a script in a pipeline reports, it never prints a traceback
        print(f"{prog} {command}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------- versions

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

Semver = tuple[int, int, int, tuple[tuple[int, int | str], ...]]


def semver(text: object) -> Semver | None:
    """A sortable key of a semver string (build metadata ignored); None when it is not semver."""
    match = SEMVER.match(text) if isinstance(text, str) else None
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    # A release sorts after its pre-releases: an empty pre-release gets the highest marker.
    parts: tuple[tuple[int, int | str], ...] = ((2, 0),)
    if pre:
        parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), parts


def newer(a: str, b: str) -> bool:
    """Whether semver A is higher than semver B (both valid)."""
    key_a, key_b = semver(a), semver(b)
    assert key_a is not None and key_b is not None
    return key_a > key_b
