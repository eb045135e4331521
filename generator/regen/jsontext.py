"""JSON for the pre-commit fast path without the `json` package (which imports and compiles `re`).

`loads` runs the C scanner `json.loads` itself runs (`_json.make_scanner`, with `JSONDecoder`'s
defaults) over UTF-8 text; `dumps_strings` writes what `json.dumps(..., separators=(",", ":"),
ensure_ascii=True)` writes for a structure of strings, with the same C string encoder. Anything
else (no `_json`, a value that is not a string) is left to the `json` package. Both are compared
with the json package in tests/test_regen_trust.py.
"""

TYPE_CHECKING = False  # without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Decoder:
    """The attributes `_json.make_scanner` reads: `json.JSONDecoder()`'s."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__

    def __init__(self) -> None:
        self.memo: dict[str, str] = {}


_scanners: list["Callable[[str, int], tuple[object, int]]"] = []


def loads(data: bytes) -> "Any":
    """`json.loads(data)` for UTF-8 `data` (ValueError for anything json.loads would refuse too)."""
    if not _scanners:
        try:
            from _json import make_scanner
        except ImportError:
            import json

            return json.loads(data)
        _scanners.append(make_scanner(_Decoder()))  # type: ignore[arg-type]
    text = data.decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scanners[0](text, start)
    except StopIteration as exc:
        raise ValueError(f"not JSON at {exc.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at {end}")
    return value


def dumps_strings(value: object) -> str:
    """Compact, ASCII-only JSON of a dict, list or tuple of those, or str; TypeError for anything else."""
    try:
        from _json import encode_basestring_ascii as quoted
    except ImportError:
        from json.encoder import py_encode_basestring_ascii as quoted

    def dump(item: object) -> str:
        if isinstance(item, str):
            return quoted(item)
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(dump(x) for x in item) + "]"
        if isinstance(item, dict):
            return "{" + ",".join(f"{dump(k)}:{dump(v)}" for k, v in item.items() if isinstance(k, str)) + "}"
        raise TypeError(f"not a string: {type(item).__name__}")

    if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
        raise TypeError("a key that is not a string")
    return dump(value)
