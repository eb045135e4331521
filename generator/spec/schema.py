"""Layer 1 of validation: the JSON Schema, turned into located, actionable issues."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from generator.errors import Issue
from generator.spec import compiled
from generator.spec.document import Document, FieldPath, format_path
from generator.spec.suggest import did_you_mean, one_of

if TYPE_CHECKING:  # jsonschema is imported only when a spec has something to explain
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "nothing",
}


_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true/false"),  # before int: a bool is an int
    (int, "a number"),
    (float, "a decimal number"),
    (str, "text"),
    (list, "a list"),
    (dict, "a mapping"),
)


def _kind(value: Any) -> str:
    for kind, word in _KINDS:
        if isinstance(value, kind):
            return word
    return "nothing" if value is None else type(value).__name__


def schema_issues(doc: Document, schema: dict[str, Any]) -> list[Issue]:
    """Every schema error of `doc`, located; a valid spec is recognized by the compiled schema."""
    if compiled.is_valid(doc.data, schema):
        return []
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    issues: list[Issue] = []
    for error in validator.iter_errors(doc.data):
        issues.extend(_explain(doc, error))
    return sorted(set(issues))


def _description(schema: Any) -> str:
    return str(schema.get("description", "")) if isinstance(schema, dict) else ""


_Explainer = Callable[[Document, "ValidationError", FieldPath, dict[str, Any]], Iterator[Issue]]


def _explain(doc: Document, error: ValidationError) -> Iterator[Issue]:
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    explain = _EXPLAINERS.get(str(error.validator), _explain_constraint)
    yield from explain(doc, error, path, schema)


def _explain_unknown_fields(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    instance = error.instance
    if not isinstance(instance, dict):
        yield from _explain_constraint(doc, error, path, schema)
        return
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


def _explain_missing_field(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    missing = str(error.message).split("'")[1] if "'" in error.message else "?"
    sub = schema.get("properties", {}).get(missing, {})
    yield doc.issue(
        path,
        f"missing required field {missing!r}",
        _description(sub) or f"a {missing!r} field",
        f"add `{missing}:` here",
    )


def _explain_enum(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    instance = error.instance
    choices = [str(c) for c in schema.get("enum", [])]
    hint = did_you_mean(str(instance), choices) if isinstance(instance, str) else ""
    yield doc.issue(
        path,
        f"{_show(instance)} is not allowed",
        f"one of {one_of(choices)}",
        hint or f"use one of {one_of(choices)}",
    )


def _explain_const(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    yield doc.issue(
        path,
        f"{_show(error.instance)} is not supported",
        repr(schema.get("const")),
        f"write `{format_path(path)}: {schema.get('const')}`",
    )


def _explain_type(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    instance = error.instance
    wanted = schema.get("type")
    types = [str(t) for t in (wanted if isinstance(wanted, list) else [wanted])]
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
    fix = f"write {words} here"
    found = _kind(instance)
    if wanted == "string" and isinstance(instance, (int, float)) and not isinstance(instance, bool):
        found = f"the number {instance} (YAML reads unquoted numbers as numbers)"
        fix = 'quote the value so it stays text exactly as written, e.g. "1.10" or "2024-11-20"'
    yield doc.issue(path, f"expected {words}, found {found}", _description(schema) or words, fix)


def _explain_key_names(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    instance = error.instance
    for key in instance if isinstance(instance, dict) else []:
        sub = error.validator_value if isinstance(error.validator_value, dict) else {}
        from jsonschema import Draft202012Validator

        if not Draft202012Validator(sub).is_valid(key):
            yield doc.issue(
                (*path, key),
                f"{key!r} is not an allowed name here",
                _description(schema) or "a valid name",
                "rename the key",
                key=True,
            )


def _explain_alternatives(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    forms = _forms(schema)
    if forms and isinstance(error.instance, dict):
        yield from _explain_forms(doc, error.instance, path, forms)
        return
    yield doc.issue(
        path,
        f"{_show(error.instance)} is not a valid value",
        _description(schema) or "a value of one of the allowed forms",
        "see `almgen schema` for this field",
    )


def _forms(schema: dict[str, Any]) -> list[tuple[str, ...]]:
    """The keys of each form of a mapping that takes exactly one form (a oneOf of `required`s)."""
    branches = schema.get("oneOf", [])
    forms = [tuple(b.get("required", ())) for b in branches if isinstance(b, dict)]
    return forms if forms and len(forms) == len(branches) and all(forms) else []


def _form_name(form: tuple[str, ...]) -> str:
    return " with ".join(f"`{key}`" for key in form)


def _explain_forms(
    doc: Document, instance: dict[str, Any], path: FieldPath, forms: list[tuple[str, ...]]
) -> Iterator[Issue]:
    """Which forms the mapping names, and what to add or remove so that it names exactly one.

    Nothing when it names one form completely: then only an unknown key failed the form, and
    the unknown-field issue says so.
    """
    names = [_form_name(form) for form in forms]
    expected = "exactly one of " + ", ".join(names[:-1]) + " or " + names[-1]
    named = [form for form in forms if any(key in instance for key in form)]
    if not named:
        yield doc.issue(path, "names none of the forms", expected, f"add one of {', '.join(names)}")
    elif len(named) > 1:
        listed = " and ".join(_form_name(form) for form in named)
        yield doc.issue(
            path, f"names {len(named)} forms ({listed}); it takes one", expected, "keep one of them"
        )
    else:
        present = next(key for key in named[0] if key in instance)
        for missing in [key for key in named[0] if key not in instance][:1]:
            yield doc.issue(
                path, f"`{present}` needs `{missing}`", expected, f"add `{missing}:` beside `{present}`"
            )


def _explain_constraint(
    doc: Document, error: ValidationError, path: FieldPath, schema: dict[str, Any]
) -> Iterator[Issue]:
    """Any other keyword (pattern, minimum, maxItems, ...): one sentence per keyword."""
    instance = error.instance
    validator = error.validator
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


_EXPLAINERS: dict[str, _Explainer] = {
    "additionalProperties": _explain_unknown_fields,
    "required": _explain_missing_field,
    "enum": _explain_enum,
    "const": _explain_const,
    "type": _explain_type,
    "propertyNames": _explain_key_names,
    "oneOf": _explain_alternatives,
    "anyOf": _explain_alternatives,
}


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
