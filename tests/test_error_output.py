"""Snapshot tests of what `almgen validate` prints for bad specs.

Each folder in tests/errors/cases holds an `almgen.yaml` with one kind of mistake (a few hold
several, to show that every error is reported at once, sorted by position) and `expected.txt`,
the exact stderr. The CLI runs in-process (click's CliRunner) with the case folder as the working
directory, so paths in messages are relative and the snapshots do not depend on where the
repository is checked out; one test runs the real executable to prove it prints the same.

After an intended change of a message: `pytest tests/test_error_output.py --update-goldens`,
then read the changed expected.txt files as a user would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from tests.conftest import Golden

CASES_DIR = Path(__file__).resolve().parent / "errors" / "cases"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "almgen.yaml").is_file())

EXIT_INVALID = 3
MAX_SPEC_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 60.0

ERROR_LINE = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>[1-9]\d*):(?P<column>[1-9]\d*): error: (?P<text>\S.*)$"
)
SUMMARY_LINE = re.compile(r"^[1-9]\d* errors? found$")

# Cheap extra checks that say what each case is about, beyond its snapshot.
FRAGMENTS: dict[str, tuple[str, ...]] = {
    "yaml-syntax-error": ("YAML syntax error",),
    "tab-indentation": ("almgen.yaml:4:1: error:", "tab in the indentation"),
    "duplicate-key": ("duplicate key 'name'",),
    "empty-file": ("the file is empty",),
    "comment-only-file": ("the file is empty",),
    "binary-file": ("binary file",),
    "utf16-file": ("UTF-16", "save the file as UTF-8"),
    "non-utf8-bytes": ("almgen.yaml:5:19: error:", "0xe9", "UTF-8"),
    "alias-bomb": ("more than 20000 nodes", "aliases"),
    "deeply-nested-flow": ("nested too deeply",),
    "multiple-documents": ("2 YAML documents",),
    "top-level-list": ("not a mapping",),
    "wrong-api-version": ("'almgen/v2'", "almgen/v1"),
    "unknown-top-level-key-typo": ("unknown field 'monitorng'", "did you mean 'monitoring'?"),
    "unknown-nested-key-typo": ("environments[0].aproval", "did you mean 'approval'?"),
    "missing-service-name": ("service: missing required field 'name'",),
    "almgen-two-forms": ("targets.almgen: names 2 forms (`version` and `git`)", "keep one of them"),
    "almgen-git-not-pinned": ("targets.almgen.git", "full 40-character commit"),
    "almgen-wheel-without-sha256": ("targets.almgen: `wheel` needs `sha256`", "add `sha256:`"),
    "wrong-enum-pipelines": ("'github-action' is not allowed", "did you mean 'github-actions'?"),
    "service-name-uppercase": ("'Hello-Chat'", "write 'hello-chat'"),
    "version-unquoted-number": ("models[0].version", "quote the value"),
    "wrong-type-list": ("expected a list, found text",),
    "duplicate-environment-names": ("environments[2].name", "used twice", "environments[0]"),
    "dangling-agent-model": ("agents[0].model", "did you mean 'chat'?"),
    "retrieval-embedding-not-embedding-model": ("retrieval.embedding", "is not an embedding model"),
    "dangling-content-filter": ("models[0].contentFilter", "did you mean 'strict'?"),
    "dangling-environment-test": ("environments[0].tests[0]", "did you mean 'smoke'?"),
    "capacity-unknown-environment": ("models[0].capacity.production", "'dev' or 'prod'"),
    "gate-without-section": ("evaluation gate", "safety gate has no safety thresholds"),
    "canary-steps-not-increasing": ("[10, 50, 50, 100]", "strictly increase"),
    "canary-steps-not-ending-at-100": ("[10, 50, 90]", "end at 100"),
    "blue-green-first-environment": ("environments[0].strategy.type", "earlier environment"),
    "ab-test-in-production": ("pre-production environment", "rename bakeMinutes to durationMinutes"),
    "ab-test-without-gateway": ("gateway.type is none", "compare applies to an A/B test (type ab) only"),
    "ab-manual-without-reviewers": ("a manual A/B decision needs reviewers", "only with decide: manual"),
    "steps-on-non-canary": (
        "strategy.steps: steps applies to canary only",
        "strategy.bakeMinutes: bakeMinutes applies to blue-green and canary only",
    ),
    "custom-model-without-version": ("semver `version:`",),
    "custom-model-version-not-semver": ("'v1.4' is not a semantic version",),
    "custom-model-without-path-or-training": ("`path:` or `training:`",),
    "foundation-field-on-custom-model": ("models[0].sku", "does not apply to a custom model"),
    "custom-field-on-foundation-model": ("models[0].path", "does not apply to a foundation model"),
    "agent-version-not-semver": ("agents[0].version", "'2.1' is not a semantic version"),
    "agent-on-custom-model": ("custom model; agents run on foundation models",),
    "cleanup-without-custom-model": ("registry.retention.cleanup: the data clean-up deletes custom models",),
    "model-named-agents": ("models[0].name: the name agents is taken when the spec has agents",),
    "agent-tool-without-its-resource": (
        "agents[0].tools[1]: the file_search tool needs a vector store",
        "agents[0].tools[2]: the bing_grounding tool needs a connection",
        "agents[0].tools[3]: the azure_ai_search tool queries the index of the spec's retrieval section",
    ),
    "secret-connection-string": ("looks like a connection string", "Key Vault"),
    "secret-password-argument": ("tests.smoke.command", "looks like a password argument"),
    "secret-setting-name": ("'Search:ApiKey' looks like a secret", "configuration.keyVault.secrets"),
    "secret-openai-key": ("service.description", "OpenAI-style API key"),
    "secret-azure-ai-key": ("service.owner", "an Azure AI services key"),
    "azure-name-too-long": ("Azure ML online endpoint", "at most 32"),
    "approval-without-reviewers": ("environments[1].approval", "needs reviewers"),
    "agent-filter-without-prompt-shields": (
        "safety.contentFilters[0].indirectAttack",
        "used by an agent's model",
        "remove `indirectAttack: false`",
    ),
    "github-options-without-github-actions": (
        "almgen.yaml:8:3: error: targets.github",
        "add github-actions to targets.pipelines",
    ),
    "public-network-access-disabled": (
        "almgen.yaml:12:26: error: environments[1].publicNetworkAccess",
        "hosted runners could not reach",
        "set `publicNetworkAccess: enabled`",
    ),
    "location-differs-from-region": ("'westeurope'", "'eastus2'"),
    "missing-instructions-file": ("'prompts/suport.md' does not exist",),
    "path-outside-repo": ("'../outside.md' is outside the spec's folder",),
    "extends-cycle": ("base.yaml:1:10: error:", "almgen.yaml -> base.yaml -> almgen.yaml"),
    "extends-missing-file": ("almgen.yaml:1:10: error: extends:", "does not exist"),
    "policy-violation": ("policy 'prod needs approval' (policy.json)", "environments[1]"),
    "retired-current-version": ("registry.retired[0].version", "the one being deployed"),
    "drift-without-custom-model": ("monitoring.drift", "custom models"),
    "gates-on-first-environment": ("environments[0].gates", "an earlier environment"),
    "control-character-in-command": ("almgen.yaml:22:14: error: tests.smoke.command", "U+000D"),
    "long-setting-value": ('settings["Chat:Prompt"]', "2100 characters long", "at most 2000"),
    "extends-absolute-path": ("almgen.yaml:1:10: error: extends:", "not relative"),
    "path-too-long-for-the-os": ("evaluation.dataset", "File name too long"),
    "several-schema-errors": ("5 errors found", "did you mean 'owner'?"),
    "several-rule-errors": ("4 errors found", "did you mean 'integration'?"),
}


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_validate(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """`almgen validate almgen.yaml` in `cwd`, in-process: what the executable would print."""
    monkeypatch.chdir(cwd)
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["validate", "almgen.yaml"], prog_name="almgen")
    return Run(result.exit_code, result.stdout, result.stderr, time.monotonic() - start)


def run_validate_executable(cwd: Path) -> Run:
    """`almgen validate almgen.yaml` in `cwd`, as a subprocess through the real entry point."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "generator", "validate", "almgen.yaml"],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr, time.monotonic() - start)


