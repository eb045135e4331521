"""The generated GitHub Actions workflows, checked by the tools their users run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests import tools
from tests.conftest import SAMPLE_NAMES
from tests.generated import outputs, write_tree

GITHUB_SAMPLES = [s for s in SAMPLE_NAMES if any(f.path.startswith(".github/workflows/") for f in outputs(s))]


def test_the_samples_cover_github_actions() -> None:
    assert {"minimal", "openai-chat-github", "enterprise"} <= set(GITHUB_SAMPLES)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("github")
    return {sample: write_tree(sample, root / sample) for sample in GITHUB_SAMPLES}


def _workflows(repo: Path) -> list[Path]:
    return sorted((repo / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_yamllint(sample: str, repos: dict[str, Path]) -> None:
    assert tools.yamllint(_workflows(repos[sample])) == []


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_actionlint_with_shellcheck(sample: str, repos: dict[str, Path]) -> None:
    assert tools.actionlint(repos[sample]) == []


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_github_workflow_schema(sample: str, repos: dict[str, Path]) -> None:
    assert tools.check_jsonschema(_workflows(repos[sample]), "vendor.github-workflows") == []


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_zizmor(sample: str, repos: dict[str, Path]) -> None:
    assert tools.zizmor(repos[sample]) == []


@pytest.fixture(scope="module")
def checkov_report(repos: dict[str, Path]) -> dict[str, Any]:
    root = next(iter(repos.values())).parent
    return tools.checkov(root, "github_actions")


def test_checkov_github_actions(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert failed == [], [f"{c['check_id']} {c['file_path']}" for c in failed]
    assert checkov_report["summary"]["passed"] > 0


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_every_action_is_pinned_to_a_full_sha_with_its_tag(sample: str, repos: dict[str, Path]) -> None:
    for path in _workflows(repos[sample]):
        for line in path.read_text("utf-8").splitlines():
            if "uses: " in line and "/.github/workflows/" not in line:
                ref = line.split("uses: ", 1)[1]
                _action, _, rest = ref.partition("@")
                sha, _, tag = rest.partition(" # ")
                assert len(sha) == 40 and all(c in "0123456789abcdef" for c in sha), line
                assert tag.startswith("v"), line


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_callers_pass_exactly_the_inputs_the_deploy_workflow_declares(
    sample: str, repos: dict[str, Path]
) -> None:
    workflows = {p.name: _load(p) for p in _workflows(repos[sample])}
    (deploy_name,) = [n for n in workflows if n.endswith("-deploy.yml")]
    (cd_name,) = [n for n in workflows if n.endswith("-cd.yml")]
    declared = workflows[deploy_name]["on"]["workflow_call"]["inputs"]
    required = {k for k, v in declared.items() if v.get("required")}
    callers = [j for j in workflows[cd_name]["jobs"].values() if "uses" in j]
    assert callers
    for job in callers:
        assert job["uses"].endswith(f"/.github/workflows/{deploy_name}")
        given = set(job["with"])
        assert given <= set(declared), given - set(declared)
        assert required <= given


@pytest.mark.parametrize("sample", GITHUB_SAMPLES)
def test_no_expression_inside_run_scripts(sample: str, repos: dict[str, Path]) -> None:
    for path in _workflows(repos[sample]):
        for job in _load(path)["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_deploy_jobs_are_bound_to_their_environment_with_least_privilege(repos: dict[str, Path]) -> None:
    workflows = {p.name: _load(p) for p in _workflows(repos["enterprise"])}
    deploy = workflows["support-agent-deploy.yml"]
    assert deploy["permissions"] == {}
    for name, job in deploy["jobs"].items():
        if name == "approval":  # the reviewers, once per environment: no credential, no permission
            assert job["environment"] == "${{ inputs.approval-environment }}"
            assert job["permissions"] == {} and job["needs"] == ["gates"]
            continue
        expected = "previous-environment" if name == "gates" else "environment"
        assert job["environment"] == "${{ inputs." + expected + " }}"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        if name != "gates":
            assert job["concurrency"]["cancel-in-progress"] is False
            assert "approval" in job["needs"]  # no Azure credential before the reviewers said yes
    assert list(deploy["jobs"]) == [
        "gates",
        "approval",
        "provision",
        "canary-1",
        "canary-2",
        "canary-3",
        "canary-4",
        "finish",
        "rollback",
    ]
    cd = workflows["support-agent-cd.yml"]
    order = [name for name in cd["jobs"] if name.startswith("deploy-")]
    assert order == ["deploy-dev", "deploy-staging", "deploy-prod"]
    assert cd["jobs"]["deploy-prod"]["needs"] == ["deploy-staging"]
    approvals = {name: cd["jobs"][name]["with"]["approval-environment"] for name in order}
    assert approvals == {"deploy-dev": "", "deploy-staging": "", "deploy-prod": "prod-approval"}
    assert cd["jobs"]["deploy-prod"]["with"]["strategy"] == "canary"
    assert cd["jobs"]["deploy-prod"]["with"]["canary-steps"] == "[10, 25, 50, 100]"


HOSTILE = "pytest -k 'a and b' ${{ secrets.TOKEN }} $(id) \"quoted\"\nsecond line"


def test_hostile_spec_text_never_enters_a_workflow(tmp_path: Path) -> None:
    import json as _json

    from generator.render.all import render
    from generator.spec.validate import load_spec
    from tests.helpers import MINIMAL
    from tests.helpers import write_tree as write_files

    spec = MINIMAL.replace("  - name: dev\n", "  - name: dev\n    tests: [smoke]\n")
    spec += f"tests:\n  smoke: {{command: {_json.dumps(HOSTILE)}}}\n"
    spec = spec.replace("{name: demo-svc}", "{name: demo-svc, description: " + _json.dumps(HOSTILE) + "}")
    write_files(tmp_path, {"almgen.yaml": spec})
    files = {f.path: f.text for f in render(load_spec(tmp_path / "almgen.yaml"))}
    for path, text in files.items():
        if path.startswith(".github/"):
            assert "secrets.TOKEN" not in text and "$(id)" not in text, path
    assert _json.loads(files[".almgen/commands.json"])["tests"]["smoke"] == HOSTILE


def _deploy_calls(sample: str) -> set[str]:
    cd = next(f.text for f in outputs(sample) if f.path.endswith("-cd.yml"))
    return {
        line.strip() for line in cd.splitlines() if line.strip().startswith("uses: ") and "deploy" in line
    }


def test_the_reusable_deploy_workflow_is_called_as_the_spec_says() -> None:
    """self (the default): `$/`, github.com only; local: `./`, with zizmor's self-repository audit off."""
    assert _deploy_calls("enterprise") == {"uses: $/.github/workflows/support-agent-deploy.yml"}
    assert _deploy_calls("openai-chat-github") == {"uses: ./.github/workflows/chat-assist-deploy.yml"}
    configs = {s: [f.text for f in outputs(s) if f.path == ".github/zizmor.yml"] for s in GITHUB_SAMPLES}
    assert configs["enterprise"] == []
    (config,) = configs["openai-chat-github"]
    assert YAML(typ="safe").load(config) == {"rules": {"self-repository": {"disable": True}}}
    assert "GitHub Enterprise Server" in config  # the reason, beside the setting


