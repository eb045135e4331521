"""The Plan, without any template: order, gates, strategy, training, tests, records."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from generator.cli import cli
from generator.plan.build import plan
from generator.spec.validate import load_spec
from generator.targets.docs.diagram import mermaid
from tests.conftest import REPO, SAMPLES

SPEC_V1 = REPO / "tests" / "fixtures" / "spec-v1-example" / "almgen.yaml"


def test_environments_follow_the_promotion_path_with_their_gates_before() -> None:
    p = plan(load_spec(SAMPLES / "enterprise" / "almgen.yaml"))
    assert [e.name for e in p.environments] == ["dev", "staging", "prod"]
    dev, staging, prod = p.environments
    assert dev.gates == () and dev.previous is None
    assert [g.gate.kind for g in staging.gates] == ["evaluation", "safety"]
    assert {g.evaluates for g in prod.gates} == {"staging"}
    assert prod.deployment_name == "support-agent-prod"
    assert prod.stage_id == "Deploy_prod"


def test_deploy_steps_in_order_for_each_strategy() -> None:
    p = plan(load_spec(SAMPLES / "enterprise" / "almgen.yaml"))
    dev, staging, prod = p.environments
    head = ["live-state", "what-if", "deploy-infra", "build-index"]  # the new index: built, not served
    # the alias moves to the new index once tests passed, before the agents that query it
    tail = ["switch-index", "deploy-agents", "release-record", "retain-indexes", "standby"]
    # the agents' candidate versions first: the tests call them, and they go live after them
    assert dev.step_ids() == [*head, "agent-candidates", "test-smoke", *tail]
    # blue-green: the candidate is tested, then swapped in
    assert staging.step_ids() == [*head, "agent-candidates", "test-integration", "test-load", "swap", *tail]
    # canary: traffic moves first, one job per step, then what serves is validated
    canary = [f"canary-{n}" for n in (1, 2, 3, 4)]
    assert prod.step_ids() == [*head, *canary, "agent-candidates", "test-validation", *tail]
    assert [j.id for j in prod.jobs] == ["gates", "provision", *canary, "finish", "rollback"]
    assert [j.id for j in dev.jobs] == ["provision", "finish"]


def test_a_canary_has_a_rollback_job_after_every_job_that_moves_traffic() -> None:
    """A cancel between two jobs leaves no running job to restore the routing: this job does."""
    p = plan(load_spec(SAMPLES / "enterprise" / "almgen.yaml"))
    rollback = p.job("rollback")
    assert set(rollback.needs) == {"provision", "canary-1", "canary-2", "canary-3", "canary-4", "finish"}
    assert rollback.reads == ("provision", "canary-1")  # the state, and the routing the first step saved
    assert rollback.rolls_back_after == "canary-1" and rollback.prepares_always
    assert [s.kind for s in rollback.steps] == ["rollback"]
    assert "rollback" not in {j.id for j in p.environment("staging").jobs}  # blue-green: no canary


def test_an_ab_test_tests_the_candidate_then_splits_compares_and_promotes_in_the_finish_job() -> None:
    """openai-chat-github's staging: 50 % for 60 min, latency within 10 %; the finish job has room."""
    from generator.plan.shell import job_steps

    spec = load_spec(SAMPLES / "openai-chat-github" / "almgen.yaml")
    p = plan(spec)
    staging = p.environment("staging")
    tests = ["test-smoke", "test-integration", "test-load"]
    assert staging.step_ids()[3:] == [*tests, "ab-test", "release-record", "standby"]
    assert "ab-test" not in p.environment("prod").step_ids() and p.ab_test
    assert [j.id for j in staging.jobs] == ["gates", "provision", "finish"]  # no canary, no rollback job
    inputs = dict(staging.inputs)
    assert (inputs["strategy"], inputs["ab-split"], inputs["bake-minutes"]) == ("ab", 50, 60)
    assert (inputs["ab-metric"], inputs["ab-tolerance-percent"], inputs["test-target"]) == (
        "latencyP95Ms",
        10,
        "candidate",
    )
    timeout = inputs["finish-timeout"]
    assert isinstance(timeout, int)
    assert timeout >= 30 + 60 + 2 * 30 + sum(t.timeout_minutes for t in staging.env.tests) and timeout <= 360
    assert (
        dict(p.environment("prod").inputs)["ab-split"],
        dict(p.environment("prod").inputs)["ab-metric"],
    ) == (
        0,
        "",
    )
    shells = [s.id for s in job_steps(spec, p.job("finish"))]
    at = shells.index("ab-test-chat")
    # the evaluation against both variants while they serve side by side, then the comparison
    assert shells[at : at + 4] == ["ab-test-chat", "ab-test-evaluate", "ab-test-wait", "ab-test-compare-chat"]


