"""The simulated gateway logs: they answer the runtime's own query, with a real p95."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from generator.rehearse.azure import gateway
from generator.runtime import health

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
