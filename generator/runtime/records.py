"""The environment's record store: release, retirement and retention records kept unchangeable.

Usage:
  python records.py keep --env ENV --outputs FILE --folder DIR

`keep` uploads `release-record.json` from DIR, and `retirement-record.json`,
`retention-record.json` and `deletion-certificate.json` when they are there, to the
release-records container of the storage account the primary region's outputs name
(`recordsAccount`, records.bicep), under `<env>/<timestamp>-<run>/`. The container has a
time-based immutability policy: a kept record can be neither changed nor deleted for the spec's
`registry.retention.recordDays`, so nothing is ever overwritten (`--overwrite false`).
`history()` reads them back (the release records, or the deletion certificates) for
`almgen lineage --live`.

Azure is reached only through the Azure CLI, signed in (`--auth-mode login`: shared keys are off).
Exit codes: 0 kept; 1 Azure refused; 2 bad input (no release record, no record store in the outputs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__:
    from . import common
else:  # run as .almgen/scripts/records.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")

CONTAINER = "release-records"
RECORDS = (
    "release-record.json",
    "retirement-record.json",
    "retention-record.json",
    "deletion-certificate.json",
)
HISTORY = 50  # the newest releases read back; older ones stay in the store


def store_of(outputs: Path) -> str:
    """The record store's account: the primary region's `recordsAccount`."""
    document = common.read_json(outputs, "deployment outputs")
    stacks = document.get("stacks") if isinstance(document, dict) else None
    items = stacks.get("value") if isinstance(stacks, dict) else stacks
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("primary") and item.get("recordsAccount"):
            return str(item["recordsAccount"])
    raise common.InputError(f"the deployment outputs {outputs} name no record store (recordsAccount)")


def _blob(account: str, *args: str) -> list[str]:
    return [
        "storage",
        "blob",
        *args,
        "--account-name",
        account,
        "--container-name",
        CONTAINER,
        "--auth-mode",
        "login",
    ]


def keep(env: str, account: str, folder: Path) -> list[str]:
    """Upload the records in FOLDER under one new prefix; the blob names."""
    release = common.read_object(folder / RECORDS[0], "release record")
    stamp = re.sub(r"[^0-9TZ]", "", str(release.get("timestamp") or common.now().isoformat()))
    run = release.get("run") if isinstance(release.get("run"), dict) else {}
    run_id = re.sub(
        r"[^A-Za-z0-9_.-]", "_", f"{(run or {}).get('id') or 'local'}-{(run or {}).get('attempt') or 1}"
    )
    kept = []
    for name in RECORDS:
        path = folder / name
        if not path.is_file():
            continue
        blob = f"{env}/{stamp}-{run_id}/{name}"
        common.az_text(
            [
                *_blob(account, "upload", "--name", blob, "--file", str(path), "--overwrite", "false"),
                "-o",
                "none",
            ],
            f"keep {name} in {account}",
        )
        common.say(f"kept {blob} in {account}/{CONTAINER} (unchangeable for the retention period)")
        kept.append(blob)
    return kept


def history(env: str, account: str, record: str = RECORDS[0]) -> list[dict[str, Any]]:
    """The environment's release records (or RECORD: another of RECORDS), newest first (at most
    HISTORY)."""
    listed = common.az_json(
        [*_blob(account, "list", "--prefix", f"{env}/"), "-o", "json"], "list the records"
    )
    names = sorted(
        (
            str(b["name"])
            for b in listed or []
            if isinstance(b, dict) and str(b.get("name", "")).endswith(f"/{record}")
        ),
        reverse=True,
    )[:HISTORY]
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="almgen-records-") as folder:
        for index, name in enumerate(names):
            path = Path(folder) / f"{index}.json"
            common.az_text(
                [*_blob(account, "download", "--name", name, "--file", str(path)), "-o", "none"],
                f"read {name}",
            )
            try:
                record = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict):
                out.append(record | {"blob": name})
    return out


def parser() -> argparse.ArgumentParser:
    result = common.Parser(prog="records.py", description="Keep the environment's records unchangeable.")
    commands = result.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    keep_cmd = commands.add_parser("keep", help="upload the release (and retirement, retention) records")
    keep_cmd.add_argument("--env", required=True, help="the environment the records are of")
    keep_cmd.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
    keep_cmd.add_argument("--folder", type=Path, default=Path("."), help="where the record files are")
    return result


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), {"keep": _keep}, argv)


def _keep(args: argparse.Namespace) -> int:
    keep(args.env, store_of(args.outputs), args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
