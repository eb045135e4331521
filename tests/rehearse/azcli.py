"""Check `az` command lines with the real Azure CLI's own parser (the `azure-cli` package).

The package lives in its own virtual environment (`.venv-tools/azure-cli`, installed by
scripts/test.sh): it pins libraries the suite uses in other versions. Without a login, a line
that parses fails with exit 1 ("Please run 'az login'") and one the parser refuses with exit 2
("unrecognized arguments", "the following arguments are required", "misspelled or not
recognized"). One process checks every line: starting az costs a second or two.

Lines are deduplicated by command and flag names first. Not run through the parser: `bicep`
commands (they download the Bicep CLI) and `login` (it would try to reach Entra ID); their
flags are the documented ones the stand-in accepts.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AZ_PYTHON = REPO / ".venv-tools" / "azure-cli" / "bin" / "python"
SKIPPED = ("bicep", "login")

_DRIVER = """
import json, os, sys
from azure.cli.core import get_default_cli
out = []
for argv in json.load(sys.stdin):
    cli = get_default_cli()
    with open(os.devnull, "w") as sink:
        try:
            code = cli.invoke(argv, out_file=sink)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    out.append(code)
print(json.dumps(out))
"""


def shape(argv: list[str]) -> tuple[str, ...]:
    """The command words and flag names of a line: lines of one shape parse alike."""
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return (*words, *sorted({a for a in argv if a.startswith("-")}))


def available() -> bool:
    return AZ_PYTHON.exists()


def rejected(lines: list[list[str]]) -> list[tuple[list[str], int, str]]:
    """The lines the real parser refuses, each with its exit code and what az printed."""
    unique: dict[tuple[str, ...], list[str]] = {}
    for argv in lines:
        if argv and argv[0] not in SKIPPED:
            unique.setdefault(shape(argv), argv)
    batch = list(unique.values())
    with tempfile.TemporaryDirectory() as config:
        env = {**os.environ, "AZURE_CONFIG_DIR": config, "AZURE_CORE_COLLECT_TELEMETRY": "false"}
        env.pop("ALMGEN_AZ", None)
        done = subprocess.run(
            [str(AZ_PYTHON), "-c", _DRIVER],
            input=json.dumps(batch),
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=True,
        )
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    return [(argv, code, done.stderr) for argv, code in zip(batch, codes, strict=True) if code == 2]