def test_zizmor_flags_a_local_call_without_the_generated_config(tmp_path: Path) -> None:
    """The config is what keeps `./` clean: without it, zizmor asks for `$/`."""
    repo = write_tree("openai-chat-github", tmp_path / "repo")
    (repo / ".github" / "zizmor.yml").unlink()
    findings = tools.zizmor(repo)
    assert findings and all("self-repository" in finding for finding in findings)


def test_the_data_clean_up_on_github_actions(tmp_path: Path) -> None:
    """The custom-model sample (clean-up on) on GitHub Actions: the clean-up step follows the
    retirement, its certificate goes into the release artifact, and actionlint passes (a slow test:
    it runs actionlint)."""
    import shutil

    from generator.render.all import render
    from generator.spec.validate import load_spec
    from tests.conftest import SAMPLES

    spec_dir = tmp_path / "spec"
    shutil.copytree(SAMPLES / "custom-model-devops", spec_dir)
    text = (spec_dir / "almgen.yaml").read_text("utf-8")
    (spec_dir / "almgen.yaml").write_text(text.replace("[azure-devops]", "[github-actions]"), "utf-8")
    repo = tmp_path / "repo"
    for output in render(load_spec(spec_dir / "almgen.yaml")):
        path = repo / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output.text, "utf-8", newline="\n")
    (deploy,) = [p for p in _workflows(repo) if p.name.endswith("-deploy.yml")]
    workflow = deploy.read_text("utf-8")
    assert workflow.index('models.py" retire') < workflow.index('models.py" clean-up')
    assert workflow.index('models.py" clean-up') < workflow.index("--out release-record.json")
    assert "            deletion-certificate.json\n" in workflow  # uploaded with the release record
    assert tools.actionlint(repo) == []


