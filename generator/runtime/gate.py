"""Threshold gate: compare evaluation or safety results with the thresholds in `.almgen/gates.json`.

Usage: `python gate.py evaluation|safety --results FILE [--env ENV] [--gates PATH] [--verdict PATH]`

The gate fails closed. Anything that keeps it from proving every threshold holds is a failure
(exit 1): an unreadable or non-JSON results file, results that are not an object, a missing or
ambiguous metric, a value that is not a finite number (NaN, infinity, a bool, a string, null), a
gate absent from gates.json, a malformed threshold, an empty threshold set, a key given twice in
one object, a file that is not a regular file, larger than 64 MiB (gates.json: 1 MiB) or nested
deeper than 64 levels. Integers of any size are read as numbers (too large ones are infinite and
fail). Exit 2 is a usage error. Whatever the input, the verdict file is written (failing, with the
reason), unless its own path cannot be written.

Results are a flat `{metric: number}` object or azure-ai-evaluation's `{"metrics": {...}, "rows":
[...]}` (then only `metrics` is read). A threshold's metric NAME is looked up in this order:

1. `NAME` as written (a flat results file, or a full SDK key such as `groundedness.groundedness`);
2. `NAME.NAME`: the SDK's aggregate key of an evaluator aliased by its metric (`groundedness.groundedness`);
3. the single key ending in `.NAME` (`violence.violence_defect_rate` for `violence_defect_rate`).
   Two or more such keys are ambiguous: the gate fails and names them.

Thresholds are `"<op> <number>"`, op one of `>= > <= < ==`; `==` compares with a relative
tolerance of 1e-9 because results are floating-point means.

Output: a Markdown table on stdout, appended to `$GITHUB_STEP_SUMMARY` when set. On Azure DevOps
(`TF_BUILD` set) the table is also written to `$AGENT_TEMPDIRECTORY` (or the current directory) and
published with `##vso[task.uploadsummary]`, and the output variable `passed` is set. A verdict JSON
(gate, env, passed, rows, sha256 of the results file) is written next to the results for the release
record: `results.json` gives `results.gate.json` (other names get `.gate.json` appended).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OPERATORS = (">=", "<=", "==", ">", "<")
THRESHOLD = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
GATES = ("evaluation", "safety")
MAX_RESULTS_BYTES = 64 * 1024 * 1024
MAX_GATES_BYTES = 1024 * 1024
MAX_DEPTH = 64


class GateInputError(Exception):
    """An input that keeps the gate from judging any metric (the gate fails, it never crashes).

    `digest` is the sha256 of the file's bytes when they could be read.
    """

    def __init__(self, message: str, digest: str | None = None) -> None:
        super().__init__(message)
        self.digest = digest


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: which value counts would be a guess."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(f"key {json.dumps(key)} appears twice in one object")
        result[key] = value
    return result


def _depth(document: object) -> int:
    """How deeply arrays and objects nest (iterative: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in node)
    return deepest


def read_json(path: Path, limit: int, what: str) -> tuple[object, str]:
    """(document, sha256 of the bytes) of a bounded regular file; GateInputError says why not.

    Integers are read as floats (a 5,000-digit integer is infinity, not a crash), a duplicate key
    or nesting deeper than MAX_DEPTH is refused.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise GateInputError(f"cannot read {what} {path}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise GateInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > limit:
        raise GateInputError(f"{what} {path} is larger than {limit} bytes", digest)
    try:
        document = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_unique_object, parse_int=float)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError and DuplicateKey are ValueErrors
        raise GateInputError(f"{what} {path} is not valid JSON: {exc}", digest) from exc
    except RecursionError as exc:
        raise GateInputError(f"{what} {path} is nested deeper than {MAX_DEPTH} levels", digest) from exc
    if _depth(document) > MAX_DEPTH:
        raise GateInputError(f"{what} {path} is nested deeper than {MAX_DEPTH} levels", digest)
    return document, digest


@dataclass(frozen=True)
class Row:
    """One threshold's outcome; `key` is the results key the metric resolved to."""

    metric: str
    threshold: str
    actual: float | None
    key: str | None
    passed: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    gate: str
    env: str | None
    passed: bool
    rows: list[Row]
    errors: list[str]
    results: str
    results_sha256: str | None


def parse_threshold(text: object) -> tuple[str, float]:
    """`">= 4.0"` -> (">=", 4.0); anything else raises ValueError with the reason."""
    if not isinstance(text, str):
        raise ValueError(f"threshold must be a string like '>= 4.0', got {json.dumps(text)}")
    match = THRESHOLD.match(text)
    if not match:
        raise ValueError(f"malformed threshold {text!r}: expected '<op> <number>', op one of >= > <= < ==")
    return match.group(1), float(match.group(2))


