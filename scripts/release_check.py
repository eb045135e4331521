"""The checks a release of almgen passes before it is published (.github/workflows/release.yml).

    python scripts/release_check.py TAG [DIST]

Exit 0 when the version in generator/__init__.py (the only place it is written) follows the
version scheme, TAG is `v` followed by that version, and, given DIST, the folder holds exactly
one sdist and one wheel of that version; exit 1 with the reason otherwise (2: usage). The scheme (see
CONTRIBUTING.md, "Releasing"): semantic versioning, MAJOR.MINOR.PATCH, with a pre-release
written the way PEP 440 normalizes it (`0.2.0rc1`, `1.0.0b2`), so the tag, the version pip
installs and the files' names are the same text. Standard library only: it runs before anything
is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "generator" / "__init__.py"
# The same pattern is the schema's for `targets.almgen.version` (tests/test_release.py).
SCHEME = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)((a|b|rc)(0|[1-9][0-9]*))?$"
_ASSIGNMENT = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)


def package_version(path: Path = VERSION_FILE) -> str:
    """The version written in generator/__init__.py (read, not imported: nothing is installed yet)."""
    found = _ASSIGNMENT.findall(path.read_text("utf-8"))
    if len(found) != 1:
        raise ValueError(f'{path} must assign __version__ exactly once, as __version__ = "X.Y.Z"')
    return str(found[0])


def problems(tag: str, version: str, dist: Path | None = None) -> list[str]:
    """Why `tag` and the files in `dist` cannot be released as `version`; empty when they can."""
    found = []
    if not re.fullmatch(SCHEME, version):
        found.append(
            f"the version {version!r} does not follow the scheme MAJOR.MINOR.PATCH[aN|bN|rcN] "
            "(CONTRIBUTING.md, Releasing)"
        )
    if tag != f"v{version}":
        found.append(f"the tag {tag!r} is not 'v{version}', the version in generator/__init__.py")
    if dist is not None:
        names = sorted(p.name for p in dist.iterdir() if p.is_file())
        wanted = [f"almgen-{version}-py3-none-any.whl", f"almgen-{version}.tar.gz"]
        if names != sorted(wanted):
            found.append(f"{dist} holds {names}, expected exactly {sorted(wanted)}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python scripts/release_check.py TAG [DIST]", file=sys.stderr)
        return 2
    version = package_version()
    found = problems(argv[0], version, Path(argv[1]) if len(argv) == 2 else None)
    for problem in found:
        print(f"release_check: {problem}", file=sys.stderr)
    if not found:
        print(f"release_check: {argv[0]} releases almgen {version}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
