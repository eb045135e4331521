"""almgen init: from an empty folder, a clone holding only .git, or an existing repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.commands import init as init_module
from generator.package_data import data_dir
from generator.regen.files import atomic_write
from generator.spec.naming import REGION_CODES
from generator.spec.validate import load_spec

NEXT = "next: run `almgen setup` (Azure and pipeline identities), push, then watch the first run"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def git_init(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")


def existing_repository(repo: Path) -> dict[str, str]:
    """A repository with its own README, code and .gitignore, all committed."""
    git_init(repo)
    files = {"README.md": "# mine\n", "src/app.py": "print('hi')\n", ".gitignore": "*.log\n"}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mine")
    return files


def run_init(target: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["init", str(target), *args], input=stdin)


def created_files(output: str) -> int:
    line = next(x for x in output.splitlines() if x.startswith("created "))
    return int(line.split()[1])


def untracked(repo: Path) -> set[str]:
    lines = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert all(line.startswith("?? ") for line in lines), lines  # nothing the user had changed
    return {line[3:] for line in lines}


@pytest.mark.parametrize("start", ["empty", "git-only", "existing"])
def test_init_adds_a_clean_service_wherever_people_start(tmp_path: Path, start: str) -> None:
    repo = tmp_path / "Support Bot"
    mine: dict[str, str] = {}
    if start == "empty":
        repo.mkdir()
    elif start == "git-only":
        git_init(repo)
    else:
        mine = existing_repository(repo)
    result = run_init(repo, "--no-input", "--pipelines", "both")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(NEXT)
    spec = load_spec(repo / "almgen.yaml")
    assert spec.service.name == "support-bot"
    assert spec.pipelines == ("github-actions", "azure-devops")
    check = CliRunner().invoke(cli, ["check", str(repo / "almgen.yaml")])
    assert check.exit_code == 0, check.output
    for name, text in mine.items():
        assert (repo / name).read_text() == text, name
    assert [f"skipped {n}: it exists, kept as it is" for n in sorted(mine) if n == ".gitignore"] == [
        line for line in result.output.splitlines() if line.startswith("skipped ")
    ]
    if start == "empty":
        git_init(repo)
    added = untracked(repo)
    assert len(added) == created_files(result.output)
    assert {"almgen.yaml", "evals/run.py", "evals/safety.py", ".almgen/almgen.schema.json"} <= added
    assert not [p for p in added if "__pycache__" in p or p.endswith(".pyc")]
    assert (".gitignore" in added) == (start != "existing")


def test_init_creates_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    result = run_init(tmp_path / "new" / "svc-one", "--no-input")
    assert result.exit_code == 0, result.output
    assert load_spec(tmp_path / "new" / "svc-one" / "almgen.yaml").service.name == "svc-one"


def test_a_rerun_says_to_edit_the_spec_and_generate_without_asking(tmp_path: Path) -> None:
    assert run_init(tmp_path / "svc-a", "--no-input").exit_code == 0
    before = (tmp_path / "svc-a" / "almgen.yaml").read_text()
    again = run_init(tmp_path / "svc-a", stdin="")
    assert again.exit_code == 2
    assert "edit almgen.yaml, then run `almgen generate`" in again.output
    assert "name" not in again.output.split("error:")[0]  # no question was asked first
    assert (tmp_path / "svc-a" / "almgen.yaml").read_text() == before


def test_a_failure_while_copying_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "svc-b"
    mine = existing_repository(repo)
    writes: list[Path] = []

    def failing(path: Path, data: bytes) -> None:
        writes.append(path)
        if len(writes) == 20:
            raise OSError(28, "No space left on device")
        atomic_write(path, data)

    monkeypatch.setattr("generator.commands.init.atomic_write", failing)
    result = run_init(repo, "--no-input")
    assert result.exit_code == 4, result.output
    assert len(writes) == 20
    assert untracked(repo) == set()
    assert {
        p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".git" not in p.parts and p.is_file()
    } == set(mine)


def test_bad_options_are_usage_errors_and_write_nothing(tmp_path: Path) -> None:
    cases = {
        ("--name", "9lives"): "is not a service name",
        ("--pipelines", "jenkins"): "answer github-actions, azure-devops or both",
        ("--region", "Mars"): "is not an Azure region almgen knows",
        ("--region", "westeurop"): "did you mean westeurope",
        ("--reviewers", "a]b"): "give GitHub users or teams",
        ("--strategy", "rolling"): "answer blue-green, canary, direct",
    }
    for (option, value), message in cases.items():
        result = run_init(tmp_path / "svc-c", "--no-input", option, value)
        assert result.exit_code == 2, (option, result.output)
        assert f"{option}: " in result.output and message in result.output, result.output
        assert not (tmp_path / "svc-c").exists()


def test_the_prompts_explain_offer_defaults_and_re_ask_bad_answers(tmp_path: Path) -> None:
    answers = [
        "9lives",  # bad name
        "ai-leads",  # name
        "ai-leads] : {who: knows} # not a comment",  # description: YAML syntax, kept as text
        "jenkins",  # bad pipelines
        "both",
        "West Europe",  # a region as the portal writes it
        "a]b",  # bad reviewer
        "octocat, my-org/ai-leads",
        "rolling",  # bad strategy
        "canary",
    ]
    result = run_init(tmp_path / "svc-d", stdin="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "The service's name: resource names" in out and "[svc-d]" in out
    assert "pipelines (github-actions, azure-devops, both) [github-actions]" in out
    assert f"region ({len(REGION_CODES)} known, e.g. eastus2, swedencentral, westeurope) [eastus2]" in out
    for error in ("'9lives' is not a service name", "'jenkins': answer", "a]b: give", "'rolling': answer"):
        assert error in out, error
    spec = load_spec(tmp_path / "svc-d" / "almgen.yaml")
    assert spec.service.name == "ai-leads"
    assert spec.service.description == "ai-leads] : {who: knows} # not a comment"
    assert spec.pipelines == ("github-actions", "azure-devops")
    prod = spec.environments[-1]
    assert prod.regions == ("westeurope",)
    assert prod.strategy.type == "canary"
    assert prod.approval is not None and prod.approval.reviewers == ("octocat", "my-org/ai-leads")


def test_enter_takes_every_default(tmp_path: Path) -> None:
    result = run_init(tmp_path / "svc-e", stdin="\n" * 6)
    assert result.exit_code == 0, result.output
    spec = load_spec(tmp_path / "svc-e" / "almgen.yaml")
    assert (spec.service.name, spec.pipelines, spec.environments[0].regions) == (
        "svc-e",
        ("github-actions",),
        ("eastus2",),
    )


def test_the_spec_names_its_schema_which_generate_keeps_and_check_watches(tmp_path: Path) -> None:
    repo = tmp_path / "svc-f"
    assert run_init(repo, "--no-input").exit_code == 0
    assert (repo / "almgen.yaml").read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=.almgen/almgen.schema.json"
    )
    schema = repo / ".almgen" / "almgen.schema.json"
    assert json.loads(schema.read_text()) == json.loads(
        (data_dir("schemas") / "almgen.schema.json").read_text()
    )
    schema.write_text(schema.read_text().replace('"title"', '"comment": "mine", "title"', 1))
    drift = CliRunner().invoke(cli, ["check", str(repo / "almgen.yaml")])
    assert drift.exit_code == 1 and "almgen.schema.json" in drift.output


def test_compiled_files_in_the_template_are_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(data_dir("templates") / "project", templates / "project")
    cache = templates / "project" / "{{cookiecutter._directory}}" / "evals" / "__pycache__"
    cache.mkdir()
    (cache / "run.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.setattr(init_module, "data_dir", lambda name: templates)
    assert run_init(tmp_path / "svc-g", "--no-input").exit_code == 0
    assert not list((tmp_path / "svc-g").rglob("__pycache__"))
    assert (tmp_path / "svc-g" / "evals" / "run.py").is_file()


def test_a_description_is_data_in_the_spec_and_the_dataset(tmp_path: Path) -> None:
    text = '{% raw %} {{ cookiecutter.name }} "quoted" ai-leads] : {x: 1} # no comment'
    result = run_init(tmp_path / "svc-i", "--no-input", "--description", text)
    assert result.exit_code == 0, result.output
    assert load_spec(tmp_path / "svc-i" / "almgen.yaml").service.description == text
    rows = [json.loads(line) for line in (tmp_path / "svc-i" / "eval" / "qa.jsonl").read_text().splitlines()]
    assert rows[0]["context"] == rows[0]["ground_truth"] == text
    assert len(rows) > 1 and all(set(row) == {"query", "context", "ground_truth"} for row in rows)


def test_a_skipped_generated_file_says_how_to_replace_it(tmp_path: Path) -> None:
    repo = tmp_path / "svc-j"
    workflow = repo / ".github" / "workflows" / "svc-j-cd.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("name: mine\n")
    result = run_init(repo, "--no-input")
    assert result.exit_code == 0, result.output
    assert (
        "skipped .github/workflows/svc-j-cd.yml: it exists, kept as it is "
        "(almgen generates it: `almgen generate --force` replaces it)"
    ) in result.output
    assert workflow.read_text() == "name: mine\n"
    assert CliRunner().invoke(cli, ["check", str(repo / "almgen.yaml")]).exit_code == 1
