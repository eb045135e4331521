"""traffic.py candidate and endpoint: what the pipeline passes to --to, and ALMGEN_ENDPOINT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.runtime import traffic


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert traffic.main(list(argv)) == 0
    return capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("active", "serving", "expected"),
    [
        (None, None, "chat-blue"),  # a first deploy: nothing serves, nothing to roll out
        ("chat-blue", "2024-08-06", "chat-green"),  # a new version goes to the other colour
        ("chat-green", "2024-08-06", "chat-blue"),
        ("chat-blue", "2024-11-20", "chat-blue"),  # the same version again: nothing moves
        ("chat-green", "2024-11-20", "chat-green"),
    ],
)
def test_foundation_candidate_is_the_other_colour_only_for_a_new_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], active: str | None, serving: str | None, expected: str
) -> None:
    state = tmp_path / "state.json"
    live = {"active": {"chat": active}, "versions": {active: serving}} if active else {}
    state.write_text(json.dumps(live))
    args = ["candidate", "--state", str(state), "--model", "chat", "--kind", "foundation"]
    assert run(capsys, *args, "--version", "2024-11-20") == expected


def test_state_of_a_first_deploy_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On DeploymentNotFound the pipeline writes {}: the state of nothing deployed, not an error."""
    outputs = tmp_path / "outputs-before.json"
    outputs.write_text("{}\n")
    assert run(capsys, "state", "--outputs", str(outputs), "--env", "dev") == "{}"


def test_custom_candidate_comes_from_plan_ml_else_the_live_colour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"ml": [{"model": "churn", "colour": "green", "version": "1.0.0", "live": True}]})
    )
    picked = tmp_path / "candidates.json"
    picked.write_text(json.dumps({"churn": "blue"}))
    args = ["candidate", "--state", str(state), "--model", "churn", "--kind", "custom"]
    assert run(capsys, *args, "--candidates", str(picked)) == "blue"
    assert run(capsys, *args) == "green"


def test_plan_ml_adds_to_the_fine_tuned_models_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """models.py fine-tune writes candidates.json first; plan-ml keeps its entries beside the custom
    models', and a fine-tuned model's candidate is the colour it names (every one is version 1)."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"active": {"chat": "chat-blue"}, "versions": {"chat-blue": "1"}, "ml": []}))
    picked = tmp_path / "candidates.json"
    picked.write_text(json.dumps({"chat": "chat-green"}))
    models = json.dumps([{"name": "churn", "version": "1.0.0"}])
    run(capsys, "plan-ml", "--state", str(state), "--models", models, "--candidates", str(picked))
    assert json.loads(picked.read_text("utf-8")) == {"chat": "chat-green", "churn": "blue"}
    args = ["candidate", "--state", str(state), "--model", "chat", "--kind", "foundation", "--version", "1"]
    assert run(capsys, *args, "--candidates", str(picked)) == "chat-green"
    assert run(capsys, *args) == "chat-blue"  # by version alone: nothing to move


def test_endpoint_is_the_primary_regions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    stacks = [
        {
            "location": "eastus2",
            "resourceGroup": "rg-a",
            "primary": True,
            "aiServicesName": "a",
            "aiServicesEndpoint": "https://a.example/",
            "appConfigurationEndpoint": "x",
            "keyVaultUri": "y",
        },
        {
            "location": "swedencentral",
            "resourceGroup": "rg-b",
            "primary": False,
            "aiServicesName": "b",
            "aiServicesEndpoint": "https://b.example/",
            "appConfigurationEndpoint": "x",
            "keyVaultUri": "y",
        },
    ]
    outputs.write_text(json.dumps({"stacks": {"type": "Array", "value": stacks}}))
    assert run(capsys, "endpoint", "--outputs", str(outputs)) == "https://a.example/"
