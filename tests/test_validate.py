from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.errors import SpecInvalid
from generator.spec.validate import load_spec
from tests.conftest import REPO, SAMPLE_NAMES, SAMPLES
from tests.helpers import MINIMAL, write_tree

SPEC_V1_EXAMPLE = REPO / "tests" / "fixtures" / "spec-v1-example" / "almgen.yaml"


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_every_sample_validates(sample: str) -> None:
    spec = load_spec(SAMPLES / sample / "almgen.yaml")
    assert spec.environments


def test_the_samples_cover_what_the_issue_asks_for() -> None:
    assert len(SAMPLE_NAMES) >= 4
    specs = {name: load_spec(SAMPLES / name / "almgen.yaml") for name in SAMPLE_NAMES}
    assert any(s.pipelines == ("azure-devops",) and s.custom_models for s in specs.values())
    enterprise = specs["enterprise"]
    assert set(enterprise.pipelines) == {"github-actions", "azure-devops"}
    assert enterprise.agents and enterprise.evaluation and enterprise.safety
    assert len(enterprise.environments[-1].stacks) == 2


def test_the_complete_example_of_spec_v1_validates_and_resolves() -> None:
    spec = load_spec(SPEC_V1_EXAMPLE)
    dev, staging, prod = spec.environments
    assert [g.kind for g in staging.gates] == ["evaluation", "safety"]
    assert prod.strategy.steps == (10, 50, 100)
    assert prod.strategy.bake_minutes == 15
    assert prod.strategy.rollback is not None
    assert prod.strategy.rollback.latency_p95_ms == 2500
    assert prod.regions == ("eastus2", "swedencentral")
    assert [s.resource_group for s in prod.stacks] == [
        "rg-support-agent-prod-eus2",
        "rg-support-agent-prod-swc",
    ]
    assert prod.service_connection == "azure-support-agent-prod"
    assert prod.approval.reviewers == ("ai-leads",)
    chat = spec.model("chat")
    assert chat.capacity is not None
    assert chat.capacity.as_dict() == {"dev": 10, "staging": 50, "prod": 200}
    churn = spec.model("churn")
    assert churn.instance_count is not None
    # staging is missing from the map: it gets the default
    assert churn.instance_count.as_dict() == {"dev": 1, "staging": 1, "prod": 3}
    assert churn.training_data is not None
    assert (churn.training_data.asset, churn.training_data.version) == ("churn-training", "12")
    assert churn.preprocessing == ("drop-null-rows", "standard-scaler@2")
    assert spec.registry.retired[0].date == "2026-10-01"
    assert dev.strategy.type == "direct"
    assert spec.evaluation is not None
    assert [str(t) for t in spec.evaluation.thresholds] == [">= 4.0", ">= 3.5", "<= 2500"]


def test_defaults_of_the_smallest_spec(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    spec = load_spec(tmp_path / "almgen.yaml")
    (env,) = spec.environments
    (model,) = spec.models
    assert spec.location == "eastus2"
    assert env.sku == "S0"
    assert env.stacks[0].resource_group == "rg-demo-svc-dev"
    assert env.approval.required is False
    assert model.sku == "GlobalStandard"
    assert model.version_upgrade == "OnceCurrentVersionExpired"
    assert model.capacity is not None
    assert model.capacity["dev"] == 10
    assert spec.monitoring.log_retention_days == 30
    assert spec.registry.keep_versions == 5


def test_the_spec_is_frozen(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    spec = load_spec(tmp_path / "almgen.yaml")
    with pytest.raises(AttributeError):
        spec.location = "westus"  # type: ignore[misc]


def test_all_errors_are_reported_at_once_sorted_by_position(tmp_path: Path) -> None:
    spec = MINIMAL.replace("name: dev", "name: dev\n    tests: [smoke]\n    gates: [evaluation]")
    spec += "agents:\n  - {name: helper, version: '1.0', model: chatt}\n"
    write_tree(tmp_path, {"almgen.yaml": spec})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "almgen.yaml")
    issues = caught.value.issues
    assert [i.path for i in issues] == [
        "environments[0].tests[0]",
        "environments[0].gates",  # gates on the first environment
        "environments[0].gates[0]",  # and no evaluation section
        "agents[0].version",
        "agents[0].model",
    ]
    assert issues == sorted(issues)


def _with_policy(tmp_path: Path, spec_text: str, policy: dict[str, object]) -> Path:
    write_tree(
        tmp_path,
        {
            "platform/prod-needs-approval.schema.json": json.dumps(policy),
            "svc/almgen.yaml": "policies: [../platform/prod-needs-approval.schema.json]\n" + spec_text,
        },
    )
    return tmp_path / "svc" / "almgen.yaml"


PROD_NEEDS_APPROVAL: dict[str, object] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "prod needs approval",
    "properties": {
        "environments": {
            "items": {
                "if": {"properties": {"name": {"const": "prod"}}},
                "then": {
                    "required": ["approval"],
                    "properties": {"approval": {"properties": {"required": {"const": True}}}},
                    "description": "the prod environment must require an approval",
                },
            }
        }
    },
}


