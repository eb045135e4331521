"""Escaping filters: the only way spec values reach generated YAML, Bicep and JSON.

A value with quotes, `${`, `$(`, backslashes or newlines must arrive as the same text, never
as structure or code.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

_BICEP_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BICEP_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"}


def bicep_string(value: str) -> str:
    """A single-quoted Bicep string literal holding exactly `value`.

    `$` is always escaped (`\\$`), so `${...}` in the value is never interpolated.
    """
    body = "".join(_BICEP_ESCAPES.get(char, char) for char in value)
    return f"'{body}'"


def bicep_key(key: str) -> str:
    return key if _BICEP_IDENTIFIER.fullmatch(key) else bicep_string(key)


def bicep_value(value: Any, indent: int = 0) -> str:
    """A Bicep literal for plain data; nested lines are indented by `indent` + 2 spaces."""
    pad = " " * indent
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"json('{value!r}')"
    if isinstance(value, str):
        return bicep_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = [f"{pad}  {bicep_key(str(k))}: {bicep_value(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        lines = [f"{pad}  {bicep_value(v, indent + 2)}" for v in value]
        return "[\n" + "\n".join(lines) + f"\n{pad}]"
    raise TypeError(f"no Bicep literal for {type(value).__name__}")


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar holding exactly `value` (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def gha_string(value: str) -> str:
    """A YAML string for a GitHub workflow: GitHub evaluates `${{` anywhere, so it is escaped too."""
    return yaml_string(value.replace("${{", "${{ '${{' }}"))


def expression(text: str) -> str:
    """`${{ text }}`: a GitHub Actions or Azure Pipelines template expression, written by almgen."""
    return "${{ " + text + " }}"


def markdown_text(value: object) -> str:
    """Text in a Markdown table cell or sentence: no table breaks, no HTML, no line breaks."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    for char in "\\|*_[]<>`#":
        text = text.replace(char, "\\" + char)
    return text


def markdown_code(value: str) -> str:
    """The inside of an inline code span: a backtick in the value would end it."""
    return value.replace("\n", " ").replace("`", "'")


def shell_word(value: str) -> str:
    """One shell word holding exactly `value`."""
    return shlex.quote(value)


def json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def devops_value(value: Any) -> str:
    """A template parameter value in YAML: booleans, numbers, strings and flow lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(devops_value(item) for item in value) + "]"
    return yaml_string(str(value))


FILTERS = {
    "devops_value": devops_value,
    "bicep": bicep_value,
    "bicep_string": bicep_string,
    "yaml_string": yaml_string,
    "gha_string": gha_string,
    "md": markdown_text,
    "md_code": markdown_code,
    "shell": shell_word,
    "json": json_value,
}
