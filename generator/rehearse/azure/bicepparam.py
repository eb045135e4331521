"""A parser for the literal subset of `.bicepparam` files that almgen emits.

Supported: `using '...'`, `param NAME = VALUE` with VALUE a string ('...' with \\' escapes), a number,
`true`/`false`/`null`, an array `[ ... ]` (items on separate lines or comma-separated), an object
`{ key: value ... }` (keys bare or quoted), `json('literal')`, and
`readEnvironmentVariable('X', 'default')`, which reads X from the given environment.
`//` and `/* */` comments are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


class BicepParamError(ValueError):
    """The file is outside the literal subset."""


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<punct>[\[\]{}(),:=])
  | (?P<newline>\n)
)""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos] in " \t\r":
            pos += 1
            continue
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise BicepParamError(f"unexpected text at offset {pos}: {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind == "comment":
            continue
        out.append((kind, match.group(kind)))
    return out


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], environ: Mapping[str, str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.environ = environ

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while self.peek()[0] == "newline":
            self.pos += 1

    def expect(self, value: str) -> None:
        self.skip_newlines()
        _, text = self.take()
        if text != value:
            raise BicepParamError(f"expected {value!r}, found {text!r}")

    def value(self) -> Any:
        self.skip_newlines()
        kind, text = self.take()
        if kind == "string":
            return _unquote(text)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if text == "readEnvironmentVariable":
                self.expect("(")
                name = self.value()
                default: Any = None
                self.skip_newlines()
                if self.peek()[1] == ",":
                    self.take()
                    default = self.value()
                self.expect(")")
                found = self.environ.get(str(name))
                if found is None and default is None:
                    raise BicepParamError(f"environment variable {name} is not set and has no default")
                return found if found is not None else default
            if text == "json":
                self.expect("(")
                inner = self.value()
                self.expect(")")
                return json.loads(str(inner))
            raise BicepParamError(f"unsupported expression {text!r}")
        if text == "[":
            items: list[Any] = []
            while True:
                self.skip_newlines()
                if self.peek()[1] == "]":
                    self.take()
                    return items
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
        if text == "{":
            obj: dict[str, Any] = {}
            while True:
                self.skip_newlines()
                if self.peek()[1] == "}":
                    self.take()
                    return obj
                key_kind, key = self.take()
                self.expect(":")
                obj[_unquote(key) if key_kind == "string" else key] = self.value()
                if self.peek()[1] == ",":
                    self.take()
        raise BicepParamError(f"unexpected {text!r}")


def parse(text: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The params of a `.bicepparam` file, by name."""
    parser = _Parser(_tokens(text), environ)
    params: dict[str, Any] = {}
    while True:
        parser.skip_newlines()
        kind, word = parser.take()
        if kind == "eof":
            return params
        if word == "using":
            parser.take()
        elif word == "param":
            _, name = parser.take()
            parser.expect("=")
            params[name] = parser.value()
        else:
            raise BicepParamError(f"unexpected {word!r} at top level")
