"""Render docs/spec-reference.md from the spec's JSON Schema.

Run `python -m generator.spec.reference` after changing schemas/almgen.schema.json;
`--check` exits 1 when the file is out of date (the test suite runs it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.package_data import spec_schema

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def _type(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"`{schema['const']}`"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "oneOf" in schema and "type" not in schema:  # forms of one typed value say so in words
        return " or ".join(_type(s) for s in schema["oneOf"])
    return _declared_type(schema)


def _declared_type(schema: dict[str, Any]) -> str:
    """The type a field's `type:` keyword names, in words."""
    kind = schema.get("type", "")
    if isinstance(kind, list):
        return " \\| ".join(kind)
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map"
    return str(kind) or "any"


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("pattern", "pattern"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("exclusiveMinimum", "greater than"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxLength", "max length"),
    ):
        if key in schema:
            value = schema[key]
            parts.append(f"{label} `{value}`" if key == "pattern" else f"{label} {value}")
    return "; ".join(parts)


def _rows(schema: dict[str, Any], path: str, required: set[str]) -> Iterator[str]:
    for name, sub in schema.get("properties", {}).items():
        field = f"{path}.{name}" if path else name
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        need = "yes" if name in required else ""
        text = sub.get("description", "").replace("\n", " ")
        extra = _constraints(sub)
        if extra:
            text += f" ({extra})"
        text = _outside_code(text.replace("|", "\\|"))
        yield f"| `{field}` | {_type(sub)} | {need} | {default} | {text} |"
        yield from _children(sub, field)


def _outside_code(text: str) -> str:
    """`<` outside code spans as `\\<`: GitHub drops what reads as an HTML tag (`rg-<service>`)."""
    parts = text.split("`")
    return "`".join(part.replace("<", "\\<") if i % 2 == 0 else part for i, part in enumerate(parts))


def _children(sub: dict[str, Any], field: str) -> Iterator[str]:
    if sub.get("type") == "object" and "properties" in sub:
        yield from _rows(sub, field, set(sub.get("required", [])))
    elif sub.get("type") == "object" and isinstance(sub.get("additionalProperties"), dict):
        value = sub["additionalProperties"]
        if "properties" in value:
            yield from _rows(value, f"{field}.<name>", set(value.get("required", [])))
    elif sub.get("type") == "array" and isinstance(sub.get("items"), dict):
        items = sub["items"]
        if "properties" in items:
            yield from _rows(items, f"{field}[]", set(items.get("required", [])))


def render(schema: dict[str, Any]) -> str:
    lines = [
        "<!-- Generated from schemas/almgen.schema.json by `python -m generator.spec.reference`;"
        " do not edit. -->",
        "# almgen.yaml reference (spec v1)",
        "",
        schema["description"],
        "",
        "Paths in the spec are relative to the spec's folder. `field[]` is an item of a list,",
        "`field.<name>` an entry of a map. Per-environment values are a single value or a map",
        "from environment name to value.",
        "",
        "| field | type | required | default | description |",
        "| --- | --- | --- | --- | --- |",
        *_rows(schema, "", set(schema.get("required", []))),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render(spec_schema())
    if "--check" in argv:
        current = OUTPUT.read_text("utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python -m generator.spec.reference", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, "utf-8", newline="\n")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
