"""An A/B test's evaluation: both variants' scores on the evaluation gate's metrics (abtest.py).

The pipeline runs the evaluation gate's own command against each variant, as the gate runs it (a
contract naming the serving deployments, then the candidates; `run.py gate evaluation`), and
abtest.py compares the two results files here. Scores are found as gate.py finds them
(`resolve_key`, `number`); a file the gate cannot read or a missing score is no score, and the
candidate cannot win on it.

The rule (`reasons`): on every metric of the evaluation gate's thresholds the candidate meets the
threshold and scores no worse than the serving version by more than TOLERANCE % of the serving
version's score: lower for a `>=` or `>` threshold, higher for `<=` or `<`; `==` is only checked.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

if __package__:
    from . import common, gate
else:  # imported by .almgen/scripts/abtest.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    gate = importlib.import_module("gate")


def scores(path: Path) -> dict[str, Any]:
    """The metric map of a variant's evaluation results; {} when they cannot be read (no score then)."""
    try:
        document, _digest = gate.read_json(path, gate.MAX_RESULTS_BYTES, "evaluation results")
        return gate.metrics_of(document)
    except gate.GateInputError as exc:
        print(f"abtest: {exc}", file=sys.stderr)
        return {}


def score(metrics: dict[str, Any], name: str) -> float | None:
    """NAME's score by the gate's lookup rule; None when it is missing, ambiguous or not a number."""
    try:
        return gate.number(metrics[gate.resolve_key(name, metrics)])
    except (LookupError, ValueError):
        return None


def rows(
    thresholds: dict[str, Any], serving: dict[str, Any], candidate: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per gated metric: its threshold and both variants' scores."""
    return [
        {
            "metric": name,
            "threshold": str(text),
            "serving": score(serving, name),
            "candidate": score(candidate, name),
        }
        for name, text in thresholds.items()
    ]


def reasons(evaluation: list[dict[str, Any]], tolerance_percent: float) -> list[str]:
    """Why the candidate loses on the evaluation; empty when it scores as well (within the tolerance)."""
    found = []
    for row in evaluation:
        name, mine, theirs = row["metric"], row["candidate"], row["serving"]
        op, limit = gate.parse_threshold(row["threshold"])
        if mine is None or theirs is None:
            found.append(f"evaluation: no {name} score for both variants")
            continue
        if not gate.holds(mine, op, limit):
            found.append(f"evaluation: the candidate's {name} {mine:g} misses the gate's {op} {limit:g}")
        allowed = abs(theirs) * tolerance_percent / 100.0
        if (op in (">=", ">") and mine < theirs - allowed) or (op in ("<=", "<") and mine > theirs + allowed):
            found.append(
                f"evaluation: the candidate's {name} {mine:g} is worse than the serving version's "
                f"{theirs:g} by more than {tolerance_percent:g}%"
            )
    return found


def evaluated(
    gates: Path | None, serving: Path | None, candidate: Path | None
) -> list[dict[str, Any]] | None:
    """Both variants' evaluation scores on the evaluation gate's metrics (None: no evaluation)."""
    if gates is None and serving is None and candidate is None:
        return None
    if gates is None or serving is None or candidate is None:
        raise common.InputError("--gates, --evaluation-serving and --evaluation-candidate go together")
    table = common.read_object(gates, "gates.json")
    thresholds = (table.get("evaluation") or {}).get("thresholds") if isinstance(table, dict) else None
    if not isinstance(thresholds, dict) or not thresholds:
        raise common.InputError(f"{gates} names no evaluation thresholds")
    for text in thresholds.values():
        try:
            gate.parse_threshold(text)
        except ValueError as exc:
            raise common.InputError(f"{gates}: {exc}") from exc
    return rows(thresholds, scores(serving), scores(candidate))
