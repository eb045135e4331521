"""monitoring.evaluation: the lifecycle workflow evaluates production on a schedule, and Azure alerts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from generator.errors import SpecInvalid
from generator.plan import production
from generator.render.all import render
from generator.spec.validate import load_spec
from generator.targets.bicep.files import parameters
from tests.conftest import SAMPLES


def _files(spec_path: Path) -> dict[str, str]:
    return {f.path: f.text for f in render(load_spec(spec_path))}


def test_the_last_environment_alone_gets_the_alert_settings() -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    assert spec.monitoring.evaluation is not None
    got = {env.name: parameters(spec, env)["productionEvaluation"] for env in spec.environments}
    assert got == {
        "dev": {},
        "staging": {},
        "prod": {"event": production.EVENT, "interval": "P1D", "missing": "P2D"},
    }


def test_both_pipelines_run_every_gate_against_production_on_the_schedule() -> None:
    files = _files(SAMPLES / "enterprise" / "almgen.yaml")
    github = yaml.safe_load(files[".github/workflows/support-agent-lifecycle.yml"])
    assert github[True]["schedule"] == [{"cron": "17 6 * * *"}]  # PyYAML reads `on` as True
    job = github["jobs"]["production-quality"]
    # the monitoring identity's reviewer-free environment, never prod's (deploy rights, approval)
    assert job["environment"] == "prod-monitoring" and job["env"]["ALMGEN_DEPLOYMENT"] == "support-agent-prod"
    script = job["steps"][3]["run"]
    devops = yaml.safe_load(files[".azure-pipelines/support-agent-lifecycle.yml"])
    assert devops["schedules"][0]["cron"] == "17 6 * * *"
    step = next(j for j in devops["jobs"] if j["job"] == "ProductionQuality")["steps"][2]
    assert step["inputs"]["azureSubscription"] == "azure-support-agent-prod-monitoring"  # no approval check
    for text in (script, step["inputs"]["inlineScript"]):
        assert "--gate evaluation=ALMGEN_EVAL_RESULTS --gate safety=ALMGEN_SAFETY_RESULTS" in text
        assert "contract.py" in text and "--out-dir" in text and "--target" not in text  # what serves
    monitoring = files["infra/modules/monitoring.bicep"]
    assert "output appInsightsConnectionString string = appInsights.properties.ConnectionString" in monitoring
    alerts = files["infra/modules/alerts.bicep"]
    assert "evaluation-breach" in alerts and "evaluation-missing" in alerts
    assert "windowSize: productionEvaluation.?missing ?? 'P2D'" in alerts


def test_without_it_the_lifecycle_stays_weekly_and_nothing_is_added() -> None:
    files = _files(SAMPLES / "openai-chat-github" / "almgen.yaml")
    lifecycle = files[".github/workflows/chat-assist-lifecycle.yml"]
    assert '"17 6 * * 1"' in lifecycle and "production-quality" not in lifecycle
    assert "productionEvaluation" not in files["infra/main.bicep"]
    assert "appInsightsConnectionString" not in files["infra/modules/stack.bicep"]


@pytest.mark.parametrize(("schedule", "cron", "missing"), [("hourly", "17 * * * *", "PT2H")])
def test_an_hourly_schedule_runs_and_alerts_hourly(
    tmp_path: Path, schedule: str, cron: str, missing: str
) -> None:
    shutil.copytree(SAMPLES / "openai-chat-github", tmp_path / "s")
    spec_file = tmp_path / "s" / "almgen.yaml"
    text = spec_file.read_text("utf-8").replace(
        "  logRetentionDays: 60\n",
        f"  logRetentionDays: 60\n  evaluation: {{schedule: {schedule}, safety: false}}\n",
    )
    spec_file.write_text(text, "utf-8")
    spec = load_spec(spec_file)
    evaluation = production.production_evaluation(spec)
    assert evaluation is not None and evaluation.cron == cron and evaluation.missing == missing
    assert [gate.kind for gate in evaluation.gates] == ["evaluation"]  # safety: false
    lifecycle = _files(spec_file)[".github/workflows/chat-assist-lifecycle.yml"]
    assert f'"{cron}"' in lifecycle and "--gate safety" not in lifecycle


def test_it_needs_an_evaluation_section(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "minimal", tmp_path / "s")
    spec_file = tmp_path / "s" / "almgen.yaml"
    text = spec_file.read_text("utf-8")
    assert "\nevaluation:" not in text
    spec_file.write_text(text + "\nmonitoring:\n  evaluation: {schedule: daily}\n", "utf-8")
    with pytest.raises(SpecInvalid) as caught:
        load_spec(spec_file)
    assert "monitoring.evaluation" in str([issue.path for issue in caught.value.issues])
