"""almgen lineage: which version, trained on what, serves where."""

from __future__ import annotations

import json

from click.testing import CliRunner

from generator.cli import cli
from tests.conftest import REPO

SPEC = str(REPO / "tests" / "fixtures" / "spec-v1-example" / "almgen.yaml")


def test_lineage_json_answers_the_audit_question() -> None:
    result = CliRunner().invoke(cli, ["lineage", SPEC, "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    (prod,) = json.loads(result.output)["environments"]
    churn = next(m for m in prod["models"] if m["name"] == "churn")
    assert churn["version"] == "1.4.0"
    assert churn["trainingData"] == {"asset": "churn-training", "version": "12"}
    assert churn["preprocessing"] == ["drop-null-rows", "standard-scaler@2"]
    assert [p["endpoint"] for p in churn["servesFrom"]] == [
        "support-agent-churn-prod-eus2",
        "support-agent-churn-prod-swc",
    ]
    assert churn["retrainedHere"] is False


def test_lineage_text_names_training_data_and_retirements() -> None:
    result = CliRunner().invoke(cli, ["lineage", SPEC])
    assert result.exit_code == 0
    assert "churn 1.4.0 trained on churn-training:12" in result.output
    assert "    retrained in this environment" in result.output.split("staging:")[0]
    assert "retired: model churn 1.2.0 on 2026-10-01: accuracy regression" in result.output


def test_lineage_of_an_unknown_environment_is_a_usage_error() -> None:
    assert CliRunner().invoke(cli, ["lineage", SPEC, "--env", "qa"]).exit_code == 2


def test_lineage_names_the_documents_chunking_and_embedding_model_of_retrieval() -> None:
    enterprise = str(REPO / "samples" / "enterprise" / "almgen.yaml")
    result = CliRunner().invoke(cli, ["lineage", enterprise, "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    (prod,) = json.loads(result.output)["environments"]
    retrieval = prod["retrieval"]
    assert retrieval["documents"]["version"] == "2026-11"
    assert retrieval["chunking"] == {"splitter": "pages", "size": 1500, "overlap": 150}
    assert retrieval["embedding"] == {
        "model": "embeddings",
        "catalogModel": "text-embedding-3-large",
        "version": "1",
    }
    assert [p["region"] for p in retrieval["servesFrom"]] == ["eastus2", "swedencentral"]
    text = CliRunner().invoke(cli, ["lineage", enterprise, "--env", "prod"]).output
    assert "retrieval support-kb: documents https://contosokbdocs.blob.core.windows.net" in text
    assert "embedding text-embedding-3-large 1 (embeddings)" in text
