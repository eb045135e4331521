"""Every import is declared where it belongs, and the runtime scripts need nothing but Python.

- generator/ runs on users' machines: each third-party package it imports is in pyproject's
  `dependencies`, and each of those is imported (no stale declarations).
- tests/ imports the rest from the `test` extra.
- generator/runtime/ is copied into `.almgen/scripts` and runs on bare CI runners: the standard
  library only.

Imports inside functions count (a lazy import is still an import); `from . import x` and
first-party packages do not.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

FIRST_PARTY = {"generator", "tests"}
# standard library modules of other Python versions than the one running the tests
OTHER_PYTHONS_STDLIB = {"_sha2"}  # CPython 3.12's name for _sha256 (generator/regen/digests.py)

# Imported only under `if TYPE_CHECKING:` (never at run time) and shipped with mypy's stubs:
# generator/frozen.py's `dataclass_transform`, which `typing` has only from Python 3.11.
TYPE_CHECKING_ONLY = {"typing_extensions"}

# Import names that differ from the distribution that provides them (lower-case, `-` for `_`).
DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "ruamel": "ruamel.yaml",
    "pycep": "pycep-parser",
    "_pytest": "pytest",
}


def _python_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> set[str]:
    """The top-level names of the absolute imports in `path`, wherever they appear in it, but for
    TYPE_CHECKING_ONLY names under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        found: set[str] = set()
        if isinstance(node, ast.Import):
            found = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found = {node.module.split(".")[0]}
        names |= found - TYPE_CHECKING_ONLY if id(node) in type_only else found
    return names


def third_party(path: Path) -> set[str]:
    return {
        name
        for name in imported_packages(path)
        if name not in sys.stdlib_module_names
        and name not in OTHER_PYTHONS_STDLIB
        and name not in FIRST_PARTY
        and name != "__future__"
    }


def distribution(import_name: str) -> str:
    return DISTRIBUTIONS.get(import_name, _normalize(import_name))


def _normalize(name: str) -> str:
    return re.sub(r"[-_]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    return _normalize(match[0])


def _pyproject() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        with (REPO / "pyproject.toml").open("rb") as handle:
            return tomllib.load(handle)
    pytest.skip("reading pyproject.toml needs tomllib (Python 3.11+)")


def _declared() -> tuple[set[str], set[str]]:
    """(runtime dependencies, the `test` extra), as normalized distribution names."""
    project = _pyproject()["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    test = {_requirement_name(r) for r in project["optional-dependencies"]["test"]}
    return runtime, test


def _users(folder: Path) -> dict[str, list[str]]:
    """Each distribution imported under `folder`, with the files that import it."""
    users: dict[str, list[str]] = {}
    for path in _python_files(folder):
        for name in third_party(path):
            users.setdefault(distribution(name), []).append(path.relative_to(REPO).as_posix())
    return users


CLIENT = REPO / "generator" / "client"  # code a service imports: the service's dependencies


def test_generator_imports_exactly_its_declared_dependencies() -> None:
    runtime, test = _declared()
    used = {
        dist: kept
        for dist, files in _users(REPO / "generator").items()
        if (kept := [f for f in files if not f.startswith("generator/client/")])
    }
    undeclared = {dist: files for dist, files in used.items() if dist not in runtime}
    only_for_tests = sorted(set(undeclared) & test)
    assert not undeclared, (
        f"imported by generator/ but not in pyproject's dependencies: {undeclared}"
        f"{f'; in the `test` extra only: {only_for_tests}' if only_for_tests else ''}"
        " (add it to [project] dependencies; if the import name differs from the distribution's,"
        " add it to DISTRIBUTIONS here)"
    )
    unused = sorted(runtime - set(used))
    assert not unused, (
        f"declared in pyproject's dependencies but not imported by generator/: {unused}"
        " (remove it, or move it to the `test` extra if only the tests use it)"
    )


def test_tests_import_only_declared_packages() -> None:
    runtime, test = _declared()
    golden = "tests/golden/"  # the samples' generated service code (routing client): its own dependencies
    used = {
        dist: kept
        for dist, files in _users(REPO / "tests").items()
        if (kept := [f for f in files if not f.startswith(golden)])
    }
    undeclared = {dist: files for dist, files in used.items() if dist not in runtime | test}
    assert not undeclared, (
        f"imported by tests/ but not in the `test` extra: {undeclared}"
        " (add it to [project.optional-dependencies] test)"
    )


def test_runtime_scripts_use_only_the_standard_library() -> None:
    runtime = REPO / "generator" / "runtime"
    siblings = {p.stem for p in runtime.glob("*.py")}  # copied side by side, they may import each other
    # `from generator.runtime import common` is the same sibling, imported as a package in tests
    allowed = set(sys.stdlib_module_names) | siblings | {"__future__", "generator"}
    offenders = {}
    for path in _python_files(runtime):
        outside = sorted(imported_packages(path) - allowed)
        if outside:
            offenders[path.relative_to(REPO).as_posix()] = outside
    assert not offenders, (
        f"generator/runtime/ runs on bare CI runners (copied into .almgen/scripts) and may import"
        f" only the standard library: {offenders}"
    )


def test_the_import_scanner_sees_lazy_and_dotted_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import json\nfrom ruamel.yaml import YAML\nfrom . import sibling\n"
        "def f() -> None:\n    import yaml\n    from generator.errors import Issue\n",
        "utf-8",
    )
    assert third_party(module) == {"ruamel", "yaml"}
    assert {distribution(name) for name in third_party(module)} == {"ruamel.yaml", "pyyaml"}
    module.write_text(
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from typing_extensions import dataclass_transform\n"
        "    import attrs\nfrom typing_extensions import Self\n",
        "utf-8",
    )
    assert third_party(module) == {"attrs", "typing_extensions"}  # only type-checking stubs are let off


def test_the_routing_client_imports_the_azure_sdk_only_when_it_reads_app_configuration() -> None:
    """A service imports it; its docstring names the two packages from_app_configuration() needs."""
    for path in _python_files(CLIENT):
        tree = ast.parse(path.read_text("utf-8"))
        top = {n for node in tree.body for n in _names(node)}
        assert top <= set(sys.stdlib_module_names) | {"__future__"}, path
        assert third_party(path) <= {"azure"}, path  # azure.appconfiguration, azure.identity, lazily


def _names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return [node.module.split(".")[0]]
    return []
