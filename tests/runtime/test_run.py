"""run.py: spec commands are read from .almgen/commands.json and run as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.runtime import run


@pytest.fixture
def commands(tmp_path: Path) -> Path:
    path = tmp_path / "commands.json"
    marker = tmp_path / "ran.txt"
    path.write_text(
        json.dumps(
            {
                "tests": {"smoke": f"printf '%s' \"it's $HOME\" > {marker}", "fails": "exit 7"},
                "gates": {"evaluation": "true"},
            }
        )
    )
    return path


def test_a_test_runs_and_its_exit_code_is_returned(commands: Path) -> None:
    assert run.main(["test", "smoke", "--commands", str(commands)]) == 0
    assert (commands.parent / "ran.txt").read_text().startswith("it's /")
    assert run.main(["test", "fails", "--commands", str(commands)]) == 7
    assert run.main(["gate", "evaluation", "--commands", str(commands)]) == 0


@pytest.mark.parametrize("name", ["missing", ""])
def test_an_unknown_command_is_a_usage_error(commands: Path, name: str) -> None:
    assert run.main(["test", name, "--commands", str(commands)]) == 2


def test_an_unreadable_table_is_a_usage_error(tmp_path: Path) -> None:
    assert run.main(["test", "smoke", "--commands", str(tmp_path / "nope.json")]) == 2