def holds(actual: float, op: str, limit: float) -> bool:
    if op == ">=":
        return actual >= limit
    if op == ">":
        return actual > limit
    if op == "<=":
        return actual <= limit
    if op == "<":
        return actual < limit
    return math.isclose(actual, limit, rel_tol=1e-9, abs_tol=1e-12)


def metrics_of(results: object) -> dict[str, Any]:
    """The metric map of a results document: its `metrics` object if it has one, else itself."""
    if not isinstance(results, dict):
        raise GateInputError(f"results must be a JSON object, got {type(results).__name__}")
    if "metrics" in results:
        metrics = results["metrics"]
        if not isinstance(metrics, dict):
            raise GateInputError("results 'metrics' must be a JSON object")
        return metrics
    return results


def resolve_key(name: str, metrics: dict[str, Any]) -> str:
    """The results key of metric NAME by the documented lookup rule; LookupError when none or several."""
    if name in metrics:
        return name
    if f"{name}.{name}" in metrics:
        return f"{name}.{name}"
    candidates = sorted(key for key in metrics if key.endswith(f".{name}"))
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise LookupError(f"ambiguous: several keys match ({', '.join(candidates)}); name one in gates.json")
    raise LookupError(f"not found in results (tried {name}, {name}.{name}, *.{name})")


