"""What a rehearsal runs in place of the user's commands and of tool installs.

The spec's test and gate commands call the service (pytest against the endpoint, an
evaluation with an AI judge); a rehearsal has no service, so `rehearse` generates the pipeline
from a copy of the spec whose commands are `python -m generator.rehearse.stand_ins test NAME`
or `... gate KIND`. Everything else in the generated files is byte-identical to what the user's
spec generates. A test passes and a gate writes results that meet every threshold of
`.almgen/gates.json`, unless a fault says otherwise; each records itself on the timeline.

`python -m generator.rehearse.stand_ins pip ...` stands in for `python -m pip install` (and
`download`): a rehearsal installs and downloads nothing, it records the pin it was asked for; so
a command's `setup: {requirements: FILE}` runs as written (through the pip stand-in), and a
`setup: {command: ...}` is swapped for `... setup NAME`, which records itself. Test and gate
stand-ins record the environment contract they were given (`contract` on their timeline entry).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from generator.rehearse.world import from_environ

_PASSING = {">=": 1.0, ">": 1.0, "<=": -1.0, "<": -1.0, "==": 0.0}  # nudge inside the threshold


def _threshold_value(text: str, passing: bool) -> float:
    """A value that meets (or, failing, misses) a threshold such as '>= 4.0'."""
    operator, number = text.split(maxsplit=1)
    value = float(number)
    step = _PASSING[operator] * max(abs(value) * 0.05, 0.001)
    if operator == "==":
        return value if passing else value + 1
    return value + step if passing else value - step * 4


def _gate_results(kind: str, gates_file: Path, passing: bool) -> dict[str, float]:
    table: dict[str, Any] = json.loads(gates_file.read_text("utf-8"))
    thresholds = table[kind]["thresholds"]
    return {metric: _threshold_value(text, passing) for metric, text in thresholds.items()}


CONTRACT_PREFIXES = ("ALMGEN_", "AZURE_OPENAI_", "AZURE_AI_PROJECT_")


def contract() -> dict[str, str]:
    """What the command was told about the environment: the contract's variables (docs/alm/CONTRACT.md)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(CONTRACT_PREFIXES)}


def _fault(kind: str, env: str, key: str, name: str) -> bool:
    return any(
        f.get("kind") == kind and f.get("env") == env and f.get(key) == name for f in from_environ().faults()
    )


def _worse(results: dict[str, float], gates_file: Path) -> dict[str, float]:
    """The evaluation of an A/B test's candidate under `ENV:ab-evaluation:worse`: every score 20 %
    of the way to the wrong side (lower for a `>=` threshold, higher for `<=`)."""
    thresholds = json.loads(gates_file.read_text("utf-8"))["evaluation"]["thresholds"]
    sign = {metric: -1.0 if text.split()[0] in (">=", ">") else 1.0 for metric, text in thresholds.items()}
    return {metric: value + sign.get(metric, 0.0) * abs(value) * 0.2 for metric, value in results.items()}


def gate(kind: str) -> int:
    """A gate's command: before an environment (the gates job), or in an A/B test's finish job
    against one variant (no ALMGEN_GATED_ENVIRONMENT; the contract's ALMGEN_TARGET names it)."""
    world = from_environ()
    # the release's gate judges the environment it gates; the lifecycle's production evaluation
    # (quality.py, which alone sets ALMGEN_RESULTS) the environment it calls, with the repository's
    # own .almgen/; an A/B test's evaluation (neither) one variant of the environment it runs in
    gated = os.environ.get("ALMGEN_GATED_ENVIRONMENT") or (
        os.environ.get("ALMGEN_ENVIRONMENT", "") if "ALMGEN_RESULTS" in os.environ else ""
    )
    passing = not _fault("gate", gated, "gate", kind)
    default = (
        "release/.almgen/gates.json" if Path("release/.almgen/gates.json").is_file() else ".almgen/gates.json"
    )
    gates_file = Path(os.environ.get("ALMGEN_GATES_FILE", default))
    results = _gate_results(kind, gates_file, passing)
    variant = "" if gated else os.environ.get("ALMGEN_TARGET", "")
    tested = os.environ.get("ALMGEN_ENVIRONMENT", "")
    if variant == "candidate" and any(
        f.get("kind") == "ab-evaluation" and f.get("env") == tested for f in world.faults()
    ):
        results = _worse(results, gates_file)
    out = os.environ.get("ALMGEN_RESULTS") or os.environ.get(
        "ALMGEN_EVAL_RESULTS" if kind == "evaluation" else "ALMGEN_SAFETY_RESULTS", ""
    )
    if not out:
        print(f"stand-in gate {kind}: no results path in the environment", file=sys.stderr)
        return 2
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    if variant:  # an A/B test's evaluation of one variant, not a gate before an environment
        world.record("ab-evaluation", env=tested, variant=variant, scores=results, contract=contract())
        print(f"stand-in gate {kind} of the {variant} variant in {tested}: wrote {out}")
        return 0
    world.record(
        "gate-run", env=gated, gate=kind, scores=results, injected_failure=not passing, contract=contract()
    )
    print(f"stand-in gate {kind} before {gated}: wrote {out}")
    return 0  # the gate script (gate.py) decides; the command only measures


def test(name: str) -> int:
    world = from_environ()
    env = os.environ.get("ALMGEN_ENVIRONMENT", "")
    failing = _fault("test", env, "test", name)
    world.record(
        "test",
        env=env,
        test=name,
        target=os.environ.get("ALMGEN_TARGET", ""),
        endpoint=os.environ.get("ALMGEN_ENDPOINT", ""),
        outcome="failure" if failing else "success",
        contract=contract(),
    )
    print(f"stand-in test {name} in {env}: {'FAILED (injected)' if failing else 'passed'}")
    return 1 if failing else 0


def pip(argv: list[str]) -> int:
    world = from_environ()
    pins = [a for a in argv if "==" in a or " @ " in a or a.startswith(("git+", "https://"))]
    world.record("install", packages=pins or argv)
    print(f"rehearsal: not installed (recorded): {' '.join(argv)}")
    return 0


def setup(name: str) -> int:
    """Stands in for a `setup: {command: ...}` (a requirements file goes through the pip stand-in)."""
    from_environ().record("setup", command=name, env=os.environ.get("ALMGEN_ENVIRONMENT", ""))
    print(f"rehearsal: setup of {name} not run (recorded)")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "test":
        return test(argv[1])
    if len(argv) >= 2 and argv[0] == "gate":
        return gate(argv[1])
    if len(argv) >= 2 and argv[0] == "setup":
        return setup(argv[1])
    if argv and argv[0] == "pip":
        return pip(argv[1:])
    print(
        "usage: python -m generator.rehearse.stand_ins test NAME | gate KIND | setup NAME | pip ARGS",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
