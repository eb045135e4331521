"""almgen bump: one version scalar changes; comments, quoting and layout stay."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.commands.bump import next_version
from tests.conftest import SAMPLES


@pytest.mark.parametrize(("part", "expected"), [("major", "2.0.0"), ("minor", "1.5.0"), ("patch", "1.4.3")])
def test_next_version(part: str, expected: str) -> None:
    assert next_version("1.4.2", part) == expected  # type: ignore[arg-type]
    assert next_version("1.4.2-rc.1", part) == expected  # type: ignore[arg-type]


def test_bump_changes_only_the_version(tmp_path: Path) -> None:
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "custom-model-devops", root)
    spec = root / "almgen.yaml"
    before = spec.read_text()
    result = CliRunner().invoke(cli, ["bump", "fraud", "--patch", "--spec", str(spec)])
    assert result.exit_code == 0, result.output
    assert "1.3.0 -> 1.3.1" in result.output
    after = spec.read_text()
    assert after == before.replace("    version: 1.3.0\n", "    version: 1.3.1\n", 1)


def test_bump_keeps_quotes(tmp_path: Path) -> None:
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "enterprise", root)
    spec = root / "almgen.yaml"
    spec.write_text(spec.read_text().replace("version: 2.1.0", "version: '2.1.0'  # the agent"))
    assert CliRunner().invoke(cli, ["bump", "support", "--minor", "--spec", str(spec)]).exit_code == 0
    assert "version: '2.2.0'  # the agent" in spec.read_text()


@pytest.mark.parametrize(
    ("name", "flag", "message"),
    [
        ("chat", "--patch", "foundation model"),
        ("nobody", "--patch", "no model or agent"),
        ("support", "", "say which part"),
    ],
)
def test_bump_refusals(tmp_path: Path, name: str, flag: str, message: str) -> None:
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "enterprise", root)
    spec = root / "almgen.yaml"
    before = spec.read_text()
    result = CliRunner().invoke(cli, ["bump", name, *([flag] if flag else []), "--spec", str(spec)])
    assert result.exit_code == 2
    assert message in result.output
    assert spec.read_text() == before