def test_a_policy_violation_names_the_policy_and_the_field(tmp_path: Path) -> None:
    spec = MINIMAL.replace("  - name: dev\n", "  - name: dev\n  - name: prod\n")
    path = _with_policy(tmp_path, spec, PROD_NEEDS_APPROVAL)
    with pytest.raises(SpecInvalid) as caught:
        load_spec(path)
    (issue,) = caught.value.issues
    assert issue.path == "environments[1]"
    assert "prod needs approval" in issue.message
    assert "the prod environment must require an approval" in issue.message
    assert issue.line == 7


def test_a_satisfied_policy_passes_and_sees_defaults(tmp_path: Path) -> None:
    spec = MINIMAL.replace(
        "  - name: dev\n", "  - name: dev\n  - name: prod\n    approval: {reviewers: [leads]}\n"
    )
    # `required` is not written: its default (true) is what the policy sees
    path = _with_policy(tmp_path, spec, PROD_NEEDS_APPROVAL)
    assert load_spec(path).environments[1].approval.required is True


def test_a_broken_policy_file_is_reported_at_its_reference(tmp_path: Path) -> None:
    write_tree(tmp_path, {"policy.json": "{not json", "almgen.yaml": "policies: [policy.json]\n" + MINIMAL})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "almgen.yaml")
    (issue,) = caught.value.issues
    assert issue.path == "policies[0]"
    assert "not a usable JSON Schema" in issue.message


@pytest.mark.parametrize(
    "value",
    [
        "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc123==",
        "https://x.blob.core.windows.net/c?sv=2024-01-01&sig=abcdefghijklmnopqrstuvwxyz123456",
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
        "0123456789abcdef0123456789abcdef",
        "-----BEGIN RSA PRIVATE KEY-----",
        "run --password=hunter2",
        "https://user:pa55@example.com/x",
        # Azure AI services' 84-character key (a made-up one): 52 characters, `JQQJ99`, 26 more
        "Zx" * 26 + "JQQJ99" + "BAAC" + "Yq" * 11,
    ],
)
def test_secret_looking_values_are_refused_anywhere(tmp_path: Path, value: str) -> None:
    spec = MINIMAL.replace("{name: demo-svc}", "{name: demo-svc, description: " + json.dumps(value) + "}")
    write_tree(tmp_path, {"almgen.yaml": spec})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "almgen.yaml")
    (issue,) = caught.value.issues
    assert issue.path == "service.description"
    assert "looks like" in issue.message


def _with_description(tmp_path: Path, lines: str) -> Path:
    spec = MINIMAL.replace("service: {name: demo-svc}\n", "service:\n  name: demo-svc\n" + lines + "\n")
    write_tree(tmp_path, {"almgen.yaml": spec})
    return tmp_path / "almgen.yaml"


@pytest.mark.parametrize(
    "lines",
    [
        "  description: 0123456789abcdef0123456789abcdef  # pragma: allowlist secret",
        "  # pragma: allowlist nextline secret\n  description: 0123456789abcdef0123456789abcdef",
    ],
    ids=["same-line", "next-line"],
)
def test_an_allowlist_comment_lets_a_value_that_is_no_secret_through(tmp_path: Path, lines: str) -> None:
    """An MD5 or a GUID without dashes was refused with no way out."""
    spec = load_spec(_with_description(tmp_path, lines))
    assert spec.service.description == "0123456789abcdef0123456789abcdef"


def test_an_allowlist_comment_covers_only_its_own_line(tmp_path: Path) -> None:
    path = _with_description(
        tmp_path,
        "  description: 0123456789abcdef0123456789abcdef\n  owner: x  # pragma: allowlist secret",
    )
    with pytest.raises(SpecInvalid) as caught:
        load_spec(path)
    assert [issue.path for issue in caught.value.issues] == ["service.description"]
    assert "pragma: allowlist secret" in caught.value.issues[0].fix


def test_an_allowlist_comment_lets_a_secret_looking_setting_name_through(tmp_path: Path) -> None:
    spec = MINIMAL + "configuration:\n  appConfiguration:\n    settings:\n"
    setting = "      Db:PasswordPolicy: strict  # pragma: allowlist secret\n"
    write_tree(tmp_path, {"almgen.yaml": spec + setting})
    assert load_spec(tmp_path / "almgen.yaml").configuration.settings == (("Db:PasswordPolicy", "strict"),)


@pytest.mark.parametrize("value", ["Chat:MaxTokens", "Search:IndexName", "Feature:TokenLimit"])
def test_ordinary_setting_names_are_not_mistaken_for_secrets(tmp_path: Path, value: str) -> None:
    spec = MINIMAL + f"configuration:\n  appConfiguration:\n    settings: {{{json.dumps(value)}: '5'}}\n"
    write_tree(tmp_path, {"almgen.yaml": spec})
    assert load_spec(tmp_path / "almgen.yaml").configuration.settings == ((value, "5"),)


