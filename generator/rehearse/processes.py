"""Waiting for a step's process, for both runners.

`Popen.wait(timeout=...)` polls with sleeps of up to 50 ms; a rehearsal waits on hundreds of
short steps (a first deploy of the enterprise sample runs about 300), so that poll was seconds of
every rehearsal. `wait` blocks in waitpid instead, and a timer kills the step's process group
when its wall-clock time runs out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from typing import Any


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait(proc: subprocess.Popen[Any], wall_seconds: float) -> tuple[int, bool]:
    """(return code, whether WALL_SECONDS of real time passed first and the group was killed).

    PROC must lead its own process group (`start_new_session=True`).
    """
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        kill_group(proc.pid)

    timer = threading.Timer(wall_seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        code = proc.wait()
    finally:
        timer.cancel()
    return code, expired.is_set()
