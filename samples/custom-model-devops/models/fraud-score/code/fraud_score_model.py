"""MLflow pyfunc loader for fraud-score: a logistic regression stored as JSON.

MLflow calls _load_pyfunc(<model>/data/weights.json) and then predict(DataFrame).
"""

import json

import numpy as np
import pandas as pd


class FraudScoreModel:
    def __init__(self, weights: dict) -> None:
        self.features = weights["features"]
        self.log1p = [f for f, op in weights["feature_engineering"].items() if op == "log1p"]
        self.mean = np.asarray(weights["scaler"]["mean"])
        self.scale = np.asarray(weights["scaler"]["scale"])
        self.coef = np.asarray(weights["coefficients"])
        self.intercept = float(weights["intercept"])

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = model_input[self.features].astype(float).copy()
        for column in self.log1p:
            frame[column] = np.log1p(frame[column].clip(lower=0))
        z = ((frame.to_numpy() - self.mean) / self.scale) @ self.coef + self.intercept
        return pd.DataFrame({"fraud_probability": 1.0 / (1.0 + np.exp(-z))})


def _load_pyfunc(data_path: str) -> FraudScoreModel:
    with open(data_path, encoding="utf-8") as f:
        return FraudScoreModel(json.load(f))
