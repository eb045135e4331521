"""What the spec's text may hold, so that `validate` refuses what `generate` could not write.

Every string of the spec, values and keys, reaches a command, an Azure name, a pipeline file or
a doc. None may hold a control character (C0 but tab and line feed, DEL, C1) or a Unicode line or
paragraph separator: a carriage return ends a line in Markdown and YAML, an ESC repaints a
terminal, a NUL cuts a C string. A line feed or a tab is allowed only in the multi-line fields
(descriptions, a retirement's reason, commands, App Configuration values); docs print them
escaped. A value has at most MAX_TEXT characters and a key MAX_KEY, unless the schema says less.
A number is at most MAX_NUMBER in size (the largest integer a float, JSON and Bicep all hold
exactly), unless the schema says less: a larger one could not be printed or computed with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping

from generator.errors import Issue
from generator.spec.document import Document, FieldPath

MAX_TEXT = 2000
MAX_KEY = 256
MAX_NUMBER = 2**53
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAK = re.compile(r"[\t\n]")
_NAMES = {"\r": "carriage return", "\x00": "NUL", "\x1b": "escape (ESC)", "\x85": "next line (NEL)"}


def multiline(path: FieldPath) -> bool:
    """The fields where a line feed or a tab is text: descriptions, reasons, commands, settings."""
    if not path:
        return False
    if path[:3] == ("configuration", "appConfiguration", "settings") and len(path) == 4:
        return True  # a value of App Configuration (JSON, a certificate chain), never printed in docs
    last = path[-1]
    if last == "description":
        return path[0] in ("service", "models", "agents")
    if last == "reason":
        return path[0] == "registry"
    return last == "command" and path[0] in ("tests", "evaluation", "safety")


def text_issues(doc: Document) -> Iterator[Issue]:
    """A located issue for each string (value or key) with a forbidden character or too long, and
    for each number too large."""
    yield from _walk(doc, doc.data, ())


def _walk(doc: Document, node: object, path: FieldPath) -> Iterator[Issue]:
    if isinstance(node, str):
        yield from _value_issues(doc, node, path)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > MAX_NUMBER:
        yield doc.issue(
            path,
            "the number is too large",
            f"a number between -{MAX_NUMBER} and {MAX_NUMBER}",
            "write the number you mean",
        )
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(key, str):
                yield from _key_issues(doc, key, (*path, key))
            yield from _walk(doc, value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(doc, value, (*path, index))


def _value_issues(doc: Document, text: str, path: FieldPath) -> Iterator[Issue]:
    lines = multiline(path)
    bad = _CONTROL.search(text) or (None if lines else _LINE_BREAK.search(text))
    if bad:
        yield doc.issue(path, _character_message(text, bad.start()), *_expectation(lines))
    if len(text) > MAX_TEXT:
        yield doc.issue(
            path,
            f"the value is {len(text)} characters long",
            f"at most {MAX_TEXT} characters",
            "shorten it, or move long text into a file the spec names",
        )


def _key_issues(doc: Document, key: str, path: FieldPath) -> Iterator[Issue]:
    bad = _CONTROL.search(key) or _LINE_BREAK.search(key)
    if bad:
        message = "the key " + _character_message(key, bad.start())
        yield doc.issue(path, message, *_expectation(False), key=True)
    if len(key) > MAX_KEY:
        message = f"the key is {len(key)} characters long"
        yield doc.issue(path, message, f"at most {MAX_KEY} characters", "shorten it", key=True)


def _character_message(text: str, at: int) -> str:
    char = text[at]
    name = _NAMES.get(char) or unicodedata.name(char, "") or "a control character"
    return f"contains U+{ord(char):04X} ({name.lower()}) at character {at + 1}"


def _expectation(lines: bool) -> tuple[str, str]:
    if lines:
        return (
            "printable text: line feeds and tabs are the only control characters allowed here",
            "remove the character (often a \\r, \\0 or \\e escape in a double-quoted string)",
        )
    return (
        "one line of printable text, without control characters",
        "remove the character (often a \\r, \\n or \\t escape in a double-quoted string)",
    )
