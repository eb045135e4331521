"""`strategy.matrix`: the combinations (product, exclude, include) in GitHub's order."""

from __future__ import annotations

import itertools
import json
from typing import Any

from generator.rehearse.github import templates
from generator.rehearse.github.errors import ExpressionError
from generator.rehearse.github.expressions import Scope, loose_equal, to_number, to_string, truthy


def _matches(combo: dict[str, Any], entry: dict[str, Any]) -> bool:
    return all(key in combo and _same(combo[key], value) for key, value in entry.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return bool(a == b)
    return loose_equal(a, b)


def expand(raw_strategy: Any, scope: Scope) -> tuple[list[dict[str, Any]] | None, bool, int]:
    """(combinations or None without a matrix, fail-fast, max-parallel)."""
    if raw_strategy is None:
        return None, True, 0
    strategy = templates.value(raw_strategy, scope)
    if not isinstance(strategy, dict):
        raise ExpressionError("strategy must be a mapping")
    fail_fast = truthy(strategy.get("fail-fast", True))
    max_parallel = int(to_number(strategy.get("max-parallel", 0)))
    matrix = strategy.get("matrix")
    if matrix is None:
        return None, fail_fast, max_parallel
    if not isinstance(matrix, dict):
        raise ExpressionError(f"the matrix must be a mapping, got '{to_string(matrix)}'")
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        raise ExpressionError("matrix include and exclude must be lists")
    keys = [key for key in matrix if key not in ("include", "exclude")]
    for key in keys:
        if not isinstance(matrix[key], list) or not matrix[key]:
            raise ExpressionError(f"Matrix vector '{key}' does not contain any values")
    combos: list[dict[str, Any]] = []
    if keys:
        for values in itertools.product(*(matrix[key] for key in keys)):
            combos.append(dict(zip(keys, values, strict=True)))
    combos = [
        combo
        for combo in combos
        if not any(_matches(combo, entry) for entry in exclude if isinstance(entry, dict))
    ]
    originals = [dict(combo) for combo in combos]
    for entry in include:
        if not isinstance(entry, dict):
            raise ExpressionError("each matrix include must be a mapping")
        added = False
        for combo, original in zip(combos, originals, strict=True):
            overlap = {k: v for k, v in entry.items() if k in original}
            if all(_same(original[k], v) for k, v in overlap.items()) and keys:
                combo.update({k: v for k, v in entry.items() if k not in original})
                added = True
        if not added:
            combos.append(dict(entry))
            originals.append(dict(entry))
    if not combos:
        raise ExpressionError("Matrix must define at least one vector")
    return combos, fail_fast, max_parallel


def leg_name(combo: dict[str, Any]) -> str:
    parts = [
        to_string(v) if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)
        for v in combo.values()
    ]
    return f"({', '.join(parts)})"
