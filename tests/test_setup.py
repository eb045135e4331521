"""`almgen setup`, the pure half: the actions per sample and the role matrix (least privilege)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from generator.commands.setup import roles
from generator.commands.setup.actions import actions, identity_group, identity_name
from generator.commands.setup.model import Action, Facts, FileArg, Ref, Reviewer
from generator.commands.setup.quota import needs, problems
from generator.plan.build import plan
from generator.spec.model import Spec
from generator.spec.validate import load_spec
from tests.conftest import REPO, SAMPLE_NAMES

FACTS = Facts(
    subscription_id="11111111-1111-1111-1111-111111111111",
    tenant_id="22222222-2222-2222-2222-222222222222",
    repo="contoso/app",
    oidc_subjects=tuple((e, f"repo:contoso/app:environment:{e}") for e in ("dev", "staging", "prod")),
    reviewers=(("ai-leads", Reviewer("Team", 5)), ("support-operations", Reviewer("User", 6))),
    organization="https://dev.azure.com/contoso",
    project="ai",
    repository=("tfsgit", "app"),
)


def _spec(sample: str) -> Spec:
    return load_spec(REPO / "samples" / sample / "almgen.yaml")


def _actions(sample: str) -> list[Action]:
    spec = _spec(sample)
    return actions(spec, plan(spec), FACTS, spec.environments)


def _flat(action: Action) -> list[str]:
    return [str(a) for a in action.create.argv]


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_every_environment_gets_its_identity_groups_and_roles(sample: str) -> None:
    spec = _spec(sample)
    found = _actions(sample)
    whats = [a.what for a in found]
    assert len(whats) == len(set(whats)), "each action ensures one distinct thing"
    for env in spec.environments:
        mine = [a for a in found if a.group == env.name]
        assert f"identity {identity_name(spec, env)} in {identity_group(spec)}" in [a.what for a in mine]
        for stack in env.stacks:
            assert f"resource group {stack.resource_group} in {stack.region}" in [a.what for a in mine]
        github = [a for a in mine if a.what.startswith("GitHub")]
        devops = [a for a in mine if "Azure DevOps environment" in a.what]
        assert bool(github) == ("github-actions" in spec.pipelines)
        assert bool(devops) == ("azure-devops" in spec.pipelines)


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_commands_are_argv_lists_that_never_pass_through_a_shell(sample: str) -> None:
    for action in _actions(sample):
        for command in (action.check.command, action.create):
            assert command.argv[0] in ("az", "gh")
            assert "bash" not in command.argv and "-c" not in command.argv
            assert all(isinstance(a, (str, Ref, FileArg)) for a in command.argv)


def test_providers_follow_the_spec() -> None:
    def registered(sample: str) -> set[str]:
        return {a.what.split()[2] for a in _actions(sample) if a.what.startswith("resource provider")}

    assert "Microsoft.MachineLearningServices" in registered("custom-model-devops")
    assert "Microsoft.MachineLearningServices" not in registered("minimal")
    assert {"Microsoft.Consumption", "Microsoft.CostManagement"} <= registered("enterprise")
    assert {"Microsoft.CognitiveServices", "Microsoft.AppConfiguration", "Microsoft.KeyVault"} <= registered(
        "minimal"
    )


def test_github_subject_and_reviewers_come_from_the_facts() -> None:
    found = {a.what: a for a in _actions("enterprise")}
    credential = found["federated credential github-prod on id-support-agent-deploy-prod"]
    assert "repo:contoso/app:environment:prod" in _flat(credential)
    environment = found[
        "GitHub environment prod: the Azure credential, deployments from protected branches only"
    ]
    assert environment.create.stdin is not None
    assert environment.create.stdin.data == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": None,  # GitHub would ask the reviewers again for every job that names prod
    }
    assert environment.check.expect == "reviewers= protected_branches=true"
    approval = found[
        "GitHub environment prod-approval: reviewers ai-leads, support-operations approve each deployment "
        "to prod once"
    ]
    assert approval.create.stdin is not None
    assert approval.create.stdin.data == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": [{"type": "Team", "id": 5}, {"type": "User", "id": 6}],
        "prevent_self_review": True,
    }
    assert approval.check.expect == "reviewers=Team:5,User:6 protected_branches=true"


def test_a_manual_ab_decision_gets_its_own_environment_with_the_compare_reviewers(tmp_path: Path) -> None:
    shutil.copytree(REPO / "samples" / "openai-chat-github", tmp_path, dirs_exist_ok=True)
    text = (tmp_path / "almgen.yaml").read_text("utf-8")
    rule = "compare: {metric: latencyP95Ms, tolerancePercent: 10}"
    manual = rule[:-1] + ", decide: manual, reviewers: [support-operations]}"
    (tmp_path / "almgen.yaml").write_text(text.replace(rule, manual), "utf-8")
    spec = load_spec(tmp_path / "almgen.yaml")
    found = {a.what: a for a in actions(spec, plan(spec), FACTS, spec.environments)}
    decision = found[
        "GitHub environment staging-ab-decision: reviewers support-operations approve or reject the A/B "
        "test's candidate in staging"
    ]
    assert decision.group == "staging" and decision.create.stdin is not None
    assert decision.create.stdin.data == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": [{"type": "User", "id": 6}],
        "prevent_self_review": True,
    }
    assert decision.check.expect == "reviewers=User:6 protected_branches=true"
    assert not any("ab-decision" in what for what in found if "prod" in what.split(":")[0])


def test_service_connections_carry_the_same_checks_as_their_environments() -> None:
    found = [a.what for a in _actions("custom-model-devops") if a.group == "prod"]
    for kind in ("approval", "branch control (refs/heads/main)"):
        assert f"{kind} check on environment prod" in found
        assert f"{kind} check on service connection azure-fraud-scoring-prod" in found
    assert "Exclusive Lock check on environment prod" in found
    dev = [a.what for a in _actions("custom-model-devops") if a.group == "dev"]
    assert not any(w.startswith("approval") for w in dev)  # dev needs no approval in the spec


def test_service_connection_uses_workload_identity_federation() -> None:
    action = next(
        a for a in _actions("enterprise") if a.what.startswith("service connection azure-support-agent-prod")
    )
    (body,) = action.create.bodies()
    assert isinstance(body.data, dict)
    assert body.data["authorization"] == {
        "scheme": "WorkloadIdentityFederation",
        "parameters": {
            "tenantid": FACTS.tenant_id,
            "serviceprincipalid": Ref(
                "clientId of id-support-agent-deploy-prod",
                (
                    "az",
                    "identity",
                    "show",
                    "--resource-group",
                    "rg-support-agent-identities",
                    "--name",
                    "id-support-agent-deploy-prod",
                    "--query",
                    "clientId",
                    "--output",
                    "tsv",
                ),
            ),
        },
    }


# -- the role matrix --------------------------------------------------------------------------

# What the generated pipelines do with the deployment identity, and the role that allows it.
NEEDED = {
    "deploy infra/main.bicep (subscription deployment)": "custom:deployer",
    "deploy the stack's resources": roles.CONTRIBUTOR,
    "assign the roles the Bicep declares": roles.RBAC_ADMINISTRATOR,
    "publish routing in App Configuration": roles.APP_CONFIGURATION_DATA_OWNER,
    "read metrics": roles.MONITORING_READER,
}


def _bicep_role_ids() -> set[str]:
    from generator.targets.bicep.files import ROLES

    text = "".join(p.read_text("utf-8") for p in (REPO / "templates" / "bicep").rglob("*.j2"))
    keys = set(re.findall(r"roleDefinitions', '\{\{ roles\.(\w+) \}\}'", text))
    assert keys, "the templates assign roles through roles.<name>"
    return {ROLES[k] for k in keys}


def test_the_rbac_condition_allows_exactly_the_roles_the_bicep_assigns() -> None:
    assert set(roles.assignable_role_ids()) == _bicep_role_ids()
    condition = roles.rbac_condition()
    for role_id in _bicep_role_ids():
        assert condition.count(role_id) == 2  # write and delete
    assert roles.RBAC_ADMINISTRATOR not in condition and roles.CONTRIBUTOR not in condition
    assert all(forbidden not in condition for forbidden in roles.FORBIDDEN)


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_the_role_matrix_grants_what_the_pipelines_need_and_nothing_broader(sample: str) -> None:
    spec = _spec(sample)
    for env in spec.environments:
        # the one exception to "its own groups": later environments read the shared model registry
        registry = [r for r in roles.grants(spec, env) if r.role == roles.registry_reader_role_name(spec)]
        for row in registry:
            home = spec.environments[0].primary.resource_group
            assert not env.is_first and row.custom and row.scope == home
        assert all(a.endswith("/read") for a in roles.REGISTRY_READ_ACTIONS)
        assert len(registry) == (1 if spec.custom_models and not env.is_first else 0)
        rows = [r for r in roles.grants(spec, env) if r not in registry]
        groups = {s.resource_group for s in env.stacks}
        for row in rows:
            assert row.role_id not in roles.FORBIDDEN, row
            assert row.scope == "subscription" or row.scope in groups, "only its own resource groups"
            if row.scope == "subscription":
                assert row.custom and row.role == roles.deployer_role_name(spec), row
            if row.role_id == roles.RBAC_ADMINISTRATOR:
                assert row.condition == roles.rbac_condition()
        by_group = {g: {r.role_id for r in rows if r.scope == g} for g in groups}
        for group, held in by_group.items():
            for need, role in NEEDED.items():
                if not role.startswith("custom:"):
                    assert role in held, f"{env.name} {group}: {need}"
            if spec.foundation_models:
                assert roles.OPENAI_USER in held
            if spec.agents:
                assert roles.AZURE_AI_USER in held
            if spec.custom_models:
                assert roles.ML_DATA_SCIENTIST in held
            assert (roles.lock_role_name(spec) in held) == env.production  # the Bicep locks prod only
        other_groups = {s.resource_group for e in spec.environments if e != env for s in e.stacks}
        assert not {r.scope for r in rows} & other_groups


def test_the_deployer_role_is_deployments_only() -> None:
    spec = _spec("enterprise")
    actions_ = roles.deployer_actions(spec)
    assert all(
        not a.endswith("/*")
        or a.startswith(("Microsoft.Resources/deployments", "Microsoft.Consumption/budgets"))
        for a in actions_
    )
    assert "Microsoft.Consumption/budgets/*" in actions_  # enterprise has a budget
    assert "Microsoft.Consumption/budgets/*" not in roles.deployer_actions(_spec("minimal"))
    assert "*" not in actions_ and not any(a.startswith("Microsoft.Authorization") for a in actions_)
    assert roles.LOCK_ACTIONS == ["Microsoft.Authorization/locks/read", "Microsoft.Authorization/locks/write"]


def test_every_role_assignment_action_matches_a_matrix_row() -> None:
    spec = _spec("enterprise")
    rows = roles.matrix(spec, spec.environments)
    assigned = [a for a in _actions("enterprise") if a.create.argv[1:4] == ("role", "assignment", "create")]
    documents = [a for a in assigned if "-search-" in str(a.create.argv[5])]  # the documents readers'
    assert len(documents) == len(spec.environments)
    assigned = [a for a in assigned if a not in documents]
    assert len(assigned) == len(rows)
    constrained = [a for a in assigned if "--condition" in a.create.argv]
    assert len(constrained) == sum(1 for r in rows if r.condition)
    for action in constrained:
        argv = [str(x) for x in action.create.argv]
        assert argv[argv.index("--condition-version") + 1] == "2.0"


# -- quota ----------------------------------------------------------------------------------


def test_quota_needs_count_every_colour_and_environment_per_region() -> None:
    spec = _spec("enterprise")
    found = {(n.region, n.model): n for n in needs(spec, spec.environments)}
    # dev 10 + staging 50 (both eastus2; blue-green or canary: two deployments) + prod 200 x 2
    gpt = found[("eastus2", "gpt-4o")]
    capacity = spec.model("chat").capacity
    assert capacity is not None
    assert gpt.capacity == sum(
        capacity[e.name] * (1 if e.strategy.type == "direct" else 2)
        for e in spec.environments
        if "eastus2" in e.regions
    )
    assert found[("swedencentral", "gpt-4o")].environments == ("prod",)


def test_quota_problem_message() -> None:
    spec = _spec("minimal")
    model = spec.foundation_models[0]
    offered: tuple[dict[str, object], ...] = (
        {
            "model": {
                "format": "OpenAI",
                "name": model.model,
                "version": model.version,
                "skus": [{"name": model.sku}],
            }
        },
    )
    usage: tuple[dict[str, object], ...] = (
        {"name": {"value": f"OpenAI.{model.sku}.{model.model}"}, "currentValue": 7, "limit": 8},
    )
    facts = Facts(models=(("eastus2", offered),), usages=(("eastus2", usage),))
    (message,) = problems(spec, facts, spec.environments)
    assert message.startswith(f"{model.model} {model.version} {model.sku} has 1 of ")
    assert message.endswith("free in eastus2 (for dev); ask for quota or pick another region")
    assert problems(spec, Facts(), spec.environments) == []  # not read: the dry run says so in a note


@pytest.mark.slow
def test_every_az_line_of_setup_parses_with_the_real_azure_cli() -> None:
    """Checks, creates and the reads of values they wait for (Refs) alike, every sample (a value
    read from the world stands in as a word). `az devops` and `az pipelines` are the azure-devops
    extension, which is not on PyPI: its lines are checked against the table read from its source
    (tests/rehearse/az_devops_table.py)."""
    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("azure-cli is not installed (.venv-tools/azure-cli: scripts/test.sh installs it)")
    github = replace(FACTS, repository=("github", "contoso/app"))  # --service-connection too
    commands = [
        command
        for sample in SAMPLE_NAMES
        for facts in (FACTS, github)
        for action in actions(_spec(sample), plan(_spec(sample)), facts, _spec(sample).environments)
        for command in (action.check.command, action.create)
    ]
    reads = {ref.argv for command in commands for ref in command.refs()}
    lines = [
        *([a if isinstance(a, str) else "value" for a in c.argv[1:]] for c in commands if c.argv[0] == "az"),
        *(list(argv[1:]) for argv in reads if argv[0] == "az"),
    ]
    assert len(lines) > 100 and {"devops", "pipelines"} <= {line[0] for line in lines}
    assert azcli.rejected(lines) == []


def test_the_devops_table_rejects_what_the_extension_would() -> None:
    from tests.rehearse.az_devops_table import check_devops

    invoke = ["devops", "invoke", "--org", "o", "--area", "a", "--resource", "r", "--http-method", "patch"]
    assert check_devops(invoke) is None
    assert check_devops([*invoke, "--project", "p"]) == "unrecognized arguments: --project"  # route parameter
    assert check_devops([*invoke[:-1], "FETCH"]) == "argument --http-method: invalid choice: ['FETCH']"
    create = ["devops", "service-endpoint", "create", "-p", "p"]
    assert check_devops(create) == "the following arguments are required: --service-endpoint-configuration"
    assert check_devops([*create, "--service-endpoint-configuration", "f.json", "-o", "json"]) is None
    assert check_devops(["devops", "service-endpoint", "remove"]) is not None
    pipeline = ["pipelines", "create", "--org", "o", "-p", "p", "--yaml-path", "a.yml", "--skip-first-run"]
    assert check_devops(pipeline) == "the following arguments are required: --name"
    assert check_devops([*pipeline, "true", "--name", "app", "--repository-type", "TfsGit"]) is None
    assert check_devops([*pipeline, "--name", "app"]) is None  # a three-state flag may stand alone
    assert (
        check_devops([*pipeline, "maybe", "--name", "app"])
        == "argument --skip-first-run: invalid choice: ['maybe']"
    )
    assert check_devops([*pipeline, "--name", "a", "--repository-type", "gitlab"]) is not None
    assert (
        check_devops(["pipelines", "show", "--name", "app", "--branch", "main"])
        == "unrecognized arguments: --branch"
    )


def test_azure_devops_pipelines_come_from_the_clones_repository() -> None:
    """Azure Repos by name; GitHub through the project's GitHub service connection (az would ask for
    one interactively); the YAML path from the repository's root."""
    spec = _spec("custom-model-devops")
    facts = replace(FACTS, repository=("github", "contoso/fraud"), spec_folder="ml/")
    found = [a for a in actions(spec, plan(spec), facts, spec.environments) if a.group == "azure-devops"]
    assert [a.what for a in found] == [
        "pipeline fraud-scoring from ml/.azure-pipelines/fraud-scoring.yml on main",
        "pipeline fraud-scoring-lifecycle from ml/.azure-pipelines/fraud-scoring-lifecycle.yml on main",
    ]
    line = found[0].create.display()
    assert "--repository contoso/fraud --repository-type github --branch main" in line
    assert line.endswith(
        "--skip-first-run true --service-connection <id of the project's GitHub service connection>"
    )
    tfsgit = [a for a in _actions("custom-model-devops") if a.group == "azure-devops"]
    assert all("--service-connection" not in a.create.display() for a in tfsgit)


