"""The fuzz run (slow tier): 5,000 mutated samples through validate + generate, in process.

Every case must end as `almgen generate --dry-run` may: 0 (generated) or 3 (a located error).
An exit 4 (a traceback, "this is a bug") or a case over 10 s fails the run, which names each
failing case's seed and keeps its spec under the test's temporary folder. The run is seeded:
`ALMGEN_FUZZ_SEED` and `ALMGEN_FUZZ_CASES` replay or widen it. About 30 ms a case on one core.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator.errors import ExitCode
from tests.conftest import SAMPLES
from tests.fuzzing import as_text, mutate, run_case

CASES = int(os.environ.get("ALMGEN_FUZZ_CASES", "5000"))
SEED = int(os.environ.get("ALMGEN_FUZZ_SEED", "15"))
CASE_SECONDS = 10


def _samples(tmp_path: Path) -> list[tuple[Any, Path]]:
    """Each sample's data and the spec path in a copy of its folder (the files it names exist)."""
    found = []
    for folder in sorted(p for p in SAMPLES.iterdir() if (p / "almgen.yaml").is_file()):
        shutil.copytree(folder, tmp_path / folder.name)
        data = YAML(typ="safe").load((folder / "almgen.yaml").read_text("utf-8"))
        found.append((data, tmp_path / folder.name / "almgen.yaml"))
    return found


@pytest.mark.slow
def test_mutated_specs_never_end_in_exit_4_nor_hang(tmp_path: Path) -> None:
    samples = _samples(tmp_path / "samples")
    failing = tmp_path / "failing"
    failing.mkdir()
    outcomes: Counter[int] = Counter()
    failures: list[str] = []
    for case in range(CASES):
        rng = random.Random(f"{SEED}-{case}")
        data, spec = samples[case % len(samples)]
        text = as_text(mutate(rng, data))
        spec.write_text(text, "utf-8")
        outcome = run_case(spec, CASE_SECONDS)
        outcomes[outcome.exit_code] += 1
        if outcome.exit_code not in (ExitCode.OK, ExitCode.INVALID):
            kept = failing / f"case-{case}.{spec.parent.name}.yaml"
            kept.write_text(text, "utf-8")
            failures.append(f"case {case} ({kept}): exit {outcome.exit_code}\n{outcome.detail}")
    assert not failures, f"{len(failures)} of {CASES} cases failed (seed {SEED}):\n" + "\n".join(failures[:5])
    assert outcomes[ExitCode.OK] > 0, f"no mutated spec reached generate: {outcomes}"