def test_inputs_are_formatted_once_for_both_targets() -> None:
    p = plan(load_spec(SAMPLES / "enterprise" / "almgen.yaml"))
    prod = p.environment("prod")
    assert prod.input("rollback-error-rate-percent") == 5  # not 5.0 on one target and 5 on the other
    assert prod.input("canary-steps") == (10, 25, 50, 100)
    assert prod.input("deployment") == prod.deployment_name == "support-agent-prod"
    assert prod.input("previous-deployment") == "support-agent-staging"
    # the bake, then each of the two models' checks may wait up to one more bake for its requests
    assert prod.input("health-wait-minutes") == 15
    assert prod.input("canary-timeout") == 15 + 2 * 15 + 30
    assert p.lifecycle_environment.name == "dev"


def test_custom_models_train_in_the_first_environment_only_and_register_everywhere() -> None:
    p = plan(load_spec(SPEC_V1))
    dev, staging, prod = p.environments
    assert "train-churn" in dev.step_ids()
    assert "train-churn" not in staging.step_ids() and "train-churn" not in prod.step_ids()
    for env in p.environments:
        ids = env.step_ids()
        assert ids.index("deploy-infra") < ids.index("register") < ids.index("deploy-infra-models")


def test_retired_versions_are_removed_after_the_release_record() -> None:
    p = plan(load_spec(SPEC_V1))
    assert p.retired
    for env in p.environments:
        assert env.step_ids()[-4:] == ["release-record", "retire", "retain", "standby"]


def test_the_opt_in_clean_up_runs_after_the_retirement_and_certifies(tmp_path: Path) -> None:
    from generator.plan.shell import shell_steps

    shutil.copytree(SAMPLES / "custom-model-devops", tmp_path, dirs_exist_ok=True)
    source = (tmp_path / "almgen.yaml").read_text("utf-8")
    assert "cleanup: true" in source
    for opted, text in ((True, source), (False, source.replace("cleanup: true", "cleanup: false"))):
        (tmp_path / "almgen.yaml").write_text(text, "utf-8")
        spec = load_spec(tmp_path / "almgen.yaml")
        assert spec.registry.cleanup is opted
        for env in plan(spec).environments:
            ids = env.step_ids()
            assert ("cleanup" in ids) is opted
            if opted:  # after the retirement: it reads what the retirement left in Azure
                assert ids.index("retire") + 1 == ids.index("cleanup")
                (step,) = [s for s in env.steps() if s.kind == "cleanup"]
                (shell,) = shell_steps(spec, step)
                assert 'models.py" clean-up --env "$ALMGEN_ENVIRONMENT"' in shell.script
                assert "--out deletion-certificate.json" in shell.script
    (tmp_path / "almgen.yaml").write_text(source.replace(", cleanup: true", ""), "utf-8")
    assert load_spec(tmp_path / "almgen.yaml").registry.cleanup is False  # off unless asked for


def test_commands_reach_pipelines_only_through_commands_json() -> None:
    from generator.targets.scripts.files import commands

    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    table = commands(spec)
    assert table["tests"]["smoke"].startswith("pytest")
    assert set(table["gates"]) == {"evaluation", "safety"}
    for env in plan(spec).environments:
        for step in env.steps():
            assert all(value not in dict(step.env).values() for value in table["tests"].values())


