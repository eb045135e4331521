"""quality.py: production evaluated in every region with the gates, failing closed, and reported."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import agents, common, quality
from tests.rehearse import azcli

REGIONS = ("eastus2", "swedencentral")
CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-0000000000{n};"
    "IngestionEndpoint=https://{region}-1.in.applicationinsights.azure.com/;ApplicationId=x"
)
# groundedness by region: eastus2 serves well, swedencentral does not
WRITE = (
    "import json, os; "
    "json.dump({'groundedness': float(os.environ['SCORE_' + os.environ['ALMGEN_REGION'].upper()])}, "
    "open(os.environ['ALMGEN_EVAL_RESULTS'], 'w'))"
)


def workspace(tmp_path: Path, command: str | None = None) -> dict[str, Path]:
    commands = tmp_path / "commands.json"
    text = command if command is not None else f"{shlex.quote(sys.executable)} -c {shlex.quote(WRITE)}"
    commands.write_text(json.dumps({"gates": {"evaluation": text}}), "utf-8")
    gates = tmp_path / "gates.json"
    gates.write_text(json.dumps({"evaluation": {"thresholds": {"groundedness": ">= 4.0"}}}), "utf-8")
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    stacks = []
    for n, region in enumerate(REGIONS):
        (contracts / f"{n}-{region}.env").write_text(
            f"ALMGEN_ENVIRONMENT=prod\nALMGEN_REGION={region}\n", "utf-8"
        )
        stacks.append(
            {
                "location": region,
                "primary": n == 0,
                "appInsightsConnectionString": CONNECTION.format(n=n + 10, region=region),
            }
        )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"stacks": {"type": "Array", "value": stacks}}), "utf-8")
    return {"commands": commands, "gates": gates, "contracts": contracts, "outputs": outputs}


def argv(paths: dict[str, Path], out: Path) -> list[str]:
    return [
        "evaluate",
        "--env",
        "prod",
        "--outputs",
        str(paths["outputs"]),
        "--contracts",
        str(paths["contracts"]),
        "--gate",
        "evaluation=ALMGEN_EVAL_RESULTS",
        "--commands",
        str(paths["commands"]),
        "--gates",
        str(paths["gates"]),
        "--out",
        str(out),
    ]


class Ingestion:
    """Application Insights' track endpoint: records every event, accepts or refuses."""

    def __init__(self, refuse: str = "") -> None:
        self.calls: list[tuple[str, str, dict[str, Any], str]] = []
        self.refuse = refuse

    def __call__(self, method: str, url: str, body: dict[str, Any] | None, resource: str = "") -> Any:
        assert body is not None
        self.calls.append((method, url, body, resource))
        if self.refuse and self.refuse in url:
            raise agents.HttpError(403, "The principal does not have Monitoring Metrics Publisher")
        return {"itemsReceived": 1, "itemsAccepted": 1, "errors": []}

    def events(self) -> dict[str, dict[str, Any]]:
        out = {}
        for _, _, body, _ in self.calls:
            data = body["data"]["baseData"]
            out[data["properties"]["region"]] = data
        return out


@pytest.fixture
def ingestion(monkeypatch: pytest.MonkeyPatch) -> Ingestion:
    fake = Ingestion()
    monkeypatch.setattr(agents, "http", fake)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("TF_BUILD", raising=False)
    return fake


