"""abtest.py: the A/B test's rule, its table, and what it does to the gateway's pool."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import abscores, abtest, common
from generator.runtime.abtest import Rule, Tokens, Variant

from .conftest import FakeAz
from .test_traffic import GATEWAY_ID, GATEWAY_STACK, value_of

RULE = Rule("latencyP95Ms", 10.0, 5.0, None, 100)


def both(serving: Variant, candidate: Variant) -> list[tuple[str, Variant, Variant]]:
    return [("eastus2", serving, candidate)]


A = Variant("chat-blue", 3000, 15, 900.0)  # 0.5 % errors, p95 900 ms


# ---- the rule ------------------------------------------------------------------------------------


def test_a_faster_candidate_wins() -> None:
    assert abtest.decide(both(A, Variant("chat-green", 3000, 15, 600.0)), RULE) == []


def test_a_tie_goes_to_the_candidate() -> None:
    assert abtest.decide(both(A, Variant("chat-green", 3000, 15, 900.0)), RULE) == []


def test_within_the_tolerance_the_candidate_wins_and_beyond_it_loses() -> None:
    assert abtest.decide(both(A, Variant("chat-green", 3000, 15, 990.0)), RULE) == []  # + 10 %
    reasons = abtest.decide(both(A, Variant("chat-green", 3000, 15, 991.0)), RULE)
    assert reasons == [
        "eastus2: the candidate's latencyP95Ms 991 ms is worse than the serving version's 900 ms "
        "by more than 10%"
    ]


def test_the_error_rate_can_be_the_metric() -> None:
    rule = Rule("errorRatePercent", 0.0, 5.0, None, 100)
    assert abtest.decide(both(A, Variant("chat-green", 3000, 12, 2000.0)), rule) == []  # 0.4 % < 0.5 %
    assert abtest.decide(both(A, Variant("chat-green", 3000, 16, 100.0)), rule) != []


def test_a_faster_candidate_over_the_error_limit_loses() -> None:
    reasons = abtest.decide(both(A, Variant("chat-green", 1000, 80, 300.0)), RULE)
    assert reasons == ["eastus2: the candidate's error rate 8.00% > 5%"]


def test_a_faster_candidate_over_the_latency_limit_loses() -> None:
    rule = Rule("latencyP95Ms", 10.0, 5.0, 500, 100)
    assert abtest.decide(both(A, Variant("chat-green", 3000, 0, 600.0)), rule) == [
        "eastus2: the candidate's p95 600 ms > 500 ms"
    ]


@pytest.mark.parametrize("quiet", ["serving", "candidate"])
def test_too_few_requests_compare_nothing_and_the_serving_version_stays(quiet: str) -> None:
    few = Variant("chat-x", 99, 0, 100.0)
    serving, candidate = (few, Variant("chat-green", 3000, 0, 100.0)) if quiet == "serving" else (A, few)
    assert abtest.decide(both(serving, candidate), RULE) == [
        "eastus2: chat-x served 99 requests, fewer than the 100 needed to compare"
    ]


def test_no_traffic_never_wins_even_with_min_requests_0() -> None:
    rule = Rule("latencyP95Ms", 0.0, 5.0, None, 0)
    assert abtest.decide(both(A, Variant("chat-green", 0, 0, None)), rule) != []


def test_tokens_per_request_can_be_the_metric() -> None:
    rule = Rule("tokensPerRequest", 5.0, 5.0, None, 100)
    serving = Variant("chat-blue", 3000, 15, 900.0, Tokens(2985, 1791000, 746250, 2537250))  # 850 a request
    lean = Variant("chat-green", 3000, 15, 2000.0, Tokens(2985, 1791000, 880575, 2671575))  # 895: + 5.3 %
    assert lean.value("tokensPerRequest") == pytest.approx(895.0)
    assert abtest.decide(both(serving, lean), rule) == [
        "eastus2: the candidate's tokensPerRequest 895 tokens is worse than the serving version's "
        "850 tokens by more than 5%"
    ]
    assert abtest.decide(both(serving, Variant("chat-green", 3000, 15, 2000.0, serving.tokens)), rule) == []


def test_no_token_log_compares_no_tokens() -> None:
    rule = Rule("tokensPerRequest", 5.0, 5.0, None, 100)
    assert abtest.decide(both(A, A), rule) == ["eastus2: no tokensPerRequest for both variants"]


# ---- the evaluation gate's scores of each variant ----------------------------------------------

THRESHOLDS = {"groundedness": ">= 4.0", "violence_defect_rate": "<= 0.02", "f1": "== 1"}


def rows(serving: dict[str, Any], candidate: dict[str, Any]) -> list[dict[str, Any]]:
    return abscores.rows(THRESHOLDS, serving, candidate)


GOOD = {"groundedness.groundedness": 4.5, "violence.violence_defect_rate": 0.01, "f1": 1}


def test_evaluation_scores_are_found_as_the_gate_finds_them() -> None:
    assert [(r["metric"], r["serving"], r["candidate"]) for r in rows(GOOD, {})] == [
        ("groundedness", 4.5, None),
        ("violence_defect_rate", 0.01, None),
        ("f1", 1.0, None),
    ]
    assert abscores.reasons(rows(GOOD, GOOD), 10.0) == []
    assert abscores.reasons(rows(GOOD, {"groundedness": "4.5"}), 10.0)[0] == (
        "evaluation: no groundedness score for both variants"
    )


def test_a_candidate_scoring_worse_than_the_tolerance_loses_in_either_direction() -> None:
    within = {**GOOD, "groundedness": 4.05, "violence.violence_defect_rate": 0.011}  # -10 %, +10 %
    assert abscores.reasons(rows(GOOD, within), 10.0) == []
    worse = {**GOOD, "groundedness": 4.04, "violence.violence_defect_rate": 0.0111}
    assert abscores.reasons(rows(GOOD, worse), 10.0) == [
        "evaluation: the candidate's groundedness 4.04 is worse than the serving version's 4.5 by more "
        "than 10%",
        "evaluation: the candidate's violence_defect_rate 0.0111 is worse than the serving version's "
        "0.01 by more than 10%",
    ]


def test_a_candidate_missing_the_gate_loses_even_when_the_serving_version_misses_it_too() -> None:
    low = {**GOOD, "groundedness": 3.9}
    assert abscores.reasons(rows(low, low), 10.0) == [
        "evaluation: the candidate's groundedness 3.9 misses the gate's >= 4"
    ]
    assert abscores.reasons(rows(GOOD, {**GOOD, "f1": 0.5}), 100.0) == [
        "evaluation: the candidate's f1 0.5 misses the gate's == 1"
    ]


def test_the_candidate_must_win_in_every_region() -> None:
    regions = [("eastus2", A, Variant("chat-green", 3000, 0, 600.0)), ("swedencentral", A, A)]
    regions.append(("westus3", A, Variant("chat-green", 3000, 0, 2000.0)))
    assert [r.split(":")[0] for r in abtest.decide(regions, RULE)] == ["westus3"]
    assert abtest.decide([], RULE) == ["no region to compare"]


# ---- the table -----------------------------------------------------------------------------------


def test_the_table_has_a_row_per_variant_and_the_verdict() -> None:
    args = argparse.Namespace(env="staging", model="chat", candidate="chat-green", split=30, minutes=60)
    result = abtest.comparison(args, RULE, both(A, Variant("chat-green", 1300, 0, 1200.0)))
    text = abtest.table(result)
    assert text.startswith("### A/B test of chat in staging: the serving version wins\n")
    assert "30% of the traffic to the candidate for 60 min." in text
    assert "| eastus2 | A (serving) | chat-blue | 70% | 3000 | 0.50% | 900 ms | no data |" in text
    assert "| eastus2 | B (candidate) | chat-green | 30% | 1300 | 0.00% | 1200 ms | no data |" in text
    assert "- eastus2: the candidate's latencyP95Ms 1200 ms is worse" in text
    assert result["winner"] == "serving"


def test_the_table_shows_both_variants_evaluation_scores() -> None:
    args = argparse.Namespace(env="staging", model="chat", candidate="chat-green", split=50, minutes=60)
    evaluation = rows(GOOD, {**GOOD, "groundedness": 3.0})
    result = abtest.comparison(args, RULE, both(A, A), evaluation)
    assert result["evaluation"] == evaluation and result["winner"] == "serving"
    text = abtest.table(result)
    assert "| metric | gate threshold | A (serving) | B (candidate) |" in text
    assert "| groundedness | >= 4.0 | 4.5 | 3 |" in text
    assert "- evaluation: the candidate's groundedness 3 misses the gate's >= 4" in text
    assert "evaluation" not in abtest.comparison(args, RULE, both(A, A))


def test_table_cells_cannot_break_the_table() -> None:
    assert abtest.cell("a|b\nc") == "a\\|b c"


# ---- compare, against a fake az --------------------------------------------------------------------


def logs(requests: float, errors: float, p95: float | None) -> dict[str, Any]:
    columns = [{"name": n, "type": "real"} for n in ("requests", "errors", "p95")]
    return {
        "stdout": {
            "tables": [{"name": "PrimaryResult", "columns": columns, "rows": [[requests, errors, p95]]}]
        }
    }


def token_logs(requests: float, total: float | None) -> dict[str, Any]:
    """The token query's answer: REQUESTS answered requests and their TOTAL tokens (600 a prompt)."""
    names = ("requests", "promptTokens", "completionTokens", "totalTokens")
    prompt = None if total is None else 600 * requests
    row = [requests, prompt, None if total is None or prompt is None else total - prompt, total]
    columns = [{"name": n, "type": "long"} for n in names]
    return {"stdout": {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [row]}]}}


