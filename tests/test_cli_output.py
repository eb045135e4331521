"""What the commands print: JSON reports, diff's exit code, --quiet/--verbose, colour, refusals."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from tests.conftest import SAMPLES
from tests.helpers import MINIMAL, write_tree

ESC = "\x1b["


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLES / "minimal", root)
    return root


def run(*args: str, color: bool = False, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), color=color, env=env)


def spec(root: Path) -> str:
    return str(root / "almgen.yaml")


def test_validate_json_has_an_entry_per_spec_with_located_issues(tmp_path: Path) -> None:
    write_tree(tmp_path, {"good/almgen.yaml": MINIMAL, "bad/almgen.yaml": MINIMAL.replace("dev", "Dev!")})
    good, bad = str(tmp_path / "good" / "almgen.yaml"), str(tmp_path / "bad" / "almgen.yaml")
    result = run("validate", good, bad, "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert list(data) == [good, bad]
    assert data[good] == {"valid": True, "service": "demo-svc", "environments": ["dev"], "issues": []}
    assert data[bad]["valid"] is False
    issue = data[bad]["issues"][0]
    text = (tmp_path / "bad" / "almgen.yaml").read_text().splitlines()
    assert "Dev!" in text[issue["line"] - 1][issue["column"] - 1 :]
    assert issue["path"] == "environments[0].name"
    assert {"file", "message", "expected", "fix"} <= set(issue)
    assert run("validate", good, "--format", "json").exit_code == 0


def test_generate_json_lists_every_change_and_its_counts(repo: Path) -> None:
    result = run("generate", spec(repo), "--format", "json")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)[spec(repo)]
    assert (entry["dry_run"], entry["written"], entry["refused"]) == (False, True, False)
    created = [c["path"] for c in entry["changes"] if c["action"] == "created"]
    assert created and all((repo / path).is_file() for path in created)
    assert entry["counts"]["created"] == len(created)
    assert sum(entry["counts"].values()) == len(entry["changes"])


def test_generate_json_of_a_refusal_says_nothing_was_written(repo: Path) -> None:
    assert run("generate", spec(repo)).exit_code == 0
    main = repo / "infra" / "main.bicep"
    main.write_text(main.read_text() + "// mine\n")
    result = run("generate", spec(repo), "--format", "json")
    assert result.exit_code == 1
    entry = json.loads(result.stdout)[spec(repo)]  # stdout is only the JSON; the error is on stderr
    assert (entry["written"], entry["refused"]) == (False, True)
    assert [c["path"] for c in entry["changes"] if c["action"] == "refused"] == ["infra/main.bicep"]


def test_diff_exits_1_with_changes_and_0_without_in_text_and_json(repo: Path) -> None:
    before = run("diff", spec(repo), "--format", "json")
    assert before.exit_code == 1
    findings = json.loads(before.stdout)[spec(repo)]
    assert {f["kind"] for f in findings} == {"missing"}
    assert "infra/main.bicep" in {f["path"] for f in findings}
    assert run("generate", spec(repo)).exit_code == 0
    after = run("diff", spec(repo), "--format", "json")
    assert (after.exit_code, json.loads(after.stdout)) == (0, {spec(repo): []})
    assert run("diff", spec(repo)).exit_code == 0


def test_a_refused_generate_never_says_updated_and_names_the_ways_out(repo: Path) -> None:
    assert run("generate", spec(repo)).exit_code == 0
    (repo / "almgen.yaml").write_text((repo / "almgen.yaml").read_text().replace("demo", "demo2"))
    main = repo / "infra" / "main.bicep"
    edited = main.read_text() + "// mine\n"
    main.write_text(edited)
    assert "updated" in run("generate", spec(repo), "--dry-run", "--force").output  # others would change
    result = run("generate", spec(repo))
    assert result.exit_code == 1
    assert "updated" not in result.output
    assert "created" not in result.output
    assert "refused  infra/main.bicep" in result.output
    assert "almgen eject" in result.output
    assert "template pack" in result.output
    assert main.read_text() == edited


def test_quiet_prints_nothing_on_success_before_or_after_the_command(repo: Path) -> None:
    for args in (["-q", "generate", spec(repo)], ["generate", spec(repo), "--quiet"]):
        result = run(*args)
        assert (result.exit_code, result.output) == (0, "")
    assert run("validate", spec(repo), "-q").output == ""
    assert run("check", spec(repo), "-q").output == ""
    assert run("-q", "diff", spec(repo)).output == ""


def test_quiet_still_prints_refusals_and_errors(repo: Path) -> None:
    assert run("generate", spec(repo)).exit_code == 0
    main = repo / "infra" / "main.bicep"
    main.write_text(main.read_text() + "// mine\n")
    result = run("generate", spec(repo), "-q")
    assert result.exit_code == 1
    assert "refused  infra/main.bicep" in result.output
    assert "error: nothing was written" in result.output


def test_verbose_also_lists_unchanged_files(repo: Path) -> None:
    first = run("generate", spec(repo))
    created = first.output.count("  created  ")
    normal = run("generate", spec(repo))
    assert "unchanged  " not in normal.output
    verbose = run("--verbose", "generate", spec(repo))
    assert verbose.output.count("unchanged  ") == created


def test_quiet_and_verbose_together_are_a_usage_error(repo: Path) -> None:
    result = run("-q", "validate", spec(repo), "-v")
    assert result.exit_code == 2
    assert "--quiet and --verbose" in result.output


@pytest.mark.parametrize("command", ["generate", "diff"])
def test_colour_only_where_click_keeps_it_and_never_with_no_color(repo: Path, command: str) -> None:
    assert ESC in run(command, spec(repo), color=True).output
    assert ESC not in run(command, spec(repo), color=False).output  # not a terminal
    shutil.rmtree(repo / "infra", ignore_errors=True)
    assert ESC not in run(command, spec(repo), color=True, env={"NO_COLOR": "1"}).output


def test_json_is_never_coloured(repo: Path) -> None:
    result = run("generate", spec(repo), "--format", "json", color=True)
    assert ESC not in result.stdout
    json.loads(result.stdout)


def test_setup_quiet_does_not_echo_each_command(tmp_path: Path) -> None:
    from tests.test_setup_world import Fakes, _copy, world

    fakes = Fakes(tmp_path, world("minimal"))
    spec_path = _copy("minimal", tmp_path)
    loud = fakes.run(spec_path, "--dry-run", "--format", "json")
    assert loud.exit_code == 0, loud.output
    assert "az " in loud.stderr
    quiet = fakes.run(spec_path, "--dry-run", "--format", "json", "--quiet")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert json.loads(quiet.stdout) == json.loads(loud.stdout)


def completion_commands() -> list[str]:
    """The `_ALMGEN_COMPLETE=<shell>_source` values docs/cli.md tells users to run."""
    text = (Path(__file__).parent.parent / "docs" / "cli.md").read_text("utf-8")
    return sorted(set(re.findall(r"_ALMGEN_COMPLETE=(\w+_source) almgen", text)))


def test_the_documented_completion_commands_print_a_completion_script(tmp_path: Path) -> None:
    shells = completion_commands()
    assert shells == ["bash_source", "fish_source", "zsh_source"]
    for shell in shells:
        result = subprocess.run(
            [sys.executable, "-m", "generator"],
            env={**os.environ, "_ALMGEN_COMPLETE": shell},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "_almgen_completion" in result.stdout
        assert "_ALMGEN_COMPLETE" in result.stdout  # the script calls almgen back for the words


def test_a_quiet_clean_check_is_answered_before_click_is_imported(repo: Path) -> None:
    assert run("generate", spec(repo)).exit_code == 0
    probe = (
        "import sys\nsys.argv = ['almgen', *sys.argv[1:]]\nfrom generator.entry import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n"
        "    print('CLICK', 'click' in sys.modules, 'CODE', exc.code)\n"
    )
    for args, printed in ((["-q"], ""), (["--quiet"], ""), ([], f"{spec(repo)}: up to date\n")):
        done = subprocess.run(
            [sys.executable, "-c", probe, "check", *args, spec(repo)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stdout == printed + "CLICK False CODE 0\n", done.stderr
