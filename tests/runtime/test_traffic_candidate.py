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
    ("active", "expected"),
    [(None, "chat-green"), ("chat-blue", "chat-green"), ("chat-green", "chat-blue")],
)
def test_foundation_candidate_is_the_colour_that_does_not_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], active: str | None, expected: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"active": {"chat": active}} if active else {}))
    assert (
        run(capsys, "candidate", "--state", str(state), "--model", "chat", "--kind", "foundation") == expected
    )


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
