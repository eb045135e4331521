"""The generated Bicep: parsed by pycep-parser, scanned by checkov, parameter files checked."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from pycep import BicepParser

from generator.render.all import render
from generator.render.outputs import OutputFile
from generator.spec.validate import load_spec
from tests import tools
from tests.conftest import SAMPLE_NAMES, SAMPLES
from tests.generated import outputs, write_tree
from tests.helpers import MINIMAL
from tests.helpers import write_tree as write_files


def _bicep(files: tuple[OutputFile, ...] | list[OutputFile]) -> dict[str, str]:
    return {f.path: f.text for f in files if f.path.endswith(".bicep")}


def parse(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(text=text))


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_every_bicep_file_parses(sample: str) -> None:
    files = _bicep(outputs(sample))
    assert "infra/main.bicep" in files
    for path, text in files.items():
        try:
            parse(text)
        except Exception as exc:  # pycep raises lark errors of several kinds
            pytest.fail(f"{sample}: {path} does not parse: {exc}")


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every sample's infra/ (its start-up dominates: run it once)."""
    root = tmp_path_factory.mktemp("bicep")
    for sample in SAMPLE_NAMES:
        write_tree(sample, root / sample)
    return tools.checkov(root, "bicep")


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_checkov_finds_nothing(sample: str, checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    mine = [c for c in results["failed_checks"] if c["file_path"].startswith(f"/{sample}/")]
    details = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in mine]
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert not mine, "\n".join(details)
    scanned = {c["file_path"] for k in ("passed_checks", "skipped_checks") for c in results[k]}
    assert f"/{sample}/infra/modules/ai-services.bicep" in scanned  # checkov really read the files
    for skipped in results["skipped_checks"]:
        assert skipped.get("check_result", {}).get("suppress_comment"), f"a skip without reason: {skipped}"


def _required(param: dict[str, Any]) -> bool:
    """No default value and not a nullable type (`string?`)."""
    return param.get("default") is None and not str(param.get("type", "")).endswith("?")


_USING = re.compile(r"^using '([^']+)'$", re.MULTILINE)
_PARAM = re.compile(r"^param (\w+) =", re.MULTILINE)


def parameter_problems(bicepparam: str, template: str) -> list[str]:
    """What is wrong with a .bicepparam against the template it names (the Bicep CLI's check)."""
    declared = parse(template)["parameters"]
    given = _PARAM.findall(bicepparam)
    problems = [f"sets {name}, which the template does not declare" for name in given if name not in declared]
    problems += [f"sets {name} twice" for name in set(given) if given.count(name) > 1]
    required = [name for name, p in declared.items() if _required(p)]
    problems += [f"does not set the required parameter {name}" for name in required if name not in given]
    return problems


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_each_parameter_file_matches_its_template(sample: str) -> None:
    files = {f.path: f.text for f in outputs(sample)}
    spec = load_spec(Path(__file__).parent.parent / "samples" / sample / "almgen.yaml")
    for env in spec.environments:
        path = f"infra/env/{env.name}.bicepparam"
        text = files[path]
        (using,) = _USING.findall(text)
        template = _norm(f"{Path(path).parent.as_posix()}/{using}")
        assert template in files, f"{path} uses {using}, which is not generated"
        assert parameter_problems(text, files[template]) == [], path


