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


def _with_setup(tmp_path: Path, setup: dict[str, str]) -> Path:
    path = tmp_path / "commands.json"
    marker = tmp_path / "setups.txt"
    path.write_text(
        json.dumps(
            {
                "tests": {"a": f"echo ran-a >> {marker}", "b": f"echo ran-b-$ALMGEN_X >> {marker}"},
                "gates": {},
                "setup": {"tests": {"a": setup, "b": setup}},
            }
        )
    )
    return path


def test_a_setup_runs_once_per_job_before_its_commands(tmp_path: Path) -> None:
    commands = _with_setup(tmp_path, {"command": f"echo setup >> {tmp_path / 'setups.txt'}"})
    (tmp_path / "contract.env").write_text("ALMGEN_X=fromcontract\n")
    done = ["--setup-done", str(tmp_path / "done"), "--contract", str(tmp_path / "contract.env")]
    assert run.main(["test", "a", "--commands", str(commands), *done]) == 0
    assert run.main(["test", "b", "--commands", str(commands), *done]) == 0
    assert (tmp_path / "setups.txt").read_text().splitlines() == ["setup", "ran-a", "ran-b-fromcontract"]


def test_a_failing_setup_fails_the_command_without_running_it(tmp_path: Path) -> None:
    commands = _with_setup(tmp_path, {"command": "exit 4"})
    assert run.main(["test", "a", "--commands", str(commands), "--setup-done", str(tmp_path / "done")]) == 4
    assert not (tmp_path / "setups.txt").exists()
    assert not (tmp_path / "done").exists()


@pytest.mark.parametrize("line", ["not a line", "lower=case", "=empty"])
def test_a_bad_contract_file_is_a_usage_error(tmp_path: Path, commands: Path, line: str) -> None:
    (tmp_path / "contract.env").write_text(line + "\n")
    assert (
        run.main(["test", "smoke", "--commands", str(commands), "--contract", str(tmp_path / "contract.env")])
        == 2
    )


def test_a_folder_of_contracts_runs_the_test_once_per_region_primary_first(tmp_path: Path) -> None:
    """contract.py --out-dir writes `<n>-<region>.env`: the test runs in each region, in order
    (10 after 9), and the first region that fails ends it with its exit code."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    regions = [f"region{n}" for n in range(11)]
    for n, region in enumerate(regions):
        (folder / f"{n}-{region}.env").write_text(f"ALMGEN_REGION={region}\n")
    log = tmp_path / "regions.txt"
    table = tmp_path / "commands.json"
    table.write_text(
        json.dumps(
            {
                "tests": {
                    "each": f'echo "$ALMGEN_REGION" >> {log}',
                    "east": f'echo x >> {log}; [ "$ALMGEN_REGION" != region1 ]',
                }
            }
        )
    )
    assert run.main(["test", "each", "--commands", str(table), "--contract", str(folder)]) == 0
    assert log.read_text().split() == regions
    log.unlink()
    assert run.main(["test", "east", "--commands", str(table), "--contract", str(folder)]) == 1
    assert log.read_text().split() == ["x", "x"]  # region0 passed, region1 failed: no region2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run.main(["test", "each", "--commands", str(table), "--contract", str(empty)]) == 2
