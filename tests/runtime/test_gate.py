"""The threshold gate: passes, breaches, every fail-closed case, metric lookup and CI outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import gate

GATES = {
    "evaluation": {"thresholds": {"groundedness": ">= 4.0", "latency_p95_ms": "<= 2500"}},
    "safety": {"thresholds": {"violence_defect_rate": "<= 0.01"}},
}


def write(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
    return path


def run(
    tmp_path: Path, results: Any, gates: Any = None, name: str = "evaluation", extra: list[str] | None = None
) -> int:
    gates_file = write(tmp_path / "gates.json", GATES if gates is None else gates)
    results_file = tmp_path / "results.json"
    if results is not None:
        write(results_file, results)
    argv = [name, "--results", str(results_file), "--gates", str(gates_file), *(extra or [])]
    return gate.main(argv)


def verdict(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((tmp_path / "results.gate.json").read_text("utf-8"))
    return document


def test_flat_results_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, {"groundedness": 4.2, "latency_p95_ms": 1800}, extra=["--env", "staging"]) == 0
    out = capsys.readouterr().out
    assert "### evaluation gate (staging): PASSED" in out
    assert "| groundedness | >= 4.0 | 4.2 | PASS |" in out
    assert "| latency_p95_ms | <= 2500 | 1800 | PASS |" in out


def test_sdk_results_pass(tmp_path: Path) -> None:
    results = {
        "metrics": {
            "groundedness.groundedness": 4.5,
            "groundedness.binary_aggregate": 1.0,
            "latency_p95_ms": 900,
        },
        "rows": [{"outputs.groundedness.groundedness": 5}],
    }
    assert run(tmp_path, results) == 0
    rows = {row["metric"]: row for row in verdict(tmp_path)["rows"]}
    assert rows["groundedness"]["key"] == "groundedness.groundedness"


@pytest.mark.parametrize(("retrieval", "passed"), [(4.0, 0), (2.5, 1)])
def test_retrieval_metrics_of_azure_ai_evaluation_gate_a_release(
    tmp_path: Path, retrieval: float, passed: int
) -> None:
    """RetrievalEvaluator's `retrieval` and GroundednessEvaluator with context, as the SDK writes them."""
    gates = {"evaluation": {"thresholds": {"retrieval": ">= 3.0", "groundedness": ">= 4.0"}}}
    results = {"metrics": {"retrieval.retrieval": retrieval, "groundedness.groundedness": 4.4}}
    assert run(tmp_path, results, gates) == passed
    rows = {row["metric"]: row for row in verdict(tmp_path)["rows"]}
    assert rows["retrieval"]["key"] == "retrieval.retrieval"


@pytest.mark.parametrize(
    ("threshold", "actual", "passed"),
    [
        (">= 4", 4.0, True),
        (">= 4", 3.99, False),
        ("> 4", 4.01, True),
        ("> 4", 4.0, False),
        ("<= 0.01", 0.01, True),
        ("<= 0.01", 0.011, False),
        ("< 1", 0.5, True),
        ("< 1", 1, False),
        ("== 1", 1.0, True),
        ("== 1", 0.999, False),
        (">= -1.5e1", -15, True),
    ],
)
def test_each_operator(tmp_path: Path, threshold: str, actual: float, passed: bool) -> None:
    gates = {"evaluation": {"thresholds": {"m": threshold}}}
    assert run(tmp_path, {"m": actual}, gates) == (0 if passed else 1)
    assert verdict(tmp_path)["rows"][0]["passed"] is passed


def test_breach_names_metric_and_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, {"groundedness": 3.1, "latency_p95_ms": 3000}) == 1
    captured = capsys.readouterr()
    assert "| groundedness | >= 4.0 | 3.1 | FAIL |" in captured.out
    assert "groundedness: 3.1 is not >= 4" in captured.err
    assert "latency_p95_ms: 3000 is not <= 2500" in captured.err


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        ("{not json", "is not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"metrics": [1]}, "'metrics' must be a JSON object"),
        ({"latency_p95_ms": 1}, "groundedness: not found in results"),
        ('{"groundedness": NaN, "latency_p95_ms": 1}', "not a finite number"),
        ('{"groundedness": Infinity, "latency_p95_ms": 1}', "not a finite number"),
        ({"groundedness": True, "latency_p95_ms": 1}, "not a number: true"),
        ({"groundedness": "4.5", "latency_p95_ms": 1}, 'not a number: "4.5"'),
        ({"groundedness": None, "latency_p95_ms": 1}, "not a number: null"),
        ({"groundedness": [4.5], "latency_p95_ms": 1}, "not a number"),
    ],
    ids=[
        "non-json",
        "not-object",
        "metrics-not-object",
        "missing",
        "nan",
        "inf",
        "bool",
        "string",
        "null",
        "list",
    ],
)
def test_fails_closed_on_bad_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results: Any, reason: str
) -> None:
    assert run(tmp_path, results) == 1
    captured = capsys.readouterr()
    assert reason in captured.err
    assert "Traceback" not in captured.err
    assert "FAILED" in captured.out
    assert verdict(tmp_path)["passed"] is False


