"""The write journal: what a generate is about to write, so an interruption loses nothing.

`generate` writes `.almgen/journal.json` (every file it will write, with the new hash) before it
touches a file, and removes it after the new manifest is in place. If it is interrupted (a kill,
a full disk, a permission error), the next run finds the journal: each file is either as before
(its old manifest entry still matches) or new (it matches the journal), so it is recognized as
almgen's and never reported as edited by hand. Temporary files the interruption left behind are
removed by the next generate. A journal is untrusted like the manifest: its entries are checked
the same way and only recognize a file whose content matches byte for byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from generator.regen import files
from generator.regen import manifest as mf
from generator.regen.fastpath import safe_target

JOURNAL = ".almgen/journal.json"


def begin(root: Path, writes: Iterable[mf.Entry]) -> None:
    data = {"schema": mf.SCHEMA_VERSION, "writing": mf.entries_json(writes)}
    files.atomic_write(mf.inside(root, JOURNAL), (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def end(root: Path) -> None:
    files.remove(mf.inside(root, JOURNAL))


def recover(root: Path, manifest: mf.Manifest) -> None:
    """Take in the files an interrupted generate wrote: their journal entry replaces the old one."""
    data = mf.read_json(root, JOURNAL)
    if data is None:
        return
    manifest.sealed = False
    shown = os.path.relpath(root / JOURNAL)
    if not isinstance(data, dict) or data.get("schema") != mf.SCHEMA_VERSION:
        raise mf.corrupt(shown, f"expected a mapping with schema {mf.SCHEMA_VERSION}")
    for index, item in enumerate(mf.listed(data, "writing", shown)):
        found = mf.entry(root, item, ("managed", "seeded"))
        if isinstance(found, str):
            manifest.ignored[mf.label(item, f"{JOURNAL}: writing[{index}]")] = found
            continue
        old = manifest.files.get(found.path)
        if old is not None and old.ownership == "user":
            continue  # ejected: the user's, whatever a journal says
        if mf.holds(root, found.path, found.sha256):
            manifest.files[found.path] = found
            manifest.recovered.append(found.path)


def clean_temporaries(root: Path, paths: Iterable[str]) -> list[str]:
    """Remove what interrupted writes left in the folders of `paths`; the removed files' paths."""
    folders = {PurePosixPath(p).parent for p in paths}
    removed = []
    for folder in sorted(folders):
        target = safe_target(root, folder.as_posix()) if folder.parts else root
        if target is None:
            continue
        for leftover in files.leftover_temporaries(target):
            files.remove(leftover)
            removed.append(leftover.relative_to(root).as_posix())
    return removed
