"""The rehearsal's world: one folder that holds the simulated Azure, its clock and the timeline.

Everything a rehearsal runs (the pipeline runners, the `az` stand-in, the pipeline's own
scripts) shares state only through this folder, so each piece can run in its own process:

    <root>/azure.json      the simulated Azure's resources (owned by generator.rehearse.azure)
    <root>/clock.json      {"now": <epoch seconds>, "deadline": <epoch seconds> | null}: the clock
    <root>/faults.json     the faults a scenario injects (see generator.rehearse.faults)
    <root>/timeline.jsonl  one JSON event per line, in order: what happened, at which simulated time
    <root>/bin/            `az` and `sleep` stand-ins, put first on PATH for every step
    <root>/pycache/        the bytecode of every Python module the steps import (PYTHONPYCACHEPREFIX)

A step sees `ALMGEN_SIM_DIR=<root>`, `ALMGEN_AZ=<root>/bin/az` and `ALMGEN_CLOCK_FILE=<root>/clock.json`.
The pipeline's scripts read the time from the clock file when it is set and sleep with the
`sleep` on PATH, which advances the clock instead of waiting, so a 3-hour canary rehearses in
seconds. A runner sets a deadline (a job's timeout, a cancellation) before it starts a step:
a sleep that would cross it stops the clock at the deadline and ends the step's whole process
group with SIGTERM, as a runner cancelling a job would. Runners start every step in a new
process group (`start_new_session=True`).

A rehearsal starts hundreds of Python processes (every `az` call, every runtime script). Where the
host sets PYTHONDONTWRITEBYTECODE, each of them would compile its modules from source again (a
third of an `az` call's start-up), so a step's Python writes its bytecode into `<root>/pycache`
(nothing beside the sources: the rehearsal's repository stays as generated).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

START = 1_790_000_000.0  # 2026-09-21T12:53:20Z: a fixed start, so timelines are reproducible

CLIENT = Path(__file__).with_name("stand_in_client.py")  # see generator.rehearse.stand_in_server
STAND_IN = f'"{sys.executable}" -S -I "{CLIENT}"'  # + MODULE ARGS: `python -m MODULE ARGS`, served
_AZ = """#!/bin/sh
exec {stand_in} generator.rehearse.azure "$@"
"""
_SLEEP = """#!/bin/sh
exec {stand_in} generator.rehearse.world sleep "$@"
"""


def write_atomic(path: Path, text: str) -> None:
    """Write through a new file beside PATH, then rename it over PATH.

    Not `tempfile` nor a dataclass below: every `az` and `sleep` of a rehearsal is a new process
    that imports this module, and those two imports were a third of its start-up.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class World:
    """The world folder ROOT (see the module docstring); values compare by their root."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, World) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"World(root={self.root!r})"

    @property
    def azure_file(self) -> Path:
        return self.root / "azure.json"

    @property
    def clock_file(self) -> Path:
        return self.root / "clock.json"

    @property
    def faults_file(self) -> Path:
        return self.root / "faults.json"

    @property
    def timeline_file(self) -> Path:
        return self.root / "timeline.jsonl"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def pycache(self) -> Path:
        return self.root / "pycache"

    @classmethod
    def create(cls, root: Path, faults: list[dict[str, Any]] | None = None) -> World:
        """A new world: empty subscription, the clock at START, the stand-ins on disk."""
        root.mkdir(parents=True, exist_ok=True)
        world = cls(root)
        world.bin.mkdir(exist_ok=True)
        for name, text in (("az", _AZ), ("sleep", _SLEEP)):
            path = world.bin / name
            path.write_text(text.format(stand_in=STAND_IN), encoding="utf-8")
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        if not world.clock_file.exists():
            world.set_now(START)
        if not world.faults_file.exists() or faults is not None:
            write_atomic(world.faults_file, json.dumps(faults or [], indent=2) + "\n")
        world.timeline_file.touch()
        return world

    # the clock -----------------------------------------------------------------------------
    def _clock(self) -> dict[str, Any]:
        loaded = json.loads(self.clock_file.read_text("utf-8"))
        return loaded if isinstance(loaded, dict) else {}

    def now(self) -> float:
        return float(self._clock()["now"])

    def deadline(self) -> float | None:
        value = self._clock().get("deadline")
        return None if value is None else float(value)

    def set_now(self, value: float) -> None:
        write_atomic(self.clock_file, json.dumps({"now": value, "deadline": self.deadline_or_none()}) + "\n")

    def deadline_or_none(self) -> float | None:
        return self.deadline() if self.clock_file.exists() else None

    def set_deadline(self, value: float | None) -> None:
        """Set (or clear) the moment a sleeping step is stopped: a job timeout or a cancellation."""
        write_atomic(self.clock_file, json.dumps({"now": self.now(), "deadline": value}) + "\n")

    def advance(self, seconds: float) -> bool:
        """Move the clock on; False when the deadline stopped it first (the clock is then at it)."""
        target = self.now() + max(0.0, seconds)
        deadline = self.deadline()
        if deadline is not None and target >= deadline:
            self.set_now(max(self.now(), deadline))
            return False
        self.set_now(target)
        return True

    def minutes(self) -> float:
        """Simulated minutes since START."""
        return (self.now() - START) / 60

    # faults and timeline ---------------------------------------------------------------------
    def faults(self) -> list[dict[str, Any]]:
        loaded = json.loads(self.faults_file.read_text("utf-8"))
        return loaded if isinstance(loaded, list) else []

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """The faults of the next run (a rehearsal runs several phases on one world)."""
        write_atomic(self.faults_file, json.dumps(faults, indent=2) + "\n")

    def record(self, kind: str, **fields: Any) -> None:
        """Append one event to the timeline, stamped with the simulated time."""
        event = {"minute": round(self.minutes(), 2), "kind": kind, **fields}
        with self.timeline_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, sort_keys=True) + "\n")

    def timeline(self) -> list[dict[str, Any]]:
        lines = self.timeline_file.read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    # what a step sees ------------------------------------------------------------------------
    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a step: the stand-ins first on PATH, the world's variables set."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["ALMGEN_SIM_DIR"] = str(self.root)
        env["ALMGEN_AZ"] = str(self.bin / "az")
        env["ALMGEN_CLOCK_FILE"] = str(self.clock_file)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", str(self.pycache))
        # generator.rehearse must import from the steps' python, wherever the checkout is
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        return env


def from_environ() -> World:
    """The world of the current process (a stand-in called by a step)."""
    root = os.environ.get("ALMGEN_SIM_DIR")
    if not root:
        raise SystemExit("rehearse: ALMGEN_SIM_DIR is not set: this stand-in runs only inside a rehearsal")
    return World(Path(root))


def _sleep(argv: list[str]) -> int:
    """`sleep 5`, `sleep 2m`, `sleep 1h 30m`: advance the simulated clock, never wait."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for arg in argv:
        unit = units.get(arg[-1:])
        number = arg[:-1] if unit else arg
        try:
            total += float(number) * (unit or 1)
        except ValueError:
            print(f"sleep: invalid time interval '{arg}'", file=sys.stderr)
            return 1
    if not from_environ().advance(total):
        stop_step()  # the deadline came first
    return 0


_caller_group: list[int] = []  # set in a call the stand-in server runs: the calling step's group


def serve_caller_in(group: int) -> None:
    """This process runs a stand-in for a step whose process group is GROUP (not this one's)."""
    _caller_group[:] = [group]


def stop_step() -> None:
    """End the calling step's process group with SIGTERM, as a runner stops a cancelled or
    timed-out job, and this process with it (outside that group when the stand-in server runs it)."""
    os.killpg(_caller_group[0] if _caller_group else os.getpgrp(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "sleep":
        return _sleep(argv[1:])
    print("usage: python -m generator.rehearse.world sleep SECONDS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