def test_the_release_artifact_carries_what_is_deployed() -> None:
    p = plan(load_spec(SPEC_V1))
    # a training job goes with its folder; models/churn/params.yaml is inside models/churn
    assert set(p.build.package) == {
        "infra",
        ".almgen",
        "almgen.yaml",
        "models/churn",
        "ml",
        "prompts/support.md",
        "eval/support-qa.jsonl",
    }


def test_mermaid_draws_gates_approval_and_strategy() -> None:
    text = mermaid(plan(load_spec(SPEC_V1)))
    assert text.startswith("flowchart TB\n")  # readable at GitHub's page width
    assert 'prod_approval[/"approval<br>ai-leads"/]' in text
    assert "prod_safety --> prod_approval" in text
    assert 'prod_canary_2["canary 50% in eastus2 then swedencentral<br>route, bake' in text
    assert "prod_canary_3 -. breach or failure .-> prod_restore" in text  # the rollback path


def test_mermaid_draws_regions_in_deployment_order_and_every_rollback_path() -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    text = mermaid(plan(spec))
    prod = next(e for e in spec.environments if e.name == "prod")
    first, second = prod.regions
    assert f'prod_provision["provision {first} (primary)<br>' in text
    assert f'prod_provision_2["provision {second}<br>deploy, once {first} succeeded"]' in text
    assert "prod_approval --> prod_provision\n  prod_provision --> prod_provision_2\n" in text
    assert "prod_provision_2 --> prod_index\n  prod_index --> prod_canary_1" in text  # the retrieval index
    blue_green = [e.name for e in spec.environments if e.strategy.type == "blue-green"]
    assert blue_green
    for name in blue_green:
        assert f"{name}_tests --> {name}_swap\n" in text  # the candidate is tested before the swap
        assert f"{name}_swap -. breach .-> {name}_swap_back" in text
        assert f'{name}_swap_back("roll back<br>' in text


def test_mermaid_lines_stay_short_enough_for_a_page() -> None:
    """Gate thresholds, one per line: no label line as wide as a whole gate."""
    text = mermaid(plan(load_spec(SAMPLES / "enterprise" / "almgen.yaml")))
    labels = re.findall(r'"([^"]*)"', text)
    assert max(len(line) for label in labels for line in label.split("<br>")) <= 60


def test_mermaid_labels_cannot_break_out() -> None:
    from generator.targets.docs.diagram import _label

    assert '"' not in _label('say "hi"]')
    assert "<" not in _label("<img src=x onerror=alert(1)>") and "`" not in _label("`code`")


def test_explain_mermaid_prints_the_same_diagram() -> None:
    result = CliRunner().invoke(cli, ["explain", str(SPEC_V1), "--format", "mermaid"])
    assert result.exit_code == 0
    assert result.output == mermaid(plan(load_spec(SPEC_V1)))


def test_setups_key_the_pip_cache_of_the_jobs_that_run_their_commands() -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    built = plan(spec)
    assert built.job("gates").pip_requirements == ("evals/requirements.txt",)
    assert built.job("finish").pip_requirements == ("tests/requirements.txt",)
    assert built.job("provision").pip_requirements == ()
    assert plan(load_spec(SAMPLES / "minimal" / "almgen.yaml")).job("finish").pip_requirements == ()


def test_a_test_step_runs_its_command_with_the_contract_of_its_target() -> None:
    from generator.plan.shell import job_steps

    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    finish = plan(spec).job("finish")
    (smoke,) = [s for s in job_steps(spec, finish) if s.id == "test-smoke"]
    contract_line, run_line = smoke.script.splitlines()[1:]
    assert 'contract.py" --outputs outputs.json --env "$ALMGEN_ENVIRONMENT"' in contract_line
    assert '--target "$ALMGEN_TARGET" --state live-state.json' in contract_line
    assert contract_line.endswith("--out-dir contracts")  # one contract per region: the test runs in each
    assert run_line.endswith("test smoke --commands release/.almgen/commands.json --contract contracts")
    assert ("ALMGEN_TARGET", "test-target") in smoke.inputs
