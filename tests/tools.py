"""The output validators the suite runs, found where scripts/test.sh installs them.

A missing validator fails the test that needs it (with the command that installs it): the
suite never passes by skipping validation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

TOOLS = REPO / ".venv-tools"


def executable(name: str) -> str:
    """The path of validator `name`: $ALMGEN_<NAME>, .venv-tools/<name>/bin/<name>, or PATH."""
    override = os.environ.get(f"ALMGEN_{name.upper().replace('-', '_')}")
    candidates = [override] if override else []
    candidates.append(str(TOOLS / name / "bin" / name))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"the validator {name!r} is not installed: run scripts/test.sh, which installs it")


def checkov(directory: Path, framework: str) -> dict[str, Any]:
    """checkov's JSON report for `directory`, offline."""
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("BC_API_KEY", None)
    run = subprocess.run(
        [
            executable("checkov"),
            "-d",
            str(directory),
            "--framework",
            framework,
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if run.returncode not in (0, 1) or not run.stdout.strip():
        pytest.fail(f"checkov did not run: {run.returncode}\n{run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    if isinstance(report, list):  # one report per framework
        (report,) = [r for r in report if r.get("check_type") == framework]
    if not isinstance(report, dict):
        pytest.fail(f"unexpected checkov output: {run.stdout[:500]}")
    return report
