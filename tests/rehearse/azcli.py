"""Check `az` command lines against the real Azure CLI parser (test-only).

azure-cli lives in its own virtual environment, `.venv-tools/azure-cli` (scripts/test.sh installs
it). One python process of that environment invokes every line through `get_default_cli()`,
offline, with a throwaway AZURE_CONFIG_DIR and no login: a line that parses fails later (exit 1,
"Please run 'az login'", or a network error), a line the parser rejects exits 2 with
"unrecognized arguments" / "the following arguments are required" / "misspelled". Lines are
deduplicated by command and flag names first. `az ml` lines are checked against az_ml_table and
`az devops` and `az pipelines` lines against az_devops_table (neither extension is on PyPI).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tests.rehearse.az_devops_table import check_devops
from tests.rehearse.az_ml_table import check_ml

REPO = Path(__file__).resolve().parents[2]
EXTENSIONS = {"ml": check_ml, "devops": check_devops, "pipelines": check_devops}  # not on PyPI
PYTHON = REPO / ".venv-tools" / "azure-cli" / "bin" / "python"
REJECTED = (
    "unrecognized arguments",
    "the following arguments are required",
    "is misspelled or not recognized",
    "expected one argument",
    "invalid choice",
    "usage error",
)

_DRIVER = r"""
import json, os, sys, tempfile
from azure.cli.core import get_default_cli
results = []
for argv in json.load(sys.stdin):
    with tempfile.TemporaryFile("w+") as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            code = get_default_cli().invoke(argv, out_file=open(os.devnull, "w"))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:
            code = 1
            err.write(repr(exc))
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        results.append({"argv": argv, "code": code, "stderr": err.read()[-800:]})
print(json.dumps(results))
"""


def signature(argv: list[str]) -> tuple[str, ...]:
    """The command words and the flag names: lines with the same signature parse alike."""
    first_flag = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    return (*argv[:first_flag], *sorted(a.split("=", 1)[0] for a in argv if a.startswith("-")))


def run_real_cli(lines: list[list[str]]) -> list[dict[str, object]]:
    """Invoke each line with the real CLI; its exit code and stderr."""
    if not PYTHON.exists():
        raise FileNotFoundError(f"{PYTHON} is missing: run scripts/test.sh to install azure-cli")
    with tempfile.TemporaryDirectory() as config:
        env = {
            **os.environ,
            "AZURE_CONFIG_DIR": config,
            "AZURE_CORE_COLLECT_TELEMETRY": "no",
            "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
            "AZURE_CORE_NO_COLOR": "true",
        }
        done = subprocess.run(
            [str(PYTHON), "-c", _DRIVER],
            input=json.dumps(lines),
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=900,
        )
    results: list[dict[str, object]] = json.loads(done.stdout)
    return results


def rejected(lines: list[list[str]]) -> list[tuple[list[str], str]]:
    """The lines the real parser (or an extension's table) rejects, each with the reason."""
    unique: dict[tuple[str, ...], list[str]] = {}
    for argv in lines:
        unique.setdefault(signature(argv), argv)
    bad: list[tuple[list[str], str]] = []
    real = []
    for argv in unique.values():
        extension = {"ml": check_ml, "devops": check_devops, "pipelines": check_devops}.get(
            argv[0] if argv else ""
        )
        if extension is not None:
            reason = extension(argv)
            if reason:
                bad.append((argv, reason))
        else:
            real.append(argv)
    for result in run_real_cli(real):
        stderr, code = str(result["stderr"]), result["code"]
        if any(marker in stderr for marker in REJECTED) and code in (1, 2):
            argv = [str(a) for a in result["argv"]]  # type: ignore[attr-defined]
            bad.append((argv, stderr.strip().splitlines()[0] if stderr.strip() else f"exit {code}"))
    return bad


def available() -> bool:
    """Whether scripts/test.sh installed the Azure CLI's environment."""
    return PYTHON.exists()