def number(value: object) -> float:
    """A finite number, or ValueError: bools, strings, null, NaN and infinities never pass a gate."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {json.dumps(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf if value > 0 else -math.inf
    if not math.isfinite(result):
        raise ValueError(f"not a finite number: {value}")
    return result


def judge(metric: str, threshold: object, metrics: dict[str, Any] | None) -> Row:
    """One row. `metrics` is None when the results could not be read (the gate's errors say why)."""
    shown = threshold if isinstance(threshold, str) else json.dumps(threshold)
    try:
        op, limit = parse_threshold(threshold)
    except ValueError as exc:
        return Row(metric, shown, None, None, False, str(exc))
    if metrics is None:
        return Row(metric, shown, None, None, False, "no usable results")
    try:
        key = resolve_key(metric, metrics)
    except LookupError as exc:
        return Row(metric, shown, None, None, False, str(exc))
    try:
        actual = number(metrics[key])
    except ValueError as exc:
        return Row(metric, shown, None, key, False, f"{key}: {exc}")
    passed = holds(actual, op, limit)
    return Row(metric, shown, actual, key, passed, "" if passed else f"{actual:g} is not {op} {limit:g}")


def load_thresholds(gates_path: Path, gate: str) -> dict[str, object]:
    """The gate's threshold map from gates.json; GateInputError when absent, malformed or empty."""
    document, _ = read_json(gates_path, MAX_GATES_BYTES, "gates file")
    section = document.get(gate) if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise GateInputError(f"gate {gate!r} is not defined in {gates_path}")
    thresholds = section.get("thresholds")
    if not isinstance(thresholds, dict):
        raise GateInputError(f"gate {gate!r} in {gates_path} has no 'thresholds' object")
    if not thresholds:
        raise GateInputError(f"gate {gate!r} in {gates_path} has no thresholds: nothing would be checked")
    return thresholds


def read_results(path: Path) -> tuple[dict[str, Any] | None, str | None, str]:
    """(metric map or None, sha256 of the bytes or None, the reason when the map is None)."""
    try:
        document, digest = read_json(path, MAX_RESULTS_BYTES, "results")
    except GateInputError as exc:
        return None, exc.digest, str(exc)
    try:
        return metrics_of(document), digest, ""
    except GateInputError as exc:
        return None, digest, str(exc)


def evaluate(gate: str, env: str | None, gates_path: Path, results_path: Path) -> Verdict:
    """Judge every threshold; gate-level problems become errors, and any error fails the gate."""
    errors: list[str] = []
    try:
        thresholds = load_thresholds(gates_path, gate)
    except GateInputError as exc:
        errors.append(str(exc))
        thresholds = {}
    metrics, digest, reason = read_results(results_path)
    if metrics is None:
        errors.append(reason)
    rows = [judge(metric, threshold, metrics) for metric, threshold in thresholds.items()]
    passed = not errors and all(row.passed for row in rows)
    return Verdict(gate, env, passed, rows, errors, str(results_path), digest)


def cell(text: str) -> str:
    """A Markdown table cell: pipes escaped and line breaks flattened."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(verdict: Verdict) -> str:
    """The Markdown summary: a heading, the table, then every failure reason."""
    title = f"{verdict.gate} gate" + (f" ({verdict.env})" if verdict.env else "")
    status = "PASSED" if verdict.passed else "FAILED"
    lines = [
        f"### {cell(title)}: {status}",
        "",
        "| metric | threshold | actual | result |",
        "|---|---|---|---|",
    ]
    for row in verdict.rows:
        actual = "n/a" if row.actual is None else f"{row.actual:g}"
        result = "PASS" if row.passed else "FAIL"
        lines.append(f"| {cell(row.metric)} | {cell(row.threshold)} | {actual} | {result} |")
    reasons = [*verdict.errors, *(f"{row.metric}: {row.reason}" for row in verdict.rows if row.reason)]
    if reasons:
        lines.extend(["", *(f"- {cell(reason)}" for reason in reasons)])
    return "\n".join(lines) + "\n"


def verdict_path(results: Path) -> Path:
    """`x.json` -> `x.gate.json`; any other name gets `.gate.json` appended."""
    if results.suffix.lower() == ".json":
        return results.with_name(results.stem + ".gate.json")
    return results.with_name(results.name + ".gate.json")


def verdict_json(verdict: Verdict) -> str:
    document = {
        "gate": verdict.gate,
        "env": verdict.env,
        "passed": verdict.passed,
        "results": verdict.results,
        "resultsSha256": verdict.results_sha256,
        "errors": verdict.errors,
        "rows": [asdict(row) for row in verdict.rows],
    }
    return json.dumps(document, indent=2) + "\n"


def publish(verdict: Verdict, markdown: str, verdict_file: Path) -> list[str]:
    """Write the summary and verdict where CI looks for them; returns the write failures."""
    problems: list[str] = []
    sys.stdout.write(markdown)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    try:
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
    except OSError as exc:
        problems.append(f"cannot append to GITHUB_STEP_SUMMARY: {exc}")
    if os.environ.get("TF_BUILD"):
        folder = Path(os.environ.get("AGENT_TEMPDIRECTORY") or ".")
        name = f"almgen-gate-{verdict.gate}" + (f"-{verdict.env}" if verdict.env else "") + ".md"
        path = (folder / re.sub(r"[^A-Za-z0-9_.-]", "_", name)).resolve()
        try:
            path.write_text(markdown, "utf-8")
            print(f"##vso[task.uploadsummary]{path}")
        except OSError as exc:
            problems.append(f"cannot write the summary file {path}: {exc}")
        print(f"##vso[task.setvariable variable=passed;isOutput=true]{str(verdict.passed).lower()}")
    try:
        verdict_file.write_text(verdict_json(verdict), "utf-8")
    except OSError as exc:
        problems.append(f"cannot write the verdict {verdict_file}: {exc}")
    return problems


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="gate.py",
        description="Fail the pipeline unless every threshold of the gate holds (fails closed).",
    )
    result.add_argument("gate", choices=GATES, help="which gate of gates.json to apply")
    result.add_argument("--results", required=True, type=Path, help="results JSON, flat or SDK")
    result.add_argument("--env", help="environment name, for the summary and the verdict")
    result.add_argument("--gates", type=Path, default=Path(".almgen/gates.json"), help="thresholds file")
    result.add_argument("--verdict", type=Path, help="verdict JSON path (default: next to the results)")
    return result


def safe_evaluate(gate: str, env: str | None, gates_path: Path, results_path: Path) -> Verdict:
    """`evaluate`, except that an unforeseen error is a failed verdict with the reason, never a crash."""
    try:
        return evaluate(gate, env, gates_path, results_path)
    except Exception as exc:  # fail closed: the verdict file must still be written
        reason = f"the gate could not judge the results: {type(exc).__name__}: {exc}"
        return Verdict(gate, env, False, [], [reason], str(results_path), None)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    verdict = safe_evaluate(args.gate, args.env, args.gates, args.results)
    problems = publish(verdict, table(verdict), args.verdict or verdict_path(args.results))
    for reason in [*verdict.errors, *(f"{row.metric}: {row.reason}" for row in verdict.rows if row.reason)]:
        print(f"gate {verdict.gate}: FAIL: {reason}", file=sys.stderr)
    for problem in problems:
        print(f"gate {verdict.gate}: {problem}", file=sys.stderr)
    return 0 if verdict.passed and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
