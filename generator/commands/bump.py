"""`almgen bump NAME --major|--minor|--patch`: a semver bump of a custom model or agent, in place.

Only the characters of the one version scalar change: the loader knows where it was written,
so comments, layout and quoting of the rest of the file stay exactly as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from generator.errors import UsageError
from generator.regen.files import atomic_write

Part = Literal["major", "minor", "patch"]
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+].*)?")
_PLAIN_END = re.compile(r"\s+#|[,}\]]|\s*$")


def next_version(version: str, part: Part) -> str:
    match = SEMVER.fullmatch(version)
    if not match:
        raise UsageError(f"{version!r} is not a semantic version")
    major, minor, patch = (int(g) for g in match.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def bump(spec: Path, name: str, part: Part) -> tuple[str, str]:
    """Bump `name`'s version in `spec`; return (old, new). The result is validated before it is kept."""
    from generator.spec.load import load_document
    from generator.spec.validate import load_spec

    resolved = load_spec(spec)  # only a valid spec is rewritten
    doc = load_document(spec)
    sections = [("models", [m.name for m in resolved.models]), ("agents", [a.name for a in resolved.agents])]
    found = [(section, names.index(name)) for section, names in sections if name in names]
    if not found:
        raise UsageError(f"no model or agent named {name!r} in {spec}")
    section, index = found[0]
    if section == "models" and resolved.model(name).kind != "custom":
        raise UsageError(f"{name!r} is a foundation model: its version is the catalog's, not semver")
    position = doc.positions.get((section, index, "version"))
    if position is None or position.file != doc.display:
        raise UsageError(
            f"{name}'s version is not written in {spec} (it comes from a base spec): bump it there"
        )
    original = spec.read_text("utf-8")
    lines = original.split("\n")
    line = lines[position.line - 1]
    start = position.column - 1
    quote = line[start] if line[start] in "'\"" else ""
    if quote:
        end = line.index(quote, start + 1) + 1
        old = line[start + 1 : end - 1]
    else:
        match = _PLAIN_END.search(line, start)
        end = match.start() if match else len(line)
        old = line[start:end]
    new = next_version(old, part)
    lines[position.line - 1] = f"{line[:start]}{quote}{new}{quote}{line[end:]}"
    atomic_write(spec, "\n".join(lines).encode("utf-8"))
    try:
        load_spec(spec)
    except Exception:
        atomic_write(spec, original.encode("utf-8"))
        raise
    return old, new
