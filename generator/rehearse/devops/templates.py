"""Compile time: load a pipeline, expand `template:` references and `${{ }}` template expressions.

Supported: stage/job/step/variable templates (paths relative to the including file, `@self`
only), typed `parameters:` (string, number, boolean, object, step/job/stage lists and their
singular forms) with defaults, errors for missing and unknown parameters, `${{ if }}` /
`${{ elseif }}` / `${{ else }}` and `${{ each x in ... }}` in mappings and sequences, key
insertion, and expressions inside strings. `extends:` with a local template is supported;
templates from other repositories are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from generator.rehearse.devops.errors import DevOpsError
from generator.rehearse.devops.expressions import run, to_str, truthy

_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_WHOLE = re.compile(r"^\s*\$\{\{(.*)\}\}\s*$", re.S)
_TYPES = {
    "string",
    "number",
    "boolean",
    "object",
    "step",
    "steplist",
    "job",
    "joblist",
    "stage",
    "stagelist",
    "deployment",
    "deploymentlist",
    "container",
    "containerlist",
    "environment",
    "filepath",
    "pool",
    "secureFile".lower(),
}


class _Loader(yaml.SafeLoader):
    """Keeps every scalar a string, as Azure Pipelines does (`true` and `3` are strings)."""


def _str_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    return None if value in ("", "~", "null") and node.style is None else value


for _tag in ("bool", "int", "float", "null", "timestamp"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _str_scalar)


def load(path: Path) -> Any:
    try:
        return yaml.load(path.read_text("utf-8"), Loader=_Loader)
    except FileNotFoundError as error:
        raise DevOpsError("template file not found", file=str(path)) from error
    except yaml.YAMLError as error:
        raise DevOpsError(f"not valid YAML: {error}", file=str(path)) from error


class Expander:
    def __init__(self, repo: Path, variables: dict[str, str] | None = None) -> None:
        self.repo = repo
        self.variables = dict(variables or {})
        self.warnings: list[str] = []

    # expressions ------------------------------------------------------------------------
    def _eval(self, text: str, scope: dict[str, Any], file: Path) -> Any:
        names = {"parameters": _Warn(scope.get("parameters", {}), self, file), "variables": self.variables}
        names.update({k: v for k, v in scope.items() if k != "parameters"})
        try:
            return run(text.strip(), names)
        except DevOpsError as error:
            raise DevOpsError(f"${{{{ {text.strip()} }}}}: {error}", file=self._rel(file)) from None

    def _rel(self, file: Path) -> str:
        try:
            return str(file.relative_to(self.repo))
        except ValueError:
            return str(file)

    def string(self, text: str, scope: dict[str, Any], file: Path) -> Any:
        whole = _WHOLE.match(text)
        if whole and "${{" not in whole.group(1):
            return self._eval(whole.group(1), scope, file)
        return _EXPR.sub(lambda m: to_str(self._eval(m.group(1), scope, file)), text)

    # structure --------------------------------------------------------------------------
    def node(self, value: Any, scope: dict[str, Any], file: Path) -> Any:
        if isinstance(value, str):
            return self.string(value, scope, file)
        if isinstance(value, list):
            return self.sequence(value, scope, file)
        if isinstance(value, dict):
            return self.mapping(value, scope, file)
        return value

    def _directive(self, key: str) -> tuple[str, str] | None:
        whole = _WHOLE.match(key) if isinstance(key, str) else None
        if not whole:
            return None
        body = whole.group(1).strip()
        for word in ("elseif", "if", "else", "each", "insert"):
            if body == word or body.startswith(word + " ") or body.startswith(word + "("):
                return word, body[len(word) :].strip()
        return "key", body

    def _each(self, rest: str, scope: dict[str, Any], file: Path) -> tuple[str, list[Any]]:
        match = re.match(r"^([A-Za-z_]\w*)\s+in\s+(.+)$", rest, re.S)
        if not match:
            raise DevOpsError(
                f"${{{{ each {rest} }}}}: expected `each NAME in EXPRESSION`", file=self._rel(file)
            )
        items = self._eval(match.group(2), scope, file)
        if isinstance(items, dict):
            return match.group(1), [{"key": k, "value": v} for k, v in items.items()]
        if items is None:
            return match.group(1), []
        return match.group(1), list(items) if isinstance(items, list) else [items]

    def _branch(self, kind: str, rest: str, state: list[bool], scope: dict[str, Any], file: Path) -> bool:
        """Whether this if/elseif/else branch is taken; state[0] is "a previous branch was taken"."""
        if kind == "if":
            state[:] = [truthy(self._eval(rest, scope, file))]
            return state[0]
        if not state:
            raise DevOpsError(f"${{{{ {kind} }}}} without a preceding ${{{{ if }}}}", file=self._rel(file))
        if state[0]:
            return False
        taken = True if kind == "else" else truthy(self._eval(rest, scope, file))
        state[0] = taken
        return taken

    def sequence(self, items: list[Any], scope: dict[str, Any], file: Path) -> list[Any]:
        out: list[Any] = []
        state: list[bool] = []
        for item in items:
            if isinstance(item, dict) and len(item) == 1:
                key, body = next(iter(item.items()))
                directive = self._directive(key)
                if directive and directive[0] in ("if", "elseif", "else"):
                    if self._branch(directive[0], directive[1], state, scope, file):
                        out.extend(self._spliced(body, scope, file))
                    continue
                if directive and directive[0] == "each":
                    name, values = self._each(directive[1], scope, file)
                    for value in values:
                        out.extend(self._spliced(body, {**scope, name: value}, file))
                    state = []
                    continue
            state = []
            if isinstance(item, dict) and "template" in item and set(item) <= {"template", "parameters"}:
                out.extend(self.include(item, scope, file))
                continue
            out.append(self.node(item, scope, file))
        return out

    def _spliced(self, body: Any, scope: dict[str, Any], file: Path) -> list[Any]:
        if body is None:
            return []
        return self.sequence(body if isinstance(body, list) else [body], scope, file)

    def mapping(self, mapping: dict[str, Any], scope: dict[str, Any], file: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        state: list[bool] = []
        for key, value in mapping.items():
            directive = self._directive(key) if isinstance(key, str) else None
            if directive is None:
                state = []
                out[to_str(self.node(key, scope, file))] = self.node(value, scope, file)
                continue
            kind, rest = directive
            if kind in ("if", "elseif", "else"):
                if self._branch(kind, rest, state, scope, file):
                    out.update(self._merged(value, scope, file))
                continue
            state = []
            if kind == "each":
                name, values = self._each(rest, scope, file)
                for item in values:
                    out.update(self._merged(value, {**scope, name: item}, file))
            elif kind == "insert":
                out.update(self._merged(value, scope, file))
            else:  # key insertion: `${{ parameters.name }}: value`
                out[to_str(self._eval(rest, scope, file))] = self.node(value, scope, file)
        return out

    def _merged(self, value: Any, scope: dict[str, Any], file: Path) -> dict[str, Any]:
        result = self.node(value, scope, file)
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise DevOpsError("a conditional inside a mapping must hold a mapping", file=self._rel(file))
        return result

    # templates --------------------------------------------------------------------------
    def include(self, item: dict[str, Any], scope: dict[str, Any], file: Path) -> list[Any]:
        ref = to_str(self.node(item["template"], scope, file))
        if "@" in ref and not ref.endswith("@self"):
            raise DevOpsError(
                f"template {ref!r}: templates from other repositories are not supported", file=self._rel(file)
            )
        ref = ref.removesuffix("@self")
        path = (self.repo / ref.lstrip("/")) if ref.startswith("/") else (file.parent / ref)
        passed = self.node(item.get("parameters") or {}, scope, file)
        document = load(path.resolve())
        if not isinstance(document, dict):
            raise DevOpsError("a template must be a mapping", file=self._rel(path))
        params = self.parameters(document.get("parameters"), passed, path)
        body = [k for k in ("stages", "jobs", "steps", "variables") if k in document]
        if len(body) != 1:
            raise DevOpsError(
                "a template must hold one of stages, jobs, steps, variables", file=self._rel(path)
            )
        expanded = self.node(document[body[0]], {"parameters": params}, path.resolve())
        return expanded if isinstance(expanded, list) else [expanded]

    def parameters(self, declared: Any, passed: Any, file: Path) -> dict[str, Any]:
        passed = passed or {}
        if not isinstance(passed, dict):
            raise DevOpsError("template parameters must be a mapping", file=self._rel(file))
        result: dict[str, Any] = {}
        if isinstance(declared, dict):  # the old form: name: default
            for name, default in declared.items():
                result[name] = passed.get(name, default)
            unknown = set(passed) - set(declared)
        else:
            names: set[str] = set()
            for decl in declared or []:
                name = decl.get("name")
                names.add(name)
                kind = to_str(decl.get("type", "string")).lower()
                if kind not in _TYPES:
                    raise DevOpsError(f"parameter {name}: unknown type {kind!r}", file=self._rel(file))
                if name in passed:
                    value = passed[name]
                elif "default" in decl:
                    value = self.node(decl["default"], {}, file)
                else:
                    raise DevOpsError(
                        f"A value for the '{name}' parameter must be provided.", file=self._rel(file)
                    )
                result[name] = self._typed(name, kind, value, decl.get("values"), file)
            unknown = set(passed) - names
        if unknown:
            raise DevOpsError(f"Unexpected parameter(s) {', '.join(sorted(unknown))}", file=self._rel(file))
        return result

    def _typed(self, name: str, kind: str, value: Any, allowed: Any, file: Path) -> Any:
        if kind == "boolean":
            text = to_str(value).strip().lower()
            if text not in ("true", "false"):
                raise DevOpsError(f"parameter {name}: {value!r} is not a boolean", file=self._rel(file))
            value = text == "true"
        elif kind == "number":
            try:
                number = float(to_str(value))
            except ValueError:
                raise DevOpsError(
                    f"parameter {name}: {value!r} is not a number", file=self._rel(file)
                ) from None
            value = int(number) if number.is_integer() else number
        elif kind == "string":
            if isinstance(value, (dict, list)):
                raise DevOpsError(
                    f"parameter {name}: expected a string, got a {type(value).__name__}", file=self._rel(file)
                )
            value = to_str(value)
        elif kind.endswith("list") and value is not None and not isinstance(value, list):
            raise DevOpsError(f"parameter {name}: expected a {kind}", file=self._rel(file))
        if allowed and not any(to_str(value).lower() == to_str(a).lower() for a in allowed):
            raise DevOpsError(
                f"parameter {name}: {value!r} is not one of the allowed values", file=self._rel(file)
            )
        return value


class _Warn(dict[str, Any]):
    """`parameters` in an expression: an undeclared name is null, as Azure has it, with a warning."""

    def __init__(self, values: dict[str, Any], expander: Expander, file: Path) -> None:
        super().__init__(values)
        self.expander = expander
        self.file = file

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, default)

    def __missing__(self, key: str) -> Any:
        return None

    def __contains__(self, key: object) -> bool:
        if not super().__contains__(key):
            note = f"{self.expander._rel(self.file)}: parameters.{key} is not declared (it expands to '')"
            if note not in self.expander.warnings:
                self.expander.warnings.append(note)
            return False
        return True


def expand_file(
    repo: Path, pipeline: str, variables: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The fully expanded pipeline and the warnings met while expanding it."""
    path = (repo / pipeline).resolve()
    document = load(path)
    if not isinstance(document, dict):
        raise DevOpsError("a pipeline must be a mapping", file=pipeline)
    expander = Expander(repo.resolve(), variables)
    top_vars = document.get("variables")
    if isinstance(top_vars, dict):
        expander.variables.update({k: to_str(v) for k, v in top_vars.items() if "${{" not in k})
    params = expander.parameters(document.get("parameters"), {}, path)
    if "extends" in document:
        extends = document["extends"]
        body = expander.include(
            {"template": extends.get("template"), "parameters": extends.get("parameters")},
            {"parameters": params},
            path,
        )
        key = (
            "stages"
            if body and isinstance(body[0], dict) and "stage" in body[0]
            else (
                "jobs"
                if body and isinstance(body[0], dict) and ("job" in body[0] or "deployment" in body[0])
                else "steps"
            )
        )
        document = {**{k: v for k, v in document.items() if k != "extends"}, key: body}
    result = expander.node(
        {k: v for k, v in document.items() if k != "parameters"}, {"parameters": params}, path
    )
    return result, expander.warnings
