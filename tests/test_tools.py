"""The validator wrappers in tests/tools.py really run their tool: each finds a known problem
in a tiny hand-written file and accepts a good one, so "no findings" elsewhere means something.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import tools

pytestmark = pytest.mark.slow  # every test here needs the validators scripts/test.sh installs

GOOD_WORKFLOW = """\
name: ci
on:
  push:
    branches: [main]
permissions: {}
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - name: Greet
        env:
          REF: ${{ github.ref_name }}
        run: echo "building $REF"
"""

# Three problems: an expression expanded in a script, an unpinned action, unquoted $FILES.
BAD_WORKFLOW = """\
name: ci
on:
  issues:
    types: [opened]
permissions: {}
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
      - run: echo "${{ github.event.issue.title }}"
      - run: |
          FILES=$(ls)
          rm $FILES
"""

GOOD_AZURE = """\
trigger:
  branches:
    include: [main]
pool:
  vmImage: ubuntu-latest
jobs:
  - job: build
    timeoutInMinutes: 20
    continueOnError: false
    steps:
      - checkout: self
        fetchDepth: 1
      - script: echo hello
        displayName: Say hello
"""


def repo(root: Path, workflow: str) -> Path:
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text(workflow, "utf-8")
    return root


@pytest.mark.parametrize("tool", sorted(tools.PACKAGES))
def test_every_validator_is_installed_and_runs(tool: str) -> None:
    flag = "-version" if tool == "actionlint" else "--version"
    run = subprocess.run([tools.executable(tool), flag], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_executable_honours_the_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    shellcheck = tools.executable("shellcheck")
    monkeypatch.setenv("ALMGEN_CHECK_JSONSCHEMA", shellcheck)
    assert tools.executable("check-jsonschema") == shellcheck


def test_a_missing_validator_fails_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.fail.Exception, match="no-such-validator"):
        tools.executable("no-such-validator")


def test_yamllint_flags_trailing_spaces_and_accepts_clean_yaml(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(GOOD_WORKFLOW, "utf-8")
    bad = tmp_path / "bad.yml"
    bad.write_text("key: value   \n", "utf-8")
    assert tools.yamllint([good]) == []
    assert tools.yamllint([bad]) == [f"{bad}:1:11 trailing-spaces trailing spaces"]


def test_actionlint_accepts_a_good_workflow(tmp_path: Path) -> None:
    assert tools.actionlint(repo(tmp_path, GOOD_WORKFLOW)) == []


def test_actionlint_finds_injection_and_shellcheck_problems(tmp_path: Path) -> None:
    findings = tools.actionlint(repo(tmp_path, BAD_WORKFLOW))
    text = "\n".join(findings)
    assert '[expression] "github.event.issue.title" is potentially untrusted' in text, text
    assert "SC2086" in text, f"shellcheck did not run:\n{text}"  # rm $FILES
    assert all(f.startswith(".github/workflows/ci.yml:") for f in findings), text


def test_actionlint_resolves_local_reusable_workflows(tmp_path: Path) -> None:
    """Only works inside a folder with .git: the wrapper provides one."""
    root = repo(
        tmp_path, "on: push\npermissions: {}\njobs:\n  call:\n    uses: ./.github/workflows/called.yml\n"
    )
    (root / ".github" / "workflows" / "called.yml").write_text(
        "on:\n  workflow_call:\n    inputs:\n      stage:\n        type: string\n        required: true\n"
        "permissions: {}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
        "utf-8",
    )
    findings = tools.actionlint(root)
    assert any('input "stage" is required' in f for f in findings), findings
    assert (root / ".git").is_dir()


def test_check_jsonschema_workflows(tmp_path: Path) -> None:
    good = repo(tmp_path / "good", GOOD_WORKFLOW) / ".github" / "workflows" / "ci.yml"
    assert tools.check_jsonschema([good], "vendor.github-workflows") == []
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD_WORKFLOW.replace("runs-on:", "runs_on:"), "utf-8")
    findings = tools.check_jsonschema([good, bad], "vendor.github-workflows")
    assert len(findings) == 1, findings
    assert findings[0].startswith(f"{bad}::$.jobs.test: 'runs-on' is a required property"), findings


def test_check_jsonschema_reports_unparsable_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("jobs: [1\n", "utf-8")
    for schema in ("vendor.github-workflows", "vendor.azure-pipelines"):
        findings = tools.check_jsonschema([broken], schema)
        assert len(findings) == 1 and findings[0].startswith(str(broken)), findings


def test_check_jsonschema_azure_pipelines_reads_scalars_as_strings(tmp_path: Path) -> None:
    good = tmp_path / "azure-pipelines.yml"
    good.write_text(GOOD_AZURE, "utf-8")
    assert tools.check_jsonschema([good], "vendor.azure-pipelines") == []
    assert good.read_text("utf-8") == GOOD_AZURE  # the workaround never touches the file


def test_azure_pipelines_schema_used_raw_rejects_numbers(tmp_path: Path) -> None:
    """Why the harness reads scalars as strings: raw, the schema rejects `timeoutInMinutes: 20`.

    If a new check-jsonschema or schema accepts it, the workaround in tools.py can go.
    """
    good = tmp_path / "azure-pipelines.yml"
    good.write_text(GOOD_AZURE, "utf-8")
    run = subprocess.run(
        [
            tools.executable("check-jsonschema"),
            "--builtin-schema",
            "vendor.azure-pipelines",
            "--regex-variant",
            "nonunicode",
            str(good),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "is not of type 'string'" in run.stdout, run.stdout


def test_check_jsonschema_azure_pipelines_rejects_an_unknown_key(tmp_path: Path) -> None:
    good = tmp_path / "good-azure-pipelines.yml"
    good.write_text(GOOD_AZURE, "utf-8")
    bad = tmp_path / "bad-azure-pipelines.yml"
    bad.write_text(
        GOOD_AZURE.replace("    timeoutInMinutes", "    colour: blue\n    timeoutInMinutes"), "utf-8"
    )
    findings = tools.check_jsonschema([good, bad], "vendor.azure-pipelines")
    assert len(findings) == 1, findings
    # Named after the YAML file, not the temporary JSON, and led by the precise error:
    assert findings[0].startswith(f"{bad}::$.jobs[0]: Additional properties are not allowed"), findings
    assert "('colour' was unexpected)" in findings[0], findings


def test_check_jsonschema_azure_pipelines_unnests_template_expressions(tmp_path: Path) -> None:
    conditional = tmp_path / "azure-pipelines.yml"
    conditional.write_text(
        GOOD_AZURE.replace(
            "      - script: echo hello\n",
            "      - ${{ if eq(variables['Build.Reason'], 'PullRequest') }}:\n"
            "          - script: echo pull request\n"
            "      - script: echo hello\n",
        ),
        "utf-8",
    )
    assert tools.check_jsonschema([conditional], "vendor.azure-pipelines") == []


def test_zizmor_accepts_a_good_workflow(tmp_path: Path) -> None:
    """Offline, zizmor cannot check that the `# v7.0.1` comment matches the SHA's tag."""
    assert tools.zizmor(repo(tmp_path, GOOD_WORKFLOW)) == []


def test_zizmor_finds_injection_and_unpinned_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN", "not-a-token")  # dropped by the wrapper: zizmor stays offline
    findings = tools.zizmor(repo(tmp_path, BAD_WORKFLOW))
    idents = sorted(f.split()[1] for f in findings)
    assert idents == ["template-injection", "unpinned-uses"], findings
    assert any(f.startswith(".github/workflows/ci.yml:13:") for f in findings), findings


def test_zizmor_fails_on_a_workflow_it_cannot_load(tmp_path: Path) -> None:
    root = repo(tmp_path, GOOD_WORKFLOW)
    (root / ".github" / "workflows" / "broken.yml").write_text(
        "on: push\njobs:\n  x:\n    steps: 3\n", "utf-8"
    )
    with pytest.raises(pytest.fail.Exception, match="zizmor did not run"):
        tools.zizmor(root)