def error_blocks(stderr: str) -> list[list[str]]:
    """The error blocks of `stderr`, each its error line and the indented lines after it."""
    lines = stderr.splitlines()
    assert lines, "no output on stderr"
    assert SUMMARY_LINE.match(lines[-1]), f"the last line is not a summary: {lines[-1]!r}"
    blocks: list[list[str]] = []
    for line in lines[:-1]:
        if ERROR_LINE.match(line):
            blocks.append([line])
        else:
            assert blocks, f"output starts with a line that is not an error: {line!r}"
            assert line.startswith("  "), f"neither an error line nor part of one: {line!r}"
            blocks[-1].append(line)
    return blocks


def assert_well_formed(run: Run) -> list[list[str]]:
    output = run.stdout + run.stderr
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert run.returncode == EXIT_INVALID, f"exit code {run.returncode}, expected {EXIT_INVALID}\n{output}"
    blocks = error_blocks(run.stderr)
    count = int(run.stderr.splitlines()[-1].split()[0])
    assert len(blocks) == count, f"{len(blocks)} error blocks, the summary says {count}"
    for block in blocks:
        expected = [line for line in block[1:] if line.startswith("  expected: ")]
        fix = [line for line in block[1:] if line.startswith("  fix: ")]
        assert len(expected) == 1 and len(fix) == 1, f"an error without one expected: and one fix:\n{block}"
        match = ERROR_LINE.match(block[0])
        assert match is not None
        assert not Path(match["file"]).is_absolute(), f"an absolute path in {block[0]!r}"
    positions = [_position(block[0]) for block in blocks]
    assert positions == sorted(positions), "errors are not sorted by position"
    return blocks


