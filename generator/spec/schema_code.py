"""The spec's JSON Schema as Python code, for `compiled.py`: fastjsonschema's generated code, slimmed.

Run once per schema (the result is cached); imports fastjsonschema and ast, which a run that
finds the cache never loads.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

from generator.spec.compiled import EXCEPTIONS

_EXCEPTIONS_IMPORT = re.compile(r"^from fastjsonschema import .*$", re.MULTILINE)


class _Slim(ast.NodeTransformer):
    """Only the verdict matters here: exceptions lose their details (the schema excerpts that made
    the code three times larger, and slower to load), regular expressions compile when used."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in EXCEPTIONS:
            return ast.Call(func=node.func, args=[], keywords=[])
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        named = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if named == ["REGEX_PATTERNS"] and isinstance(node.value, ast.Dict):
            texts = [_compiled_text(value) for value in node.value.values]
            if all(text is not None for text in texts):
                lazy = ast.Dict(keys=node.value.keys, values=[ast.Constant(t) for t in texts])
                node.value = ast.Call(func=ast.Name("_LazyPatterns", ast.Load()), args=[lazy], keywords=[])
        return node


def _compiled_text(node: ast.expr) -> str | None:
    """`P` of `re.compile(P)`, or None for anything else."""
    match node:
        case ast.Call(
            func=ast.Attribute(value=ast.Name(id="re"), attr="compile"), args=[ast.Constant(value=str(text))]
        ) if not node.keywords:
            return text
    return None


def _imports_decimal(node: ast.stmt) -> bool:
    """`from decimal import Decimal`: `compiled.py` gives the code a stand-in (no spec value is a
    Decimal), so a generate does not import `decimal` for type checks that never match it."""
    return isinstance(node, ast.ImportFrom) and node.module == "decimal"


def schema_code(schema: dict[str, Any], formats: Mapping[str, Callable[[object], bool]]) -> CodeType | None:
    """The code of a module defining `validate_*(data, custom_formats)`, or None if it cannot be made."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    try:
        source = fastjsonschema.compile_to_code(schema, use_default=False, formats=dict(formats))
    except fastjsonschema.JsonSchemaDefinitionException:
        return None
    tree = _Slim().visit(ast.parse(_EXCEPTIONS_IMPORT.sub("", source)))
    tree.body = [node for node in tree.body if not _imports_decimal(node)]
    return compile(ast.fix_missing_locations(tree), "<almgen schema, compiled>", "exec")
