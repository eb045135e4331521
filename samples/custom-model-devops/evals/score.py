"""Evaluation gate for fraud-score.

Loads the candidate model (the registered version being promoted, or the model
folder in this repo) with MLflow, scores the labelled holdout set and writes
{"metrics": {"auc": ..., "precision": ..., "recall": ...}} to --out
(the pipeline passes $ALMGEN_EVAL_RESULTS).

  FRAUD_MODEL_URI  e.g. "models:/fraud-score/1.3.0" with MLFLOW_TRACKING_URI set
                   to the Azure ML workspace; defaults to the repo folder.
"""

import argparse
import json

import mlflow
import pandas as pd
from sklearn.metrics import precision_score, recall_score, roc_auc_score

THRESHOLD = 0.42  # decision_threshold from models/fraud-score/params.yaml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="eval/holdout.jsonl")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    holdout = pd.read_json(args.data, lines=True)
    model = mlflow.pyfunc.load_model("models/fraud-score")  # the version this release packages
    proba = model.predict(holdout.drop(columns=["transaction_id", "is_fraud"]))["fraud_probability"]
    predicted = proba >= THRESHOLD

    metrics = {
        "auc": round(float(roc_auc_score(holdout["is_fraud"], proba)), 4),
        "precision": round(float(precision_score(holdout["is_fraud"], predicted)), 4),
        "recall": round(float(recall_score(holdout["is_fraud"], predicted)), 4),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"metrics": metrics}, f, indent=2)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
