"""Load a spec file: bounded, safe, and with the position of every node.

The result is a Document (generator/spec/document.py): plain Python data (dict, list, str, int,
float, bool, None) plus a map from each field path to where it was written, so every later error
can name file:line:column. The file's text is read within bounds by generator/spec/read.py;
`extends:` chains are merged here (maps merge, lists and scalars replace).
"""

from __future__ import annotations

import datetime as dt
import math
from contextlib import suppress
from pathlib import Path
from typing import Any

from generator.errors import Issue, SpecInvalid
from generator.spec import fastload
from generator.spec.document import Document, FieldPath, Position, display_path, format_path
from generator.spec.outside import relative_path_problem
from generator.spec.read import MAX_DEPTH, read_text, text_issues

MAX_NODES = 20_000  # after alias expansion; stops "billion laughs" documents
# ruamel cannot place some nodes (keys merged in with `<<`): those keep their parent's position
_LOOKUP_ERRORS = (KeyError, IndexError, TypeError, AttributeError)


def load_document(spec: Path) -> Document:
    """Load `spec` and every base it extends; raise SpecInvalid with located issues."""
    spec = spec.absolute()
    return _load_chain(spec, chain=[], via=None)


def _load_chain(path: Path, chain: list[Path], via: tuple[Document, FieldPath] | None) -> Document:
    doc = _load_one(path, via)
    extends = doc.data.get("extends") if isinstance(doc.data, dict) else None
    if extends is None:
        return doc
    problem = relative_path_problem(extends) if isinstance(extends, str) and extends.strip() else "no path"
    if problem:
        raise SpecInvalid(
            [
                doc.issue(
                    ("extends",),
                    f"extends must name a file by a relative path: {problem}",
                    "a path to a base spec, relative to this file (letters, digits, spaces and . _ - /)",
                    "extends: ../platform/almgen-defaults.yaml",
                )
            ]
        )
    base_path = (path.parent / extends).resolve()
    seen = [*chain, path.resolve()]
    if base_path in seen:
        cycle = " -> ".join(display_path(p) for p in [*seen, base_path])
        raise SpecInvalid(
            [
                doc.issue(
                    ("extends",),
                    f"extends makes a cycle: {cycle}",
                    "a chain of bases that ends",
                    "remove the extends line from one file of the cycle",
                )
            ]
        )
    base = _load_chain(base_path, seen, via=(doc, ("extends",)))
    return _merge(base, doc)


def _load_one(path: Path, via: tuple[Document, FieldPath] | None) -> Document:
    shown = display_path(path)
    text = read_text(path, via)
    unreadable = text_issues(shown, text)
    if unreadable:
        raise SpecInvalid(unreadable)
    doc = Document(path=path, data=None)
    doc.files[shown] = path
    doc.inputs.append(path)
    doc.data = fastload.parse(text, doc, shown, MAX_NODES, MAX_DEPTH)
    if doc.data is None:  # not certainly plain YAML read alike by 1.1 and 1.2: ruamel reads it
        doc.positions.clear()
        doc.key_positions.clear()
        node = _parse(shown, text)
        builder = _Builder(doc, shown)
        doc.data = builder.convert(node, (), depth=0)
        if builder.issues:
            raise SpecInvalid(builder.issues)
    if not isinstance(doc.data, dict):
        raise SpecInvalid(
            [
                Issue(
                    shown,
                    1,
                    1,
                    "",
                    "the document is not a mapping",
                    "a mapping of fields such as apiVersion: almgen/v1",
                    "start the file with `apiVersion: almgen/v1`",
                )
            ]
        )
    return doc


