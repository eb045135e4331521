"""Speed goals of almgen, as ratios to what the machine can do anyway.

- the clean `almgen check` (the pre-commit fast path) within 5x of interpreter start-up;
- a full `almgen generate` within 1.5x of importing the libraries it uses.

Each command runs in a fresh process, several times; the median wall time is reported.
Run: python benchmarks/run.py [--runs N]   (prints the Markdown table of benchmarks/README.md)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "enterprise"
LIBRARIES = "import click, jinja2, jsonschema, ruamel.yaml, yaml"


def timed(command: list[str], cwd: Path, runs: int, prepare: object = None) -> float:
    samples = []
    for _ in range(runs):
        if callable(prepare):
            prepare()
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "service"
        shutil.copytree(SAMPLE, work)
        almgen = [python, "-m", "generator"]
        subprocess.run([*almgen, "generate"], cwd=work, check=True, capture_output=True)

        def fresh() -> None:
            for name in ("infra", ".github", ".azure-pipelines", ".almgen", "docs"):
                shutil.rmtree(work / name, ignore_errors=True)

        start = timed([python, "-c", "pass"], work, runs)
        check = timed([*almgen, "check"], work, runs)
        imports = timed([python, "-c", LIBRARIES], work, runs)
        generate = timed([*almgen, "generate"], work, runs, prepare=fresh)
    rows = [
        ("python -c pass", start, "", ""),
        ("almgen check (clean, fast path)", check, f"{check / start:.1f}x interpreter start", "5x"),
        (f"python -c '{LIBRARIES}'", imports, "", ""),
        (
            "almgen generate (enterprise sample, from scratch)",
            generate,
            f"{generate / imports:.2f}x library imports",
            "1.5x",
        ),
    ]
    print("| command | median | ratio | goal |")
    print("| --- | --- | --- | --- |")
    for name, seconds, ratio, goal in rows:
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {ratio} | {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
