"""Layer 1 of validation: the JSON Schema, turned into located, actionable issues."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from generator.errors import Issue
from generator.spec.load import Document, FieldPath, format_path
from generator.spec.suggest import did_you_mean, one_of

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "nothing",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


def schema_issues(doc: Document, schema: dict[str, Any]) -> list[Issue]:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    issues: list[Issue] = []
    for error in validator.iter_errors(doc.data):
        issues.extend(_explain(doc, error))
    return sorted(set(issues))


def _description(schema: Any) -> str:
    return str(schema.get("description", "")) if isinstance(schema, dict) else ""


def _explain(doc: Document, error: ValidationError) -> Iterator[Issue]:
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    validator = error.validator
    if validator == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        for key in instance:
            if key in known or not known:
                continue
            hint = did_you_mean(key, known)
            yield doc.issue(
                (*path, key),
                f"unknown field {key!r}",
                f"one of {one_of(known)}",
                hint or f"remove {key!r}; see `almgen schema` for the fields",
                key=True,
            )
        return
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        sub = schema.get("properties", {}).get(missing, {})
        yield doc.issue(
            path,
            f"missing required field {missing!r}",
            _description(sub) or f"a {missing!r} field",
            f"add `{missing}:` here",
        )
        return
    if validator == "enum":
        choices = [str(c) for c in schema.get("enum", [])]
        hint = did_you_mean(str(instance), choices) if isinstance(instance, str) else ""
        yield doc.issue(
            path,
            f"{_show(instance)} is not allowed",
            f"one of {one_of(choices)}",
            hint or f"use one of {one_of(choices)}",
        )
        return
    if validator == "const":
        yield doc.issue(
            path,
            f"{_show(instance)} is not supported",
            repr(schema.get("const")),
            f"write `{format_path(path)}: {schema.get('const')}`",
        )
        return
    if validator == "type":
        wanted = schema.get("type")
        types = [str(t) for t in (wanted if isinstance(wanted, list) else [wanted])]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        fix = f"write {words} here"
        found = _kind(instance)
        if wanted == "string" and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            found = f"the number {instance} (YAML reads unquoted numbers as numbers)"
            fix = 'quote the value so it stays text exactly as written, e.g. "1.10" or "2024-11-20"'
        yield doc.issue(path, f"expected {words}, found {found}", _description(schema) or words, fix)
        return
    if validator == "propertyNames":
        for key in instance if isinstance(instance, dict) else []:
            sub = error.validator_value if isinstance(error.validator_value, dict) else {}
            if not Draft202012Validator(sub).is_valid(key):
                yield doc.issue(
                    (*path, key),
                    f"{key!r} is not an allowed name here",
                    _description(schema) or "a valid name",
                    "rename the key",
                    key=True,
                )
        return
    if validator in ("oneOf", "anyOf"):
        yield doc.issue(
            path,
            f"{_show(instance)} is not a valid value",
            _description(schema) or "a value of one of the allowed forms",
            "see `almgen schema` for this field",
        )
        return
    expected = _description(schema) or str(error.message)
    fix = "change the value to match what is expected"
    if validator == "pattern" and isinstance(instance, str):
        fix = _pattern_fix(instance, str(error.validator_value)) or fix
    messages = {
        "pattern": f"{_show(instance)} does not have the required form",
        "minItems": f"the list needs at least {error.validator_value} item(s)",
        "maxItems": f"the list may have at most {error.validator_value} item(s)",
        "uniqueItems": "the list repeats an item",
        "minLength": "the text is too short",
        "maxLength": f"the text is longer than {error.validator_value} characters",
        "minimum": f"{_show(instance)} is below the minimum {error.validator_value}",
        "maximum": f"{_show(instance)} is above the maximum {error.validator_value}",
        "exclusiveMinimum": f"{_show(instance)} must be greater than {error.validator_value}",
        "exclusiveMaximum": f"{_show(instance)} must be less than {error.validator_value}",
        "minProperties": f"needs at least {error.validator_value} entr(ies)",
        "maxProperties": f"may have at most {error.validator_value} entries",
        "format": f"{_show(instance)} is not a valid {error.validator_value}",
    }
    yield doc.issue(path, messages.get(str(validator), str(error.message)), expected, fix)


def _pattern_fix(value: str, pattern: str) -> str:
    """For a name with wrong characters, the nearest name that fits."""
    candidate = re.sub(r"[^a-z0-9-]+", "-", value.strip().lower()).strip("-")
    if candidate and candidate != value and re.search(pattern, candidate):
        return f"write {candidate!r}"
    return ""


def _show(value: Any) -> str:
    text = (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    return text if len(text) <= 60 else text[:57] + "..."
