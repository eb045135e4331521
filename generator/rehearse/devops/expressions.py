"""Azure Pipelines expressions: one parser for `${{ }}` (compile time), `$[ ]` and `condition:` (run time).

Expressions are literals (numbers, 'strings', true/false/null), names with `.x` and `['x']`
access, and function calls; Azure Pipelines has no infix operators.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.rehearse.devops.errors import DevOpsError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|'(?P<str>(?:[^']|'')*)'|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|(?P<punct>[().,\[\]]))"
)


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Name:
    parts: tuple[Any, ...]  # first a name, then str (property) or node (index)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match:
                raise DevOpsError(f"expression {text!r}: unexpected text at {text[pos:]!r}")
            kind = match.lastgroup or ""
            value = match.group(kind)
            self.tokens.append((kind, value))
            pos = match.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, punct: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (punct is not None and token != ("punct", punct)):
            raise DevOpsError(f"expression {self.text!r}: expected {punct or 'more'}")
        self.i += 1
        return token

    def parse(self) -> Any:
        node = self.expr()
        if self.peek() is not None:
            raise DevOpsError(f"expression {self.text!r}: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return Lit(float(value) if "." in value else int(value))
        if kind == "str":
            return Lit(value.replace("''", "'"))
        if kind != "name":
            raise DevOpsError(f"expression {self.text!r}: unexpected {value!r}")
        if self.peek() == ("punct", "("):
            self.take("(")
            args: list[Any] = []
            if self.peek() != ("punct", ")"):
                args.append(self.expr())
                while self.peek() == ("punct", ","):
                    self.take(",")
                    args.append(self.expr())
            self.take(")")
            return Call(value.lower(), tuple(args))
        low = value.lower()
        if low in ("true", "false"):
            return Lit(low == "true")
        if low == "null":
            return Lit(None)
        parts: list[Any] = [value]
        while self.peek() in (("punct", "."), ("punct", "[")):
            if self.take()[1] == ".":
                parts.append(self.take()[1])
            else:
                parts.append(self.expr())
                self.take("]")
        return Name(tuple(parts))


def parse(text: str) -> Any:
    return _Parser(text).parse()


def to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    if isinstance(value, (int, float)):
        return value != 0
    return bool(value)


def _num(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return float("nan")


def equal(left: Any, right: Any) -> bool:
    """Azure's `eq`: the right side converts to the left side's type; strings ignore case."""
    if isinstance(left, bool):
        if isinstance(right, str):
            return (
                left == (right.strip().lower() == "true")
                if right.strip().lower() in ("true", "false")
                else left == truthy(right)
            )
        return left == truthy(right)
    if isinstance(left, (int, float)):
        return _num(left) == _num(right)
    if left is None:
        return right is None or right == ""
    if isinstance(left, str):
        return left.lower() == to_str(right).lower()
    return bool(left == right)


def _compare(left: Any, right: Any) -> int:
    if isinstance(left, (int, float)) and not isinstance(left, bool):
        a, b = _num(left), _num(right)
        return (a > b) - (a < b)
    x, y = to_str(left).lower(), to_str(right).lower()
    return (x > y) - (x < y)


def _contains(haystack: Any, needle: Any) -> bool:
    return to_str(needle).lower() in to_str(haystack).lower()


def _contains_value(haystack: Any, needle: Any) -> bool:
    values = haystack.values() if isinstance(haystack, dict) else haystack
    return isinstance(values, (list, type({}.values()))) and any(equal(v, needle) for v in values)


def _format(fmt: Any, *args: Any) -> str:
    def sub(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return to_str(args[index]) if index < len(args) else ""

    text = re.sub(r"\{(\d+)\}", sub, to_str(fmt))
    return text.replace("{{", "{").replace("}}", "}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "eq": equal,
    "ne": lambda a, b: not equal(a, b),
    "not": lambda a: not truthy(a),
    "and": lambda *a: all(truthy(x) for x in a),
    "or": lambda *a: any(truthy(x) for x in a),
    "xor": lambda a, b: truthy(a) != truthy(b),
    "in": lambda a, *b: any(equal(a, x) for x in b),
    "notin": lambda a, *b: not any(equal(a, x) for x in b),
    "contains": _contains,
    "containsvalue": _contains_value,
    "startswith": lambda a, b: to_str(a).lower().startswith(to_str(b).lower()),
    "endswith": lambda a, b: to_str(a).lower().endswith(to_str(b).lower()),
    "format": _format,
    "join": lambda sep, items: to_str(sep).join(
        to_str(x) for x in (items if isinstance(items, list) else [items])
    ),
    "coalesce": lambda *a: next((x for x in a if x is not None and x != ""), None),
    "converttojson": lambda a: json.dumps(a, indent=2),
    "length": lambda a: len(a) if isinstance(a, (str, list, dict)) else 0,
    "lower": lambda a: to_str(a).lower(),
    "upper": lambda a: to_str(a).upper(),
    "replace": lambda a, b, c: to_str(a).replace(to_str(b), to_str(c)),
    "split": lambda a, b: to_str(a).split(to_str(b)),
    "le": lambda a, b: _compare(a, b) <= 0,
    "lt": lambda a, b: _compare(a, b) < 0,
    "ge": lambda a, b: _compare(a, b) >= 0,
    "gt": lambda a, b: _compare(a, b) > 0,
}


def lookup(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        folded = {str(k).lower(): v for k, v in value.items()}
        return folded.get(to_str(key).lower())
    if isinstance(value, list):
        try:
            return value[int(_num(key))]
        except (IndexError, ValueError):
            return None
    return None


def evaluate(
    node: Any,
    names: Mapping[str, Any],
    extra: Mapping[str, Callable[..., Any]] | None = None,
) -> Any:
    """Evaluate a parsed expression; `names` holds the roots, `extra` the status functions."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Name):
        root = node.parts[0]
        folded = {k.lower(): v for k, v in names.items()}
        if root.lower() not in folded:
            raise DevOpsError(f"unrecognized value: {root!r} (known here: {', '.join(sorted(names))})")
        value = folded[root.lower()]
        for part in node.parts[1:]:
            key = part if isinstance(part, str) else evaluate(part, names, extra)
            value = lookup(value, key)
        return value
    assert isinstance(node, Call)
    if extra and node.name in extra:
        return extra[node.name](*[evaluate(a, names, extra) for a in node.args])
    function = FUNCTIONS.get(node.name)
    if function is None:
        raise DevOpsError(f"unrecognized function {node.name}()")
    if node.name in ("and", "or"):  # short-circuit, as Azure does
        for arg in node.args:
            result = truthy(evaluate(arg, names, extra))
            if result == (node.name == "or"):
                return result
        return node.name == "and"
    try:
        return function(*[evaluate(a, names, extra) for a in node.args])
    except TypeError as error:
        raise DevOpsError(f"{node.name}(): wrong number of arguments ({len(node.args)})") from error


def run(text: str, names: Mapping[str, Any], extra: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    return evaluate(parse(text), names, extra)
