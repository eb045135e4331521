"""The built-in templates, compiled to Python once per version of them and of almgen.

Rendering them needs neither Jinja nor its import (about 130 M instructions): `aot.py` compiles
all of them, with Jinja's parser, on the first generate after an install or a change to a
template, and the code is cached beside the compiled schema. A template pack renders through
Jinja instead (`jinja.py`), in its sandbox.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import CodeType
from typing import Any

from generator import __version__, codecache
from generator.package_data import data_dir
from generator.render import aot_helpers

Template = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


def render_builtin(name: str, context: dict[str, Any]) -> str:
    return templates()[name]({**aot_helpers.GLOBALS, **context})[0]


@cache
def templates() -> dict[str, Template]:
    """{name: the compiled template}: from the cache, or compiled now (and cached)."""
    folder = data_dir("templates")
    files = _files(folder)
    path = codecache.entry("templates", _key(files))
    code = codecache.read(path) if path else None
    if code is not None:
        try:
            return _load(code)
        except Exception:  # a broken cache entry: compile again below
            pass
    code = _compile_files(files)
    if path:
        codecache.write(path, code)
    return _load(code)


def _compile_files(files: list[tuple[str, str, os.stat_result]]) -> CodeType:
    from generator.render.aot import compile_templates

    sources = []
    for name, path, _ in files:
        if not name.endswith(".j2"):
            continue  # the compiler itself, part of the key
        with open(path, encoding="utf-8") as handle:
            sources.append((name, handle.read()))
    return compile(compile_templates(sources), "<almgen's compiled templates>", "exec")


def _load(code: CodeType) -> dict[str, Template]:
    namespace = aot_helpers.namespace()
    exec(code, namespace)  # almgen's own templates, compiled by aot.py
    found: dict[str, Template] = namespace["TEMPLATES"]
    return found


def _files(folder: Path) -> list[tuple[str, str, os.stat_result]]:
    """(name, path, stat) of every built-in template, and of the compiler as `aot.py`, sorted.

    `project/` is cookiecutter's scaffold, not a template of ours.
    """
    found = [("aot.py", os.path.join(os.path.dirname(__file__), "aot.py"))]
    for top, folders, names in os.walk(folder):
        if top == str(folder) and "project" in folders:
            folders.remove("project")
        for name in names:
            if name.endswith(".j2"):
                path = os.path.join(top, name)
                found.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
    return sorted((name, path, os.stat(path)) for name, path in found)


def _key(files: list[tuple[str, str, os.stat_result]]) -> str:
    """A digest of each template's and the compiler's name, size and modification time, as
    Python checks a source file against its byte code, and of the almgen and Python versions."""
    text = f"{__version__}\0{sys.implementation.cache_tag}"
    for name, _, stat in files:
        text += f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()
