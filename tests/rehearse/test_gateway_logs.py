"""The simulated gateway logs: they answer the runtime's own query, with a real p95."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from generator.rehearse.azure import gateway, metrics
from generator.runtime import abtest, health

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
END = datetime(2026, 3, 1, 12, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("deployment", ["chat-green", "embeddings_v2.1", "chat"])
def test_the_simulator_recognises_the_query_the_runtime_sends(deployment: str) -> None:
    asked = gateway.QUERY.fullmatch(health.gateway_query(deployment, START, END))
    assert asked is not None
    assert asked.groupdict() == {
        "start": "2026-03-01T12:00:00Z",
        "end": "2026-03-01T12:10:00Z",
        "deployment": deployment,
    }


def test_another_query_is_not_answered() -> None:
    query = health.gateway_query("chat-green", START, END).replace("percentile(BackendTime, 95)", "avg(x)")
    assert gateway.QUERY.fullmatch(query) is None


def test_a_steady_level_has_a_p95_of_about_twice_it() -> None:
    """Log-normal with sigma 0.5 and mean L: p95 = L * exp(1.645 * 0.5 - 0.5**2 / 2) ~ 2.01 L."""
    p95 = gateway.percentile([(200, 450.0)], 0.95)
    assert p95 == pytest.approx(450 * math.exp(gateway.Z95 * 0.5 - 0.125), rel=1e-6)
    assert p95 == pytest.approx(904, abs=1)
    median = gateway.percentile([(200, 450.0)], 0.5)
    assert median is not None and median < 450  # skewed: the median is under the mean


def test_the_p95_of_a_window_weighs_its_minutes_by_their_requests() -> None:
    healthy, slow = (150.0, 450.0), (50.0, 1500.0)  # 10 % to a slow candidate...
    mixed = gateway.percentile([healthy, slow], 0.95)
    assert mixed is not None
    assert 904 < mixed < 3014  # ...between the healthy p95 and the slow one's
    assert gateway.percentile([(0.0, 450.0)], 0.95) is None  # no requests: no percentile
    assert gateway.percentile([], 0.95) is None


def test_a_latency_under_the_threshold_on_average_can_breach_at_p95() -> None:
    """The rehearsal's latency scenario: a 1500 ms mean passes prod's 2500 ms; its p95 does not."""
    p95 = gateway.percentile([(50.0, 1500.0)] * 5, 0.95)
    assert p95 is not None and p95 > 2500


def test_the_simulator_recognises_the_a_b_test_s_token_query() -> None:
    query = abtest.tokens_query("chat-green", 30)
    asked = gateway.TOKENS_QUERY.fullmatch(query)
    assert asked is not None and asked["deployment"] == "chat-green"
    assert gateway.QUERY.fullmatch(query) is None
    assert gateway.TOKENS_QUERY.fullmatch(query.replace("max(TotalTokens)", "sum(TotalTokens)")) is None


def test_the_token_log_counts_the_answered_requests_only() -> None:
    minutes = [metrics.Minute("t", 100.0, 10.0, 450.0), metrics.Minute("t", 100.0, 0.0, 450.0, 1000.0)]
    (table,) = gateway._tokens_answer(minutes)["tables"]
    assert [c["name"] for c in table["columns"]] == [
        "requests",
        "promptTokens",
        "completionTokens",
        "totalTokens",
    ]
    # 90 answered at 850 (600 + 250), 100 at 1000 (600 + 400)
    assert table["rows"] == [[190, 114000, 62500, 176500]]
    assert abtest.parse_tokens({"tables": [table]}).per_request == pytest.approx(176500 / 190)
    (empty,) = gateway._tokens_answer([metrics.Minute("t", 0.0, 0.0, None)])["tables"]
    assert abtest.parse_tokens({"tables": [empty]}).per_request is None