def _parse(shown: str, text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecInvalid([_yaml_issue(shown, line, column, exc)]) from None
    except YAMLError as exc:
        raise SpecInvalid(
            [Issue(shown, 1, 1, "", f"not valid YAML: {exc}", "valid YAML", "fix the YAML syntax")]
        ) from None
    except RecursionError:
        raise SpecInvalid(
            [
                Issue(
                    shown,
                    1,
                    1,
                    "",
                    "the document is nested too deeply",
                    f"at most {MAX_DEPTH} levels of nesting",
                    "flatten the structure",
                )
            ]
        ) from None
    except Exception as exc:  # ruamel's constructors fail in many ways on tags such as !!set or !!float x
        raise SpecInvalid(
            [
                Issue(
                    shown,
                    1,
                    1,
                    "",
                    f"a tagged value cannot be read ({type(exc).__name__}: {exc})",
                    "plain YAML values without explicit tags such as !!float",
                    "remove the `!!` tags and write plain values",
                )
            ]
        ) from None
    if len(documents) != 1:
        raise SpecInvalid(
            [
                Issue(
                    shown,
                    1,
                    1,
                    "",
                    f"the file holds {len(documents)} YAML documents",
                    "exactly one document",
                    "remove the extra `---` documents",
                )
            ]
        )
    return documents[0]


def _yaml_issue(shown: str, line: int, column: int, exc: Any) -> Issue:
    problem = (getattr(exc, "problem", None) or "").strip()
    context = (getattr(exc, "context", None) or "").strip()
    if "duplicate key" in f"{problem} {context}":
        key = problem.split('"')[1] if problem.count('"') >= 2 else ""
        return Issue(
            shown,
            line,
            column,
            "",
            f"duplicate key {key!r}".replace(" ''", ""),
            "each key once per mapping",
            "remove or merge the repeated key",
        )
    detail = problem or context or "unreadable YAML"
    if context and problem:
        detail = f"{problem} ({context})"
    opened = getattr(exc, "context_mark", None)
    if opened is not None and (opened.line + 1, opened.column + 1) != (line, column):
        detail += f", which started at {opened.line + 1}:{opened.column + 1}"
    return Issue(
        shown,
        line,
        column,
        "",
        f"YAML syntax error: {detail}",
        "valid YAML",
        "check the indentation and quoting near this position",
    )


class _Builder:
    """Turns ruamel's round-trip nodes into plain data, recording positions, within budgets."""

    def __init__(self, doc: Document, shown: str) -> None:
        self.doc = doc
        self.shown = shown
        self.nodes = 0
        self.issues: list[Issue] = []

    def _pos(self, line: int, column: int) -> Position:
        return Position(self.shown, line + 1, column + 1)

    def _fail(self, path: FieldPath, message: str, expected: str, fix: str) -> None:
        pos = self.doc.locate(path)
        raise SpecInvalid([Issue(pos.file, pos.line, pos.column, format_path(path), message, expected, fix)])

    def convert(self, node: Any, path: FieldPath, depth: int) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._fail(
                path,
                f"the document expands to more than {MAX_NODES} nodes",
                "a spec of ordinary size (YAML aliases are expanded)",
                "remove the anchors and aliases that multiply content",
            )
        if depth > MAX_DEPTH:
            self._fail(
                path,
                "the document is nested too deeply",
                f"at most {MAX_DEPTH} levels of nesting",
                "flatten the structure",
            )
        if isinstance(node, CommentedMap):
            return self._mapping(node, path, depth)
        if isinstance(node, CommentedSeq):
            out_list = []
            for index, item in enumerate(node):
                child = (*path, index)
                with suppress(*_LOOKUP_ERRORS):
                    line, column = node.lc.item(index)
                    self.doc.positions[child] = self._pos(line, column)
                out_list.append(self.convert(item, child, depth + 1))
            return out_list
        return self._scalar(node, path)

    def _mapping(self, node: Any, path: FieldPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(key, (dict, list, tuple)) or key is None:
                with suppress(*_LOOKUP_ERRORS):
                    line, column = node.lc.key(key)
                    self.doc.positions[path] = self._pos(line, column)
                self._fail(
                    path,
                    "a mapping key must be plain text",
                    "text keys such as `name:`",
                    "write the key as plain text",
                )
            name = _key_text(key)
            child = (*path, name)
            with suppress(*_LOOKUP_ERRORS):
                line, column = node.lc.key(key)
                self.doc.key_positions[child] = self._pos(line, column)
            with suppress(*_LOOKUP_ERRORS):
                line, column = node.lc.value(key)
                self.doc.positions[child] = self._pos(line, column)
            out[name] = self.convert(value, child, depth + 1)
        return out

    def _scalar(self, value: Any, path: FieldPath) -> Any:
        from ruamel.yaml.scalarbool import ScalarBoolean

        if isinstance(value, ScalarBoolean):
            return bool(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.issues.append(
                    self.doc.issue(
                        path,
                        "not a finite number",
                        "a number such as 5 or 0.2, or quoted text",
                        "write a plain number, or quote the text",
                    )
                )
            return float(value)
        if isinstance(value, (dt.datetime, dt.date)):
            return value.isoformat()
        return str(value)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (dt.date, dt.datetime)):
        return key.isoformat()
    return str(key)


def _merge(base: Document, child: Document) -> Document:
    """`child` over `base`: maps merge key by key, lists and scalars replace."""
    merged = Document(path=child.path, data=None)
    merged.files = {**base.files, **child.files}
    merged.inputs = [*child.inputs, *base.inputs]
    merged.positions = dict(base.positions)
    merged.key_positions = dict(base.key_positions)

    def drop_under(prefix: FieldPath) -> None:
        for table in (merged.positions, merged.key_positions):
            for key in [k for k in table if k[: len(prefix)] == prefix and len(k) > len(prefix)]:
                del table[key]

    def merge(a: Any, b: Any, path: FieldPath) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for key, value in b.items():
                out[key] = merge(a[key], value, (*path, key)) if key in a else value
                if key not in a or not (isinstance(a[key], dict) and isinstance(value, dict)):
                    drop_under((*path, key))
            return out
        return b

    base_data = {k: v for k, v in base.data.items() if k != "extends"}
    merged.data = merge(base_data, child.data, ())
    merged.positions.update(child.positions)
    merged.key_positions.update(child.key_positions)
    return merged
