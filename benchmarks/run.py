"""Speed goals of almgen, as ratios to what the machine can do anyway.

- a clean `almgen check` (the pre-commit fast path) within 2x of interpreter start-up;
- a full `almgen generate` no slower than importing almgen's libraries (its dependencies).

Each command runs in a fresh process, several times, interleaved (one round runs every command
once) so that a busy moment weighs on all of them alike; the median wall time is reported. The
commands are run as users run them: the `almgen` executable beside this Python, with byte code
(a warm-up round writes the `.pyc` files that `pip install` would have written;
PYTHONDONTWRITEBYTECODE is removed from the environment).
With uv (on PATH, or --uv), the clean check is also timed through the launcher uv writes.
With --instructions, each command runs once more under valgrind and the table counts the
instructions it executed (callgrind's Ir): the same count on a busy machine as on an idle one.
Run: python benchmarks/run.py [--runs N] [--baseline OLD_TREE] [--cpu | --instructions] [--uv UV]
(prints benchmarks/README.md's table)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "enterprise"
LIBRARIES = "import click, jinja2, jsonschema, ruamel.yaml, yaml"  # pyproject's dependencies
LOADED = "import yaml"  # the one a plain generate of a valid spec imports (no click, Jinja or ruamel)
FAST_PATH_STDLIB = "import re"  # what pip's launcher imported before almgen ran, before pip 25.2
# the fast path without a launcher that imports `re` (pip's before 25.2), when uv is not
# installed to write its own launcher (which does not): the same work, started from `python -c`
NO_LAUNCHER = "import sys; from generator.entry import run; sys.argv[0] = 'almgen'; run()"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Run:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=lambda: ENV)
    prepare: Callable[[], None] | None = None


def _cpu_of_children() -> float:
    import resource  # POSIX only, as --cpu is

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_side_by_side(runs: dict[str, Run], rounds: int, *, cpu: bool = False) -> dict[str, float]:
    """The median of each command over `rounds`, every round running each command once.

    Wall time, or with `cpu` the processor time (user and system) the command used: on a machine
    shared with other work that is steadier, but it leaves out waiting for the disk (fsync).
    """
    clock = _cpu_of_children if cpu else time.perf_counter
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(rounds + 1):
        for name, run in runs.items():
            if run.prepare is not None:
                run.prepare()
            start = clock()
            subprocess.run(run.argv, cwd=run.cwd, check=True, capture_output=True, env=run.env)
            if round_:  # round 0 warms up: byte code, the template and schema caches
                samples[name].append(clock() - start)
    return {name: statistics.median(found) for name, found in samples.items()}


def counted(runs: dict[str, Run]) -> dict[str, float]:
    """The instructions each command executes in user space (valgrind's callgrind, `Ir`), after
    one run outside valgrind that warms the byte code and caches as timed_side_by_side's round 0.

    One run each is enough: the count is the same however busy the machine is (PYTHONHASHSEED is
    fixed, so sets and dicts iterate alike). It leaves out the kernel's work (the fsync per
    written file), and OpenSSL hashes with the instructions valgrind's processor offers, which
    may be slower ones than the real processor's.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt install valgrind)")
    counts: dict[str, float] = {}
    for name, run in runs.items():
        for under in ([], [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]):
            if run.prepare is not None:
                run.prepare()
            env = {**run.env, "PYTHONHASHSEED": "0"}
            done = subprocess.run([*under, *run.argv], cwd=run.cwd, env=env, capture_output=True, check=True)
        found = re.search(rb"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"valgrind counted nothing for {name}: {done.stderr.decode()[-400:]}")
        counts[name] = int(found.group(1))
    return counts


def _service(scratch: Path, name: str, almgen: list[str], env: dict[str, str]) -> tuple[Path, Path]:
    """Two copies of the sample: one generated (for check), one emptied before each generate."""
    work, checked = scratch / name, scratch / f"{name}-checked"
    shutil.copytree(SAMPLE, work)
    shutil.copytree(SAMPLE, checked)
    subprocess.run([*almgen, "generate"], cwd=checked, check=True, capture_output=True, env=env)
    return work, checked


def _emptied(work: Path) -> Callable[[], None]:
    def empty() -> None:
        for name in ("infra", ".github", ".azure-pipelines", ".almgen", "docs"):
            shutil.rmtree(work / name, ignore_errors=True)

    return empty


def _almgen_runs(
    name: str, almgen: list[str], scratch: Path, env: dict[str, str], uv: str | None = None
) -> dict[str, Run]:
    work, checked = _service(scratch, "baseline" if name else "service", almgen, env)
    runs = {
        f"check{name}": Run([*almgen, "check", str(checked / "almgen.yaml")], work, env),
        f"generate{name}": Run([*almgen, "generate"], work, env, _emptied(work)),
    }
    if not name:  # beside this tree's check: the same check, started without pip's launcher
        runs |= _launcher_runs(checked, uv)
        floor = scratch / "written"  # and the same files written without almgen
        floor.mkdir()
        writes = [sys.executable, str(Path(__file__).with_name("write_floor.py")), str(checked), str(floor)]
        runs["writes"] = Run(writes, scratch, prepare=_emptied(floor))
    return runs


def _launcher_runs(checked: Path, uv: str | None) -> dict[str, Run]:
    """The clean check of CHECKED started by a launcher that does not import `re`: uv's, in a venv
    of this Python that `uv pip install` filled (and its own start-up), else `python -c`."""
    scratch, spec = checked.parent, str(checked / "almgen.yaml")
    if not uv:  # none on PATH, or --uv ""
        return {"check-no-launcher": Run([sys.executable, "-c", NO_LAUNCHER, "check", spec], checked)}
    venv = scratch / "uv-venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    installing = {**ENV, "VIRTUAL_ENV": str(venv)}
    subprocess.run([uv, "pip", "install", "--quiet", str(REPO)], check=True, env=installing)
    python, almgen = venv / "bin" / "python", venv / "bin" / "almgen"
    return {
        "uv-start": Run([str(python), "-c", "pass"], scratch),
        "check-no-launcher": Run([str(almgen), "check", spec], checked),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also time an older almgen's source tree (e.g. from `git archive`), side by side",
    )
    parser.add_argument(
        "--uv",
        default=shutil.which("uv"),
        help='uv, to time the check through uv\'s launcher (default: uv on PATH; "": python -c instead)',
    )
    clocks = parser.add_mutually_exclusive_group()
    clocks.add_argument(
        "--cpu",
        action="store_true",
        help="time processor use instead of wall time (steadier on a busy machine; no disk waits)",
    )
    clocks.add_argument(
        "--instructions",
        action="store_true",
        help="count the instructions each command executes (valgrind; the same on any machine load)",
    )
    args = parser.parse_args()
    python = sys.executable
    executable = Path(python).with_name("almgen")
    almgen = [str(executable)] if executable.is_file() else [python, "-m", "generator"]
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        runs = {
            "start": Run([python, "-c", "pass"], scratch),
            "stdlib": Run([python, "-c", FAST_PATH_STDLIB], scratch),
            "libraries": Run([python, "-c", LIBRARIES], scratch),
            "loaded": Run([python, "-c", LOADED], scratch),
            **_almgen_runs("", almgen, scratch, ENV, args.uv),
        }
        if args.baseline:
            old = {**ENV, "PYTHONPATH": str(args.baseline.resolve())}
            runs |= _almgen_runs(" (baseline)", [python, "-m", "generator"], scratch, old)
        unit: Callable[[float], str] = _millions if args.instructions else _milliseconds
        if args.instructions:
            medians, measured = counted(runs), "one run each, instructions (valgrind, Ir)"
        else:
            medians = timed_side_by_side(runs, args.runs, cpu=args.cpu)
            measured = f"{args.runs} rounds, {'CPU time' if args.cpu else 'wall time'}"
    _print(medians, measured, unit)
    return 0


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _millions(count: float) -> str:
    return f"{count / 1e6:.0f} M"


def _print(medians: dict[str, float], measured: str, unit: Callable[[float], str]) -> None:
    start, libraries = medians["start"], medians["libraries"]
    rows = [
        ("python -c pass", start, ""),
        (f"python -c '{FAST_PATH_STDLIB}'", medians["stdlib"], f"{medians['stdlib'] / start:.2f}x"),
        (f"python -c '{LIBRARIES}'", libraries, ""),
        (f"python -c '{LOADED}'", medians["loaded"], ""),
    ]
    for suffix in ("", " (baseline)"):
        if f"check{suffix}" not in medians:
            continue
        check, generate = medians[f"check{suffix}"], medians[f"generate{suffix}"]
        loaded = generate / medians["loaded"]
        ratio = f"{generate / libraries:.2f}x library imports ({loaded:.2f}x those it loads)"
        if "writes" in medians:  # the files' writing set aside: the floor beyond its own start
            rest = (generate - (medians["writes"] - start)) / libraries
            ratio += f"; {rest:.2f}x without the cost of writing its files"
        rows += [
            (f"almgen check{suffix} (clean, fast path)", check, f"{check / start:.2f}x interpreter start"),
            (f"almgen generate{suffix} (enterprise sample, from scratch)", generate, ratio),
        ]
        if not suffix:  # beside the check: the same fast path, started without pip's launcher
            rows.insert(-1, _without_pips_launcher(medians, start, unit))
            writes = "its files written alone (temporary file, fsync, rename), by python without almgen"
            beyond = f"{(medians['writes'] - start) / libraries:.2f}x library imports, beyond its start"
            rows.append((writes, medians["writes"], beyond))
    load, version = os.getloadavg()[0], sys.version.split()[0]
    print(f"{measured}, {os.cpu_count()} cores, Python {version}, load average {load:.2f}")
    print()
    print("| command | measured | ratio |")
    print("| --- | --- | --- |")
    for name, value, ratio in rows:
        print(f"| `{name}` | {unit(value)} | {ratio} |")


def _without_pips_launcher(
    medians: dict[str, float], start: float, unit: Callable[[float], str]
) -> tuple[str, float, str]:
    alone = medians["check-no-launcher"]
    if "uv-start" not in medians:
        name = "almgen check (clean, fast path) without the launcher's re, via python -c"
        return (name, alone, f"{alone / start:.2f}x")
    own = medians["uv-start"]
    name = "almgen check (clean, fast path) through uv's launcher (installed by uv pip install)"
    return (name, alone, f"{alone / own:.2f}x that venv's interpreter start ({unit(own)})")


if __name__ == "__main__":
    sys.exit(main())