def test_defaults_come_from_the_schema_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change a default in the schema, and resolve follows: no second copy of it in Python."""
    import copy

    from generator.package_data import spec_schema
    from generator.spec import defaults, validate

    schema = copy.deepcopy(spec_schema())
    env = schema["properties"]["environments"]["items"]["properties"]
    env["sku"]["default"] = "S9"
    env["strategy"]["properties"]["bakeMinutes"]["default"] = 7
    schema["properties"]["models"]["items"]["properties"]["capacity"]["default"] = 33
    monkeypatch.setattr(validate, "spec_schema", lambda: schema)
    monkeypatch.setattr(defaults, "spec_schema", lambda: schema)
    defaults.default.cache_clear()
    try:
        spec = load_spec(SAMPLES / "minimal" / "almgen.yaml")
    finally:
        defaults.default.cache_clear()
    assert {e.sku for e in spec.environments} == {"S9"}
    assert spec.models[0].capacity is not None and set(spec.models[0].capacity.as_dict().values()) == {33}


def test_blue_green_is_watched_after_the_swap_by_default() -> None:
    spec = load_spec(SAMPLES / "openai-chat-github" / "almgen.yaml")
    blue_green = [e for e in spec.environments if e.strategy.type == "blue-green"]
    assert blue_green and all(e.strategy.bake_minutes == 10 for e in blue_green)


def test_an_unpinned_budget_starts_in_the_month_of_the_deployment() -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    assert spec.monitoring.budget is not None and spec.monitoring.budget.start_date is None


def test_the_secret_scan_takes_linear_time_on_a_long_value() -> None:
    """The URL-credential pattern backtracked quadratically: 100,000 characters hung validate ~25 s."""
    import time

    from generator.spec.secrets import secret_kind

    start = time.monotonic()
    for value in ("x" * 100_000, "a-" * 50_000, "a://" * 25_000):
        assert secret_kind(value) is None
    assert time.monotonic() - start < 5


def test_an_ab_test_resolves_its_rule_and_turns_the_gateway_on(tmp_path: Path) -> None:
    spec_text = """\
apiVersion: almgen/v1
service: {name: ab-chat}
targets: {pipelines: [github-actions]}
environments:
  - name: dev
  - name: staging
    strategy: {type: ab, compare: {metric: errorRatePercent}}
  - name: prod
models:
  - {name: chat, model: gpt-4o, version: "2024-11-20"}
"""
    write_tree(tmp_path, {"almgen.yaml": spec_text})
    spec = load_spec(tmp_path / "almgen.yaml")
    strategy = spec.environment("staging").strategy
    assert strategy.ab is not None
    assert (strategy.ab.split, strategy.bake_minutes, strategy.ab.metric, strategy.ab.tolerance_percent) == (
        50,
        60,
        "errorRatePercent",
        0.0,
    )
    assert strategy.rollback is not None and strategy.rollback.min_requests == 100
    assert spec.gateway.type == "apim"


def test_an_ab_test_refuses_custom_models(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "custom-model-devops", tmp_path / "svc")
    path = tmp_path / "svc" / "almgen.yaml"
    text = path.read_text("utf-8")
    assert "type: blue-green" in text  # staging
    path.write_text(text.replace("type: blue-green", "type: ab", 1), "utf-8")
    with pytest.raises(SpecInvalid) as caught:
        load_spec(path)
    assert [i.message for i in caught.value.issues] == [
        "an A/B test compares foundation models behind the AI gateway, and this spec has a custom model"
    ]


@pytest.mark.parametrize(
    ("pipelines", "environments", "messages"),
    [
        (  # GitHub: dev-approval carries dev's reviewers
            "[github-actions]",
            "[{name: dev}, {name: dev-approval}]",
            ["'dev-approval' is the GitHub environment that carries the reviewers of 'dev'"],
        ),
        ("[azure-devops]", "[{name: dev}, {name: dev-approval}]", []),  # no such environment there
        (  # one connection for two environments, the second by default
            "[azure-devops]",
            "[{name: dev, serviceConnection: azure-demo-svc-prod}, {name: prod}]",
            ["environments 'dev' and 'prod' both use the service connection 'azure-demo-svc-prod'"],
        ),
        (  # the production evaluation's connection beside dev's
            "[azure-devops]",
            "[{name: dev, serviceConnection: conn}, {name: prod, serviceConnection: conn-monitoring}]",
            [
                "'conn-monitoring' is the production evaluation's service connection beside 'conn' "
                "(environment 'dev')"
            ],
        ),
        ("[github-actions]", "[{name: dev, serviceConnection: c}, {name: prod, serviceConnection: c}]", []),
    ],
)
def test_names_the_pipelines_derive_are_not_anothers(
    tmp_path: Path, pipelines: str, environments: str, messages: list[str]
) -> None:
    text = MINIMAL.replace("targets: {pipelines: [github-actions]}", f"targets: {{pipelines: {pipelines}}}")
    text = text.replace("environments:\n  - name: dev\n", f"environments: {environments}\n")
    path = tmp_path / "almgen.yaml"
    path.write_text(text, "utf-8")
    try:
        load_spec(path)
        found: list[str] = []
    except SpecInvalid as invalid:
        found = [issue.message for issue in invalid.issues]
    assert found == messages
