"""Check rendered output before anything is written: a broken file is a bug in almgen, not the user's.

YAMLLINT_CONFIG is the style every generated YAML file keeps; the test suite lints all of them.
"""

from __future__ import annotations

import json
from typing import Any

from generator.errors import AlmgenError
from generator.render.outputs import OutputFile

YAMLLINT_CONFIG = """
extends: default
rules:
  line-length: disable
  document-start: disable
  truthy:
    allowed-values: ["true", "false", "on"]
  comments:
    min-spaces-from-content: 1
"""


class GeneratedOutputInvalid(AlmgenError):
    """A template produced unparsable output (exit 4: please report)."""


def verify(outputs: list[OutputFile]) -> None:
    problems: list[str] = []
    for output in outputs:
        if output.path.endswith(".json"):
            try:
                json.loads(output.text)
            except ValueError as exc:
                problems.append(f"{output.path}: not valid JSON: {exc}")
        elif output.path.endswith((".yml", ".yaml")):
            problems.extend(_yaml_problems(output))
    if problems:
        raise GeneratedOutputInvalid(
            "almgen generated invalid output (a bug: please report it):\n  " + "\n  ".join(problems)
        )


def _yaml_problems(output: OutputFile) -> list[str]:
    """The file parses as YAML (libyaml, fast). yamllint's style rules run in the test suite on
    every sample's output, not on every generate: they would triple its time.

    Composing (syntax, indentation, anchors) without constructing Python values halves the time;
    the test suite loads every sample's output in full with the tools users run."""
    import yaml

    try:
        yaml.compose(output.text, Loader=_composer())  # one document, parsed and composed
    except yaml.YAMLError as exc:
        return [f"{output.path}: not valid YAML: {exc}"]
    return []


_COMPOSERS: list[type] = []


def _composer() -> type:
    """libyaml's loader (else PyYAML's) that gives every node an empty tag: composing checks the
    syntax, indentation and aliases; which type a scalar would have (YAML 1.1's regular
    expressions, a fifth of the time) does not matter here."""
    if not _COMPOSERS:
        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class Composer(base):  # type: ignore[misc]
            def resolve(self, kind: object, value: object, implicit: object) -> str:
                return ""

        _COMPOSERS.append(Composer)
    return _COMPOSERS[0]
