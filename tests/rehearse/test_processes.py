"""Waiting for a step (generator.rehearse.processes): the exit code without polling, and a step
past its wall-clock limit killed with everything it started."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from generator.rehearse.processes import wait


def _start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", script], start_new_session=True)


def test_a_step_that_ends_in_time_gives_its_exit_code() -> None:
    assert wait(_start("exit 3"), 30) == (3, False)
    assert wait(_start("true"), 30) == (0, False)


def test_a_step_past_its_wall_time_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    started = time.monotonic()
    code, expired = wait(_start(f"sleep 30 & echo $! > {pid_file}; sleep 30"), 1.0)
    assert expired and code < 0  # killed by a signal
    assert time.monotonic() - started < 10
    background = int(pid_file.read_text().strip())
    for _ in range(100):  # the background sleep was in the group: it is gone (or a zombie being reaped)
        try:
            os.kill(background, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{background}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the step's background process outlived the wall-clock kill")
