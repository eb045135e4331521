import time


def test_batch_of_100_within_latency_budget(score, low_risk, high_risk):
    started = time.perf_counter()
    probabilities = score([low_risk, high_risk] * 50)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert len(probabilities) == 100
    assert elapsed_ms < 1000
