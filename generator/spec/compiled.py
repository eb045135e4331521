"""The spec's JSON Schema compiled to Python once, so a valid spec is accepted without jsonschema.

jsonschema stays the reference: it explains every error (`schema.py`). The compiled validator
(fastjsonschema's generated code) only answers "is there anything to explain?"; when it says
no, jsonschema and its 60 ms import are skipped. It is trusted only where it can be: every
keyword of the schema must mean the same in draft 7 (what fastjsonschema compiles) as in draft
2020-12, and every `format` is checked here exactly as jsonschema checks it. Any doubt (an other
keyword, no fastjsonschema, a cache that cannot be read) answers None: ask jsonschema. Where
fastjsonschema is stricter (`$` in a pattern is the end of the text, not before a final newline),
jsonschema decides, so the verdict is always jsonschema's.

The generated code (about a second to produce and slim) is cached, marshalled, per schema and
Python version in the user's cache folder, beside the compiled templates; loading it takes a
millisecond.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from generator import __version__, codecache

KEYWORDS = frozenset(
    {
        "$schema", "$id", "title", "description", "default", "examples", "$comment",
        "type", "enum", "const", "properties", "additionalProperties", "required",
        "minProperties", "maxProperties", "propertyNames", "items", "minItems", "maxItems",
        "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "oneOf", "anyOf", "allOf", "not",
        "format",
    }
)  # fmt: skip
_SUBSCHEMA_MAPS = ("properties",)  # whose values are schemas keyed by field names, not keywords

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _is_date(value: object) -> bool:
    """jsonschema's `date` format check (a real calendar date, YYYY-MM-DD)."""
    if not isinstance(value, str):
        return True
    from datetime import date

    try:
        return bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        return False


FORMATS: dict[str, Callable[[object], bool]] = {"date": _is_date}

Validator = Callable[..., Any]


class _Invalid(ValueError):
    """What the generated code raises (it would otherwise import all of fastjsonschema)."""

    def __init__(self, message: str = "invalid", *_args: object, **_kwargs: object) -> None:
        super().__init__(message)


class _NoDecimal:
    """Stands for `decimal.Decimal` in the generated type checks: YAML gives int and float, never a
    Decimal, and importing `decimal` costs a generate about 5 M instructions."""


class _LazyPatterns(dict[str, Any]):
    """The generated code's regular expressions, each compiled when first used (not all are)."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, str):
            value = re.compile(value)
            self[key] = value
        return value


EXCEPTIONS = ("JsonSchemaValueException", "JsonSchemaValuesException")


def compilable(schema: object) -> bool:
    """True when every keyword and format in `schema` is one the compiled validator checks as 2020-12."""
    if isinstance(schema, list):
        return all(compilable(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    return all(_keyword_compilable(key, value) for key, value in schema.items())


def _keyword_compilable(key: str, value: object) -> bool:
    if key not in KEYWORDS or (key == "format" and value not in FORMATS):
        return False
    if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
        return all(compilable(sub) for sub in value.values())
    return key in ("enum", "const", "default", "examples") or compilable(value)


def is_valid(data: object, schema: dict[str, Any]) -> bool | None:
    """True or False from the compiled validator, None when it cannot answer for certain."""
    validate = _validator(schema)
    if validate is None:
        return None
    try:
        validate(data, custom_formats=FORMATS)
    except _Invalid:
        return False
    except Exception:  # any other failure is no verdict: jsonschema decides, as without the cache
        return None
    return True


_LOADED: dict[str, Validator | None] = {}
_CODE_FORMAT = 3  # raise when schema_code.py changes what it generates: a new cache entry


def _validator(schema: dict[str, Any]) -> Validator | None:
    text = json.dumps(schema, sort_keys=True)
    salt = f"{__version__}\0{_CODE_FORMAT}\0{sys.implementation.cache_tag}\0"
    key = hashlib.sha256(f"{salt}{text}".encode()).hexdigest()
    if key not in _LOADED:
        _LOADED[key] = _load(key, schema)
    return _LOADED[key]


def _load(key: str, schema: dict[str, Any]) -> Validator | None:
    path = codecache.entry("schema", key)
    code = codecache.read(path) if path else None
    if code is None:
        if not compilable(schema):
            return None
        code = _compile(schema)
        if code is None:
            return None
        if path:
            codecache.write(path, code)
    namespace: dict[str, Any] = {name: _Invalid for name in EXCEPTIONS}
    namespace |= {"_LazyPatterns": _LazyPatterns, "Decimal": _NoDecimal}
    try:
        exec(code, namespace)  # fastjsonschema's code for almgen's own schema
    except Exception:  # a broken cache entry: fall back to jsonschema
        return None
    found = [v for k, v in namespace.items() if k.startswith("validate") and callable(v)]
    return found[0] if found else None


def _compile(schema: dict[str, Any]) -> Any:
    from generator.spec.schema_code import schema_code

    return schema_code(schema, FORMATS)
