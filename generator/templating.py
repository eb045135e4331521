"""The one Jinja environment: strict, no autoescape, escaping filters, template packs first."""

from __future__ import annotations

from pathlib import Path

import jinja2

from generator.escape import FILTERS, expression
from generator.resources import data_dir


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
