"""Traffic: state, plan-ml, shift, health, canary and swap against a fake `az`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from generator.runtime import traffic

from .conftest import FakeAz

STACK = {
    "location": "eastus2",
    "resourceGroup": "rg-prod",
    "primary": True,
    "aiServicesName": "ais-prod",
    "aiServicesEndpoint": "https://ais-prod.cognitiveservices.azure.com/",
    "appConfigurationEndpoint": "https://appcs-prod.azconfig.io",
    "keyVaultUri": "https://kv-prod.vault.azure.net/",
    "workspaceName": "mlw-prod",
    "onlineEndpoints": [{"model": "churn", "name": "bot-churn-prod", "scoringUri": "https://churn/score"}],
}
ACCOUNT_ID = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.CognitiveServices/accounts/ais-prod"
ENDPOINT_ID = "/subscriptions/s/.../onlineEndpoints/bot-churn-prod"
CLEARED = json.dumps({"deployment": "", "percent": 0})


def ok(stdout: Any) -> list[dict[str, Any]]:
    return [{"stdout": stdout}]


def kv(active: str = "chat-blue", canary: str = CLEARED) -> list[dict[str, Any]]:
    return [
        {"key": "almgen:active:chat", "value": active, "label": "prod"},
        {"key": "almgen:canary:chat", "value": canary, "label": "prod", "contentType": "application/json"},
        {"key": "almgen:endpoints:aiServices", "value": "https://ais", "label": "prod"},
    ]


def requests(by: str, counts: dict[str, float], key: str = "total") -> dict[str, Any]:
    """An `az monitor metrics list` answer of a request count split by a status dimension (points
    carry `total` for Azure OpenAI's count, `average` for Azure ML's per-minute rate)."""
    series = [
        {
            "metadatavalues": [{"name": {"value": by.lower(), "localizedValue": by}, "value": code}],
            "data": [
                {"timeStamp": "2026-01-01T00:00:00Z", key: count / 2},
                {key: count / 2},
                {key: None},
            ],
        }
        for code, count in counts.items()
    ]
    return {"value": [{"name": {"value": "requests"}, "timeseries": series}]}


def latency(*values: float) -> dict[str, Any]:
    points = [{"average": value} for value in values] + [{"average": None}]
    return {"value": [{"name": {"value": "latency"}, "timeseries": [{"metadatavalues": [], "data": points}]}]}


HEALTHY_FOUNDATION = {
    "cognitiveservices account show": ok({"id": ACCOUNT_ID}),
    "monitor metrics list AzureOpenAIRequests": ok(requests("StatusCode", {"200": 990, "429": 5, "500": 5})),
    "monitor metrics list AzureOpenAITimeToResponse": ok(latency(800, 1000)),
}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"stacks": {"type": "Array", "value": [STACK]}}), "utf-8")
    return path


def target(outputs: Path, kind: str = "foundation", model: str = "chat") -> list[str]:
    return ["--outputs", str(outputs), "--env", "prod", "--model", model, "--kind", kind]


def value_of(call: list[str], flag: str) -> str:
    return call[call.index(flag) + 1]


def kv_sets(fake: FakeAz) -> list[tuple[str, str]]:
    return [(value_of(c, "--key"), value_of(c, "--value")) for c in fake.calls_of("appconfig kv set")]


def traffic_sets(fake: FakeAz) -> list[str]:
    return [value_of(c, "--traffic") for c in fake.calls_of("ml online-endpoint update")]


# ---- state ---------------------------------------------------------------------------------------


def test_state_before_first_deploy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert traffic.main(["state", "--outputs", str(tmp_path / "absent.json"), "--env", "dev"]) == 0
    assert capsys.readouterr().out.strip() == "{}"


def test_state(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(
        {
            "appconfig kv list": ok(kv("chat-green", json.dumps({"deployment": "chat-blue", "percent": 10}))),
            "cognitiveservices account deployment list": ok(
                [
                    {
                        "name": "chat-blue",
                        "properties": {"model": {"name": "gpt-4o", "version": "2024-11-20"}},
                    },
                    {
                        "name": "chat-green",
                        "properties": {"model": {"name": "gpt-4o", "version": "2024-08-06"}},
                    },
                ]
            ),
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 0, "green": 100}}),
            "ml online-deployment list": ok(
                [
                    {
                        "name": "green",
                        "model": "/subscriptions/s/workspaces/mlw-prod/models/churn/versions/3",
                    },
                    {"name": "blue", "model": "azureml:churn:4"},
                ]
            ),
        }
    )
    assert traffic.main(["state", "--outputs", str(outputs), "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "active": {"chat": "chat-green"},
        "versions": {"chat-blue": "2024-11-20", "chat-green": "2024-08-06"},
        "canary": {"chat": {"deployment": "chat-blue", "percent": 10}},
        "ml": [
            {"model": "churn", "colour": "blue", "version": "4", "live": False},
            {"model": "churn", "colour": "green", "version": "3", "live": True},
        ],
    }
    kv_list = fake_az.calls_of("appconfig kv list")[0]
    assert value_of(kv_list, "--endpoint") == "https://appcs-prod.azconfig.io"
    assert value_of(kv_list, "--label") == "prod"
    assert value_of(kv_list, "--key") == "almgen:*"
    assert value_of(kv_list, "--auth-mode") == "login"
    assert value_of(fake_az.calls_of("ml online-deployment list")[0], "--endpoint-name") == "bot-churn-prod"


def test_state_fails_on_az_error(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond({"appconfig kv list": [{"exit": 1, "stderr": "ERROR: Forbidden"}]})
    assert traffic.main(["state", "--outputs", str(outputs), "--env", "prod"]) == 1
    err = capsys.readouterr().err
    assert "az appconfig kv list failed (exit 1): ERROR: Forbidden" in err
    assert "Traceback" not in err


# ---- plan-ml -------------------------------------------------------------------------------------


def run_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: dict[str, Any], models: list[dict[str, str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state), "utf-8")
    candidates = tmp_path / "candidates.json"
    argv = [
        "plan-ml",
        "--state",
        str(state_file),
        "--models",
        json.dumps(models),
        "--candidates",
        str(candidates),
    ]
    assert traffic.main(argv) == 0
    return json.loads(capsys.readouterr().out), json.loads(candidates.read_text("utf-8"))


def test_plan_first_deploy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, candidates = run_plan(tmp_path, capsys, {}, [{"name": "churn", "version": "1.0.0"}])
    assert state == {"ml": [{"model": "churn", "colour": "blue", "version": "1.0.0", "live": True}]}
    assert candidates == {"churn": "blue"}


def test_plan_new_version_goes_beside_the_live_colour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = {
        "active": {"chat": "chat-blue"},
        "ml": [
            {"model": "churn", "colour": "blue", "version": "1", "live": False},
            {"model": "churn", "colour": "green", "version": "2", "live": True},
            {"model": "dropped", "colour": "blue", "version": "9", "live": True},
        ],
    }
    state, candidates = run_plan(tmp_path, capsys, live, [{"name": "churn", "version": "3"}])
    assert state["active"] == {"chat": "chat-blue"}
    assert state["ml"] == [
        {"model": "churn", "colour": "green", "version": "2", "live": True},
        {"model": "churn", "colour": "blue", "version": "3", "live": False},
    ]
    assert candidates == {"churn": "blue"}


def test_plan_same_version_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ml = [
        {"model": "churn", "colour": "blue", "version": "2", "live": True},
        {"model": "churn", "colour": "green", "version": "1", "live": False},
    ]
    state, candidates = run_plan(tmp_path, capsys, {"ml": ml}, [{"name": "churn", "version": "2"}])
    assert state["ml"] == ml
    assert candidates == {}


def test_plan_bad_models_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.json").write_text("{}", "utf-8")
    assert traffic.main(["plan-ml", "--state", str(tmp_path / "s.json"), "--models", "[{"]) == 2
    assert traffic.main(["plan-ml", "--state", str(tmp_path / "s.json"), "--models", '[{"name": 1}]']) == 2
    assert "--models" in capsys.readouterr().err


# ---- shift and restore ---------------------------------------------------------------------------


def test_shift_foundation_to_100(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    fake_az.respond({"appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    previous = tmp_path / "previous.json"
    argv = [
        "shift",
        *target(outputs),
        "--to",
        "chat-green",
        "--percent",
        "100",
        "--save-previous",
        str(previous),
    ]
    assert traffic.main(argv) == 0
    assert kv_sets(fake_az) == [("almgen:active:chat", "chat-green"), ("almgen:canary:chat", CLEARED)]
    call = fake_az.calls_of("appconfig kv set")[0]
    assert (value_of(call, "--label"), value_of(call, "--auth-mode")) == ("prod", "login")
    assert "--yes" in call
    saved = json.loads(previous.read_text("utf-8"))
    assert saved["stacks"][0]["active"] == "chat-blue"
    assert saved["stacks"][0]["canary"] == {"deployment": "", "percent": 0}


def test_shift_foundation_canary_percent(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond({"appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    assert traffic.main(["shift", *target(outputs), "--to", "chat-green", "--percent", "10"]) == 0
    assert kv_sets(fake_az) == [
        ("almgen:canary:chat", json.dumps({"deployment": "chat-green", "percent": 10}))
    ]
    assert value_of(fake_az.calls_of("appconfig kv set")[0], "--content-type") == "application/json"
    assert 'previous: {"env": "prod", "kind": "foundation"' in capsys.readouterr().out


def test_shift_marks_that_traffic_moved(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    fake_az.respond({"appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    moved = tmp_path / "moved.txt"
    argv = ["shift", *target(outputs), "--to", "chat-green", "--percent", "10", "--moved", str(moved)]
    assert traffic.main(argv) == 0
    assert moved.exists()


def test_shift_to_what_already_serves_moves_nothing(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    """A re-run of the same commit: the candidate is the active deployment; no key is written."""
    fake_az.respond({"appconfig kv list": ok(kv(active="chat-green")), "appconfig kv set": ok({})})
    moved = tmp_path / "moved.txt"
    argv = ["shift", *target(outputs), "--to", "chat-green", "--percent", "25", "--moved", str(moved)]
    assert traffic.main(argv) == 0
    assert kv_sets(fake_az) == [] and not moved.exists()


def test_a_canary_step_after_a_rollback_refuses_to_jump(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running only a failed step 3 after its rollback would go from 0 % straight to 50 %."""
    fake_az.respond({"appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    argv = ["shift", *target(outputs), "--to", "chat-green", "--percent", "50", "--after", "25"]
    assert traffic.main(argv) == 2
    assert kv_sets(fake_az) == []
    assert "Re-run all jobs" in capsys.readouterr().err
    step = json.dumps({"deployment": "chat-green", "percent": 25})
    fake_az.respond({"appconfig kv list": ok(kv(canary=step)), "appconfig kv set": ok({})})
    assert traffic.main(argv) == 0


def test_shift_custom(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    fake_az.respond(
        {
            "ml online-endpoint show": ok({"traffic": {"blue": 100, "green": 0}}),
            "ml online-endpoint update": ok({}),
        }
    )
    previous = tmp_path / "previous.json"
    argv = ["shift", *target(outputs, "custom", "churn"), "--to", "green", "--percent", "10"]
    assert traffic.main([*argv, "--save-previous", str(previous)]) == 0
    assert traffic_sets(fake_az) == ["blue=90 green=10"]
    update = fake_az.calls_of("ml online-endpoint update")[0]
    assert (value_of(update, "--name"), value_of(update, "-g"), value_of(update, "-w")) == (
        "bot-churn-prod",
        "rg-prod",
        "mlw-prod",
    )
    assert json.loads(previous.read_text("utf-8"))["stacks"][0]["traffic"] == {"blue": 100, "green": 0}


def test_shift_custom_first_deploy_takes_everything(fake_az: FakeAz, outputs: Path) -> None:
    fake_az.respond({"ml online-endpoint show": ok({"traffic": {}}), "ml online-endpoint update": ok({})})
    assert (
        traffic.main(["shift", *target(outputs, "custom", "churn"), "--to", "blue", "--percent", "10"]) == 0
    )
    assert traffic_sets(fake_az) == ["blue=100"]


def test_shift_every_region_primary_first(fake_az: FakeAz, tmp_path: Path) -> None:
    west = {
        **STACK,
        "location": "westus3",
        "primary": False,
        "appConfigurationEndpoint": "https://appcs-west",
    }
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"stacks": {"value": [west, STACK]}}), "utf-8")
    fake_az.respond({"appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    assert traffic.main(["shift", *target(path), "--to", "chat-green", "--percent", "50"]) == 0
    endpoints = [value_of(c, "--endpoint") for c in fake_az.calls_of("appconfig kv set")]
    assert endpoints == ["https://appcs-prod.azconfig.io", "https://appcs-west"]


def test_restore(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    saved = {
        "kind": "custom",
        "model": "churn",
        "env": "prod",
        "stacks": [
            {"location": "eastus2", "resourceGroup": "rg-prod", "endpoint": "bot-churn-prod", "traffic": {}}
        ],
    }
    (tmp_path / "previous.json").write_text(json.dumps(saved), "utf-8")
    fake_az.respond(
        {"ml online-endpoint show": ok({"traffic": {"blue": 100}}), "ml online-endpoint update": ok({})}
    )
    argv = ["restore", "--outputs", str(outputs), "--previous", str(tmp_path / "previous.json")]
    assert traffic.main(argv) == 0
    assert traffic_sets(fake_az) == ["blue=0"]


def test_shift_unknown_model_is_usage_error(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        traffic.main(["shift", *target(outputs, "custom", "nope"), "--to", "green", "--percent", "10"]) == 2
    )
    assert "no online endpoint for model 'nope'" in capsys.readouterr().err
    assert fake_az.calls() == []


# ---- health --------------------------------------------------------------------------------------


def health(outputs: Path, kind: str = "foundation", *extra: str) -> list[str]:
    model, deployment = ("chat", "chat-green") if kind == "foundation" else ("churn", "green")
    argv = ["health", *target(outputs, kind, model), "--deployment", deployment, "--minutes", "10"]
    return [*argv, "--error-rate-percent", "1", "--min-requests", "50", "--wait-minutes", "0", *extra]


def test_health_pass(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(HEALTHY_FOUNDATION)
    assert traffic.main(health(outputs, "foundation", "--latency-p95-ms", "2000")) == 0
    out = capsys.readouterr().out
    assert "error rate 0.50% (5 of 1000 requests 5xx)" in out
    assert "latency 900 ms" in out
    metric_call = fake_az.calls_of("monitor metrics list")[0]
    assert value_of(metric_call, "--resource") == ACCOUNT_ID
    assert value_of(metric_call, "--filter") == "ModelDeploymentName eq 'chat-green' and StatusCode eq '*'"
    assert value_of(metric_call, "--interval") == "PT1M"
    assert value_of(metric_call, "--aggregation") == "Total"
    assert "--start-time" in metric_call
    assert "--end-time" in metric_call
    latency_call = fake_az.calls_of("monitor metrics list")[1]
    assert value_of(latency_call, "--aggregation") == "Average"


def test_health_error_rate_breach(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(
        {
            **HEALTHY_FOUNDATION,
            "monitor metrics list AzureOpenAIRequests": ok(requests("StatusCode", {"200": 90, "503": 10})),
        }
    )
    assert traffic.main(health(outputs)) == 1
    assert "error rate 10.00% (10 of 100 requests 5xx) on chat-green in eastus2 over 10 min > 1%" in (
        capsys.readouterr().err
    )


def test_health_latency_breach(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(HEALTHY_FOUNDATION)
    assert traffic.main(health(outputs, "foundation", "--latency-p95-ms", "500")) == 1
    assert "latency 900 ms on chat-green in eastus2 over 10 min > 500 ms" in capsys.readouterr().err


def test_health_custom_breach(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(
        {
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 90, "green": 10}}),
            "monitor metrics list RequestsPerMinute": ok(
                requests("statusCodeClass", {"2xx": 100}, "average")
            ),
            "monitor metrics list RequestLatency_P95": ok(latency(3000, 5000)),
        }
    )
    assert traffic.main(health(outputs, "custom", "--latency-p95-ms", "2500")) == 1
    assert "latency 4000 ms on green" in capsys.readouterr().err
    calls = fake_az.calls_of("monitor metrics list")
    assert value_of(calls[0], "--resource") == ENDPOINT_ID
    assert value_of(calls[0], "--filter") == "deployment eq 'green' and statusCodeClass eq '*'"
    assert value_of(calls[0], "--aggregation") == "Average"  # RequestsPerMinute has no Total
    assert value_of(calls[1], "--filter") == "deployment eq 'green'"


NO_TRAFFIC = {
    **HEALTHY_FOUNDATION,
    "monitor metrics list AzureOpenAIRequests": ok({"value": [{"timeseries": []}]}),
    "monitor metrics list AzureOpenAITimeToResponse": ok({"value": [{"timeseries": []}]}),
}


def test_health_without_traffic_fails(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traffic is not health: a window without requests is a breach, not a pass."""
    fake_az.respond(NO_TRAFFIC)
    assert traffic.main(health(outputs, "foundation", "--latency-p95-ms", "500")) == 1
    assert (
        "0 requests to chat-green in eastus2 over 10 min, fewer than the 50 needed" in capsys.readouterr().err
    )


def test_health_waits_for_requests_then_fails_closed(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = ok(requests("StatusCode", {"200": 20}))
    fake_az.respond({**HEALTHY_FOUNDATION, "monitor metrics list AzureOpenAIRequests": few * 4})
    slept: list[float] = []
    argv = [*health(outputs)[:-1], "12"]  # --wait-minutes 12: 5 + 5 + 2
    assert traffic.main(argv, sleep=slept.append) == 1
    assert slept == [300, 300, 120]
    windows = [
        datetime.fromisoformat(value_of(call, "--end-time"))
        - datetime.fromisoformat(value_of(call, "--start-time"))
        for call in fake_az.calls_of("monitor metrics list")
    ]
    assert [w.total_seconds() / 60 for w in windows] == [10, 15, 20, 22]  # the window grows by each wait
    assert "over 22 min, fewer than the 50 needed" in capsys.readouterr().err


def test_health_waits_until_enough_requests(fake_az: FakeAz, outputs: Path) -> None:
    grows = ok(requests("StatusCode", {"200": 20})) + ok(requests("StatusCode", {"200": 60}))
    fake_az.respond({**HEALTHY_FOUNDATION, "monitor metrics list AzureOpenAIRequests": grows})
    slept: list[float] = []
    assert traffic.main([*health(outputs)[:-1], "30"], sleep=slept.append) == 0
    assert slept == [300]


def test_health_min_requests_zero_judges_no_traffic_healthy(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(NO_TRAFFIC)
    argv = [*health(outputs, "foundation", "--latency-p95-ms", "500"), "--min-requests", "0"]
    assert traffic.main(argv) == 0
    out = capsys.readouterr().out
    assert "no requests to chat-green" in out
    assert "no latency data" in out


def test_health_az_failure_fails_closed(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(
        {
            **HEALTHY_FOUNDATION,
            "monitor metrics list AzureOpenAIRequests": [{"exit": 2, "stderr": "ERROR: throttled"}],
        }
    )
    assert traffic.main(health(outputs)) == 1
    assert "az monitor metrics list failed (exit 2): ERROR: throttled" in capsys.readouterr().err


def test_health_without_az_fails_closed(
    outputs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALMGEN_AZ", str(tmp_path / "no-such-az"))
    assert traffic.main(health(outputs)) == 1
    assert "cannot run" in capsys.readouterr().err


# ---- canary and swap -----------------------------------------------------------------------------


def rollout(outputs: Path, command: str, kind: str, to: str, *extra: str) -> list[str]:
    model = "chat" if kind == "foundation" else "churn"
    argv = [
        command,
        *target(outputs, kind, model),
        "--to",
        to,
        "--bake-minutes",
        "5",
        "--error-rate-percent",
        "2",
        "--min-requests",
        "10",
        "--wait-minutes",
        "5",
    ]
    return [*argv, *extra]


def test_canary_success(fake_az: FakeAz, outputs: Path, tmp_path: Path) -> None:
    fake_az.respond({**HEALTHY_FOUNDATION, "appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    slept: list[float] = []
    previous = tmp_path / "previous.json"
    argv = rollout(outputs, "canary", "foundation", "chat-green", "--steps", "10,50,100")
    assert traffic.main([*argv, "--save-previous", str(previous)], sleep=slept.append) == 0
    assert slept == [300, 300, 300]
    assert kv_sets(fake_az) == [
        ("almgen:canary:chat", json.dumps({"deployment": "chat-green", "percent": 10})),
        ("almgen:canary:chat", json.dumps({"deployment": "chat-green", "percent": 50})),
        ("almgen:active:chat", "chat-green"),
        ("almgen:canary:chat", CLEARED),
    ]
    assert len(fake_az.calls_of("monitor metrics list")) == 3
    assert value_of(fake_az.calls_of("monitor metrics list")[0], "--filter").startswith(
        "ModelDeploymentName eq 'chat-green'"
    )
    assert json.loads(previous.read_text("utf-8"))["stacks"][0]["active"] == "chat-blue"


BREACH_AT_SECOND_STEP = {  # a healthy first step, then 20 % errors; routing keys that can be written
    **HEALTHY_FOUNDATION,
    "monitor metrics list AzureOpenAIRequests": [
        {"stdout": requests("StatusCode", {"200": 100})},
        {"stdout": requests("StatusCode", {"200": 80, "500": 20})},
    ],
    "appconfig kv list": ok(kv()),
    "appconfig kv set": ok({}),
}


def test_canary_rolls_back_on_breach_at_second_step(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(
        {
            **BREACH_AT_SECOND_STEP,
        }
    )
    argv = rollout(outputs, "canary", "foundation", "chat-green", "--steps", "10,50,100")
    assert traffic.main(argv, sleep=lambda seconds: None) == 1
    assert kv_sets(fake_az) == [
        ("almgen:canary:chat", json.dumps({"deployment": "chat-green", "percent": 10})),
        ("almgen:canary:chat", json.dumps({"deployment": "chat-green", "percent": 50})),
        ("almgen:active:chat", "chat-blue"),
        ("almgen:canary:chat", CLEARED),
    ]
    err = capsys.readouterr().err
    assert "rolling back (breach at 50%)" in err
    assert "rolled back to the previous state" in err


def test_canary_rolls_back_when_az_fails(fake_az: FakeAz, outputs: Path) -> None:
    fake_az.respond(
        {
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 100, "green": 0}}),
            "ml online-endpoint update": ok({}),
            "monitor metrics list": [{"exit": 1, "stderr": "ERROR: boom"}],
        }
    )
    argv = rollout(outputs, "canary", "custom", "green", "--steps", "25,100")
    assert traffic.main(argv, sleep=lambda seconds: None) == 1
    assert traffic_sets(fake_az) == ["blue=75 green=25", "blue=100 green=0"]


def test_swap_with_rollback(fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_az.respond(
        {
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 100, "green": 0}}),
            "ml online-endpoint update": ok({}),
            "monitor metrics list RequestsPerMinute": ok(
                requests("statusCodeClass", {"2xx": 50, "5xx": 50}, "average")
            ),
        }
    )
    slept: list[float] = []
    assert traffic.main(rollout(outputs, "swap", "custom", "green"), sleep=slept.append) == 1
    assert slept == [300]
    assert traffic_sets(fake_az) == ["blue=0 green=100", "blue=100 green=0"]
    assert "error rate 50.00%" in capsys.readouterr().err


def test_swap_success(fake_az: FakeAz, outputs: Path) -> None:
    fake_az.respond({**HEALTHY_FOUNDATION, "appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    assert traffic.main(rollout(outputs, "swap", "foundation", "chat-green"), sleep=lambda seconds: None) == 0
    assert kv_sets(fake_az) == [("almgen:active:chat", "chat-green"), ("almgen:canary:chat", CLEARED)]


def test_rollout_to_the_live_deployment_does_nothing(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond({"appconfig kv list": ok(kv("chat-green"))})
    assert traffic.main(rollout(outputs, "swap", "foundation", "chat-green"), sleep=lambda seconds: None) == 0
    assert kv_sets(fake_az) == []
    assert "already takes all traffic" in capsys.readouterr().out


@pytest.mark.parametrize("steps", ["10,50", "50,10,100", "0,100", "10,10,100", "ten,100"])
def test_bad_steps_are_usage_errors(outputs: Path, steps: str) -> None:
    with pytest.raises(SystemExit) as exited:
        traffic.main(rollout(outputs, "canary", "foundation", "chat-green", "--steps", steps))
    assert exited.value.code == 2


def test_missing_outputs_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["shift", *target(tmp_path / "absent.json"), "--to", "chat-green", "--percent", "100"]
    assert traffic.main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- standby -------------------------------------------------------------------------------------


def deployment(name: str, capacity: int) -> dict[str, Any]:
    return {
        "id": f"{ACCOUNT_ID}/deployments/{name}",
        "name": name,
        "sku": {"name": "Standard", "capacity": capacity},
    }


def test_standby_scales_only_the_colour_that_serves_nothing(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(
        {
            "appconfig kv list": ok(kv(active="chat-green")),
            "cognitiveservices account deployment list": ok(
                [deployment("chat-blue", 50), deployment("chat-green", 50), deployment("chat-mini-blue", 50)]
            ),
            "rest": ok({}),
        }
    )
    argv = ["standby", "--outputs", str(outputs), "--env", "prod", "--model", "chat", "--capacity", "1"]
    assert traffic.main(argv) == 0
    (patch,) = fake_az.calls_of("rest")
    assert value_of(patch, "--method") == "patch"
    assert (
        value_of(patch, "--url")
        == f"https://management.azure.com{ACCOUNT_ID}/deployments/chat-blue?api-version=2024-10-01"
    )
    assert json.loads(value_of(patch, "--body")) == {"sku": {"name": "Standard", "capacity": 1}}
    assert "chat standby at capacity 1: chat-blue" in capsys.readouterr().out


def test_standby_warns_and_passes_when_azure_fails(
    fake_az: FakeAz, outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(
        {
            "appconfig kv list": ok(kv()),
            "cognitiveservices account deployment list": [{"exit": 1, "stderr": "ERROR: throttled"}],
        }
    )
    argv = ["standby", "--outputs", str(outputs), "--env", "prod", "--model", "chat", "--capacity", "1"]
    assert traffic.main(argv) == 0  # a healthy release is not failed by its clean-up
    assert "WARNING: the standby of chat keeps its capacity" in capsys.readouterr().err
    assert fake_az.calls_of("rest") == []


# ---- the AI gateway's pools ----------------------------------------------------------------------

GATEWAY_ID = "/subscriptions/s/resourceGroups/rg-prod/providers/Microsoft.ApiManagement/service/apim-prod"


WORKSPACE = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"  # the Log Analytics workspace's customerId
GATEWAY_STACK = {
    **STACK,
    "gatewayId": GATEWAY_ID,
    "gatewayEndpoint": "https://apim-prod.azure-api.net",
    "logAnalyticsCustomerId": WORKSPACE,
}


def logs(requests: float, errors: float, p95: float | None) -> list[dict[str, Any]]:
    """A Log Analytics query answer of the gateway's summarize (one row)."""
    columns = [
        {"name": "requests", "type": "long"},
        {"name": "errors", "type": "long"},
        {"name": "p95", "type": "real"},
    ]
    table = {"name": "PrimaryResult", "columns": columns, "rows": [[requests, errors, p95]]}
    return [{"stdout": {"tables": [table]}}]


@pytest.fixture
def gateway_outputs(tmp_path: Path) -> Path:
    path = tmp_path / "gateway-outputs.json"
    stack = GATEWAY_STACK
    path.write_text(json.dumps({"stacks": {"type": "Array", "value": [stack]}}), "utf-8")
    return path


def pool(*weights: tuple[str, int]) -> dict[str, Any]:
    services = [{"id": f"{GATEWAY_ID}/backends/deployment-{name}", "weight": w} for name, w in weights]
    return {"properties": {"type": "Pool", "pool": {"services": services}}}


def pool_patches(fake: FakeAz) -> list[dict[str, int]]:
    """The weights each PATCH of the chat pool set, as {deployment: weight}."""
    out = []
    for call in fake.calls_of("rest"):
        if value_of(call, "--method") != "patch":
            continue
        assert value_of(call, "--url").startswith(
            f"https://management.azure.com{GATEWAY_ID}/backends/pool-chat?"
        )
        assert value_of(call, "--headers") == "If-Match=*"
        services = json.loads(value_of(call, "--body"))["properties"]["pool"]["services"]
        out.append({s["id"].rsplit("deployment-", 1)[1]: s["weight"] for s in services})
    return out


def test_a_canary_through_the_gateway_moves_the_pool_and_restores_it_exactly(
    fake_az: FakeAz, gateway_outputs: Path, tmp_path: Path
) -> None:
    """Breach at step 2: the weights went 90/10 then 50/50, and are put back as they were read."""
    fake_az.respond(
        {
            **BREACH_AT_SECOND_STEP,
            "rest": ok(pool(("chat-blue", 100))),
            "rest post": [*logs(100, 0, 900), *logs(100, 20, 900)],
        }
    )
    previous = tmp_path / "previous.json"
    argv = rollout(gateway_outputs, "canary", "foundation", "chat-green", "--steps", "10,50,100")
    assert traffic.main([*argv, "--save-previous", str(previous)], sleep=lambda seconds: None) == 1
    assert pool_patches(fake_az) == [
        {"chat-blue": 90, "chat-green": 10},
        {"chat-blue": 50, "chat-green": 50},
        {"chat-blue": 100},
    ]
    saved = json.loads(previous.read_text("utf-8"))["stacks"][0]["pool"]  # verbatim, as read
    assert saved == pool(("chat-blue", 100))["properties"]["pool"]["services"]


def test_a_swap_through_the_gateway_leaves_only_the_new_colour_in_the_pool(
    fake_az: FakeAz, gateway_outputs: Path
) -> None:
    fake_az.respond(
        {
            **HEALTHY_FOUNDATION,
            "appconfig kv list": ok(kv()),
            "appconfig kv set": ok({}),
            "rest": ok(pool(("chat-blue", 100))),
            "rest post": logs(400, 1, 1200),
        }
    )
    assert (
        traffic.main(rollout(gateway_outputs, "swap", "foundation", "chat-green"), sleep=lambda s: None) == 0
    )
    assert pool_patches(fake_az) == [{"chat-green": 100}]


SECOND_GATEWAY_STACK = {
    **GATEWAY_STACK,
    "location": "swedencentral",
    "resourceGroup": "rg-prod-swc",
    "primary": False,
    "gatewayId": GATEWAY_ID.replace("rg-prod", "rg-prod-swc").replace("apim-prod", "apim-prod-swc"),
}


@pytest.fixture
def two_gateways(tmp_path: Path) -> Path:
    path = tmp_path / "two-gateways.json"
    stacks = [SECOND_GATEWAY_STACK, GATEWAY_STACK]  # the primary is sorted first
    path.write_text(json.dumps({"stacks": {"type": "Array", "value": stacks}}), "utf-8")
    return path


def pool_bodies(fake: FakeAz) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each PATCH of a pool: the gateway's URL and the services it set."""
    return [
        (value_of(call, "--url"), json.loads(value_of(call, "--body"))["properties"]["pool"]["services"])
        for call in fake.calls_of("rest")
        if value_of(call, "--method") == "patch"
    ]


def test_with_two_regions_every_move_keeps_the_other_region_at_priority_2(
    fake_az: FakeAz, two_gateways: Path
) -> None:
    """A canary's weights move priority 1 only; the other region's serving deployment stays at
    priority 2 in both gateways, and follows the new colour once it takes all traffic there: the
    primary, swapped first, names swedencentral's blue until swedencentral swaps, then is patched
    again with its green."""
    fake_az.respond(
        {
            **HEALTHY_FOUNDATION,
            "appconfig kv list": ok(kv()),
            "appconfig kv set": ok({}),
            "rest": ok(pool(("chat-blue", 100))),
            "rest post": logs(400, 1, 1200),
        }
    )
    argv = rollout(two_gateways, "canary", "foundation", "chat-green", "--steps", "10,100")
    assert traffic.main(argv, sleep=lambda seconds: None) == 0
    second = str(SECOND_GATEWAY_STACK["gatewayId"])
    patches = pool_bodies(fake_az)
    assert [
        url.split("/backends/")[0].removeprefix("https://management.azure.com") for url, _ in patches
    ] == [
        GATEWAY_ID,
        second,
        GATEWAY_ID,
        second,
        GATEWAY_ID,
    ]
    ten, ten_second, hundred, hundred_second, followed = (services for _, services in patches)
    assert ten == [
        {"id": f"{GATEWAY_ID}/backends/deployment-chat-blue", "priority": 1, "weight": 90},
        {"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 10},
        {"id": f"{GATEWAY_ID}/backends/remote-swedencentral-chat-blue", "priority": 2, "weight": 100},
    ]
    assert ten_second[-1] == {
        "id": f"{second}/backends/remote-eastus2-chat-blue",
        "priority": 2,
        "weight": 100,
    }
    assert hundred == [
        {"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 100},
        {"id": f"{GATEWAY_ID}/backends/remote-swedencentral-chat-blue", "priority": 2, "weight": 100},
    ]
    assert hundred_second[-1] == {
        "id": f"{second}/backends/remote-eastus2-chat-green",
        "priority": 2,
        "weight": 100,
    }
    assert followed == [
        {"id": f"{GATEWAY_ID}/backends/deployment-chat-green", "priority": 1, "weight": 100},
        {"id": f"{GATEWAY_ID}/backends/remote-swedencentral-chat-green", "priority": 2, "weight": 100},
    ]


def test_with_two_regions_a_rollback_puts_both_priorities_back_verbatim(
    fake_az: FakeAz, two_gateways: Path, tmp_path: Path
) -> None:
    read = [
        {"id": f"{GATEWAY_ID}/backends/deployment-chat-blue", "priority": 1, "weight": 100},
        {"id": f"{GATEWAY_ID}/backends/remote-swedencentral-chat-blue", "priority": 2, "weight": 100},
    ]
    fake_az.respond(
        {
            **BREACH_AT_SECOND_STEP,
            "rest": ok({"properties": {"type": "Pool", "pool": {"services": read}}}),
            "rest post": [*logs(100, 0, 900), *logs(100, 0, 900), *logs(100, 20, 900)],
        }
    )
    previous = tmp_path / "previous.json"
    argv = rollout(two_gateways, "canary", "foundation", "chat-green", "--steps", "10,50,100")
    assert traffic.main([*argv, "--save-previous", str(previous)], sleep=lambda seconds: None) == 1
    assert json.loads(previous.read_text("utf-8"))["stacks"][0]["pool"] == read
    restored = [services for url, services in pool_bodies(fake_az) if GATEWAY_ID in url][-1]
    assert restored == read


def test_with_two_gateways_the_state_gives_each_regions_own_serving_deployment(
    fake_az: FakeAz, two_gateways: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gateway.bicep writes priority 2 from `regions`: each region's endpoint, scoring URIs and what
    serves there, read from that region's own App Configuration (not the primary's)."""
    fake_az.respond(
        {
            "appconfig kv list": [{"stdout": kv("chat-green")}, {"stdout": kv("chat-blue")}],
            "cognitiveservices account deployment list": ok([]),
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 100}}),
            "ml online-deployment list": ok([{"name": "blue", "model": "azureml:churn:4"}]),
        }
    )
    assert traffic.main(["state", "--outputs", str(two_gateways), "--env", "prod"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["active"] == {"chat": "chat-green"}  # the primary's
    assert state["regions"] == {
        "eastus2": {
            "aiServicesEndpoint": STACK["aiServicesEndpoint"],
            "active": {"chat": "chat-green"},
            "scoringUris": {"churn": "https://churn/score"},
        },
        "swedencentral": {
            "aiServicesEndpoint": STACK["aiServicesEndpoint"],
            "active": {"chat": "chat-blue"},
            "scoringUris": {"churn": "https://churn/score"},
        },
    }
    stores = [value_of(c, "--endpoint") for c in fake_az.calls_of("appconfig kv list")]
    assert len(stores) == 2  # one read per region


def test_with_one_gateway_the_state_has_no_regions(
    fake_az: FakeAz, gateway_outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond(
        {
            "appconfig kv list": ok(kv()),
            "cognitiveservices account deployment list": ok([]),
            "ml online-endpoint show": ok({"id": ENDPOINT_ID, "traffic": {"blue": 100}}),
            "ml online-deployment list": ok([]),
        }
    )
    assert traffic.main(["state", "--outputs", str(gateway_outputs), "--env", "prod"]) == 0
    assert "regions" not in json.loads(capsys.readouterr().out)


def test_priority_2_names_what_serves_in_the_other_region_not_the_local_colour(
    fake_az: FakeAz, two_gateways: Path
) -> None:
    """swedencentral still serves blue (its own App Configuration) while eastus2 moves: each canary
    step of eastus2 keeps swedencentral's blue at priority 2, and swedencentral keeps eastus2's green."""
    fake_az.respond(
        {
            **HEALTHY_FOUNDATION,
            # the snapshot, then region_actives, read eastus2 then swedencentral
            "appconfig kv list": [
                {"stdout": kv("chat-green")},
                {"stdout": kv("chat-blue")},
                {"stdout": kv("chat-green")},
                {"stdout": kv("chat-blue")},
            ],
            "appconfig kv set": ok({}),
            "rest": ok(pool(("chat-green", 100))),
        }
    )
    argv = ["shift", *target(two_gateways, "foundation", "chat"), "--to", "chat-next", "--percent", "10"]
    assert traffic.main(argv) == 0
    second = str(SECOND_GATEWAY_STACK["gatewayId"])
    (east_url, east), (swc_url, swc) = pool_bodies(fake_az)[-2:]
    assert GATEWAY_ID in east_url and second in swc_url
    assert east[-1]["id"] == f"{GATEWAY_ID}/backends/remote-swedencentral-chat-blue"
    assert swc[-1]["id"] == f"{second}/backends/remote-eastus2-chat-green"
    assert [s["priority"] for s in east + swc] == [1, 1, 2, 1, 1, 2]


def test_without_a_gateway_no_pool_is_touched(fake_az: FakeAz, outputs: Path) -> None:
    fake_az.respond({**HEALTHY_FOUNDATION, "appconfig kv list": ok(kv()), "appconfig kv set": ok({})})
    argv = rollout(outputs, "canary", "foundation", "chat-green", "--steps", "10,100")
    assert traffic.main(argv, sleep=lambda seconds: None) == 0
    assert fake_az.calls_of("rest") == []