def test_fails_closed_on_missing_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, None) == 1
    captured = capsys.readouterr()
    assert "cannot read results" in captured.err
    assert "| groundedness | >= 4.0 | n/a | FAIL |" in captured.out
    assert verdict(tmp_path)["resultsSha256"] is None


def test_fails_closed_on_unreadable_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results.json").mkdir()
    gates_file = write(tmp_path / "gates.json", GATES)
    verdict_file = tmp_path / "v.json"
    argv = ["evaluation", "--results", str(tmp_path / "results.json"), "--gates", str(gates_file)]
    assert gate.main([*argv, "--verdict", str(verdict_file)]) == 1
    assert "cannot read results" in capsys.readouterr().err
    assert json.loads(verdict_file.read_text("utf-8"))["passed"] is False


@pytest.mark.parametrize(
    ("gates", "reason"),
    [
        ({"safety": GATES["safety"]}, "gate 'evaluation' is not defined"),
        ({"evaluation": {"thresholds": {}}}, "has no thresholds"),
        ({"evaluation": {}}, "has no 'thresholds' object"),
        ({"evaluation": {"thresholds": {"groundedness": ">= four"}}}, "malformed threshold"),
        ({"evaluation": {"thresholds": {"groundedness": "4.0"}}}, "malformed threshold"),
        ({"evaluation": {"thresholds": {"groundedness": "=> 4.0"}}}, "malformed threshold"),
        ({"evaluation": {"thresholds": {"groundedness": ">= nan"}}}, "malformed threshold"),
        ({"evaluation": {"thresholds": {"groundedness": 4.0}}}, "threshold must be a string"),
        ("[not json", "is not valid JSON"),
        ([], "gate 'evaluation' is not defined"),
    ],
    ids=[
        "gate-absent",
        "empty-thresholds",
        "no-thresholds",
        "bad-number",
        "no-operator",
        "bad-operator",
        "nan-threshold",
        "not-a-string",
        "gates-not-json",
        "gates-not-object",
    ],
)
def test_fails_closed_on_bad_gates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gates: Any, reason: str
) -> None:
    assert run(tmp_path, {"groundedness": 5, "latency_p95_ms": 1}, gates) == 1
    captured = capsys.readouterr()
    assert reason in captured.err
    assert "Traceback" not in captured.err


def test_fails_closed_on_missing_gates_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = write(tmp_path / "results.json", {"groundedness": 5})
    argv = ["evaluation", "--results", str(results), "--gates", str(tmp_path / "absent.json")]
    assert gate.main(argv) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("metrics", "key"),
    [
        ({"violence_defect_rate": 0.0}, "violence_defect_rate"),
        ({"violence_defect_rate.violence_defect_rate": 0.0}, "violence_defect_rate.violence_defect_rate"),
        ({"violence.violence_defect_rate": 0.0, "violence.violence": 1.0}, "violence.violence_defect_rate"),
        ({"violence_defect_rate": 0.0, "violence.violence_defect_rate": 0.5}, "violence_defect_rate"),
        (
            {"violence_defect_rate.violence_defect_rate": 0.0, "x.violence_defect_rate": 0.5},
            "violence_defect_rate.violence_defect_rate",
        ),
    ],
    ids=["as-written", "name.name", "single-suffix", "as-written-first", "name.name-before-suffix"],
)
def test_metric_lookup(tmp_path: Path, metrics: dict[str, float], key: str) -> None:
    assert run(tmp_path, {"metrics": metrics}, name="safety") == 0
    assert verdict(tmp_path)["rows"][0]["key"] == key