def test_a_manual_ab_decision_on_github_actions(tmp_path: Path) -> None:
    """The chat sample with `decide: manual`: the finish job hands the comparison and the saved
    routing on, a job on `<env>-ab-decision` waits for its reviewers, ab-promote follows it, and
    ab-restore runs whenever the comparison succeeded and the decision did not (rejected: GitHub fails
    the run; timed out, cancelled or skipped), restores and fails; the validators pass (a slow test)."""
    import shutil

    from generator.render.all import render
    from generator.spec.validate import load_spec
    from tests.conftest import SAMPLES

    spec_dir = tmp_path / "spec"
    shutil.copytree(SAMPLES / "openai-chat-github", spec_dir)
    text = (spec_dir / "almgen.yaml").read_text("utf-8")
    rule = "compare: {metric: latencyP95Ms, tolerancePercent: 10}"
    manual = "compare: {metric: latencyP95Ms, tolerancePercent: 10, decide: manual, reviewers: [ab-owners]}"
    assert text.count(rule) == 1
    (spec_dir / "almgen.yaml").write_text(text.replace(rule, manual), "utf-8")
    repo = tmp_path / "repo"
    for output in render(load_spec(spec_dir / "almgen.yaml")):
        path = repo / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output.text, "utf-8", newline="\n")
    (deploy,) = [p for p in _workflows(repo) if p.name.endswith("-deploy.yml")]
    jobs = YAML(typ="safe").load(deploy.read_text("utf-8"))["jobs"]
    decision, promote, restore = jobs["ab-decision"], jobs["ab-promote"], jobs["ab-restore"]
    assert decision["environment"] == "${{ format('{0}-ab-decision', inputs.environment) }}"
    assert decision["needs"] == ["finish"] and decision["permissions"] == {}
    assert promote["needs"][0] == "ab-decision"
    assert restore["if"] == (
        "always() && needs.finish.result == 'success' && needs.ab-decision.result != 'success' "
        "&& inputs.ab-decide == 'manual'"
    )
    assert restore["steps"][-1]["run"].rstrip().endswith("exit 1")
    finish = [step.get("name", step.get("uses", "")) for step in jobs["finish"]["steps"]]
    record = next(step for step in jobs["finish"]["steps"] if step.get("name") == "Release record")
    assert record["if"].startswith("inputs.ab-decide != 'manual' && ")
    assert any(step.get("name") == "Release record" for step in promote["steps"])
    assert finish.index("A/B test: compare both variants of chat and promote the winner") < len(finish)
    cd = (repo / ".github" / "workflows" / deploy.name.replace("-deploy", "-cd")).read_text("utf-8")
    assert 'ab-decide: "manual"' in cd and 'ab-decide: ""' in cd
    setup = (repo / "docs" / "alm" / "SETUP.md").read_text("utf-8")
    assert "staging-ab-decision, reviewers ab-owners" in setup
    pipeline = (repo / "docs" / "alm" / "PIPELINE.md").read_text("utf-8")
    assert "a person decides (staging-ab-decision)" in pipeline and "- **A/B decision**:" in pipeline
    assert tools.yamllint(_workflows(repo)) == []
    assert tools.actionlint(repo) == []
    assert tools.check_jsonschema(_workflows(repo), "vendor.github-workflows") == []
    assert tools.zizmor(repo) == []