def test_a_breach_in_one_region_fails_the_job_and_every_region_reports(
    tmp_path: Path, ingestion: Ingestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORE_EASTUS2", "4.5")
    monkeypatch.setenv("SCORE_SWEDENCENTRAL", "3.1")
    paths, out = workspace(tmp_path), tmp_path / "quality"
    assert quality.main(argv(paths, out)) == 1
    events = ingestion.events()
    assert events["eastus2"]["properties"]["passed"] == "true"
    assert events["eastus2"]["measurements"] == {"evaluation.groundedness": 4.5}
    assert events["swedencentral"]["properties"]["passed"] == "false"
    assert "groundedness" in events["swedencentral"]["properties"]["failures"]
    assert all(event["name"] == quality.EVENT for event in events.values())
    method, url, body, resource = ingestion.calls[1]
    assert (method, url, resource) == (
        "POST",
        "https://swedencentral-1.in.applicationinsights.azure.com/v2.1/track",
        "https://monitor.azure.com",
    )
    assert body["iKey"] == "00000000-0000-0000-0000-000000000011"
    report = json.loads((out / "quality.json").read_text("utf-8"))
    assert report["passed"] is False
    assert [r["passed"] for r in report["regions"]] == [True, False]
    assert (out / "swedencentral-evaluation.gate.json").is_file()


def test_all_thresholds_held_and_accepted_is_success(
    tmp_path: Path, ingestion: Ingestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORE_EASTUS2", "4.0")
    monkeypatch.setenv("SCORE_SWEDENCENTRAL", "4.9")
    paths = workspace(tmp_path)
    assert quality.main(argv(paths, tmp_path / "quality")) == 0
    assert {r: e["properties"]["passed"] for r, e in ingestion.events().items()} == dict.fromkeys(
        REGIONS, "true"
    )


def test_a_failing_command_fails_closed_even_with_stale_results(tmp_path: Path, ingestion: Ingestion) -> None:
    paths, out = workspace(tmp_path, command="exit 3"), tmp_path / "quality"
    out.mkdir()
    for region in REGIONS:  # a previous run's passing results must not count
        (out / f"{region}-evaluation.json").write_text('{"groundedness": 5}', "utf-8")
    assert quality.main(argv(paths, out)) == 1
    events = ingestion.events()
    assert {e["properties"]["passed"] for e in events.values()} == {"false"}
    assert "the evaluation command failed (exit 3)" in events["eastus2"]["properties"]["failures"]


def test_an_event_azure_refuses_fails_the_job_and_the_other_regions_still_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = Ingestion(refuse="eastus2")
    monkeypatch.setattr(agents, "http", refusing)
    monkeypatch.setenv("SCORE_EASTUS2", "4.5")
    monkeypatch.setenv("SCORE_SWEDENCENTRAL", "4.5")
    out = tmp_path / "quality"
    assert quality.main(argv(workspace(tmp_path), out)) == 1
    assert len(refusing.calls) == 2
    report = json.loads((out / "quality.json").read_text("utf-8"))
    assert [(r["passed"], r["eventSent"]) for r in report["regions"]] == [(True, False), (True, True)]
    assert "Monitoring Metrics Publisher" in report["regions"][0]["sendError"]


def test_outputs_without_a_connection_string_are_bad_input(tmp_path: Path, ingestion: Ingestion) -> None:
    paths = workspace(tmp_path)
    outputs = json.loads(paths["outputs"].read_text("utf-8"))
    del outputs["stacks"]["value"][1]["appInsightsConnectionString"]
    paths["outputs"].write_text(json.dumps(outputs), "utf-8")
    assert quality.main(argv(paths, tmp_path / "quality")) == 2
    assert ingestion.calls == []
    with pytest.raises(common.InputError):
        quality.ingestion("InstrumentationKey=x;IngestionEndpoint=http://plain/")
    assert quality.main([*argv(paths, tmp_path / "q")[:7], "--gate", "evaluation=lower"]) == 2


def test_the_event_goes_through_az_rest_with_the_monitor_audience(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def az(args: list[str]) -> Any:
        calls.append(args)
        import subprocess

        return subprocess.CompletedProcess(args, 0, '{"itemsReceived": 1, "itemsAccepted": 1}', "")

    monkeypatch.setattr(common, "az", az)
    result = quality.RegionResult("eastus2")
    quality.send(result, "prod", CONNECTION.format(n=10, region="eastus2"), quality.EVENT)
    assert result.sent and not result.send_error
    line = calls[0]
    assert line[:8] == [
        "rest",
        "--method",
        "post",
        "--url",
        "https://eastus2-1.in.applicationinsights.azure.com/v2.1/track",
        "--resource",
        "https://monitor.azure.com",
        "--headers",
    ]
    if azcli.available():
        body = tmp_path / "body.json"
        body.write_text("{}", "utf-8")
        assert line[-4:-3] == ["--body"]  # the body file is gone after the call: one of ours stands in
        assert azcli.rejected([[*line[:-3], f"@{body}", "--output", "json"]]) == []
