"""Render every output of a spec in memory: {path: OutputFile}. Nothing is written here."""

from __future__ import annotations

from generator.plan.build import plan as make_plan
from generator.render.jinja import environment, render_template
from generator.render.outputs import OutputFile, header
from generator.spec.model import Spec
from generator.targets import TARGETS
from generator.targets.scripts.files import gitattributes


def render(spec: Spec) -> list[OutputFile]:
    """All files of the spec's targets, sorted by path, each with its static header."""
    pack = (spec.root / spec.templates).resolve() if spec.templates else None
    env = environment(pack)
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
            text = render_template(env, item.template, item.context, pack)
            outputs.append(
                OutputFile(item.path, header(item.path, spec_name) + _tidy(text), source=item.template)
            )
    outputs += gitattributes([o.path for o in outputs], spec_name)
    return sorted(outputs, key=lambda f: f.path)


def _tidy(text: str) -> str:
    """One trailing newline, no trailing spaces, no runs of blank lines left by template logic."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"
