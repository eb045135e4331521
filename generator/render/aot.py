"""Built-in templates compiled ahead of time to plain Python, so that a generate needs no Jinja.

Jinja stays the reference. It parses every template here, so the syntax, the whitespace control
and the trimmed blocks are Jinja's own, and it renders every template of a template pack. This
module turns the parse tree of each built-in template into one Python function that prints the
same text through `aot_helpers`, for the part of Jinja the built-in templates use. Anything else
(`extends`, a filter or test without a helper, a slice, `caller`...) is refused with the
template's name and line when the templates are compiled, never half-translated.
`tests/test_compiled_templates.py` compiles every template and renders every sample both ways.

Scoping is Jinja's: a `for` body, a macro and a block are scopes; a name set in one is not seen
outside it; `if` is not a scope. Each binding gets its own Python name, first holding the value
the name had outside (again at each iteration of a loop), so a `set` in a loop never changes the
name after it, nor in the next iteration. Names a template does not bind come from its context,
looked up once when its function starts.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from jinja2 import nodes

from generator.render.aot_helpers import FILTERS, TESTS

_COMPARE = {
    "eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in",
}  # fmt: skip
_BINARY: dict[type[nodes.Node], str] = {
    nodes.Add: "+", nodes.Sub: "-", nodes.Mul: "*", nodes.Div: "/", nodes.FloorDiv: "//", nodes.Mod: "%",
}  # fmt: skip
_LOOP = {
    "index0": "{i}", "index": "({i} + 1)", "first": "({i} == 0)", "last": "({i} == {n} - 1)",
    "length": "{n}", "revindex": "({n} - {i})", "revindex0": "({n} - {i} - 1)",
}  # fmt: skip
_RESERVED = frozenset({"ctx", "out", "w"})  # the compiled functions' own locals
# module-level code of the compiled templates: render one, or import one's macros (cached, as
# Jinja caches a template's module imported without context)
_PRELUDE = """\
def _render(name, context):
    return TEMPLATES[name](context)[0]


_MODULES = {}


def _module(name):
    if name not in _MODULES:
        _MODULES[name] = TEMPLATES[name](dict(GLOBALS))[1]
    return _MODULES[name]
