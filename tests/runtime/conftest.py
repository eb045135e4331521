"""Fixtures of the runtime-script tests: a clean CI environment and a fake `az`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CI_VARIABLES = (
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ACTIONS",
    "GITHUB_SHA",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_ACTOR",
    "TF_BUILD",
    "AGENT_TEMPDIRECTORY",
    "BUILD_SOURCEVERSION",
    "BUILD_BUILDID",
    "BUILD_REQUESTEDFOR",
    "BUILD_REPOSITORY_NAME",
    "SYSTEM_COLLECTIONURI",
    "SYSTEM_TEAMPROJECT",
    "SYSTEM_JOBATTEMPT",
    "ALMGEN_AZ",
)

FAKE_AZ = '''#!{python}
"""A fake az: logs argv, answers from az-responses.json by the leading subcommand words."""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "az-calls.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
words = []
for arg in args:
    if arg.startswith("-"):
        break
    words.append(arg)
key = " ".join(words)
with open(os.path.join(here, "az-responses.json"), encoding="utf-8") as handle:
    responses = json.load(handle)
keys = [key]
if "--metric" in args:
    keys.insert(0, key + " " + args[args.index("--metric") + 1])
if words == ["rest"] and "--method" in args:
    keys.insert(0, key + " " + args[args.index("--method") + 1])
chosen = next((k for k in keys if k in responses), None)
if chosen is None:
    sys.stderr.write("ERROR: fake az has no answer for " + key + "\\n")
    sys.exit(3)
counts_path = os.path.join(here, "az-counts.json")
counts = {{}}
if os.path.exists(counts_path):
    with open(counts_path, encoding="utf-8") as handle:
        counts = json.load(handle)
seen = counts.get(chosen, 0)
counts[chosen] = seen + 1
with open(counts_path, "w", encoding="utf-8") as handle:
    json.dump(counts, handle)
answers = responses[chosen]
answer = answers[min(seen, len(answers) - 1)]
if "exit" in answer:
    sys.stderr.write(answer.get("stderr", "ERROR: failed") + "\\n")
    sys.exit(answer["exit"])
if answer.get("stdout") is not None:
    sys.stdout.write(json.dumps(answer["stdout"]))
'''


@pytest.fixture(autouse=True)
def clean_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite may itself run in GitHub Actions or Azure DevOps: hide that from the scripts."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class FakeAz:
    """Answers `az` calls from canned responses: {subcommand words [+ metric, or + method of a
    `rest` call]: [answer, ...]}; `rest` answers any method that has no key of its own.

    Each answer is {"stdout": json} or {"exit": code, "stderr": text}; successive calls of one key
    take successive answers, the last one repeating.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "az"
        self.path.write_text(FAKE_AZ.format(python=sys.executable), "utf-8")
        self.path.chmod(0o755)
        self.respond({})

    def respond(self, responses: dict[str, list[dict[str, Any]]]) -> None:
        (self.folder / "az-responses.json").write_text(json.dumps(responses), "utf-8")
        (self.folder / "az-counts.json").unlink(missing_ok=True)

    def calls(self) -> list[list[str]]:
        log = self.folder / "az-calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text("utf-8").splitlines()]

    def calls_of(self, words: str) -> list[list[str]]:
        prefix = words.split()
        return [call for call in self.calls() if call[: len(prefix)] == prefix]


@pytest.fixture
def fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAz]:
    folder = tmp_path / "fake-az"
    folder.mkdir()
    fake = FakeAz(folder)
    monkeypatch.setenv("ALMGEN_AZ", str(fake.path))
    yield fake
