"""Compiled dataclass methods, cached: almgen's ~70 frozen dataclasses cost a third of its imports.

`dataclasses` writes the source of each generated method (`__init__`, `__eq__`, `__hash__`,
`__setattr__`...) and compiles it with `exec`, about 300 compilations for the spec, plan and
setup models. `install` gives the `dataclasses` module an `exec` that compiles each source text
once and keeps the code object, marshalled, in the user's cache folder (beside the compiled
templates); the code object is exactly what `exec` would have compiled from the same text, so
the classes are the same. A cache that cannot be read or written only means compiling again.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
from types import CodeType
from typing import Any

from generator import __version__

_FORMAT = 2  # {source: marshalled code}: a code object is unmarshalled only when its class is made
_MAX_ENTRIES = 4000
_code: dict[str, bytes] = {}
_used: dict[str, bytes] = {}
_missed: list[bool] = []


def cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"dataclasses-{__version__}-{_FORMAT}-{sys.implementation.cache_tag}.marshal"
    return os.path.join(base, "almgen", name)


def _exec(source: Any, globals_: Any = None, locals_: Any = None, /) -> None:
    if isinstance(source, str):
        text, cached = source, _code.get(source)
        code = _loaded(cached) if cached is not None else None
        if code is None:
            code = compile(text, "<string>", "exec")  # what exec(source) compiles
            _code[text] = marshal.dumps(code)
            _missed.append(True)
        _used[text] = _code[text]
        source = code
    builtins.exec(source, globals_, locals_)


def _loaded(blob: bytes) -> CodeType | None:
    try:
        code = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def install() -> None:
    """From now on, dataclasses compile through the cache; `save` (at exit) stores what was new."""
    import atexit
    import dataclasses

    if getattr(dataclasses, "exec", None) is _exec:
        return
    try:
        with open(cache_file(), "rb") as handle:
            loaded = marshal.load(handle)
        if isinstance(loaded, dict):
            _code.update((k, v) for k, v in loaded.items() if isinstance(k, str) and isinstance(v, bytes))
    except (OSError, EOFError, ValueError, TypeError):
        pass
    setattr(dataclasses, "exec", _exec)  # noqa: B010 (a module global shadowing the builtin)
    atexit.register(save)


def save() -> None:
    """Store the methods compiled in this run, if any was not in the cache (atomic; errors ignored)."""
    if not _missed:
        return
    _missed.clear()
    import tempfile

    path = cache_file()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".dataclasses.", dir=os.path.dirname(path))
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            kept = _code if len(_code) <= _MAX_ENTRIES else _used  # other commands' classes too
            marshal.dump(dict(kept), handle)
        os.replace(tmp, path)
    except (OSError, ValueError):
        if os.path.exists(tmp):
            os.unlink(tmp)
