"""Shared test fixtures; `pytest --update-goldens` rewrites golden files instead of comparing.

Tests marked `slow` (the external validators, building a wheel) are skipped unless `--slow` is
given or the environment variable CI is set (CI runs everything).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.iterdir() if (p / "almgen.yaml").is_file())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files (tests/golden, tests/errors) from the current output",
    )
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (external validators, the wheel); CI=1 does the same",
    )


SLOW_SKIP_REASON = "slow: external validators; run with --slow or CI=1"

# The validator wrappers in tests/tools.py: a test (or a fixture it uses) that calls one is slow
# even when it is not marked, so a new validator test cannot slip into the quick local run.
VALIDATORS = frozenset({"actionlint", "zizmor", "check_jsonschema", "checkov", "yamllint"})


def run_slow_tests(config: pytest.Config) -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    return bool(config.getoption("--slow")) or ci not in ("", "0", "false")


def _calls_a_validator(item: pytest.Item) -> bool:
    functions = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is not None:
        for definitions in fixture_info.name2fixturedefs.values():
            functions.extend(definition.func for definition in definitions)
    for function in functions:
        code = getattr(function, "__code__", None)
        if code is not None and "tools" in code.co_names and VALIDATORS & set(code.co_names):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" not in item.keywords and _calls_a_validator(item):
            item.add_marker(pytest.mark.slow)
    if run_slow_tests(config):
        return
    skip = pytest.mark.skip(reason=SLOW_SKIP_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class Golden:
    """Compares text with a golden file, or rewrites it under --update-goldens."""

    def __init__(self, update: bool) -> None:
        self.update = update

    def check(self, path: Path, actual: str) -> None:
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text("utf-8") != actual:
                path.write_text(actual, "utf-8", newline="\n")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; run: pytest --update-goldens")
        expected = path.read_text("utf-8")
        if expected != actual:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    actual.splitlines(keepends=True),
                    fromfile=f"{path} (golden)",
                    tofile="actual",
                )
            )
            pytest.fail(f"output differs from {path}:\n{diff}\nIf intended, run: pytest --update-goldens")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(bool(request.config.getoption("--update-goldens")))
