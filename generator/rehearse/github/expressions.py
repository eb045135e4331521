"""GitHub Actions expressions: the language inside `${{ }}` and of `if:`.

Values are Python's None, bool, float (every number), str, list and dict. The coercions follow
GitHub's rules: loose equality converts mismatched primitives to numbers, strings compare
case-insensitively, `&&`/`||` return an operand, property access on a missing value is null.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from generator.rehearse.github.errors import ExpressionError, unsupported

Node = tuple[Any, ...]
STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})


class Status(Protocol):
    """What the status functions ask: the job's (or the needs') state at the time of evaluation."""

    def success(self) -> bool: ...
    def failure(self) -> bool: ...
    def cancelled(self) -> bool: ...


@dataclass
class Scope:
    """The contexts an expression may read, and the functions that depend on where it is."""

    contexts: dict[str, Any]
    status: Status | None = None
    hash_files: Callable[[list[str]], str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- tokens
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?(?:0x[0-9a-fA-F]+|0o[0-7]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<str>'(?:[^']|'')*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.*])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExpressionError(f"Unexpected symbol: '{text[pos:]}' in expression '{text}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            found = "the end" if token is None else f"'{token[1]}'"
            wanted = f"'{value}'" if value else "a value"
            raise ExpressionError(f"Expected {wanted} but found {found} in expression '{self.text}'")
        self.pos += 1
        return token

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] in values

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("An expression was expected")
        node = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"Unexpected symbol: '{self.peek()[1]}' in expression '{self.text}'")  # type: ignore[index]
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("||"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.equality()
        while self.at("&&"):
            self.take()
            node = ("and", node, self.equality())
        return node

    def equality(self) -> Node:
        node = self.comparison()
        while self.at("==", "!="):
            op = self.take()[1]
            node = ("cmp", op, node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.unary()
        while self.at("<", "<=", ">", ">="):
            op = self.take()[1]
            node = ("cmp", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take()
                if self.at("*"):
                    self.take()
                    node = ("star", node)
                    continue
                kind, name = self.take()
                if kind not in ("ident",):
                    raise ExpressionError(
                        f"Unexpected symbol: '{name}' after '.' in expression '{self.text}'"
                    )
                node = ("index", node, ("lit", name))
            elif self.at("["):
                self.take()
                if self.at("*"):
                    self.take()
                    self.take("]")
                    node = ("star", node)
                    continue
                index = self.or_()
                self.take("]")
                node = ("index", node, index)
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return ("lit", to_number(value))
        if kind == "str":
            return ("lit", value[1:-1].replace("''", "'"))
        if kind == "op" and value == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind != "ident":
            raise ExpressionError(f"Unexpected symbol: '{value}' in expression '{self.text}'")
        lowered = value.lower()
        if lowered in ("true", "false"):
            return ("lit", lowered == "true")
        if lowered == "null":
            return ("lit", None)
        if lowered in ("nan", "infinity"):
            return ("lit", math.nan if lowered == "nan" else math.inf)
        if self.at("("):
            self.take()
            args: list[Node] = []
            while not self.at(")"):
                args.append(self.or_())
                if not self.at(")"):
                    self.take(",")
            self.take(")")
            return ("call", lowered, args)
        return ("ctx", value)


def parse(text: str) -> Node:
    return _Parser(text).parse()


def uses_status_function(node: Node) -> bool:
    if node[0] == "call" and node[1] in STATUS_FUNCTIONS:
        return True
    return any(isinstance(part, tuple) and uses_status_function(part) for part in node[1:]) or any(
        isinstance(part, list) and any(uses_status_function(arg) for arg in part) for part in node[1:]
    )


# --------------------------------------------------------------------------- coercions
def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            if text.lower().startswith(("0x", "-0x")):
                return float(int(text, 16))
            if text.lower().startswith("0o"):
                return float(int(text[2:], 8))
            return float(text) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text) else math.nan
        except ValueError:
            return math.nan
    return math.nan


def format_number(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return format(number, ".15g").replace("e+", "E+").replace("e-", "E-")  # GitHub prints 15 digits


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(float(value))
    if isinstance(value, str):
        return value
    return "Array" if isinstance(value, list) else "Object"


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def loose_equal(left: Any, right: Any) -> bool:
    if _primitive(left) and _primitive(right):
        if _kind(left) == _kind(right):
            if isinstance(left, str):
                return left.upper() == str(right).upper()
            if isinstance(left, (int, float)) and not isinstance(left, bool):
                return float(left) == float(right)
            return bool(left == right)
        return to_number(left) == to_number(right)
    return left is right


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return loose_equal(left, right)
    if op == "!=":
        return not loose_equal(left, right)
    if not (_primitive(left) and _primitive(right)):
        return False
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.upper(), right.upper()
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    x, y = to_number(left), to_number(right)
    if math.isnan(x) or math.isnan(y):
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _lookup(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        if not isinstance(key, str):
            key = to_string(key)
        if key in container:
            return container[key]
        lowered = key.lower()
        for name, value in container.items():
            if isinstance(name, str) and name.lower() == lowered:
                return value
        return None
    if isinstance(container, list):
        if isinstance(key, str) and not key.strip():
            return None
        number = to_number(key)
        if math.isnan(number) or number < 0 or int(number) >= len(container):
            return None
        return container[int(number)]
    return None


class _Filtered(list[Any]):
    """The array an object filter (`.*`) produces: indexing it projects over its items."""


# --------------------------------------------------------------------------- functions
def _format(template: str, args: list[Any]) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(template):
        char = template[pos]
        if template.startswith("{{", pos) or template.startswith("}}", pos):
            out.append(char)
            pos += 2
            continue
        if char == "{":
            end = template.find("}", pos)
            index = template[pos + 1 : end] if end > 0 else ""
            if not index.isdigit():
                raise ExpressionError(f"The following format string is invalid: '{template}'")
            if int(index) >= len(args):
                raise ExpressionError(
                    f"The following format string references more arguments than were supplied: '{template}'"
                )
            out.append(to_string(args[int(index)]))
            pos = end + 1
            continue
        if char == "}":
            raise ExpressionError(f"The following format string is invalid: '{template}'")
        out.append(char)
        pos += 1
    return "".join(out)


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and value == int(value) and not math.isinf(value):
        return int(value)
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    return value


def _numbers_as_floats(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_numbers_as_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _numbers_as_floats(item) for key, item in value.items()}
    return value


def _from_json(text: Any) -> Any:
    try:
        return _numbers_as_floats(json.loads(to_string(text)))
    except json.JSONDecodeError as exc:
        raise ExpressionError(
            f"Error parsing fromJson: '{to_string(text)}' is not valid JSON ({exc.msg})"
        ) from None


_ARITY = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "format": (1, 255),
    "join": (1, 2),
    "tojson": (1, 1),
    "fromjson": (1, 1),
    "hashfiles": (1, 255),
    "success": (0, 0),
    "failure": (0, 0),
    "cancelled": (0, 0),
    "always": (0, 0),
}


def _call(name: str, args: list[Any], scope: Scope) -> Any:
    if name in ("success", "failure", "cancelled"):
        if scope.status is None:
            raise ExpressionError(f"Unrecognized function: '{name}'")
        return bool(getattr(scope.status, name)())
    if name == "always":
        return True
    if name == "contains":
        haystack, needle = args
        if isinstance(haystack, list):
            return any(loose_equal(item, needle) for item in haystack)
        return to_string(needle).upper() in to_string(haystack).upper()
    if name == "startswith":
        return to_string(args[0]).upper().startswith(to_string(args[1]).upper())
    if name == "endswith":
        return to_string(args[0]).upper().endswith(to_string(args[1]).upper())
    if name == "format":
        return _format(to_string(args[0]), args[1:])
    if name == "join":
        separator = to_string(args[1]) if len(args) > 1 else ","
        if isinstance(args[0], list):
            return separator.join(to_string(item) for item in args[0])
        return to_string(args[0])
    if name == "tojson":
        return json.dumps(_json_ready(args[0]), indent=2)
    if name == "fromjson":
        return _from_json(args[0])
    if name == "hashfiles":
        if scope.hash_files is None:
            raise ExpressionError("Unrecognized function: 'hashFiles'")
        return scope.hash_files([to_string(arg) for arg in args])
    raise unsupported(f"the function '{name}()'")


def evaluate_node(node: Node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        name = node[1].lower()
        if name not in scope.contexts:
            raise ExpressionError(f"Unrecognized named-value: '{node[1]}'")
        return scope.contexts[name]
    if kind == "index":
        target, key = evaluate_node(node[1], scope), evaluate_node(node[2], scope)
        if isinstance(target, _Filtered):  # `a.*.b`: project over the filtered items
            return _Filtered(v for v in (_lookup(item, key) for item in target) if v is not None)
        return _lookup(target, key)
    if kind == "star":
        target = evaluate_node(node[1], scope)
        items = target if isinstance(target, _Filtered) else [target]
        out = _Filtered()
        for item in items:
            if isinstance(item, list):
                out.extend(item)
            elif isinstance(item, Mapping):
                out.extend(item.values())
        return out
    if kind == "not":
        return not truthy(evaluate_node(node[1], scope))
    if kind == "and":
        left = evaluate_node(node[1], scope)
        return evaluate_node(node[2], scope) if truthy(left) else left
    if kind == "or":
        left = evaluate_node(node[1], scope)
        return left if truthy(left) else evaluate_node(node[2], scope)
    if kind == "cmp":
        return _compare(node[1], evaluate_node(node[2], scope), evaluate_node(node[3], scope))
    if kind == "call":
        name, arg_nodes = node[1], node[2]
        if name not in _ARITY:
            raise unsupported(f"the function '{name}()'")
        low, high = _ARITY[name]
        if not low <= len(arg_nodes) <= high:
            raise ExpressionError(f"Function '{name}' takes {low}..{high} arguments, {len(arg_nodes)} given")
        return _call(name, [evaluate_node(arg, scope) for arg in arg_nodes], scope)
    raise ExpressionError(f"Unknown expression node {kind}")


def evaluate(text: str, scope: Scope) -> Any:
    """Evaluate the text of one expression (without `${{ }}`)."""
    return evaluate_node(parse(text), scope)


def evaluate_condition(text: str, scope: Scope) -> bool:
    """An `if:` expression: without a status function it means `success() && (...)`."""
    node = parse(text)
    result = truthy(evaluate_node(node, scope))
    if not uses_status_function(node):
        if scope.status is None:
            raise ExpressionError("Unrecognized function: 'success'")
        return scope.status.success() and result
    return result