def _position(line: str) -> tuple[str, int, int]:
    match = ERROR_LINE.match(line)
    assert match is not None
    return match["file"], int(match["line"]), int(match["column"])


def test_every_case_is_checked() -> None:
    assert len(CASES) >= 30
    assert sorted(FRAGMENTS) == CASES, "each case folder has an entry in FRAGMENTS and vice versa"


@pytest.mark.parametrize("case", CASES)
def test_error_output(case: str, golden: Golden, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES_DIR / case
    run = run_validate(folder, monkeypatch)
    assert_well_formed(run)
    golden.check(folder / "expected.txt", run.stderr)
    for fragment in FRAGMENTS.get(case, ()):
        assert fragment in run.stderr, f"{fragment!r} not in the output of {case}:\n{run.stderr}"
    assert run.stdout == ""


@pytest.mark.parametrize("case", ["several-rule-errors"])
def test_the_executable_prints_what_the_in_process_run_prints(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshots run in-process; the real `python -m generator` must print the same bytes."""
    folder = CASES_DIR / case
    executable = run_validate_executable(folder)
    in_process = run_validate(folder, monkeypatch)
    assert (executable.returncode, executable.stdout, executable.stderr) == (
        in_process.returncode,
        in_process.stdout,
        in_process.stderr,
    )
    assert executable.stderr == (folder / "expected.txt").read_text("utf-8")


def test_oversize_file_is_refused_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec over 1 MiB is refused by its size, before it is read or parsed."""
    spec = tmp_path / "almgen.yaml"
    line = "# " + "x" * 1021 + "\n"  # 1 KiB of comment
    body = "apiVersion: almgen/v1\n" + line * 1025
    spec.write_text(body, "utf-8", newline="\n")
    size = spec.stat().st_size
    assert size > MAX_SPEC_BYTES
    run = run_validate(tmp_path, monkeypatch)
    blocks = assert_well_formed(run)
    assert len(blocks) == 1
    assert blocks[0][0] == (
        f"almgen.yaml:1:1: error: the file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes"
    )
    assert run.seconds < 10, f"took {run.seconds:.1f}s"
