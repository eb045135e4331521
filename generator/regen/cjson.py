"""JSON for the pre-commit fast path through json's own C functions, without importing `json`.

`import json` imports `re` (json.decoder's and json.scanner's patterns), which costs a clean
`almgen check` two thirds of an interpreter start. The parser and the string escaper below are
the very C functions the `json` module calls (`_json.make_scanner`, `_json.encode_basestring_ascii`),
so the results are json's; a Python without `_json` gets them from `json` itself.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's TYPE_CHECKING, without importing typing (mypy reads it the same)
if TYPE_CHECKING:
    from collections.abc import Callable
    from json.encoder import encode_basestring_ascii as quote
    from typing import Any

    def _make_scanner(context: object) -> Callable[[str, int], tuple[Any, int]]: ...
else:
    try:
        from _json import encode_basestring_ascii as quote
        from _json import make_scanner as _make_scanner
    except ImportError:  # not CPython: `loads` is json.loads
        from json.encoder import encode_basestring_ascii as quote

        _make_scanner = None

__all__ = ["loads", "quote"]

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON almgen writes")


class _Context:
    """What the C scanner reads from a `JSONDecoder`: json.loads's defaults, except that NaN and
    Infinity are refused."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constant)


_scan = None if _make_scanner is None else _make_scanner(_Context())


def loads(text: str) -> Any:
    """`json.loads(text)` for a `str` (NaN and Infinity refused), raising ValueError (or
    RecursionError) where it does."""
    if _scan is None:
        import json

        return json.loads(text, parse_constant=_no_constant)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:  # how the scanner says "no value here"
        raise ValueError(f"expecting a JSON value at character {exc.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at character {end}")
    return value
