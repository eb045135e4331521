"""Read the `.bicepparam` files almgen writes: `using`, then `param NAME = <literal>`.

The literal subset almgen emits: 'strings' (with \\' escapes), numbers, true/false, null,
multi-line [arrays] and {objects} (keys bare or 'quoted'), and
`readEnvironmentVariable('NAME', 'default')`, read from the environment the deployment runs in.
"""

from __future__ import annotations

import os
import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<sym>[\[\]{}(),:=]))"
)


class ParamError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    source = "\n".join(lines)
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if not match:
            raise ParamError(f"unexpected text: {source[position : position + 30]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def _string(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), token[1:-1])


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.index = tokens, 0

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("", "")

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return _string(text)
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "word":
            return self._word(text)
        if text == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
            self.take()
            return items
        if text == "{":
            members: dict[str, Any] = {}
            while self.peek()[1] != "}":
                key_kind, key = self.take()
                name = _string(key) if key_kind == "str" else key
                if self.take()[1] != ":":
                    raise ParamError(f"expected ':' after {name!r}")
                members[name] = self.value()
            self.take()
            return members
        raise ParamError(f"unexpected {text!r}")

    def _word(self, word: str) -> Any:
        if word in ("true", "false"):
            return word == "true"
        if word == "null":
            return None
        if word == "readEnvironmentVariable":
            self.take()  # (
            name = _string(self.take()[1])
            default = ""
            if self.peek()[1] == ",":
                self.take()
                default = _string(self.take()[1])
            self.take()  # )
            return os.environ.get(name, default)
        raise ParamError(f"rehearse reads literal parameters only, not {word!r}")


def parse(text: str) -> dict[str, Any]:
    """Every `param` of a .bicepparam file, as Python values."""
    parser = _Parser(_tokens(text))
    params: dict[str, Any] = {}
    while parser.index < len(parser.tokens):
        _, word = parser.take()
        if word == "using":
            parser.take()
        elif word == "param":
            name = parser.take()[1]
            if parser.take()[1] != "=":
                raise ParamError(f"expected '=' after param {name}")
            params[name] = parser.value()
        else:
            raise ParamError(f"unexpected {word!r}")
    return params
