"""Health behind the AI gateway: one Log Analytics query of the gateway's logs, a real p95."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import common, health, traffic
from tests.rehearse import azcli

from .conftest import FakeAz
from .test_traffic import GATEWAY_STACK, STACK, WORKSPACE, logs, ok, value_of

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
END = datetime(2026, 3, 1, 12, 10, tzinfo=timezone.utc)


def write(tmp_path: Path, *stacks: dict[str, Any]) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"stacks": {"type": "Array", "value": list(stacks)}}), "utf-8")
    return path


def argv(outputs: Path, *extra: str, deployment: str = "chat-green") -> list[str]:
    return [
        "health",
        *("--outputs", str(outputs), "--env", "prod", "--model", "chat", "--kind", "foundation"),
        *("--deployment", deployment, "--minutes", "10", "--error-rate-percent", "2"),
        *("--min-requests", "50", "--wait-minutes", "0", *extra),
    ]


# ---- the query -----------------------------------------------------------------------------------


def test_the_query_counts_one_deployment_over_the_window() -> None:
    query = health.gateway_query("chat-green", START, END)
    assert query.splitlines() == [
        "ApiManagementGatewayLogs",
        "| where TimeGenerated between (datetime(2026-03-01T12:00:00Z) .. datetime(2026-03-01T12:10:00Z))",
        '| where BackendUrl contains "/openai/deployments/chat-green/"',
        "| summarize requests = count(), "
        "errors = countif(ResponseCode >= 500 or BackendResponseCode >= 500), "
        "p95 = percentile(BackendTime, 95)",
    ]


@pytest.mark.parametrize(
    "name", ['chat" or 1==1 //', "chat\\", "chat green", "", "-chat", "chat/../x", "a" * 65, "chat\n|"]
)
def test_a_deployment_name_that_is_not_one_never_reaches_the_query(name: str) -> None:
    with pytest.raises(common.InputError, match="not an Azure OpenAI deployment name"):
        health.gateway_query(name, START, END)


def test_kql_strings_are_escaped() -> None:
    assert health.kql_string('a"b\\c') == '"a\\"b\\\\c"'


# ---- the answer ----------------------------------------------------------------------------------


def answer(columns: list[str], *rows: list[Any]) -> dict[str, Any]:
    table = {"name": "PrimaryResult", "columns": [{"name": c, "type": "real"} for c in columns]}
    return {"tables": [{**table, "rows": [list(row) for row in rows]}]}


def test_the_answer_is_read_by_column_name() -> None:
    parsed = health.parse_gateway_answer(answer(["p95", "errors", "requests"], [2750.5, 3, 400]))
    assert parsed == (400.0, 3.0, 2750.5)


@pytest.mark.parametrize("p95", [None, "NaN"])
def test_no_percentile_is_no_latency(p95: Any) -> None:
    assert health.parse_gateway_answer(answer(["requests", "errors", "p95"], [0, 0, p95])) == (0.0, 0.0, None)


def test_no_rows_is_no_requests() -> None:
    assert health.parse_gateway_answer(answer(["requests", "errors", "p95"])) == (0.0, 0.0, None)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"tables": []},
        answer(["requests", "errors"], [1, 0]),
        answer(["requests", "errors", "p95"], ["many", 0, 1]),
        [],
    ],
)
def test_an_answer_that_is_not_the_query_fails(bad: Any) -> None:
    with pytest.raises(common.Failure):
        health.parse_gateway_answer(bad)


# ---- the check -----------------------------------------------------------------------------------


def test_behind_the_gateway_one_log_query_judges_a_real_p95(
    fake_az: FakeAz, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """p95 2800 ms > 2500 ms is a breach, whatever the mean: Azure Monitor is not asked."""
    fake_az.respond({"rest post": logs(400, 2, 2800)})
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK), "--latency-p95-ms", "2500")) == 1
    captured = capsys.readouterr()
    assert "error rate 0.50% (2 of 400 requests 5xx) on chat-green in eastus2 over 10 min <= 2%" in (
        captured.out
    )
    assert "p95 latency (gateway logs) 2800 ms on chat-green in eastus2 over 10 min > 2500 ms" in captured.err
    calls = fake_az.calls()
    assert len(calls) == 1 and calls[0][:3] == ["rest", "--method", "post"]
    call = calls[0]
    assert value_of(call, "--url") == f"https://api.loganalytics.io/v1/workspaces/{WORKSPACE}/query"
    assert value_of(call, "--resource") == "https://api.loganalytics.io"
    query = json.loads(value_of(call, "--body"))["query"]
    assert query.startswith("ApiManagementGatewayLogs\n")
    assert '"/openai/deployments/chat-green/"' in query
    if azcli.available():
        assert azcli.rejected([call]) == []


def test_behind_the_gateway_a_healthy_deployment_passes(
    fake_az: FakeAz, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond({"rest post": logs(400, 2, 1900)})
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK), "--latency-p95-ms", "2500")) == 0
    assert "p95 latency (gateway logs) 1900 ms on chat-green in eastus2 over 10 min <= 2500 ms" in (
        capsys.readouterr().out
    )


def test_behind_the_gateway_an_error_rate_breach(
    fake_az: FakeAz, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond({"rest post": logs(200, 16, 900)})
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK))) == 1
    assert "error rate 8.00% (16 of 200 requests 5xx)" in capsys.readouterr().err


def test_behind_the_gateway_too_few_requests_waits_then_fails_closed(fake_az: FakeAz, tmp_path: Path) -> None:
    """--min-requests keeps its meaning: the window grows while the check waits, then it fails."""
    fake_az.respond({"rest post": logs(20, 0, None)})
    slept: list[float] = []
    outputs = write(tmp_path, GATEWAY_STACK)
    assert traffic.main([*argv(outputs)[:-1], "7"], sleep=slept.append) == 1  # --wait-minutes 7
    assert slept == [300, 120]
    windows = []
    for call in fake_az.calls():
        line = json.loads(value_of(call, "--body"))["query"].splitlines()[1]
        start, end = (datetime.fromisoformat(t) for t in re.findall(r"datetime\(([^)]*)\)", line))
        windows.append(round((end - start).total_seconds() / 60))
    assert windows == [10, 15, 17]


def test_every_region_is_judged_from_its_own_workspace(fake_az: FakeAz, tmp_path: Path) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    secondary = {**GATEWAY_STACK, "location": "swedencentral", "primary": False}
    secondary |= {"resourceGroup": "rg-prod-2", "logAnalyticsCustomerId": other}
    fake_az.respond({"rest post": logs(400, 0, 800)})
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK, secondary))) == 0
    urls = [value_of(call, "--url") for call in fake_az.calls()]
    assert [url.split("/")[5] for url in urls] == [WORKSPACE, other]


def test_outputs_without_the_workspace_fail_closed(
    fake_az: FakeAz, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = {k: v for k, v in GATEWAY_STACK.items() if k != "logAnalyticsCustomerId"}
    assert traffic.main(argv(write(tmp_path, stack))) == 1
    assert "no logAnalyticsCustomerId" in capsys.readouterr().err
    assert fake_az.calls() == []


def test_a_failed_log_query_fails_closed(fake_az: FakeAz, tmp_path: Path) -> None:
    fake_az.respond({"rest post": [{"exit": 1, "stderr": "Forbidden({...InsufficientAccessError...})"}]})
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK))) == 1


def test_a_bad_deployment_name_is_a_usage_error(fake_az: FakeAz, tmp_path: Path) -> None:
    assert traffic.main(argv(write(tmp_path, GATEWAY_STACK), deployment='x" or true')) == 2
    assert fake_az.calls() == []


def test_without_a_gateway_the_metrics_judge_as_before(fake_az: FakeAz, tmp_path: Path) -> None:
    fake_az.respond(
        {
            "cognitiveservices account show": ok({"id": "/subscriptions/s/accounts/ais-prod"}),
            "monitor metrics list": ok({"value": []}),
        }
    )
    stack = {**STACK, "logAnalyticsCustomerId": WORKSPACE}  # a workspace alone is no gateway
    assert traffic.main([*argv(write(tmp_path, stack)), "--min-requests", "0"]) == 0
    assert fake_az.calls_of("rest") == []
    assert fake_az.calls_of("monitor metrics list")
