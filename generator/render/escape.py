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


# every character that ends a line somewhere (CommonMark, YAML, a terminal) and the other controls
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\|*_\[\]<>`#~$&])")
# what opens a block at a line's start: a list item, a thematic break, a setext underline
# a pipe after an even run of backslashes (none included) splits a GitHub table row
_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")
_BLOCK_START = re.compile(r"^([-+](?=[\s-]|$)|\d{1,9}[.)](?=\s|$)|=)")


def one_line(value: str) -> str:
    """`value` with every line break and control character (tab included) turned into a space."""
    return _LINE_BREAKING.sub(" ", value)


def markdown_text(value: object) -> str:
    """Text in a Markdown table cell or paragraph: one line, no table break, no HTML, no code
    span, no emphasis, entity, math or strike-through, and no block (list, heading) at its start."""
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(str(value)).strip())
    return _BLOCK_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)


def markdown_code(value: str) -> str:
    """The inside of an inline code span or a fenced block's line: one line, and no backtick
    (which would end the span), so no line of it can open or close a fence."""
    return one_line(value).replace("`", "'")


def markdown_cell_code(value: str) -> str:
    """An inline code span in a table cell: GitHub splits cells at a `|` even inside code unless
    an odd run of backslashes precedes it (and then shows one backslash fewer)."""
    return _UNESCAPED_PIPE.sub(r"\1\\|", markdown_code(value))


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
    "md_cell_code": markdown_cell_code,
    "shell": shell_word,
    "json": json_value,
}