def test_the_token_query_joins_the_language_model_log_to_the_variants_requests() -> None:
    query = abtest.tokens_query("chat-green", 60)
    assert query.startswith("ApiManagementGatewayLogs\n")
    assert '| where BackendUrl contains "/openai/deployments/chat-green/"' in query
    assert "| join kind=inner (ApiManagementGatewayLlmLog" in query and "on CorrelationId" in query
    assert "max(TotalTokens) by CorrelationId" in query  # a request split in several rows counts once
    with pytest.raises(common.InputError):
        abtest.tokens_query('chat"green', 60)


def test_token_answers_are_parsed_and_no_rows_are_no_tokens() -> None:
    answer = token_logs(1000, 850000)["stdout"]
    assert abtest.parse_tokens(answer) == Tokens(1000, 600000, 250000, 850000)
    assert abtest.parse_tokens(answer).per_request == 850
    assert abtest.parse_tokens(token_logs(0, None)["stdout"]).per_request is None
    answer["tables"][0]["columns"] = answer["tables"][0]["columns"][:2]
    with pytest.raises(common.Failure):
        abtest.parse_tokens(answer)


def setup(tmp_path: Path) -> tuple[Path, Path]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"stacks": {"type": "Array", "value": [GATEWAY_STACK]}}), "utf-8")
    previous = tmp_path / "routing" / "previous-chat.json"
    previous.parent.mkdir()
    saved = {
        "location": "eastus2",
        "resourceGroup": "rg-prod",
        "active": "chat-blue",
        "canary": {"deployment": "", "percent": 0},
        "pool": {"chat-blue": 100},
    }
    previous.write_text(
        json.dumps({"kind": "foundation", "model": "chat", "env": "staging", "stacks": [saved]}), "utf-8"
    )
    return outputs, previous


