"""A spec read by libyaml (PyYAML's C parser) when that certainly gives what ruamel would.

ruamel's round-trip loader (`load.py`) is the reference: it reads YAML 1.2 and explains every
syntax error with its line and column, but it is pure Python and, with its import, about a fifth
of a `generate`. Most specs are plain YAML: mappings, sequences and scalars, without anchors,
aliases, tags, directives or merge keys. For those, the parser's events already carry each
node's line and column, and the scalars resolve by YAML 1.2's rules (ruamel's, copied below) to
the same values. `parse` answers None at the first sign of anything else (an anchor, a tag, a
key written twice, a scalar that YAML 1.1 and 1.2 read differently, a number in any but the
plainest form, a date, a syntax error, no libyaml): then ruamel reads the spec, so a spec is
never read two ways. tests/spec/test_fastload.py compares both readers on every spec in the
repository and on hostile ones.
"""

from __future__ import annotations

import re
from typing import Any

from generator.spec.document import Document, FieldPath, Position

# YAML 1.2 plain scalars that are not text, as ruamel's VersionedResolver reads them (1.2)
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
_NULL = re.compile(r"~|null|Null|NULL")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")  # the plain decimal form; every other int form: ruamel
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")  # likewise for floats
_OTHER = re.compile(  # anything else ruamel does not read as text (numbers, dates, <<, =, !, &, *)
    r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+
    |<<|=|!|&|\*
    |[0-9][0-9][0-9][0-9]-.*""",
    re.X,
)
_OTHER_STARTS = frozenset("-+.0123456789<=!&*")  # the first characters _OTHER can match
# characters whose reading differs between YAML 1.1 (libyaml) and 1.2, or that escape: ruamel reads
_DOUBTFUL = ("\\", "\x85", "\u2028", "\u2029", "\ufeff")


class _Fallback(Exception):
    """Not certainly read as ruamel reads it."""


def parse(text: str, doc: Document, shown: str, max_nodes: int, max_depth: int) -> Any:
    """The spec's data (positions recorded in `doc`), or None when ruamel must read it."""
    if any(c in text for c in _DOUBTFUL):
        return None
    try:
        import yaml

        loader = yaml.CSafeLoader
    except (ImportError, AttributeError):
        return None
    try:
        events = list(yaml.parse(text, Loader=loader))
    except Exception:  # a syntax error: ruamel explains it
        return None
    try:
        return _Reader(events, doc, shown, max_nodes, max_depth).document()
    except (_Fallback, IndexError, RecursionError):
        return None


class _Reader:
    def __init__(self, events: list[Any], doc: Document, shown: str, max_nodes: int, max_depth: int) -> None:
        import yaml

        self.events = events
        self.at = 0
        self.doc = doc
        self.shown = shown
        self.nodes = 0
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.scalar = yaml.ScalarEvent
        self.mapping = yaml.MappingStartEvent
        self.sequence = yaml.SequenceStartEvent
        self.document_start = yaml.DocumentStartEvent
        self.sequence_end = yaml.SequenceEndEvent
        self.mapping_end = yaml.MappingEndEvent

    def _next(self) -> Any:
        event = self.events[self.at]
        self.at += 1
        return event

    def document(self) -> Any:
        import yaml

        self._next()  # StreamStart
        start = self._next()
        if not isinstance(start, self.document_start) or start.version or start.tags:
            raise _Fallback
        data = self.node(self._next(), (), 0)
        if not isinstance(self._next(), yaml.DocumentEndEvent):
            raise _Fallback
        if not isinstance(self._next(), yaml.StreamEndEvent) or self.at != len(self.events):
            raise _Fallback  # another document: ruamel counts them
        return data

    def _position(self, event: Any) -> Position:
        mark = event.start_mark
        return Position(self.shown, mark.line + 1, mark.column + 1)

    def node(self, event: Any, path: FieldPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.max_nodes or depth > self.max_depth:
            raise _Fallback  # ruamel's reader reports it
        if getattr(event, "anchor", None) is not None or getattr(event, "tag", None) is not None:
            raise _Fallback
        if isinstance(event, self.scalar):
            return _scalar(event)
        if isinstance(event, self.sequence):
            items: list[Any] = []
            while not isinstance(item := self._next(), self.sequence_end):
                child = (*path, len(items))
                self.doc.positions[child] = self._position(item)
                items.append(self.node(item, child, depth + 1))
            return items
        if isinstance(event, self.mapping):
            out: dict[str, Any] = {}
            while not isinstance(key := self._next(), self.mapping_end):
                if not isinstance(key, self.scalar) or key.anchor is not None or key.tag is not None:
                    raise _Fallback
                name = _scalar(key)
                if isinstance(name, bool):
                    name = "true" if name else "false"
                if not isinstance(name, str) or name in out:
                    raise _Fallback  # a key ruamel reads as a number or null, or written twice
                child = (*path, name)
                self.doc.key_positions[child] = self._position(key)
                value = self._next()
                self.doc.positions[child] = self._position(value)
                out[name] = self.node(value, child, depth + 1)
            return out
        raise _Fallback  # an alias


def _scalar(event: Any) -> Any:
    value: str = event.value
    if event.style:  # quoted or a block scalar: text
        return value
    if _BOOL.fullmatch(value):
        return value[0] in "tT"
    if not value:  # empty: libyaml and ruamel place it differently
        raise _Fallback
    if _NULL.fullmatch(value):
        return None
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value[0] in _OTHER_STARTS and _OTHER.fullmatch(value):
        raise _Fallback
    return value
