"""The AI gateway: when the spec gets one, and what its Bicep and parameters hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.render.all import render
from generator.spec.model import Spec
from generator.spec.validate import load_spec
from generator.targets.bicep.files import ROLES, parameters
from tests.helpers import MINIMAL, write_tree

CANARY = """\
  - name: prod
    strategy:
      type: canary
      steps: [10, 100]
      bakeMinutes: 5
      rollback: {errorRatePercent: 2}
"""
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def spec_of(tmp_path: Path, text: str) -> Spec:
    write_tree(tmp_path, {"almgen.yaml": text})
    return load_spec(tmp_path / "almgen.yaml")


def with_canary(text: str) -> str:
    """A prod environment after dev that rolls out by canary."""
    return text.replace("  - name: dev\n", "  - name: dev\n" + CANARY)


@pytest.mark.parametrize(
    ("extra", "canary", "expected"),
    [
        ("", False, "none"),  # direct, nothing to enforce: the App Configuration contract is enough
        ("", True, "apim"),  # a canary of a foundation model: only the gateway moves its traffic
        ("configuration:\n  rateLimits: {tokensPerMinute: 1000}\n", False, "apim"),
        ("configuration:\n  cors: {allowedOrigins: ['https://app.contoso.com']}\n", False, "apim"),
        ("configuration:\n  cors: {allowedOrigins: []}\n", False, "none"),  # no origin: nothing to enforce
        ("gateway: {type: none}\n", True, "none"),  # the spec's word wins
        ("gateway: {type: apim}\n", False, "apim"),
    ],
)
def test_the_gateway_is_on_where_it_makes_a_setting_real(
    tmp_path: Path, extra: str, canary: bool, expected: str
) -> None:
    text = (with_canary(MINIMAL) if canary else MINIMAL) + extra
    assert spec_of(tmp_path, text).gateway.type == expected


def test_no_default_gateway_without_a_foundation_model(tmp_path: Path) -> None:
    """Unset, the gateway comes for foundation models only: a custom model's endpoint moves its own
    traffic. `type: apim` puts custom models behind it too (tests/test_custom_gateway.py)."""
    shutil.copytree(SAMPLES / "custom-model-devops", tmp_path / "svc")
    spec = tmp_path / "svc" / "almgen.yaml"
    spec.write_text(spec.read_text("utf-8") + "configuration:\n  rateLimits: {requestsPerMinute: 60}\n")
    assert load_spec(spec).gateway.type == "none"


def test_the_default_sku_is_a_v2_tier(tmp_path: Path) -> None:
    assert spec_of(tmp_path, with_canary(MINIMAL)).gateway.sku == "BasicV2"
    assert spec_of(tmp_path, MINIMAL + "gateway: {sku: StandardV2}\n").gateway.sku == "StandardV2"


def test_the_default_sku_with_agents_is_standard_v2(tmp_path: Path) -> None:
    """Agents reach their model through the gateway's ApiManagement connection, which Foundry's
    guide asks Standard v2 or Premium for: unset, the SKU follows; set, the spec's word wins."""
    sample = tmp_path / "svc"
    shutil.copytree(SAMPLES / "enterprise", sample)
    spec = sample / "almgen.yaml"
    assert "gateway:" not in spec.read_text("utf-8") and load_spec(spec).gateway.sku == "StandardV2"
    spec.write_text(spec.read_text("utf-8") + "gateway: {sku: BasicV2}\n", "utf-8")
    assert load_spec(spec).gateway.sku == "BasicV2"


def test_an_unknown_sku_is_refused(tmp_path: Path) -> None:
    from generator.errors import SpecInvalid

    with pytest.raises(SpecInvalid) as raised:
        spec_of(tmp_path, MINIMAL + "gateway: {type: apim, sku: Developer}\n")
    (issue,) = raised.value.issues
    assert (issue.path, issue.expected) == ("gateway.sku", "one of 'BasicV2' or 'StandardV2'")


def test_the_gateway_parameters_follow_the_spec(tmp_path: Path) -> None:
    text = with_canary(MINIMAL) + (
        "configuration:\n  rateLimits: {requestsPerMinute: 60, tokensPerMinute: 5000}\n"
        "  cors: {allowedOrigins: ['https://app.contoso.com']}\n"
    )
    spec = spec_of(tmp_path, text)
    gateway = parameters(spec, spec.environment("prod"))["gateway"]
    assert gateway["models"] == [{"model": "chat", "initialDeployment": "chat-blue"}]
    assert gateway["backends"] == [
        {"name": "deployment-chat-blue", "deployment": "chat-blue"},
        {"name": "deployment-chat-green", "deployment": "chat-green"},
    ]
    assert (gateway["requestsPerMinute"], gateway["tokensPerMinute"]) == (60, 5000)
    assert gateway["allowedOrigins"] == ["https://app.contoso.com"]


def test_without_a_gateway_there_is_no_gateway_bicep(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, MINIMAL)
    paths = {f.path for f in render(spec)}
    assert "infra/modules/gateway.bicep" not in paths
    assert "gateway" not in parameters(spec, spec.environments[0])


