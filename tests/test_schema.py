from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from generator.cli import cli
from generator.package_data import spec_schema
from generator.spec.reference import OUTPUT, render


def _objects(schema: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            yield from _objects(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _objects(value, f"{path}[{index}]")


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    schema = spec_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description_and_objects_are_closed() -> None:
    for path, node in _objects(spec_schema()):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}.properties.{name} has no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"


def test_almgen_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == spec_schema()


def test_the_spec_reference_is_current() -> None:
    assert OUTPUT.read_text("utf-8") == render(spec_schema()), (
        "docs/spec-reference.md is out of date: run python -m generator.spec.reference"
    )


def test_the_spec_reference_lists_every_field() -> None:
    text = render(spec_schema())
    for field in (
        "environments[].strategy.rollback.latencyP95Ms",
        "models[].trainingData.asset",
        "tests.<name>.command",
        "registry.retired[].reason",
        "monitoring.budget.startDate",
    ):
        assert f"`{field}`" in text


def test_the_spec_reference_keeps_placeholders_visible() -> None:
    """GitHub drops what reads as an HTML tag: `<service>` outside code is escaped, inside kept."""
    text = render(spec_schema())
    row = next(line for line in text.splitlines() if line.startswith("| `environments[].resourceGroup`"))
    assert "defaults to rg-\\<service>-\\<env>." in row
    assert "`<service>-deploy.yml`" in text and "`\\<" not in text
