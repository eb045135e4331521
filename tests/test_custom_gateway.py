"""Custom models' online endpoints behind the AI gateway: an API, backends and a pool per model,
the gateway's identity scoring the endpoints, failover to the other region's endpoint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from generator.commands.setup.roles import BICEP_ASSIGNS
from generator.render.all import render
from generator.spec.validate import load_spec
from generator.targets.bicep.files import ROLES, parameters
from tests import tools
from tests.custom_gateway import custom_gateway_sample
from tests.helpers import write_tree
from tests.test_bicep import _norm, _required, parameter_problems, parse


def _files(tmp_path: Path) -> dict[str, str]:
    spec = load_spec(custom_gateway_sample(tmp_path / "svc"))
    return {f.path: f.text for f in render(spec)}


def test_a_custom_model_spec_may_have_the_gateway(tmp_path: Path) -> None:
    spec = load_spec(custom_gateway_sample(tmp_path / "svc"))
    assert spec.gateway.type == "apim" and spec.gateway_failover
    gateway = parameters(spec, spec.environment("prod"))["gateway"]
    assert gateway["models"] == [] and gateway["backends"] == []  # no foundation model
    west, north = gateway["failover"]["regions"]
    assert west["location"] == "westeurope"  # gateway.bicep finds its own entry by it
    assert west["endpointBackends"] == [
        {
            "name": "remote-northeurope-endpoint-fraud",
            "stack": 1,
            "index": 0,
            "location": "northeurope",
            "model": "fraud",
        }
    ]
    assert north["endpointMembers"] == [
        {
            "model": "fraud",
            "backend": "remote-westeurope-endpoint-fraud",
            "location": "westeurope",
            "weight": 100,
        }
    ]


def test_the_gateway_fronts_each_online_endpoint_with_its_own_identity(tmp_path: Path) -> None:
    files = _files(tmp_path)
    gateway = files["infra/modules/gateway.bicep"]
    assert "path: 'models/${endpoint.model}'" in gateway and "urlTemplate: '/score'" in gateway
    assert "url: 'https://${split(endpoint.scoringUri, '/')[2]}'" in gateway
    assert '<authentication-managed-identity resource="https://ml.azure.com" />' in gateway
    assert "<audience>https://ml.azure.com</audience>" in gateway
    assert 'backend-id="pool-${endpoint.model}"' in gateway
    scorers = gateway.split("resource gatewayEndpointScorers ", 1)[1].split("\n}]\n", 1)[0]
    assert "scope: endpointResources[index]" in scorers  # the endpoint, not the workspace
    assert ROLES["azureMLDataScientist"] in scorers and "azureMLDataScientist" in BICEP_ASSIGNS
    access = files["infra/modules/gateway-access.bicep"]
    assert "resource gatewayEndpointScorers" in access
    failover = files["infra/modules/gateway-failover.bicep"]
    assert "resource endpointPools" in failover and "priority: 2" in failover
    # the endpoint keeps splitting its colours: the gateway's pool holds the endpoint, not colours
    assert "authMode: 'AADToken'" in files["infra/modules/machine-learning.bicep"]
    assert "blue" not in gateway and "green" not in gateway
    assert "`<gateway>/models/<model>/score`" in files["docs/alm/PIPELINE.md"]
    assert "ALMGEN_MODEL_FRAUD_GATEWAY_URL" in files["docs/alm/CONTRACT.md"]


def test_the_custom_gateway_bicep_parses_and_its_parameters_match(tmp_path: Path) -> None:
    files = _files(tmp_path)
    bicep = {p: t for p, t in files.items() if p.endswith(".bicep")}
    for text in bicep.values():
        parse(text)
    for env in ("dev", "staging", "prod"):
        assert parameter_problems(files[f"infra/env/{env}.bicepparam"], files["infra/main.bicep"]) == []
    call = re.compile(r"^module (\w+) '([^']+)' = [^\n]*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
    for path, text in bicep.items():
        for _name, target, body in call.findall(text):
            module = _norm(f"{Path(path).parent.as_posix()}/{target}")
            declared: dict[str, Any] = parse(bicep[module])["parameters"]
            passed = re.findall(r"^    (\w+):", body.split("params: {", 1)[1], re.MULTILINE)
            assert not [p for p in passed if p not in declared], (path, module)
            required = [n for n, p in declared.items() if _required(p) and n not in passed]
            assert not required, (path, module, required)


@pytest.mark.slow
def test_checkov_finds_nothing_in_the_custom_gateway_bicep(tmp_path: Path) -> None:
    files = _files(tmp_path)
    write_tree(tmp_path / "out", {p: t for p, t in files.items() if p.startswith("infra/")})
    report = tools.checkov(tmp_path / "out", "bicep")
    failed = report["results"]["failed_checks"]
    assert report["summary"]["parsing_errors"] == 0
    assert not failed, [f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed]
    scanned = {c["file_path"] for k in ("passed_checks", "skipped_checks") for c in report["results"][k]}
    assert "/infra/modules/gateway.bicep" in scanned
