"""The one Jinja environment: strict, no autoescape, escaping filters, template packs first."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2

from generator import __version__
from generator.package_data import data_dir
from generator.render.escape import FILTERS, expression


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates, cached per almgen version in the user's cache folder (if writable)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "almgen", f"jinja-{__version__}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(folder)


def environment(pack: Path | None = None) -> jinja2.Environment:
    """Templates from `pack` (a platform team's template pack) shadow the built-in ones.

    A pack template may `{% extends "builtin:<path>" %}` to override only named blocks.
    """
    builtin = jinja2.FileSystemLoader(str(data_dir("templates")))
    loaders: list[jinja2.BaseLoader] = [builtin]
    if pack is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(pack)))
    loader = jinja2.PrefixLoader({"builtin": builtin}, delimiter=":")
    env = jinja2.Environment(
        bytecode_cache=_bytecode_cache(),
        loader=jinja2.ChoiceLoader([*loaders, loader]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is YAML and Bicep, escaped by filters, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals["expr"] = expression
    return env