def test_the_gateway_calls_models_with_its_own_identity_and_keeps_live_weights(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, with_canary(MINIMAL))
    files = {f.path: f.text for f in render(spec)}
    bicep = files["infra/modules/gateway.bicep"]
    user = ROLES["cognitiveServicesOpenAIUser"]
    assert f"guid(account.id, gateway.id, '{user}')" in bicep
    assert "principalId: gateway.identity.principalId" in bicep
    assert '<authentication-managed-identity resource="https://cognitiveservices.azure.com" />' in bicep
    # the pool's weights come from the live state the deploy step passes, as traffic.py composes them
    assert "activeDeployments[?model.model] ?? model.initialDeployment" in bicep
    assert "weight: 100 - pool.canary.percent" in bicep
    stack = files["infra/modules/stack.bicep"]
    assert "output gatewayEndpoint string = aiGateway.outputs.url" in stack
    assert "gatewayEndpoint: regionStacks[index].outputs.gatewayEndpoint" in files["infra/main.bicep"]


def test_the_gateway_logs_every_request_to_log_analytics_for_health(tmp_path: Path) -> None:
    """GatewayLogs in the resource-specific table the health check queries, and the workspace's
    customer ID in the outputs the pipeline reads."""
    spec = spec_of(tmp_path, with_canary(MINIMAL))
    files = {f.path: f.text for f in render(spec)}
    bicep = files["infra/modules/gateway.bicep"]
    setting = bicep.split("resource gatewayLogs 'Microsoft.Insights/diagnosticSettings@", 1)[1]
    setting = setting.split("\n}\n", 1)[0]
    assert "scope: gateway" in setting
    assert "workspaceId: workspaceId" in setting
    assert "logAnalyticsDestinationType: 'Dedicated'" in setting
    assert "category: 'GatewayLogs'" in setting
    stack = files["infra/modules/stack.bicep"]
    gateway_module = stack.split("module aiGateway", 1)[1].split("\n}\n", 1)[0]
    assert "workspaceId: monitoring.outputs.workspaceId" in gateway_module
    assert "output logAnalyticsCustomerId string = monitoring.outputs.workspaceCustomerId" in stack
    main = files["infra/main.bicep"]
    assert "logAnalyticsCustomerId: regionStacks[index].outputs.logAnalyticsCustomerId" in main
    monitoring = files["infra/modules/monitoring.bicep"]
    assert "output workspaceCustomerId string = workspace.properties.customerId" in monitoring


def test_without_a_gateway_the_outputs_name_no_log_workspace(tmp_path: Path) -> None:
    files = {f.path: f.text for f in render(spec_of(tmp_path, MINIMAL))}
    assert "logAnalyticsCustomerId" not in files["infra/main.bicep"]


def test_with_two_regions_each_gateway_fails_over_to_the_other_region(tmp_path: Path) -> None:
    """Per region: a backend for each deployment of the other region, the pool's priority-2 members,
    and a role on the other region's account; modules deployed after the region loop."""
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    prod = spec.environment("prod")
    assert prod.regions == ("eastus2", "swedencentral")
    failover = parameters(spec, prod)["gateway"]["failover"]
    east, sweden = failover["regions"]
    assert east["stack"] == 0 and sweden["stack"] == 1
    assert {
        "name": "remote-swedencentral-chat-green",
        "stack": 1,
        "location": "swedencentral",
        "deployment": "chat-green",
    } in east["backends"]
    assert len(east["backends"]) == len(parameters(spec, prod)["modelDeployments"])
    assert sweden["members"][0] == {
        "model": "chat",
        "initialDeployment": "chat-blue",
        "location": "eastus2",
        "weight": 100,
    }
    assert failover["access"] == [{"gateway": 0, "account": 1}, {"gateway": 1, "account": 0}]
    # one region: nothing to fail over to
    assert parameters(spec, spec.environment("dev"))["gateway"]["failover"] == {"regions": [], "access": []}
    files = {f.path: f.text for f in render(spec)}
    main = files["infra/main.bicep"]
    assert main.index("module regionStacks") < main.index("module gatewayAccess")
    assert main.index("module gatewayAccess") < main.index("module gatewayFailover")
    assert "scope: resourceGroups[pair.account]" in main  # the role is written in the account's group
    access = files["infra/modules/gateway-access.bicep"]
    assert f"'{ROLES['cognitiveServicesOpenAIUser']}'" in access and "scope: account" in access
    pools = files["infra/modules/gateway-failover.bicep"]
    assert "priority: 2" in pools
    assert "concat(poolServices[index], take(skip(failoverServices" in pools
    assert "priority: 1" in files["infra/modules/gateway.bicep"]


def test_with_one_region_everywhere_no_failover_module_is_generated(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, with_canary(MINIMAL))
    files = {f.path: f.text for f in render(spec)}
    assert "infra/modules/gateway.bicep" in files
    assert "infra/modules/gateway-failover.bicep" not in files
    assert "gatewayFailover" not in files["infra/main.bicep"]
    assert "failover" not in parameters(spec, spec.environment("prod"))["gateway"]