def test_the_monitoring_identity_scores_custom_endpoints_without_deploy_rights() -> None:
    """Custom models: the production evaluation scores the online endpoints with a custom role
    (score and read), not AzureML Data Scientist (which also trains, registers and deploys)."""
    from dataclasses import replace

    from generator.spec import model as m

    spec = load_spec(REPO / "samples" / "custom-model-devops" / "almgen.yaml")
    assert spec.custom_models and spec.evaluation is not None
    spec = replace(
        spec, monitoring=replace(spec.monitoring, evaluation=m.ProductionEvaluation("daily", True))
    )
    prod = spec.environments[-1]
    rows = roles.monitoring_grants(spec, prod)
    held = {row.role_id for row in rows}
    assert roles.scorer_role_name(spec) in held
    assert not held & {roles.ML_DATA_SCIENTIST, roles.CONTRIBUTOR, roles.APP_CONFIGURATION_DATA_OWNER}
    assert {row.scope for row in rows} == {"subscription", *(s.resource_group for s in prod.stacks)}
    created = [a.what for a in actions(spec, plan(spec), Facts(), spec.environments)]
    assert any(roles.scorer_role_name(spec) in what and "custom role" in what for what in created)
    assert any(
        what.startswith("service connection " + prod.service_connection + "-monitoring") for what in created
    )
