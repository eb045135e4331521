"""`${{ }}` in workflow values: interpolation into strings, whole-value expressions, `if:` conditions."""

from __future__ import annotations

from typing import Any

from generator.rehearse.github.errors import ExpressionError
from generator.rehearse.github.expressions import Scope, evaluate, evaluate_condition, to_string

OPEN, CLOSE = "${{", "}}"


def _segments(text: str) -> list[tuple[bool, str]]:
    """Split text into literal parts (False) and expression parts (True), honouring 'strings'."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            parts.append((False, text[pos:]))
            return parts
        parts.append((False, text[pos:start]))
        index, quoted = start + len(OPEN), False
        while index < len(text):
            if text[index] == "'":
                quoted = not quoted
            elif not quoted and text.startswith(CLOSE, index):
                break
            index += 1
        else:
            raise ExpressionError(
                f"The expression is not closed. An unescaped ${{{{ sequence was found: '{text[start:]}'"
            )
        parts.append((True, text[start + len(OPEN) : index].strip()))
        pos = index + len(CLOSE)


def has_expression(value: Any) -> bool:
    return isinstance(value, str) and OPEN in value


def interpolate(text: str, scope: Scope) -> str:
    """A string with `${{ }}` parts replaced by their values as strings."""
    if OPEN not in text:
        return text
    return "".join(to_string(evaluate(part, scope)) if is_expr else part for is_expr, part in _segments(text))


def value(raw: Any, scope: Scope) -> Any:
    """A workflow value: one whole `${{ }}` keeps the expression's type; otherwise a string (or as is)."""
    if isinstance(raw, str):
        if OPEN not in raw:
            return raw
        parts = [part for part in _segments(raw) if part != (False, "")]
        if len(parts) == 1 and parts[0][0]:
            return evaluate(parts[0][1], scope)
        return interpolate(raw, scope)
    if isinstance(raw, dict):
        return {key: value(item, scope) for key, item in raw.items()}
    if isinstance(raw, list):
        return [value(item, scope) for item in raw]
    if isinstance(raw, bool) or raw is None:
        return raw
    if isinstance(raw, (int, float)):
        return float(raw)
    return raw


def string_map(raw: Any, scope: Scope) -> dict[str, str]:
    """`env:` and `with:` maps: every value evaluated, then a string."""
    if raw is None:
        return {}
    if isinstance(raw, str) and OPEN in raw:
        evaluated = value(raw, scope)
        if not isinstance(evaluated, dict):
            raise ExpressionError(f"A mapping was expected, got '{to_string(evaluated)}'")
        return {str(k): to_string(v) for k, v in evaluated.items()}
    if not isinstance(raw, dict):
        raise ExpressionError(f"A mapping was expected, got {raw!r}")
    out: dict[str, str] = {}
    for key, item in raw.items():
        out[str(key)] = to_string(value(item, scope))
    return out


def condition(raw: Any, scope: Scope) -> bool:
    """An `if:`: a bare expression, one `${{ }}` around it, or (GitHub's trap) text with `${{ }}`
    inside, which becomes a non-empty string and so is always true."""
    if raw is None:
        return evaluate_condition("success()", scope)
    if isinstance(raw, bool):
        return evaluate_condition("true" if raw else "false", scope)
    if isinstance(raw, (int, float)):
        return evaluate_condition(to_string(float(raw)), scope)
    text = str(raw).strip()
    if OPEN in text:
        parts = [part for part in _segments(text) if part != (False, "")]
        if len(parts) == 1 and parts[0][0]:
            return evaluate_condition(parts[0][1], scope)
        rendered = interpolate(text, scope)
        return evaluate_condition("true" if rendered else "false", scope)
    return evaluate_condition(text, scope)
