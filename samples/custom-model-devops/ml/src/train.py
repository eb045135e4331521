"""Train fraud-score and save it as an MLflow pyfunc model (weights as JSON, no pickles)."""

import argparse
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FEATURES = ["amount", "txn_count_24h", "merchant_risk", "account_age_days", "is_foreign"]
MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "fraud-score"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--training-data", required=True)
    parser.add_argument("--params", required=True)
    parser.add_argument("--model-output", required=True)
    args = parser.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())

    # preprocessing drop-null-rows; currency-normalize@1 ran upstream (amounts in EUR)
    frame = pd.read_parquet(args.training_data).dropna(subset=[*FEATURES, "is_fraud"])
    # featureEngineering amount-log; velocity-24h and merchant-risk-encoding are
    # precomputed columns of the data asset (txn_count_24h, merchant_risk)
    x = frame[FEATURES].copy()
    x["amount"] = np.log1p(x["amount"].clip(lower=0))
    y = frame["is_fraud"].astype(int)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=params["validation_split"], stratify=y,
        random_state=params["random_state"],
    )

    scaler = StandardScaler().fit(x_train)  # standard-scaler@2
    clf = LogisticRegression(
        C=params["C"], penalty=params["penalty"], solver=params["solver"],
        max_iter=params["max_iter"], class_weight=params["class_weight"],
    ).fit(scaler.transform(x_train), y_train)

    proba = clf.predict_proba(scaler.transform(x_val))[:, 1]
    predicted = proba >= params["decision_threshold"]
    mlflow.log_params(params)
    mlflow.log_metrics({
        "auc": roc_auc_score(y_val, proba),
        "precision": precision_score(y_val, predicted),
        "recall": recall_score(y_val, predicted),
    })

    weights = {
        "model": "logistic_regression",
        "features": FEATURES,
        "feature_engineering": {"amount": "log1p"},
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
        "coefficients": clf.coef_[0].tolist(),
        "intercept": float(clf.intercept_[0]),
        "decision_threshold": params["decision_threshold"],
    }
    weights_path = Path("weights.json")
    weights_path.write_text(json.dumps(weights, indent=2))

    mlflow.pyfunc.save_model(
        path=args.model_output,
        loader_module="fraud_score_model",
        data_path=str(weights_path),
        code_paths=[str(MODEL_DIR / "code" / "fraud_score_model.py")],
        conda_env=str(MODEL_DIR / "conda.yaml"),
        input_example=frame[FEATURES].head(2),
    )


if __name__ == "__main__":
    main()
