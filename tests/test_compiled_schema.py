"""The compiled schema (generator/spec/compiled.py): used for every valid spec, never more lenient
than jsonschema, which stays the judge of every error."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from generator.errors import SpecInvalid
from generator.package_data import spec_schema
from generator.spec import compiled
from generator.spec.load import load_document
from tests.conftest import REPO, SAMPLE_NAMES
from tests.test_properties import load_sample, mutated

CASES = sorted((REPO / "tests" / "errors" / "cases").glob("*/almgen.yaml"))


def reference_valid(data: Any) -> bool:
    schema = spec_schema()
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return bool(validator.is_valid(data))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled._LOADED.clear()


def test_the_spec_schema_is_one_the_compiled_validator_can_answer_for() -> None:
    assert compiled.compilable(spec_schema())
    assert not compiled.compilable({"type": "object", "unevaluatedProperties": False})
    assert not compiled.compilable({"properties": {"a": {"format": "email"}}})
    assert compiled.compilable({"properties": {"format": {"type": "string"}}})  # a field named format


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_a_valid_sample_is_validated_without_importing_jsonschema(sample: str, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom generator.spec.validate import load_spec\n"
        f"load_spec(Path({str(REPO / 'samples' / sample / 'almgen.yaml')!r}))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for run in ("first (compiles and caches)", "second (from the cache)"):
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        uses_policies = "policies:" in (REPO / "samples" / sample / "almgen.yaml").read_text()
        assert result.stdout.strip() == str(uses_policies), run  # policies are jsonschema's job
    assert list((tmp_path / "cache" / "almgen" / "schema").glob("*.marshal"))


@pytest.mark.parametrize("case", CASES, ids=[c.parent.name for c in CASES])
def test_the_compiled_validator_rejects_every_error_case_jsonschema_rejects(case: Path) -> None:
    try:
        doc = load_document(case)
    except SpecInvalid:
        return  # refused before the schema
    if not reference_valid(doc.data):
        assert compiled.is_valid(doc.data, spec_schema()) is not True


DATES = [("2026-02-28", True), ("2026-02-30", False), ("2026-2-1", False)]


@pytest.mark.parametrize(("value", "valid"), DATES)
def test_dates_are_checked_as_jsonschema_checks_them(value: str, valid: bool) -> None:
    data = copy.deepcopy(load_sample("enterprise"))
    retired = {"model": "chat", "version": "0613", "reason": "old", "date": value}
    data.setdefault("registry", {})["retired"] = [retired]
    assert reference_valid(data) is valid  # the premise: jsonschema's verdict
    assert compiled.is_valid(data, spec_schema()) is valid


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_never_accepts_a_mutated_spec_that_jsonschema_rejects(data: st.DataObject) -> None:
    sample = load_sample(data.draw(st.sampled_from(SAMPLE_NAMES), label="sample"))
    doc = data.draw(mutated(sample), label="mutated")
    if compiled.is_valid(doc, spec_schema()) is True:
        assert reference_valid(doc)


def test_a_corrupt_cache_entry_is_replaced_not_trusted(tmp_path: Path) -> None:
    sample = load_sample("minimal")
    assert compiled.is_valid(sample, spec_schema()) is True
    (entry,) = (tmp_path / "cache" / "almgen" / "schema").glob("*.marshal")
    entry.write_bytes(b"not marshal data")
    compiled._LOADED.clear()
    assert compiled.is_valid(sample, spec_schema()) is True
    assert compiled.is_valid({"apiVersion": 1}, spec_schema()) is False


def test_a_validator_that_fails_gives_no_verdict_rather_than_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: object, custom_formats: object) -> None:
        raise AttributeError("a bug in generated code")

    monkeypatch.setattr(compiled, "_validator", lambda schema: broken)
    assert compiled.is_valid({"apiVersion": "almgen/v1"}, spec_schema()) is None