def _norm(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def test_the_parameter_check_catches_unknown_and_missing_parameters() -> None:
    template = "param a string\nparam b string = 'x'\n"
    assert parameter_problems("using 'main.bicep'\nparam a = 'v'\n", template) == []
    assert parameter_problems("using 'main.bicep'\nparam b = 'v'\nparam c = 1\n", template) == [
        "sets c, which the template does not declare",
        "does not set the required parameter a",
    ]


def test_module_parameters_match_the_modules(tmp_path: Path) -> None:
    """Every `module x 'file.bicep' = { params: {...} }` passes only declared, and all required, params."""
    files = _bicep(outputs("enterprise")) | _bicep(outputs("custom-model-devops"))
    call = re.compile(r"^module (\w+) '([^']+)' = [^\n]*\{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
    for path, text in files.items():
        for _name, target, body in call.findall(text):
            module = _norm(f"{Path(path).parent.as_posix()}/{target}")
            declared = parse(files[module])["parameters"]
            params_block = body.split("params: {", 1)[1]
            passed = re.findall(r"^    (\w+):", params_block, re.MULTILINE)
            unknown = [p for p in passed if p not in declared]
            missing = [n for n, p in declared.items() if _required(p) and n not in passed]
            assert not unknown and not missing, f"{path} -> {module}: unknown {unknown}, missing {missing}"


HOSTILE = "it's ${subscription().id} \\ done\nline two $(whoami) '; drop"


def _unescape(literal: str) -> str:
    assert literal.startswith("'") and literal.endswith("'")
    body, out, index = literal[1:-1], [], 0
    table = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}
    while index < len(body):
        char = body[index]
        if char == "\\":
            out.append(table[body[index + 1]])
            index += 2
        else:
            assert char != "'", "an unescaped quote would end the string"
            out.append(char)
            index += 1
    return "".join(out)


def test_hostile_text_arrives_in_bicep_as_the_same_text(tmp_path: Path) -> None:
    quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    one_line = quoted.replace("\\n", " ")  # a tag is one line (validate refuses a line break there)
    spec_text = MINIMAL.replace(
        "{name: demo-svc}", f'{{name: demo-svc, description: "{quoted}", tags: {{note: "{one_line}"}}}}'
    )
    spec_text += f'configuration:\n  appConfiguration:\n    settings: {{"App:Note": "{quoted}"}}\n'
    write_files(tmp_path, {"almgen.yaml": spec_text})
    files = {f.path: f.text for f in render(load_spec(tmp_path / "almgen.yaml"))}
    main = files["infra/main.bicep"]
    parse(main)
    description = parse(main)["metadata"]["description"]["value"]
    assert HOSTILE in _unescape(f"'{description}'")
    dev = files["infra/env/dev.bicepparam"]
    literals = re.findall(r"'(?:[^'\\]|\\.)*'", dev)
    values = [_unescape(lit) for lit in literals]
    assert values.count(HOSTILE) == 1  # the setting, exactly once
    assert values.count(HOSTILE.replace("\n", " ")) == 1  # the tag
    # nothing interpolates: every $ in a literal is escaped
    assert all("${" not in re.sub(r"\\\$", "", lit) for lit in literals)


def test_enterprise_prod_has_two_regional_stacks_and_more_capacity_than_dev() -> None:
    files = {f.path: f.text for f in outputs("enterprise")}
    prod, dev = files["infra/env/prod.bicepparam"], files["infra/env/dev.bicepparam"]
    assert prod.count("resourceGroup: ") == 2
    assert "location: 'eastus2'" in prod and "location: 'swedencentral'" in prod
    assert "primary: true" in prod and "primary: false" in prod
    assert dev.count("resourceGroup: ") == 1

    def capacity(text: str, deployment: str) -> int:
        block = text.split(f"name: '{deployment}'", 1)[1]
        return int(re.search(r"capacity: (\d+)", block).group(1))  # type: ignore[union-attr]

    assert capacity(dev, "chat") < capacity(prod, "chat-blue")


def test_model_deployments_carry_lineage_tags() -> None:
    files = {f.path: f.text for f in outputs("custom-model-devops")}
    prod = files["infra/env/prod.bicepparam"]
    assert "'training-data-asset': 'fraud-transactions'" in prod
    assert "'training-data-version': '12'" in prod
    assert "'model-version': '1.3.0'" in prod


def test_agent_services_filter_indirect_attacks_and_protected_material() -> None:
    from tests.generated import outputs

    params = next(f.text for f in outputs("enterprise") if f.path == "infra/env/prod.bicepparam")
    for name, source in (
        ("Indirect Attack", "Prompt"),
        ("Protected Material Text", "Completion"),
        ("Protected Material Code", "Completion"),
    ):
        assert (
            f"name: '{name}'\n        blocking: true\n        enabled: true\n        source: '{source}'"
            in params
        )
    # a service without agents may still retrieve documents in its own code: shields by default
    no_agents = next(f.text for f in outputs("openai-chat-github") if f.path.endswith("prod.bicepparam"))
    assert "name: 'Indirect Attack'" in no_agents and "name: 'Protected Material Code'" in no_agents


def test_a_filter_can_turn_shields_and_protected_material_off(tmp_path: Path) -> None:
    from generator.targets.bicep.files import parameters

    spec_text = MINIMAL.replace('version: "2024-11-20"}', 'version: "2024-11-20", contentFilter: plain}')
    spec_text += (
        "safety:\n  contentFilters:\n    - {name: plain, indirectAttack: false, protectedMaterial: false}\n"
    )
    write_files(tmp_path, {"almgen.yaml": spec_text})
    spec = load_spec(tmp_path / "almgen.yaml")
    (policy,) = parameters(spec, spec.environments[0])["contentFilters"]
    names = {rule["name"] for rule in policy["filters"]}
    assert names == {"Hate", "Sexual", "Selfharm", "Violence", "Jailbreak"}


def test_telemetry_senders_may_publish_to_application_insights() -> None:
    """Application Insights has local auth disabled: whoever sends telemetry needs the role."""
    from generator.targets.bicep.files import ROLES

    files = {f.path: f.text for f in outputs("custom-model-devops")}
    publisher = ROLES["monitoringMetricsPublisher"]
    monitoring = files["infra/modules/monitoring.bicep"]
    assert "DisableLocalAuth: true" in monitoring
    assert f"guid(appInsights.id, workloadPrincipalId, '{publisher}')" in monitoring
    ml = files["infra/modules/machine-learning.bicep"]
    assert f"guid(appInsights.id, endpoints[index].id, '{publisher}')" in ml
    assert "principalId: endpoints[index].identity.principalId" in ml


def test_the_ml_managed_network_lets_environment_images_build() -> None:
    """AllowOnlyApprovedOutbound: package hosts as FQDN rules, a registry and an image-build cluster."""
    from generator.targets.bicep.files import ML_IMAGE_BUILD_COMPUTE, ML_PACKAGE_HOSTS

    ml = {f.path: f.text for f in outputs("custom-model-devops")}["infra/modules/machine-learning.bicep"]
    assert "isolationMode: 'AllowOnlyApprovedOutbound'" in ml
    assert {"pypi.org", "files.pythonhosted.org", "conda.anaconda.org"} <= set(ML_PACKAGE_HOSTS)
    for host in ML_PACKAGE_HOSTS:
        assert f"type: 'FQDN'\n          category: 'UserDefined'\n          destination: '{host}'" in ml
    assert "containerRegistry: registry.id" in ml and "subresourceTarget: 'registry'" in ml
    assert f"imageBuildCompute: '{ML_IMAGE_BUILD_COMPUTE}'" in ml
    assert f"name: '{ML_IMAGE_BUILD_COMPUTE}'" in ml and "minNodeCount: 0" in ml


def test_one_model_registry_created_by_the_first_environment_and_served_from_everywhere() -> None:
    """Dev's Bicep creates the registry in its primary group; every environment's online
    deployments serve the registry's asset, never a workspace's own copy."""
    files = {f.path: f.text for f in outputs("custom-model-devops")}
    main = files["infra/main.bicep"]
    assert "module modelRegistry 'modules/machine-learning-registry.bicep' = if (mlRegistry.create)" in main
    assert "scope: resourceGroups[0]" in main.split("module modelRegistry", 1)[1].split("\n}", 1)[0]
    registry = parse(files["infra/modules/machine-learning-registry.bicep"])
    assert (
        "Microsoft.MachineLearningServices/registries@2025-12-01"
        in files["infra/modules/machine-learning-registry.bicep"]
        and registry
    )
    creates = {}
    for env in ("dev", "staging", "prod"):
        params = files[f"infra/env/{env}.bicepparam"]
        block = params.split("param mlRegistry = {", 1)[1].split("\n}", 1)[0]
        creates[env] = "create: true" in block
        assert "name: 'mlr-fraud-scoring'" in block and "resourceGroup: 'rg-fraud-scoring-dev'" in block
    assert creates == {"dev": True, "staging": False, "prod": False}
    deployment = files["infra/modules/online-deployment.bicep"]
    asset = "azureml://registries/${registryName}/models/${modelName}/versions/${version}"
    assert f"model: '{asset}'" in deployment
    assert "workspace.id}/models/" not in deployment


def _custom_sample_with(tmp_path: Path, registry_line: str) -> Path:
    import shutil

    from tests.conftest import SAMPLES

    folder = tmp_path / "sample"
    shutil.copytree(SAMPLES / "custom-model-devops", folder)
    spec = folder / "almgen.yaml"
    text = spec.read_text("utf-8")
    assert "\nregistry:\n" in text
    spec.write_text(text.replace("\nregistry:\n", f"\nregistry:\n  {registry_line}\n", 1), "utf-8")
    return spec


def test_registry_name_overrides_the_default_everywhere_it_is_printed(tmp_path: Path) -> None:
    """Registry names are unique in Azure: registry.name picks another when mlr-<service> is taken."""
    import json

    files = {
        f.path: f.text for f in render(load_spec(_custom_sample_with(tmp_path, "name: contoso-fraud-models")))
    }
    for env in ("dev", "staging", "prod"):
        assert "name: 'contoso-fraud-models'" in files[f"infra/env/{env}.bicepparam"]
        assert "mlr-fraud-scoring" not in files[f"infra/env/{env}.bicepparam"]
    assert json.loads(files[".almgen/release.json"])["modelRegistry"] == {
        "name": "contoso-fraud-models",
        "home": "dev",
    }
    assert "`contoso-fraud-models`" in files["docs/alm/PIPELINE.md"]


def test_a_registry_name_azure_refuses_is_a_spec_error(tmp_path: Path) -> None:
    from generator.errors import SpecInvalid

    with pytest.raises(SpecInvalid) as caught:
        load_spec(_custom_sample_with(tmp_path, "name: -no"))
    text = caught.value.format()
    assert "registry.name" in text and "almgen.yaml:" in text, text  # the field, where it is


def test_custom_model_endpoints_alert_on_failed_requests_and_latency() -> None:
    """Each online endpoint: a p95 metric alert, and a log alert on the share of failed requests
    in its traffic logs (5xx, or 424 when the model returned an error), per endpoint."""
    files = {f.path: f.text for f in outputs("custom-model-devops")}
    alerts = files["infra/modules/alerts.bicep"]
    errors = alerts[alerts.index("resource endpointErrors") :]
    assert "if (errorRatePercent > 0 && !empty(onlineEndpointIds))" in errors
    assert "AmlOnlineEndpointTrafficLog" in errors and "ResponseCode >= 500 or ResponseCode == 424" in errors
    assert "metricMeasureColumn: 'errorRatePercent'" in errors and "threshold: errorRatePercent" in errors
    assert "name: 'EndpointName'" in errors
    assert "[for endpointId in (latencyP95Ms > 0 ? onlineEndpointIds : [])" in alerts
    stack = files["infra/modules/stack.bicep"]
    assert "onlineEndpointIds: machineLearning.outputs.onlineEndpointIds" in stack
    assert "categoryGroup: 'allLogs'" in files["infra/modules/machine-learning.bicep"]  # the traffic logs


def test_a_fractional_error_rate_needs_no_arithmetic_in_arm(tmp_path: Path) -> None:
    """ARM's sub() takes integers: 100 - 0.5 is computed by almgen, not by the template."""
    from generator.targets.bicep.files import parameters

    write_files(tmp_path, {"almgen.yaml": MINIMAL + "monitoring:\n  alerts: {errorRatePercent: 0.5}\n"})
    spec = load_spec(tmp_path / "almgen.yaml")
    alerts = parameters(spec, spec.environments[0])["alerts"]
    assert alerts["errorRatePercent"] == 0.5 and alerts["availabilityPercent"] == 99.5
    files = {f.path: f.text for f in render(spec)}
    assert "availabilityPercent: json('99.5')" in files["infra/env/dev.bicepparam"]
    assert not re.search(
        r"[-+*/]\s*errorRatePercent|errorRatePercent\s*[-+*/]", files["infra/modules/alerts.bicep"]
    )


@pytest.mark.parametrize(("frequency", "window"), [("day", "P1D"), ("week", "P7D"), ("month", "P30D")])
def test_drift_compares_the_production_data_since_the_previous_run(
    tmp_path: Path, frequency: str, window: str
) -> None:
    from generator.targets.bicep.files import parameters

    shutil.copytree(SAMPLES / "custom-model-devops", tmp_path / "s")
    spec_file = tmp_path / "s" / "almgen.yaml"
    text = spec_file.read_text().replace("drift: {frequency: day,", f"drift: {{frequency: {frequency},")
    assert f"frequency: {frequency}," in text
    spec_file.write_text(text)
    spec = load_spec(spec_file)
    assert parameters(spec, spec.environments[0])["drift"]["window"] == window
    deployment = {f.path: f.text for f in outputs("custom-model-devops")}[
        "infra/modules/online-deployment.bicep"
    ]
    production = deployment[deployment.index("productionData: {") :]
    assert production.index("inputDataType: 'Rolling'") < production.index("referenceData")
    assert "windowSize: drift.?window ?? 'P1D'" in production and "windowOffset: 'P0D'" in production
