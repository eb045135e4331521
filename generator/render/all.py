"""Render every output of a spec in memory: {path: OutputFile}. Nothing is written here."""

from __future__ import annotations

from generator.plan.build import plan as make_plan
from generator.render.jinja import environment
from generator.render.outputs import OutputFile, header
from generator.spec.model import Spec
from generator.targets.azure_devops import files as azure_devops
from generator.targets.bicep import files as infra
from generator.targets.docs import files as docs
from generator.targets.github_actions import files as github_actions
from generator.targets.scripts import files as shared


def render(spec: Spec) -> list[OutputFile]:
    """All files of the spec's targets, sorted by path, each with its static header."""
    pack = (spec.root / spec.templates).resolve() if spec.templates else None
    env = environment(pack)
    spec_name = spec.source.name
    outputs: list[OutputFile] = []
    plan = make_plan(spec)
    wanted = []
    if spec.infrastructure == "bicep":
        wanted += infra.files(spec)
    if "github-actions" in spec.pipelines:
        wanted += github_actions.files(spec, plan)
    if "azure-devops" in spec.pipelines:
        wanted += azure_devops.files(spec, plan)
    wanted += docs.files(spec, plan)
    for item in wanted:
        text = env.get_template(item.template).render(**item.context)
        outputs.append(
            OutputFile(item.path, header(item.path, spec_name) + _tidy(text), source=item.template)
        )
    outputs += shared.files(spec)
    outputs += shared.gitattributes([o.path for o in outputs], spec_name)
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
