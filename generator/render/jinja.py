"""The one Jinja environment: sandboxed, strict, no autoescape, escaping filters, template packs first.

A spec with a template pack renders every template, the pack's and the built-in ones, in Jinja's
`ImmutableSandboxedEnvironment`: no attribute starting with `_`, no function internals, no
mutating method of a list or dict. (Without a pack, the built-in templates run compiled:
`builtin.py`; this environment's parser and settings are what `aot.py` compiles from.) The
globals are only `expr`, `range`, `dict` and `namespace`; the filters are Jinja's built-in filters
and almgen's escaping filters. A pack template that reaches for anything else, or does not
compile, fails with its file and line (exit 3), and no code of it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from generator import __version__
from generator.errors import Issue, SpecInvalid
from generator.package_data import data_dir
from generator.render.escape import FILTERS, expression

GLOBALS = ("range", "dict", "namespace")


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates, cached per almgen version in the user's cache folder (if writable)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "almgen", f"jinja-{__version__}-sandbox")
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
    env = ImmutableSandboxedEnvironment(
        bytecode_cache=_bytecode_cache(),
        loader=jinja2.ChoiceLoader([*loaders, loader]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is YAML and Bicep, escaped by filters, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals = {name: env.globals[name] for name in GLOBALS}
    env.globals["expr"] = expression
    env.filters.update(FILTERS)
    return env


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any], pack: Path | None) -> str:
    """`name` rendered with `context`; an error in a pack's template is a located `SpecInvalid`.

    An error in a built-in template is almgen's bug and propagates (exit 4 with a crash log).
    """
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        where = _pack_location(exc, pack)
        if where is None:
            raise
        file, line = where
        raise SpecInvalid([_pack_issue(file, line, exc)]) from None


def _pack_location(exc: jinja2.TemplateError, pack: Path | None) -> tuple[Path, int] | None:
    """The pack file and line the error comes from, or None when it is not in the pack."""
    if pack is None:
        return None
    candidates: list[tuple[str, int]] = []
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename:
        candidates.append((exc.filename, exc.lineno))
    candidates.extend(reversed(_template_frames(exc.__traceback__)))
    for filename, line in candidates:
        path = Path(filename)
        if path.is_relative_to(pack):
            return path, line
    return None


def _template_frames(tb: TracebackType | None) -> list[tuple[str, int]]:
    """(file, line) of each template frame, outermost first (Jinja rewrites them to the template)."""
    frames: list[tuple[str, int]] = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.endswith(".py"):
            frames.append((filename, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _pack_issue(file: Path, line: int, exc: jinja2.TemplateError) -> Issue:
    from generator.spec.document import display_path

    if isinstance(exc, jinja2.exceptions.SecurityError):
        message = f"the template pack reaches outside the sandbox: {exc.message}"
        expected = "only the documented globals (expr, range, dict, namespace) and filters"
    else:
        message = f"the template pack's template fails: {type(exc).__name__}: {exc.message}"
        expected = "a template that compiles and renders with the documented context"
    return Issue(display_path(file), line, 1, "templates", message, expected, "fix or remove this template")
