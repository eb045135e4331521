from __future__ import annotations

import re

from tests.conftest import REPO


def _quick_start() -> list[str]:
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_the_quick_start_is_exactly_two_commands() -> None:
    assert len(_quick_start()) == 2


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = _quick_start()[1]
    ci_lines = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
    assert test_command in ci_lines