"""


class Unsupported(Exception):
    """A construct this compiler does not translate, with the template and line it is on."""


@dataclass
class _Scope:
    parent: _Scope | None
    names: dict[str, str] = field(default_factory=dict)  # template name -> Python name
    loop: tuple[str, str] | None = None  # the innermost loop's index and length

    def find(self, name: str) -> str | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> dict[str, str]:
        """Every bound name seen from here, the innermost binding of each."""
        chain = [] if self.parent is None else [self.parent.visible()]
        return {k: v for names in [*chain, self.names] for k, v in names.items()}

    def innermost_loop(self) -> tuple[str, str] | None:
        scope: _Scope | None = self
        while scope is not None and scope.loop is None:
            if "loop" in scope.names:
                return None
            scope = scope.parent
        return None if scope is None else scope.loop


def compile_templates(sources: Iterable[tuple[str, str]]) -> str:
    """Python source defining `TEMPLATES`: {name: function(context) -> (text, exports)}.

    `sources` are (name, template text) pairs; the names are those templates import by.
    """
    from generator.render.jinja import environment  # the lexer and parser settings of rendering

    env = environment()
    parts = [_PRELUDE]
    table = []
    for index, (name, text) in enumerate(sources):
        function = f"template_{index}"
        parts.append("\n".join(_Template(name).function(function, env.parse(text, name))))
        table.append(f"    {name!r}: {function},")
    parts.append("TEMPLATES = {\n" + "\n".join(table) + "\n}\n")
    return "\n\n".join(parts)


class _Template:
    """The Python function of one template."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0
        self.context: dict[str, str] = {}  # names resolved from the context at the start
        self.exported: set[str] = set()  # top-level macros and sets: what `from ... import` gets

    def function(self, function: str, tree: nodes.Template) -> list[str]:
        root = _Scope(None)
        self._bind(tree.body, root, exports=True)
        self._body(tree.body, root)
        exports = ", ".join(f"{name!r}: {root.names[name]}" for name in sorted(self.exported))
        head = [f"def {function}(ctx):", f"    # {self.name}", "    out = []", "    w = out.append"]
        head += [f"    {python} = _resolve(ctx, {name!r})" for name, python in self.context.items()]
        return [*head, *self.lines, f"    return ''.join(out), {{{exports}}}", ""]

    # helpers

    def _fail(self, node: nodes.Node, what: str) -> Unsupported:
        return Unsupported(f"{self.name}:{node.lineno}: {what} is not compiled for built-in templates")

    def _emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def _fresh(self, hint: str) -> str:
        self.count += 1
        return f"v{self.count}_{hint}"

    def _lookup(self, name: str, scope: _Scope) -> str:
        found = scope.find(name)
        if found is not None:
            return found
        if name not in self.context:
            self.context[name] = self._fresh(name)
        return self.context[name]

    def _bind(self, body: list[nodes.Node], scope: _Scope, exports: bool = False) -> None:
        """Give each name `body` stores a Python name in `scope`, holding its outer value first."""
        outer = scope.parent
        for node, name in _stores(body):
            if name in scope.names:
                continue
            before = self._lookup(name, outer) if outer is not None else None
            scope.names[name] = self._fresh(name)
            self._emit(f"{scope.names[name]} = {before or f'_resolve(ctx, {name!r})'}")
            if exports and not name.startswith("_") and not isinstance(node, nodes.FromImport):
                self.exported.add(name)

    def _body(self, body: list[nodes.Node], scope: _Scope) -> None:
        start = len(self.lines)
        for node in body:
            visit = getattr(self, f"_stmt_{type(node).__name__}", None)
            if visit is None:
                raise self._fail(node, f"the {type(node).__name__} statement")
            visit(node, scope)
        if len(self.lines) == start:
            self._emit("pass")

    def _block(self, header: str, body: list[nodes.Node], scope: _Scope) -> None:
        self._emit(header)
        self.depth += 1
        self._body(body, scope)
        self.depth -= 1

    # statements

    def _stmt_Output(self, node: nodes.Output, scope: _Scope) -> None:
        """One `w(...)` per output: its text and values as one %-format (`%s` is `str()`)."""
        text, values = "", []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                text += child.data.replace("%", "%%")
            else:
                text += "%s"
                values.append(self._expr(child, scope))
        if not values:
            self._emit(f"w({text.replace('%%', '%')!r})")
        elif text == "%s":
            self._emit(f"w(str({values[0]}))")
        else:
            self._emit(f"w({text!r} % ({''.join(f'{value}, ' for value in values)}))")

    def _stmt_If(self, node: nodes.If, scope: _Scope) -> None:
        self._block(f"if {self._expr(node.test, scope)}:", node.body, scope)
        for branch in node.elif_:
            self._block(f"elif {self._expr(branch.test, scope)}:", branch.body, scope)
        if node.else_:
            self._block("else:", node.else_, scope)

    def _stmt_For(self, node: nodes.For, scope: _Scope) -> None:
        if node.recursive:
            raise self._fail(node, "a recursive loop")
        items, index, length = self._fresh("items"), self._fresh("index"), self._fresh("length")
        source = self._expr(node.iter, scope)
        inner = _Scope(scope, loop=(index, length))
        target = self._target(node.target, inner)
        if node.test is not None:  # `loop` is not defined in a loop's filter, as in Jinja
            test = self._expr(node.test, _Scope(scope, dict(inner.names)))
            self._emit(f"{items} = [{target} for {target} in {source} if {test}]")
        else:
            self._emit(f"{items} = list({source})")
        self._emit(f"{length} = len({items})")
        self._emit(f"for {index}, {target} in enumerate({items}):")
        self.depth += 1
        self._bind(node.body, inner)  # each iteration starts from the outer values, as in Jinja
        self._body(node.body, inner)
        self.depth -= 1
        if node.else_:
            self._block(f"if not {items}:", node.else_, scope)

    def _target(self, node: nodes.Node, scope: _Scope) -> str:
        """A loop's target names, bound in the loop's scope: `v3_key` or `(v3_key, v4_value)`."""
        if isinstance(node, nodes.Name):
            scope.names[node.name] = self._fresh(node.name)
            return scope.names[node.name]
        if isinstance(node, nodes.Tuple) and all(isinstance(item, nodes.Name) for item in node.items):
            return "(" + ", ".join(self._target(item, scope) for item in node.items) + ",)"
        raise self._fail(node, "a loop target other than names")

    def _stmt_Assign(self, node: nodes.Assign, scope: _Scope) -> None:
        names = _names(node.target)
        if not names:
            raise self._fail(node, "a `set` of anything but names")
        targets = ", ".join(self._lookup(n.name, scope) for n in names)
        self._emit(f"{targets} = {self._expr(node.node, scope)}")

    def _stmt_Macro(self, node: nodes.Macro, scope: _Scope) -> None:
        if scope.parent is not None:
            raise self._fail(node, "a macro inside a loop, macro or block")
        params = [arg.name for arg in node.args]
        for param in params:
            if param in _RESERVED or param.startswith("_") or keyword.iskeyword(param):
                raise self._fail(node, f"the macro parameter name {param!r}")
        inner = _Scope(scope)
        self._emit(f"def {scope.names[node.name]}({', '.join(f'{p}=_MISSING' for p in params)}):")
        self.depth += 1
        first_default = len(params) - len(node.defaults)
        for position, param in enumerate(params):
            if position >= first_default:  # evaluated at the call, seeing the arguments before it
                default = self._expr(node.defaults[position - first_default], inner)
            else:
                default = f"_undefined('the macro argument {param}')"
            inner.names[param] = python = self._fresh(param)
            self._emit(f"{python} = {default} if {param} is _MISSING else {param}")
        self._bind(node.body, inner)
        self._emit("out = []")
        self._emit("w = out.append")
        self._body(node.body, inner)
        self._emit("return ''.join(out)")
        self.depth -= 1

    def _stmt_FromImport(self, node: nodes.FromImport, scope: _Scope) -> None:
        if node.with_context or not isinstance(node.template, nodes.Const):
            raise self._fail(node, "an import with context or of a computed name")
        module = self._fresh("module")
        self._emit(f"{module} = _module({node.template.value!r})")
        for entry in node.names:
            name, alias = entry if isinstance(entry, tuple) else (entry, entry)
            self._emit(f"{scope.find(alias)} = {module}[{name!r}]")

    def _stmt_Include(self, node: nodes.Include, scope: _Scope) -> None:
        if node.ignore_missing or not isinstance(node.template, nodes.Const):
            raise self._fail(node, "an include that may be missing or of a computed name")
        context = "dict(GLOBALS)"
        if node.with_context:
            local = ", ".join(f"{name!r}: {python}" for name, python in scope.visible().items())
            context = f"{{**ctx, {local}}}"
        self._emit(f"w(_render({node.template.value!r}, {context}))")

    def _stmt_Block(self, node: nodes.Block, scope: _Scope) -> None:
        if node.scoped or node.required:
            raise self._fail(node, "a scoped or required block")
        inner = _Scope(scope)  # a template of our own extends none: the block prints in place
        self._bind(node.body, inner)
        self._body(node.body, inner)

    # expressions

    def _expr(self, node: nodes.Node, scope: _Scope) -> str:
        visit = getattr(self, f"_expr_{type(node).__name__}", None)
        if visit is not None:
            return str(visit(node, scope))
        operator = _BINARY.get(type(node))
        if operator is None:
            raise self._fail(node, f"the expression {type(node).__name__}")
        assert isinstance(node, nodes.BinExpr)
        return f"({self._expr(node.left, scope)} {operator} {self._expr(node.right, scope)})"

    def _expr_Name(self, node: nodes.Name, scope: _Scope) -> str:
        if node.name in ("loop", "caller", "varargs", "kwargs") and scope.find(node.name) is None:
            raise self._fail(node, f"`{node.name}` as a value")
        return self._lookup(node.name, scope)

    def _expr_Const(self, node: nodes.Const, _scope: _Scope) -> str:
        return repr(node.value)

    def _expr_Getattr(self, node: nodes.Getattr, scope: _Scope) -> str:
        loop = scope.innermost_loop()
        if isinstance(node.node, nodes.Name) and node.node.name == "loop" and loop is not None:
            if node.attr not in _LOOP:
                raise self._fail(node, f"`loop.{node.attr}`")
            return _LOOP[node.attr].format(i=loop[0], n=loop[1])
        return f"_attr({self._expr(node.node, scope)}, {node.attr!r})"

    def _expr_Getitem(self, node: nodes.Getitem, scope: _Scope) -> str:
        if isinstance(node.arg, nodes.Slice):
            raise self._fail(node, "a slice")
        return f"_item({self._expr(node.node, scope)}, {self._expr(node.arg, scope)})"

    def _arguments(self, node: nodes.Call | nodes.Filter | nodes.Test, scope: _Scope) -> list[str]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise self._fail(node, "`*args` or `**kwargs` in a call")
        return [self._expr(arg, scope) for arg in node.args] + [
            f"{kwarg.key}={self._expr(kwarg.value, scope)}" for kwarg in node.kwargs
        ]

    def _expr_Call(self, node: nodes.Call, scope: _Scope) -> str:
        return f"{self._expr(node.node, scope)}({', '.join(self._arguments(node, scope))})"

    def _expr_Filter(self, node: nodes.Filter, scope: _Scope) -> str:
        if node.name not in FILTERS or node.node is None:
            raise self._fail(node, f"the filter {node.name!r}")
        arguments = [self._expr(node.node, scope), *self._arguments(node, scope)]
        return f"F_{node.name}({', '.join(arguments)})"

    def _expr_Test(self, node: nodes.Test, scope: _Scope) -> str:
        if node.name not in TESTS:
            raise self._fail(node, f"the test {node.name!r}")
        arguments = [self._expr(node.node, scope), *self._arguments(node, scope)]
        return f"T_{node.name}({', '.join(arguments)})"

    def _expr_Compare(self, node: nodes.Compare, scope: _Scope) -> str:
        text = self._expr(node.expr, scope)
        for operand in node.ops:
            text += f" {_COMPARE[operand.op]} {self._expr(operand.expr, scope)}"
        return f"({text})"

    def _expr_Not(self, node: nodes.Not, scope: _Scope) -> str:
        return f"(not {self._expr(node.node, scope)})"

    def _expr_Neg(self, node: nodes.Neg, scope: _Scope) -> str:
        return f"(-{self._expr(node.node, scope)})"

    def _expr_And(self, node: nodes.And, scope: _Scope) -> str:
        return f"({self._expr(node.left, scope)} and {self._expr(node.right, scope)})"

    def _expr_Or(self, node: nodes.Or, scope: _Scope) -> str:
        return f"({self._expr(node.left, scope)} or {self._expr(node.right, scope)})"

    def _expr_CondExpr(self, node: nodes.CondExpr, scope: _Scope) -> str:
        # Jinja gives a plain (not strict) Undefined when there is no else: it prints as ""
        otherwise = "''" if node.expr2 is None else self._expr(node.expr2, scope)
        return f"({self._expr(node.expr1, scope)} if {self._expr(node.test, scope)} else {otherwise})"

    def _expr_Concat(self, node: nodes.Concat, scope: _Scope) -> str:
        return "(" + " + ".join(f"str({self._expr(part, scope)})" for part in node.nodes) + ")"

    def _expr_List(self, node: nodes.List, scope: _Scope) -> str:
        return "[" + ", ".join(self._expr(part, scope) for part in node.items) + "]"

    def _expr_Tuple(self, node: nodes.Tuple, scope: _Scope) -> str:
        return "(" + "".join(f"{self._expr(part, scope)}, " for part in node.items) + ")"

    def _expr_Dict(self, node: nodes.Dict, scope: _Scope) -> str:
        pairs = (f"{self._expr(pair.key, scope)}: {self._expr(pair.value, scope)}" for pair in node.items)
        return "{" + ", ".join(pairs) + "}"


def _stores(body: list[nodes.Node]) -> Iterator[tuple[nodes.Node, str]]:
    """The names `body` binds in its own scope: sets, macros, imports (not inside loops,
    macros or blocks, which are scopes of their own)."""
    for node in body:
        if isinstance(node, nodes.Assign):
            yield from ((node, name.name) for name in _names(node.target))
        elif isinstance(node, nodes.Macro):
            yield node, node.name
        elif isinstance(node, nodes.FromImport):
            yield from ((node, e[1] if isinstance(e, tuple) else e) for e in node.names)
        elif isinstance(node, nodes.If):
            yield from _stores(node.body)
            for branch in node.elif_:
                yield from _stores(branch.body)
            yield from _stores(node.else_)


def _names(target: nodes.Node) -> list[nodes.Name]:
    """The names a `set` assigns (`a`, or `a, b`); [] when it assigns anything else."""
    items = [target] if isinstance(target, nodes.Name) else getattr(target, "items", [])
    return items if items and all(isinstance(item, nodes.Name) for item in items) else []
