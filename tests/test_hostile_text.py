"""Hostile text in any free-text field never changes the structure of what is generated."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from generator.render.all import render
from generator.spec.validate import load_spec
from tests.helpers import MINIMAL, write_tree

FIELDS = ("description", "owner", "tag", "setting")
PIECES = [*"'\"\\$`{}()[]:#&*!|>%@,;\n\t -_aZ9", "${{", "$(", "}}", "${", "'''", "\u202e", "\r\n"]
HOSTILE = (
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=30).map("".join).filter(lambda s: s.strip() != "")
)


def _spec(values: dict[str, str]) -> str:
    service = {
        "name": "demo-svc",
        "description": values["description"],
        "owner": values["owner"],
        "tags": {"note": values["tag"]},
    }
    text = MINIMAL.replace("service: {name: demo-svc}", "service: " + json.dumps(service))
    return text.replace("  - name: dev\n", "  - name: dev\n  - name: prod\n") + (
        "configuration:\n  appConfiguration:\n    settings: "
        + json.dumps({"App:Note": values["setting"]})
        + "\n"
    )


def _shape(node: Any) -> Any:
    """The structure of parsed YAML: keys and nesting, not values."""
    if isinstance(node, dict):
        return {str(k): _shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return type(node).__name__


def _render(values: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        write_tree(Path(folder), {"almgen.yaml": _spec(values)})
        return {f.path: f.text for f in render(load_spec(Path(folder) / "almgen.yaml"))}


BASELINE = _render(dict.fromkeys(FIELDS, "plain text"))


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries(dict.fromkeys(FIELDS, HOSTILE)))
def test_hostile_values_change_no_structure(values: dict[str, str]) -> None:
    try:
        files = _render(values)
    except Exception as exc:  # a value the spec refuses (a secret-looking one) is a located error
        from generator.errors import SpecInvalid

        assert isinstance(exc, SpecInvalid), exc
        return
    assert set(files) == set(BASELINE)
    for path, text in files.items():
        if path.endswith((".yml", ".yaml")):
            loaded, expected = YAML(typ="safe").load(text), YAML(typ="safe").load(BASELINE[path])
            assert _shape(loaded) == _shape(expected), path
        elif path.endswith(".bicepparam") or path.endswith(".bicep"):
            # the same lines outside string literals: no value opened or closed a literal
            assert text.count("\n") == BASELINE[path].count("\n"), path
        elif path.endswith(".json"):
            assert _shape(json.loads(text)) == _shape(json.loads(BASELINE[path])), path


def test_a_known_hostile_example_renders_with_the_baseline_structure() -> None:
    values = {
        "description": "a'b${{ x }}\n$(id)\\ '''",
        "owner": 'o"${',
        "tag": "}} {{",
        "setting": "\n\u202e#: |",  # a carriage return is refused: tests/test_text_rules.py
    }
    test_hostile_values_change_no_structure.hypothesis.inner_test(values)  # type: ignore[attr-defined]
    assert "note: '}} {{'" in _render(values)["infra/env/dev.bicepparam"]
