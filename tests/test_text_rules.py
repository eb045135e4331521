"""`validate` and `generate` agree on text: control characters and lengths are refused at validate,
located; what validate accepts, generate writes. Files outside the repository are never echoed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from generator.cli import cli
from generator.errors import SpecInvalid
from generator.render.all import render
from generator.render.verify import verify
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES
from tests.fuzzing import leaves
from tests.helpers import MINIMAL, write_tree

CONTROLS = ["\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028"]


def _enterprise(tmp_path: Path, change: Any) -> Path:
    """A copy of the enterprise sample whose data `change` edits in place."""
    folder = tmp_path / "enterprise"
    shutil.copytree(SAMPLES / "enterprise", folder)
    data = YAML(typ="safe").load((SAMPLES / "enterprise" / "almgen.yaml").read_text("utf-8"))
    change(data)
    spec = folder / "almgen.yaml"
    spec.write_text(json.dumps(data), "utf-8")
    return spec


def test_a_carriage_return_in_a_command_is_refused_by_validate_not_crashed_on_by_generate(
    tmp_path: Path,
) -> None:
    """It passed validate and made generate exit 4 (PIPELINE.md: "output must use LF")."""
    spec = _enterprise(tmp_path, lambda d: d["evaluation"].update(command="python -m evals.run\r--out x"))
    for command in (["validate"], ["generate", "--dry-run"]):
        result = CliRunner().invoke(cli, [*command, str(spec)])
        assert result.exit_code == 3, result.output
        assert "evaluation.command: contains U+000D (carriage return)" in result.output


FIELDS: dict[str, Any] = {
    "owner": lambda d, v: d["service"].update(owner="ops" + v),
    "tag": lambda d, v: d["service"]["tags"].update(costCenter="47" + v),
    "reviewer": lambda d, v: d["environments"][2]["approval"]["reviewers"].__setitem__(0, "leads" + v),
    "tag-name": lambda d, v: d["service"]["tags"].update({"team" + v: "x"}),
    "setting-name": lambda d, v: d["configuration"]["appConfiguration"]["settings"].update({"A:B" + v: "1"}),
    "command": lambda d, v: d["tests"]["smoke"].update(command="pytest" + v),
    "description": lambda d, v: d["service"].update(description="chat" + v),
}


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_characters_are_refused_in_every_kind_of_field(tmp_path: Path, char: str) -> None:
    def change(data: Any) -> None:
        for setter in FIELDS.values():
            setter(data, char + "x")

    with pytest.raises(SpecInvalid) as caught:
        load_spec(_enterprise(tmp_path, change))
    refused = [issue for issue in caught.value.issues if f"U+{ord(char):04X}" in issue.message]
    assert len(refused) == len(FIELDS), caught.value.format()


@pytest.mark.parametrize("field", ["owner", "reviewer", "tag-name", "setting-name"])
def test_a_line_break_is_refused_in_a_one_line_field(tmp_path: Path, field: str) -> None:
    spec = _enterprise(tmp_path, lambda d: FIELDS[field](d, "\nx"))
    with pytest.raises(SpecInvalid) as caught:
        load_spec(spec)
    assert any("U+000A" in issue.message for issue in caught.value.issues)


@pytest.mark.parametrize("field", ["command", "description"])
def test_a_line_break_is_text_in_a_multi_line_field(tmp_path: Path, field: str) -> None:
    spec = _enterprise(tmp_path, lambda d: FIELDS[field](d, "\n\tx"))
    verify(render(load_spec(spec)))


def test_a_value_and_a_key_past_their_length_are_refused(tmp_path: Path) -> None:
    def change(data: Any) -> None:
        data["configuration"]["appConfiguration"]["settings"].update({"K" * 300: "v", "Long": "v" * 2001})

    with pytest.raises(SpecInvalid) as caught:
        load_spec(_enterprise(tmp_path, change))
    messages = sorted(issue.message for issue in caught.value.issues)
    assert messages == ["the key is 300 characters long", "the value is 2001 characters long"]


def test_a_path_past_the_os_limit_is_a_located_error(tmp_path: Path) -> None:
    """`is_file()` raised "File name too long" out of validate: exit 4."""
    spec = _enterprise(tmp_path, lambda d: d["evaluation"].update(dataset="d" * 300 + ".jsonl"))
    with pytest.raises(SpecInvalid) as caught:
        load_spec(spec)
    (issue,) = caught.value.issues
    assert issue.path == "evaluation.dataset"
    assert "cannot be used" in issue.message


def test_an_absolute_extends_is_refused_before_it_is_read(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "elsewhere", {"base.yaml": "TOPSECRET: 1\n"}) / "base.yaml"
    write_tree(tmp_path / "repo", {"almgen.yaml": f"extends: {outside}\n" + MINIMAL})
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "repo" / "almgen.yaml")])
    assert result.exit_code == 3
    assert "extends must name a file by a relative path" in result.output
    assert "TOPSECRET" not in result.output


def test_errors_in_a_base_outside_the_repository_do_not_show_its_content(tmp_path: Path) -> None:
    """A hostile `extends: ../../..` made validate print keys and values of any readable file."""
    write_tree(tmp_path, {"home/creds.yaml": "apiVersion: almgen/v1\nTOPSECRET_KEY: hunter2-value\n"})
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    write_tree(tmp_path / "repo", {"svc/almgen.yaml": "extends: ../../home/creds.yaml\n" + MINIMAL})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "repo" / "svc" / "almgen.yaml")
    shown = caught.value.format()
    assert "creds.yaml:2:1" in shown
    assert "TOPSECRET" not in shown
    assert "hunter2" not in shown
    assert "outside the repository" in shown


def test_errors_in_a_base_inside_the_repository_are_shown_in_full(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    write_tree(tmp_path / "repo", {"platform/base.yaml": "apiVersion: almgen/v1\nownr: x\n"})
    write_tree(tmp_path / "repo", {"svc/almgen.yaml": "extends: ../platform/base.yaml\n" + MINIMAL})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "repo" / "svc" / "almgen.yaml")
    assert "ownr" in caught.value.format()


@pytest.mark.slow
@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir() if (p / "almgen.yaml").is_file()))
def test_validate_and_generate_agree_on_every_string_of_every_sample(tmp_path: Path, sample: str) -> None:
    """A carriage return or a line feed spliced into each string: validate refuses it, or generate
    writes it (tests/test_fuzz.py tries the other characters at random)."""
    folder = tmp_path / sample
    shutil.copytree(SAMPLES / sample, folder)
    data = YAML(typ="safe").load((SAMPLES / sample / "almgen.yaml").read_text("utf-8"))
    for path, value in [(p, v) for p, v in leaves(data) if isinstance(v, str)]:
        for char in ("\r", "\n"):
            changed = json.loads(json.dumps(data, default=str))
            node = changed
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value + char + "x"
            (folder / "almgen.yaml").write_text(json.dumps(changed), "utf-8")
            try:
                spec = load_spec(folder / "almgen.yaml")
            except SpecInvalid:
                continue
            assert char == "\n", path
            verify(render(spec))


def test_a_number_too_large_for_a_float_is_a_located_error(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: a 400-digit budget raised OverflowError in resolve (exit 4)."""
    spec = _enterprise(tmp_path, lambda d: d["monitoring"]["budget"].update(monthlyAmount=10**400))
    with pytest.raises(SpecInvalid) as caught:
        load_spec(spec)
    (issue,) = caught.value.issues
    assert (issue.path, issue.message) == ("monitoring.budget.monthlyAmount", "the number is too large")


def test_a_broken_policy_outside_the_repository_is_not_quoted(tmp_path: Path) -> None:
    write_tree(tmp_path, {"platform/policy.json": '{"type": "TOPSECRET"}'})
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    write_tree(tmp_path / "repo", {"almgen.yaml": "policies: [../platform/policy.json]\n" + MINIMAL})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "repo" / "almgen.yaml")
    (issue,) = caught.value.issues
    assert issue.path == "policies[0]"
    assert "TOPSECRET" not in caught.value.format()
    assert "outside the repository" in issue.message