def argv(outputs: Path, previous: Path, out: Path) -> list[str]:
    return [
        "compare",
        *("--outputs", str(outputs), "--env", "staging", "--model", "chat", "--candidate", "chat-green"),
        *("--previous", str(previous), "--split", "50", "--minutes", "60", "--metric", "latencyP95Ms"),
        *("--tolerance-percent", "10", "--error-rate-percent", "5", "--min-requests", "100"),
        *("--out", str(out)),
    ]


def pools(fake: FakeAz) -> list[list[dict[str, Any]]]:
    patches = [c for c in fake.calls_of("rest") if value_of(c, "--method") == "patch"]
    for call in patches:
        assert value_of(call, "--url").startswith(
            f"https://management.azure.com{GATEWAY_ID}/backends/pool-chat"
        )
    return [json.loads(value_of(c, "--body"))["properties"]["pool"]["services"] for c in patches]


def test_compare_promotes_a_winning_candidate_and_writes_the_table(
    fake_az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("TF_BUILD", raising=False)
    fake_az.respond(
        {
            "rest post": [
                logs(3000, 15, 900),
                token_logs(2985, 2537250),
                logs(3000, 15, 600),
                token_logs(2985, 2388000),
            ],
            "rest": [{"stdout": {}}],
            "appconfig kv set": [{"stdout": {}}],
        }
    )
    outputs, previous = setup(tmp_path)
    out = tmp_path / "ab-test-chat.json"
    env_file = tmp_path / "github-env"
    monkeypatch.setenv("GITHUB_ENV", str(env_file))
    assert abtest.main(argv(outputs, previous, out)) == 0
    queries = [json.loads(value_of(c, "--body"))["query"] for c in fake_az.calls_of("rest --method post")]
    assert [q.split("\n")[0] + " " + q.split('"')[-2] for q in queries if "BackendUrl" in q] == [
        "ApiManagementGatewayLogs /openai/deployments/chat-blue/",
        "ApiManagementGatewayLogs /openai/deployments/chat-blue/",
        "ApiManagementGatewayLogs /openai/deployments/chat-green/",
        "ApiManagementGatewayLogs /openai/deployments/chat-green/",
    ]
    assert ["ApiManagementGatewayLlmLog" in q for q in queries] == [False, True, False, True]
    assert not env_file.exists()  # a win marks nothing
    assert pools(fake_az) == [
        [{"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 100}]
    ]
    record = json.loads(out.read_text("utf-8"))
    assert record["winner"] == "candidate" and record["reasons"] == []
    assert record["regions"][0]["candidate"]["latencyP95Ms"] == 600.0
    assert record["regions"][0]["candidate"]["tokensPerRequest"] == 800.0
    assert record["regions"][0]["serving"]["tokens"] == {
        "requests": 2985,
        "prompt": 1791000,
        "completion": 746250,
        "total": 2537250,
    }
    text = summary.read_text("utf-8")
    assert "| eastus2 | B (candidate) | chat-green | 50% | 3000 | 0.50% | 600 ms | 800 |" in text
    assert "| eastus2 | A (serving) | chat-blue | 50% | 3000 | 0.50% | 900 ms | 850 |" in text
    assert "The candidate chat-green takes all traffic." in capsys.readouterr().out


def test_compare_restores_the_weights_exactly_when_the_serving_version_wins(
    fake_az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("AGENT_TEMPDIRECTORY", str(tmp_path))
    fake_az.respond(
        {
            "rest post": [
                logs(3000, 15, 900),
                token_logs(2985, 2537250),
                logs(3000, 15, 2000),
                token_logs(2985, 2537250),
            ],
            "rest": [{"stdout": {}}],
            "appconfig kv set": [{"stdout": {}}],
        }
    )
    outputs, previous = setup(tmp_path)
    out = tmp_path / "ab-test-chat.json"
    assert abtest.main(argv(outputs, previous, out)) == 1
    assert pools(fake_az) == [
        [{"id": f"{GATEWAY_ID}/backends/deployment-chat-blue", "priority": 1, "weight": 100}]
    ]
    assert json.loads(out.read_text("utf-8"))["winner"] == "serving"
    uploaded = (tmp_path / "ab-test-staging-chat.md").read_text("utf-8")
    assert "the serving version wins" in uploaded
    # the job's later steps learn of the loss: the release record still runs
    assert "##vso[task.setvariable variable=ALMGEN_AB_LOST]true" in capsys.readouterr().out.splitlines()


def test_a_loss_is_marked_for_github_s_later_steps(tmp_path: Path) -> None:
    env_file = tmp_path / "github-env"
    env_file.write_text("EARLIER=1\n", "utf-8")
    abtest.mark_lost({"GITHUB_ENV": str(env_file)})
    assert env_file.read_text("utf-8") == "EARLIER=1\nALMGEN_AB_LOST=true\n"


def test_compare_reads_both_variants_evaluation_results(
    fake_az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    monkeypatch.delenv("TF_BUILD", raising=False)
    fake_az.respond(
        {
            "rest post": [
                logs(3000, 15, 900),
                token_logs(2985, 2537250),
                logs(3000, 15, 600),
                token_logs(2985, 2537250),
            ],
            "rest": [{"stdout": {}}],
            "appconfig kv set": [{"stdout": {}}],
        }
    )
    outputs, previous = setup(tmp_path)
    gates = tmp_path / "gates.json"
    gates.write_text(json.dumps({"evaluation": {"thresholds": {"groundedness": ">= 4.0"}}}), "utf-8")
    (tmp_path / "live.json").write_text(json.dumps({"metrics": {"groundedness.groundedness": 4.6}}), "utf-8")
    (tmp_path / "candidate.json").write_text(json.dumps({"groundedness": 4.1}), "utf-8")
    out = tmp_path / "ab-test-chat.json"
    scored = [
        *("--gates", str(gates), "--evaluation-serving", str(tmp_path / "live.json")),
        *("--evaluation-candidate", str(tmp_path / "candidate.json")),
    ]
    assert abtest.main([*argv(outputs, previous, out), *scored]) == 1  # faster, but 10.9 % less grounded
    record = json.loads(out.read_text("utf-8"))
    assert record["evaluation"] == [
        {"metric": "groundedness", "threshold": ">= 4.0", "serving": 4.6, "candidate": 4.1}
    ]
    assert record["reasons"] == [
        "evaluation: the candidate's groundedness 4.1 is worse than the serving version's 4.6 by more "
        "than 10%"
    ]
    # results the gate cannot read are no scores: the candidate cannot win on them
    (tmp_path / "candidate.json").write_text("{not json", "utf-8")
    fake_az.respond(
        {
            "rest post": [
                logs(3000, 15, 900),
                token_logs(2985, 2537250),
                logs(3000, 15, 600),
                token_logs(2985, 2537250),
            ],
            "rest": [{"stdout": {}}],
            "appconfig kv set": [{"stdout": {}}],
        }
    )
    assert abtest.main([*argv(outputs, previous, out), *scored]) == 1
    assert json.loads(out.read_text("utf-8"))["reasons"] == [
        "evaluation: no groundedness score for both variants"
    ]
    assert abtest.main([*argv(outputs, previous, out), *scored[:2]]) == 2  # all three or none


def test_compare_has_nothing_to_compare_when_the_candidate_already_serves(
    fake_az: FakeAz, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs, previous = setup(tmp_path)
    out = tmp_path / "ab-test-chat.json"
    args = argv(outputs, previous, out)
    args[args.index("chat-green")] = "chat-blue"
    assert abtest.main(args) == 0
    assert fake_az.calls() == [] and not out.exists()
    assert "nothing to compare" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flag", "bad"), [("--split", "100"), ("--metric", "p50"), ("--tolerance-percent", "-1")]
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, flag: str, bad: str) -> None:
    outputs, previous = setup(tmp_path)
    args = argv(outputs, previous, tmp_path / "out.json")
    args[args.index(flag) + 1] = bad
    assert abtest.main(args) == 2


def test_compare_makes_the_candidate_live_without_measuring_when_nothing_serves_yet(
    fake_az: FakeAz, tmp_path: Path
) -> None:
    """A first deploy whose routing names no serving deployment (the keys are not written yet)."""
    fake_az.respond({"rest": [{"stdout": {}}], "appconfig kv set": [{"stdout": {}}]})
    outputs, previous = setup(tmp_path)
    saved = json.loads(previous.read_text("utf-8"))
    saved["stacks"][0]["active"] = ""
    previous.write_text(json.dumps(saved), "utf-8")
    assert abtest.main(argv(outputs, previous, tmp_path / "ab.json")) == 0
    assert fake_az.calls_of("rest --method post") == []  # nothing measured
    assert pools(fake_az) == [
        [{"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 100}]
    ]


def test_a_manual_decision_compares_and_writes_but_moves_nothing_either_way(
    fake_az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--decide manual: the rule's verdict (here: the serving version) is advice; both variants keep
    serving at the split, nothing is marked lost, and the step passes so the decision job can ask."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    env_file = tmp_path / "github-env"
    monkeypatch.setenv("GITHUB_ENV", str(env_file))
    monkeypatch.delenv("TF_BUILD", raising=False)
    fake_az.respond(
        {
            "rest post": [
                logs(3000, 15, 900),
                token_logs(2985, 2537250),
                logs(3000, 15, 2000),
                token_logs(2985, 2537250),
            ],
        }
    )
    outputs, previous = setup(tmp_path)
    out = tmp_path / "ab-test-chat.json"
    assert abtest.main([*argv(outputs, previous, out), "--decide", "manual"]) == 0
    assert pools(fake_az) == [] and not fake_az.calls_of("appconfig")  # no traffic moved
    assert not env_file.exists()
    record = json.loads(out.read_text("utf-8"))
    assert (record["decide"], record["winner"]) == ("manual", "serving") and record["reasons"]
    assert "decision" not in record
    text = summary.read_text("utf-8")
    assert "in staging: the rule favours the serving version, a person decides" in text
    assert "Against the candidate, by the rule: eastus2: the candidate's latencyP95Ms" in text
    assert "until a person approves or rejects the candidate" in text


def test_the_rule_s_record_has_no_decide_field(fake_az: FakeAz, tmp_path: Path) -> None:
    """decide: rule writes the comparison exactly as before (the release records keep their shape)."""
    fake_az.respond(
        {
            "rest post": [logs(3000, 15, 900), token_logs(2985, 2537250)] * 2,
            "rest": [{"stdout": {}}],
            "appconfig kv set": [{"stdout": {}}],
        }
    )
    outputs, previous = setup(tmp_path)
    out = tmp_path / "ab-test-chat.json"
    assert abtest.main([*argv(outputs, previous, out), "--decide", "rule"]) == 0
    assert "decide" not in json.loads(out.read_text("utf-8"))


def manual_comparison(tmp_path: Path, **changes: Any) -> Path:
    result = abtest.comparison(
        argparse.Namespace(
            env="staging", model="chat", candidate="chat-green", split=50, minutes=60, decide="manual"
        ),
        RULE,
        both(A, Variant("chat-green", 3000, 15, 2000.0)),
    )
    path = tmp_path / "routing" / "ab-test-chat.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result | changes), "utf-8")
    return path


def test_promote_sends_all_traffic_to_the_compared_candidate_and_records_the_decision(
    fake_az: FakeAz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("TF_BUILD", raising=False)
    fake_az.respond({"rest": [{"stdout": {}}], "appconfig kv set": [{"stdout": {}}]})
    outputs, _ = setup(tmp_path)
    kept, out = manual_comparison(tmp_path), tmp_path / "ab-test-chat.json"
    where = ("--outputs", str(outputs), "--env", "staging", "--model", "chat", "--comparison", str(kept))
    argv_ = ["promote", *where, "--approved-in", "staging-ab-decision", "--out", str(out)]
    assert abtest.main(argv_) == 0
    assert pools(fake_az) == [
        [{"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 100}]
    ]
    record = json.loads(out.read_text("utf-8"))
    assert record["decision"] == {"decision": "approved", "environment": "staging-ab-decision"}
    assert record["winner"] == "serving" and record["candidate"] == "chat-green"  # the rule's advice, kept
    assert "Decision: approved in staging-ab-decision: the candidate chat-green takes all traffic." in (
        summary.read_text("utf-8")
    )


@pytest.mark.parametrize("change", [{"model": "other"}, {"environment": "prod"}, {"schema": "x/v1"}])
def test_promote_refuses_another_model_s_or_environment_s_comparison(
    fake_az: FakeAz, tmp_path: Path, change: dict[str, str]
) -> None:
    outputs, _ = setup(tmp_path)
    kept = manual_comparison(tmp_path, **change)
    where = ("--outputs", str(outputs), "--env", "staging", "--model", "chat", "--comparison", str(kept))
    argv_ = ["promote", *where, "--approved-in", "staging-ab-decision", "--out", str(tmp_path / "o.json")]
    assert abtest.main(argv_) == 2
    assert pools(fake_az) == []