def test_metric_lookup_ambiguous(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = {"a.violence_defect_rate": 0.0, "b.violence_defect_rate": 0.0}
    assert run(tmp_path, {"metrics": metrics}, name="safety") == 1
    err = capsys.readouterr().err
    assert "ambiguous" in err
    assert "a.violence_defect_rate, b.violence_defect_rate" in err


def test_suffix_must_follow_a_dot(tmp_path: Path) -> None:
    assert run(tmp_path, {"metrics": {"xviolence_defect_rate": 0.0}}, name="safety") == 1


def test_step_summary_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", "utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run(tmp_path, {"groundedness": 4.2, "latency_p95_ms": 1}) == 0
    text = summary.read_text("utf-8")
    assert text.startswith("# earlier step\n")
    assert "| groundedness | >= 4.0 | 4.2 | PASS |" in text


@pytest.mark.parametrize(("value", "passed"), [(4.2, "true"), (3.0, "false")])
def test_azure_devops_outputs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: float,
    passed: str,
) -> None:
    agent_temp = tmp_path / "agent-temp"
    agent_temp.mkdir()
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("AGENT_TEMPDIRECTORY", str(agent_temp))
    run(tmp_path, {"groundedness": value, "latency_p95_ms": 1}, extra=["--env", "prod"])
    out = capsys.readouterr().out
    summary = agent_temp / "almgen-gate-evaluation-prod.md"
    assert f"##vso[task.uploadsummary]{summary.resolve()}" in out.splitlines()
    assert f"##vso[task.setvariable variable=passed;isOutput=true]{passed}" in out.splitlines()
    assert "| groundedness |" in summary.read_text("utf-8")


def test_verdict_for_the_release_record(tmp_path: Path) -> None:
    assert run(tmp_path, {"groundedness": 4.2, "latency_p95_ms": 10}, extra=["--env", "staging"]) == 0
    document = verdict(tmp_path)
    data = (tmp_path / "results.json").read_bytes()
    assert document["gate"] == "evaluation"
    assert document["env"] == "staging"
    assert document["passed"] is True
    assert document["resultsSha256"] == hashlib.sha256(data).hexdigest()
    assert [row["metric"] for row in document["rows"]] == ["groundedness", "latency_p95_ms"]
    assert document["rows"][0]["actual"] == 4.2


def test_markdown_cells_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gates = {"evaluation": {"thresholds": {"a|b": ">= 1"}}}
    assert run(tmp_path, {"a|b": 2}, gates) == 0
    assert "| a\\|b | >= 1 | 2 | PASS |" in capsys.readouterr().out


def test_usage_error_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        gate.main(["quality", "--results", str(tmp_path / "r.json")])
    assert exited.value.code == 2


def test_huge_integer_fails_with_a_verdict(tmp_path: Path) -> None:
    """A 400-digit integer overflowed float() and a 5,000-digit one broke json: no verdict was written."""
    for digits in (400, 5000):
        assert run(tmp_path, '{"groundedness": 1' + "0" * digits + ', "latency_p95_ms": 1}') == 1
        rows = {row["metric"]: row for row in verdict(tmp_path)["rows"]}
        assert rows["groundedness"]["passed"] is False
        assert "not a finite number" in rows["groundedness"]["reason"]


def test_deep_nesting_fails_with_a_verdict(tmp_path: Path) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    assert run(tmp_path, '{"groundedness": 4.5, "rows": ' + nested + "}") == 1
    assert "nested deeper than" in " ".join(verdict(tmp_path)["errors"])


def test_moderate_nesting_beyond_the_bound_is_refused(tmp_path: Path) -> None:
    nested = "[" * (gate.MAX_DEPTH + 1) + "]" * (gate.MAX_DEPTH + 1)
    assert run(tmp_path, '{"groundedness": 4.5, "latency_p95_ms": 1, "rows": ' + nested + "}") == 1
    assert "nested deeper than" in " ".join(verdict(tmp_path)["errors"])


def test_duplicate_metric_key_is_refused(tmp_path: Path) -> None:
    """The last of two values silently won: a failing 1.0 hidden by a later 5.0 passed the gate."""
    assert run(tmp_path, '{"groundedness": 1.0, "groundedness": 5.0, "latency_p95_ms": 1}') == 1
    assert "appears twice" in " ".join(verdict(tmp_path)["errors"])


def test_oversized_results_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "MAX_RESULTS_BYTES", 64)
    assert run(tmp_path, {"groundedness": 4.5, "latency_p95_ms": 1, "pad": "x" * 64}) == 1
    assert "larger than 64 bytes" in " ".join(verdict(tmp_path)["errors"])


def test_results_that_are_not_a_regular_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "results.json").mkdir()
    assert run(tmp_path, None, extra=["--verdict", str(tmp_path / "results.gate.json")]) == 1
    assert "not a regular file" in " ".join(verdict(tmp_path)["errors"])


def test_an_unforeseen_error_still_writes_a_failing_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> gate.Verdict:
        raise MemoryError("simulated")

    monkeypatch.setattr(gate, "evaluate", broken)
    assert run(tmp_path, {"groundedness": 4.5, "latency_p95_ms": 1}) == 1
    document = verdict(tmp_path)
    assert document["passed"] is False
    assert "MemoryError: simulated" in document["errors"][0]
