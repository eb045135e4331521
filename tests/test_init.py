"""almgen init: a new service folder from the project template, generated and clean."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from generator.cli import cli
from generator.spec.validate import load_spec


def test_init_creates_a_valid_generated_service(tmp_path: Path) -> None:
    target = tmp_path / "Support Bot"
    result = CliRunner().invoke(
        cli, ["init", str(target), "--no-input", "--pipelines", "github-actions,azure-devops"]
    )
    assert result.exit_code == 0, result.output
    spec = load_spec(target / "almgen.yaml")
    assert spec.service.name == "support-bot"
    assert spec.pipelines == ("github-actions", "azure-devops")
    for path in (
        "eval/qa.jsonl",
        "evals/run.py",
        "tests/smoke/test_smoke.py",
        "prompts/system.md",
        ".github/workflows/support-bot-cd.yml",
        ".azure-pipelines/support-bot.yml",
        "infra/main.bicep",
    ):
        assert (target / path).is_file(), path
    assert CliRunner().invoke(cli, ["check", str(target / "almgen.yaml")]).exit_code == 0


def test_init_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = CliRunner().invoke(cli, ["init", str(tmp_path), "--no-input", "--name", "my-service"])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_refuses_unknown_pipelines_and_bad_names(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        cli, ["init", str(tmp_path / "a"), "--no-input", "--name", "svc-x", "--pipelines", "jenkins"]
    )
    assert bad.exit_code == 2 and "--pipelines takes" in bad.output
    name = runner.invoke(cli, ["init", str(tmp_path / "b"), "--no-input", "--name", "9lives"])
    assert name.exit_code == 2 and "is not a service name" in name.output
