DECISION_THRESHOLD = 0.42  # models/fraud-score/params.yaml


def test_high_risk_scores_above_threshold_low_risk_below(score, low_risk, high_risk):
    low, high = score([low_risk, high_risk])
    assert high >= DECISION_THRESHOLD > low


def test_one_score_per_row(score, low_risk, high_risk):
    assert len(score([low_risk, high_risk, low_risk])) == 3
