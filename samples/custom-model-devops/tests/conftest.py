"""Call the environment's Azure ML online endpoint with an Entra ID token (no keys).

Reads the environment contract the pipeline sets (docs/alm/CONTRACT.md):
  ALMGEN_MODEL_FRAUD_ONLINE_ENDPOINT  the model's online endpoint, in ALMGEN_REGION
  ALMGEN_MODEL_FRAUD_DEPLOYMENT       the deployment under test (the blue-green candidate before
                                      the swap, else the live one)
"""

import os

import pytest
import requests
from azure.identity import DefaultAzureCredential

COLUMNS = ["amount", "txn_count_24h", "merchant_risk", "account_age_days", "is_foreign"]


@pytest.fixture(scope="session")
def score():
    """score(rows) -> list of fraud probabilities, one per row."""
    token = DefaultAzureCredential().get_token("https://ml.azure.com/.default").token
    headers = {"Authorization": f"Bearer {token}"}
    headers["azureml-model-deployment"] = os.environ["ALMGEN_MODEL_FRAUD_DEPLOYMENT"]
    uri = (
        f"https://{os.environ['ALMGEN_MODEL_FRAUD_ONLINE_ENDPOINT']}."
        f"{os.environ['ALMGEN_REGION']}.inference.ml.azure.com/score"
    )

    def _score(rows: list[dict]) -> list[float]:
        body = {"input_data": {"columns": COLUMNS,
                               "data": [[r[c] for c in COLUMNS] for r in rows]}}
        response = requests.post(uri, json=body, headers=headers,
                                 timeout=30)
        response.raise_for_status()
        payload = response.json()
        records = payload["predictions"] if isinstance(payload, dict) else payload
        return [r["fraud_probability"] for r in records]

    return _score


@pytest.fixture
def low_risk() -> dict:
    return {"amount": 23.5, "txn_count_24h": 1, "merchant_risk": 0.05,
            "account_age_days": 2400, "is_foreign": 0}


@pytest.fixture
def high_risk() -> dict:
    return {"amount": 1899.0, "txn_count_24h": 9, "merchant_risk": 0.62,
            "account_age_days": 12, "is_foreign": 1}
