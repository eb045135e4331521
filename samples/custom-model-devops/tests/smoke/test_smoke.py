def test_endpoint_scores_one_transaction(score, low_risk):
    [probability] = score([low_risk])
    assert 0.0 <= probability <= 1.0
