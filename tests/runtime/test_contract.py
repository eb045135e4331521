"""contract.py: the environment contract of test and gate commands, from outputs, routing and agents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.runtime import contract
from tests.runtime.conftest import FakeAz

PRIMARY = {
    "location": "eastus2",
    "resourceGroup": "rg-svc-prod",
    "primary": True,
    "aiServicesName": "ais-svc-prod",
    "aiServicesEndpoint": "https://ais-svc-prod.cognitiveservices.azure.com/",
    "appConfigurationEndpoint": "https://appcs-svc-prod.azconfig.io",
    "workspaceName": "mlw-svc-prod",
    "onlineEndpoints": [{"model": "fraud", "name": "fraud-prod"}],
}
SECONDARY = {**PRIMARY, "location": "swedencentral", "primary": False, "aiServicesEndpoint": "https://b/"}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "outputs.json").write_text(json.dumps({"stacks": {"value": [SECONDARY, PRIMARY]}}))
    models = [
        {"name": "chat-mini", "kind": "foundation", "version": "2"},
        {"name": "fraud", "kind": "custom", "version": "1.1.0"},
    ]
    release = {
        "foundryProject": True,
        "environments": {"prod": {"models": models, "agents": [{"name": "support"}]}},
    }
    (tmp_path / "release.json").write_text(json.dumps(release))
    (tmp_path / "state.json").write_text(
        json.dumps({"active": {"chat-mini": "chat-mini-blue"}, "versions": {"chat-mini-blue": "1"}})
    )
    (tmp_path / "candidates.json").write_text(json.dumps({"fraud": "green"}))
    return tmp_path


def _routing(fake_az: FakeAz, agents: list[dict[str, str]], live: str = "") -> None:
    """The routing keys (and the agent's live version, LIVE), and the versions of the agent."""
    keys = [{"key": "almgen:active:chat-mini", "value": "chat-mini-blue"}]
    keys += [{"key": "almgen:agent:support", "value": live}] if live else []
    fake_az.respond(
        {
            "appconfig kv list": [{"stdout": keys}],
            "ml online-endpoint show": [{"stdout": {"traffic": {"blue": 100, "green": 0}}}],
            "rest": [{"stdout": {"data": agents, "has_more": False}}],
        }
    )


def _run(files: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    argv = [
        "--outputs",
        str(files / "outputs.json"),
        "--env",
        "prod",
        "--release",
        str(files / "release.json"),
    ]
    code = contract.main([*argv, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_live_contract_of_the_primary_region(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    versions = [{"id": "support:2", "version": "2"}, {"id": "support:1", "version": "1"}]
    _routing(fake_az, versions, live="1")
    code, out = _run(files, capsys)
    assert code == 0
    assert dict(line.split("=", 1) for line in out.splitlines()) == {
        "ALMGEN_ENVIRONMENT": "prod",
        "ALMGEN_REGION": "eastus2",
        "ALMGEN_ENDPOINT": PRIMARY["aiServicesEndpoint"],
        "AZURE_OPENAI_ENDPOINT": PRIMARY["aiServicesEndpoint"],
        "ALMGEN_APPCONFIG_ENDPOINT": PRIMARY["appConfigurationEndpoint"],
        "ALMGEN_TARGET": "live",
        "ALMGEN_MODEL_CHAT_MINI_DEPLOYMENT": "chat-mini-blue",
        "ALMGEN_MODEL_CHAT_MINI_LIVE_DEPLOYMENT": "chat-mini-blue",
        "ALMGEN_MODEL_FRAUD_ONLINE_ENDPOINT": "fraud-prod",
        "ALMGEN_MODEL_FRAUD_DEPLOYMENT": "blue",
        "ALMGEN_MODEL_FRAUD_LIVE_DEPLOYMENT": "blue",
        "AZURE_OPENAI_DEPLOYMENT": "chat-mini-blue",
        "ALMGEN_PROJECT_ENDPOINT": "https://ais-svc-prod.services.ai.azure.com/api/projects/agents",
        "AZURE_AI_PROJECT_ENDPOINT": "https://ais-svc-prod.services.ai.azure.com/api/projects/agents",
        "ALMGEN_AGENT_SUPPORT_NAME": "support",
        "ALMGEN_AGENT_SUPPORT_VERSION": "1",  # gates call the live version, not the newest
        "ALMGEN_AGENT_SUPPORT_LIVE_VERSION": "1",
        "ALMGEN_AGENT_SUPPORT_ID": "support:1",
    }
    call = fake_az.calls_of("appconfig kv list")[0]
    assert call[call.index("--label") + 1] == "prod"


@pytest.mark.parametrize("project", [True, False])
def test_the_project_endpoint_is_named_when_the_environment_has_a_project(
    project: bool, files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    """A safety gate without agents still needs the project: its evaluators run there."""
    release = json.loads((files / "release.json").read_text())
    release["foundryProject"] = project
    release["environments"]["prod"]["agents"] = []
    (files / "release.json").write_text(json.dumps(release))
    _routing(fake_az, [])
    code, out = _run(files, capsys)
    assert code == 0
    names = dict(line.split("=", 1) for line in out.splitlines())
    endpoint = "https://ais-svc-prod.services.ai.azure.com/api/projects/agents"
    assert names.get("AZURE_AI_PROJECT_ENDPOINT") == (endpoint if project else None)
    assert not any(name.startswith("ALMGEN_AGENT_") for name in names)


def test_the_candidate_target_names_the_new_deployments(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    _routing(fake_az, [])
    extra = ["--target", "candidate", "--state", str(files / "state.json")]
    code, out = _run(files, capsys, *extra, "--candidates", str(files / "candidates.json"))
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert code == 0
    assert (
        values["ALMGEN_MODEL_CHAT_MINI_DEPLOYMENT"] == values["AZURE_OPENAI_DEPLOYMENT"] == "chat-mini-green"
    )
    assert values["ALMGEN_MODEL_CHAT_MINI_LIVE_DEPLOYMENT"] == "chat-mini-blue"
    assert values["ALMGEN_MODEL_FRAUD_DEPLOYMENT"] == "green"
    assert values["ALMGEN_AGENT_SUPPORT_ID"] == values["ALMGEN_AGENT_SUPPORT_VERSION"] == ""  # none yet


def test_tests_call_the_agents_candidate_version(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    """agents.py candidate's summary names the version the tests call, per region; live stays live."""
    _routing(fake_az, [], live="1")
    summary = [
        {"agent": "support", "version": "3", "id": "support:3", "region": "eastus2"},
        {"agent": "support", "version": "4", "id": "support:4", "region": "swedencentral"},
    ]
    (files / "agents.json").write_text(json.dumps(summary))
    code, out = _run(files, capsys, "--agents", str(files / "agents.json"))
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert code == 0, out
    assert values["ALMGEN_AGENT_SUPPORT_VERSION"] == "3"  # the primary region's candidate
    assert values["ALMGEN_AGENT_SUPPORT_ID"] == "support:3"
    assert values["ALMGEN_AGENT_SUPPORT_LIVE_VERSION"] == "1"


def test_devops_format_and_out_file(files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]) -> None:
    _routing(fake_az, [])
    code, out = _run(files, capsys, "--format", "devops", "--out", str(files / "contract.txt"))
    assert (code, out) == (0, "")
    lines = (files / "contract.txt").read_text().splitlines()
    assert lines[0] == "##vso[task.setvariable variable=ALMGEN_ENVIRONMENT]prod"


@pytest.mark.parametrize("hostile", ["chat\nALMGEN_X=1", "a]b", "50%", "x;y", "$(whoami)", "a b"])
def test_a_value_outside_the_safe_characters_is_refused(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    fake_az.respond(
        {
            "appconfig kv list": [{"stdout": [{"key": "almgen:active:chat-mini", "value": hostile}]}],
            "ml online-endpoint show": [{"stdout": {"traffic": {"blue": 100}}}],
            "rest": [{"stdout": {"data": [], "has_more": False}}],
        }
    )
    code, out = _run(files, capsys)
    assert code == 2
    assert "may not have" in out


def test_azure_refusing_fails_and_a_missing_environment_is_bad_input(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.respond({"appconfig kv list": [{"exit": 1, "stderr": "ERROR: Forbidden"}]})
    assert _run(files, capsys)[0] == 1
    argv = ["--outputs", str(files / "outputs.json"), "--env", "qa", "--release", str(files / "release.json")]
    assert contract.main(argv) == 2


def test_the_gateway_endpoint_is_named_when_the_outputs_have_a_gateway(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests reach the models as customers do: through the primary region's gateway."""
    gateway = "https://apim-svc-prod.azure-api.net"
    stacks = [
        {**SECONDARY, "gatewayEndpoint": "https://apim-b.azure-api.net"},
        {**PRIMARY, "gatewayEndpoint": gateway},
    ]
    (files / "outputs.json").write_text(json.dumps({"stacks": {"value": stacks}}))
    _routing(fake_az, [])
    code, out = _run(files, capsys)
    assert code == 0
    assert dict(line.split("=", 1) for line in out.splitlines())["ALMGEN_GATEWAY_ENDPOINT"] == gateway


def test_custom_models_are_scored_through_the_regions_gateway(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    """A custom model behind the gateway: its scoring URL is that region's gateway's."""
    gateway = "https://apim-svc-prod.azure-api.net"
    stacks = [
        {**SECONDARY, "gatewayEndpoint": "https://apim-b.azure-api.net"},
        {**PRIMARY, "gatewayEndpoint": gateway},
    ]
    (files / "outputs.json").write_text(json.dumps({"stacks": {"value": stacks}}))
    _routing(fake_az, [])
    code, out = _run(files, capsys)
    assert code == 0
    pairs = dict(line.split("=", 1) for line in out.splitlines())
    assert pairs["ALMGEN_MODEL_FRAUD_GATEWAY_URL"] == f"{gateway}/models/fraud/score"
    assert "ALMGEN_MODEL_CHAT_MINI_GATEWAY_URL" not in pairs  # foundation models: ALMGEN_GATEWAY_ENDPOINT


def test_no_gateway_endpoint_without_a_gateway(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    _routing(fake_az, [])
    code, out = _run(files, capsys)
    assert code == 0
    assert "ALMGEN_GATEWAY_ENDPOINT" not in out and "_GATEWAY_URL" not in out


def test_out_dir_writes_one_contract_per_region_primary_first(
    files: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    _routing(fake_az, [{"id": "asst_1", "name": "support"}])
    out = files / "contracts"
    out.mkdir()
    (out / "7-stale.env").write_text("ALMGEN_REGION=gone\n")  # a re-run in the same workspace
    code, _ = _run(files, capsys, "--out-dir", str(out))
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["0-eastus2.env", "1-swedencentral.env"]
    read = {p.name: dict(line.split("=", 1) for line in p.read_text().splitlines()) for p in out.iterdir()}
    assert read["0-eastus2.env"]["ALMGEN_ENDPOINT"] == PRIMARY["aiServicesEndpoint"]
    assert read["1-swedencentral.env"]["ALMGEN_REGION"] == "swedencentral"
    assert read["1-swedencentral.env"]["ALMGEN_ENDPOINT"] == SECONDARY["aiServicesEndpoint"]
