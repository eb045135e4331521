"""common.py: the Azure CLI wrapper, JSON files, summaries and the clock the runtime scripts share."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from generator.runtime import common

from .conftest import FakeAz

FAKE_SLEEP = """#!/bin/sh
echo "$@" >> "{log}"
"""


def test_az_runs_almgen_az(fake_az: FakeAz) -> None:
    fake_az.respond({"group show": [{"stdout": {"name": "rg"}}]})
    done = common.az(["group", "show", "-n", "rg"])
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"name": "rg"}
    assert fake_az.calls() == [["group", "show", "-n", "rg"]]


def test_az_json_and_text(fake_az: FakeAz) -> None:
    fake_az.respond({"group show": [{"stdout": {"name": "rg"}}]})
    assert common.az_json(["group", "show"], "read the group") == {"name": "rg"}
    assert common.az_text(["group", "show"], "read the group") == '{"name": "rg"}'
    assert fake_az.calls()[0] == ["group", "show", "-o", "json"]


def test_az_json_of_nothing_is_none(fake_az: FakeAz) -> None:
    fake_az.respond({"group delete": [{"stdout": None}]})
    assert common.az_json(["group", "delete"], "delete") is None


def test_non_zero_exit_is_a_failure(fake_az: FakeAz) -> None:
    fake_az.respond({"group show": [{"exit": 3, "stderr": "WARNING: slow\nERROR: denied"}]})
    assert common.az(["group", "show"]).returncode == 3
    with pytest.raises(common.Failure, match=r"read the group: az group show .*failed: ERROR: denied$"):
        common.az_json(["group", "show"], "read the group")
    with pytest.raises(common.Failure):
        common.az_text(["group", "show"], "read the group")


def test_a_missing_az_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALMGEN_AZ", str(tmp_path / "no-such-az"))
    with pytest.raises(common.Failure, match="cannot run the Azure CLI"):
        common.az(["version"])


def test_read_json(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    with pytest.raises(common.InputError, match="does not exist"):
        common.read_json(path, "facts")
    path.write_text("{", "utf-8")
    with pytest.raises(common.InputError, match="not valid JSON"):
        common.read_json(path, "facts")
    path.write_text("[1]", "utf-8")
    with pytest.raises(common.InputError, match="must hold a JSON object"):
        common.read_object(path, "facts")
    common.write_json(tmp_path / "deep" / "b.json", {"b": 1, "a": 2}, sort_keys=True)
    assert (tmp_path / "deep" / "b.json").read_text("utf-8") == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert common.read_object(tmp_path / "deep" / "b.json", "facts") == {"a": 2, "b": 1}


def test_publish_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    common.publish_summary("# one", "one.md")
    common.publish_summary("# two", "two.md")
    assert summary.read_text("utf-8") == "# one\n# two\n"


def test_run_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    def raising(exc: Exception) -> int:
        raise exc

    assert common.run_command("x.py", "go", lambda: 0) == 0
    assert common.run_command("x.py", "go", lambda: raising(common.InputError("bad"))) == 2
    assert common.run_command("x.py", "go", lambda: raising(common.Failure("refused"))) == 1
    assert common.run_command("x.py", "go", lambda: raising(KeyError("k"))) == 1
    assert capsys.readouterr().err.splitlines() == [
        "x.py go: bad",
        "x.py go: refused",
        "x.py go: unexpected error: KeyError: 'k'",
    ]


def test_the_real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALMGEN_CLOCK_FILE", raising=False)
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    before = datetime.now(timezone.utc)
    now = common.now()
    assert now.tzinfo is not None and before <= now <= datetime.now(timezone.utc)
    common.sleep(5)
    assert slept == [5]


def fake_sleep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `sleep` first on PATH that records its argument instead of sleeping."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "slept.txt"
    script = bin_dir / "sleep"
    script.write_text(FAKE_SLEEP.format(log=log), "utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for sleep")
def test_the_simulated_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = tmp_path / "clock.json"
    clock.write_text(json.dumps({"now": 1_800_000_000, "deadline": 1_800_003_600}), "utf-8")
    monkeypatch.setenv("ALMGEN_CLOCK_FILE", str(clock))
    log = fake_sleep(tmp_path, monkeypatch)
    monkeypatch.setattr("time.sleep", lambda seconds: pytest.fail("time.sleep under a simulated clock"))
    assert common.now() == datetime.fromtimestamp(1_800_000_000, timezone.utc)
    common.sleep(300)
    common.sleep(0.5)
    assert log.read_text("utf-8").split() == ["300", "0.5"]
    clock.write_text(json.dumps({"now": 1_800_000_300.5}), "utf-8")  # the stand-in moved it on
    assert common.now() == datetime.fromtimestamp(1_800_000_300.5, timezone.utc)


def test_a_broken_clock_file_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALMGEN_CLOCK_FILE", str(tmp_path / "missing.json"))
    with pytest.raises(common.Failure, match="clock file"):
        common.now()
