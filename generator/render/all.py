"""Render every output of a spec in memory: {path: OutputFile}. Nothing is written here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.plan.build import plan as make_plan
from generator.render.outputs import OutputFile, header
from generator.spec.model import Spec
from generator.targets import TARGETS
from generator.targets.scripts.files import gitattributes


def render(spec: Spec) -> list[OutputFile]:
    """All files of the spec's targets, sorted by path, each with its static header."""
    pack = (spec.root / spec.templates).resolve() if spec.templates else None
    print_template = renderer(pack)
    spec_name = spec.source.name
    plan = make_plan(spec)
    outputs: list[OutputFile] = []
    for target in TARGETS:
        if not target.wanted(spec):
            continue
        for item in target.files(spec, plan):
            if isinstance(item, OutputFile):
                outputs.append(item)
                continue
            text = print_template(item.template, item.context)
            outputs.append(
                OutputFile(item.path, header(item.path, spec_name) + _tidy(text), source=item.template)
            )
    outputs += gitattributes([o.path for o in outputs], spec_name)
    return sorted(outputs, key=lambda f: f.path)


def renderer(pack: Path | None) -> Callable[[str, dict[str, Any]], str]:
    """The compiled built-in templates, or Jinja's sandbox when a template pack may shadow them."""
    if pack is None:
        from generator.render.builtin import render_builtin

        return render_builtin
    from generator.render.jinja import environment, render_template

    env = environment(pack)
    return lambda name, context: render_template(env, name, context, pack)


def _tidy(text: str) -> str:
    """One trailing newline, no trailing spaces, no runs of blank lines left by template logic."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"
