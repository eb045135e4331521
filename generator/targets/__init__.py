"""Targets: each turns the Spec and its Plan into files, behind one small protocol.

A target is a folder here with a `files.py` and one line in `TARGETS`. Adding GitLab CI or
Terraform is exactly that (see docs/architecture.md); `tests/test_targets.py` proves it with a
target registered only in the test.
"""

from __future__ import annotations

from collections.abc import Callable

from generator.frozen import frozen
from generator.plan.model import Plan
from generator.render.outputs import OutputFile, TemplateFile
from generator.spec.model import Spec
from generator.targets.azure_devops import files as azure_devops
from generator.targets.bicep import files as bicep
from generator.targets.docs import files as docs
from generator.targets.github_actions import files as github_actions
from generator.targets.scripts import files as scripts

Wanted = list[TemplateFile] | list[OutputFile] | list[TemplateFile | OutputFile]


@frozen
class Target:
    name: str
    wanted: Callable[[Spec], bool]  # does this spec ask for it?
    files: Callable[[Spec, Plan], Wanted]  # TemplateFiles are rendered; OutputFiles are final
    # patterns (`*` within one folder) of every path the target can ever write: a manifest entry
    # outside all of them is not almgen's, so it is never removed as "no longer generated"
    places: tuple[str, ...] = ()


DEVOPS_TEMPLATES = ("templates/stages/", "templates/jobs/", "templates/steps/")
DOCS = ("PIPELINE", "SETUP", "CONTRACT")


TARGETS: list[Target] = [
    Target(
        "bicep",
        lambda spec: spec.infrastructure == "bicep",
        lambda spec, _: bicep.files(spec),
        (
            "infra/main.bicep",
            "infra/bicepconfig.json",
            "infra/env/*.bicepparam",
            *(f"infra/modules/{name}.bicep" for name in bicep.ALL_MODULES),
        ),
    ),
    Target(
        "github-actions",
        lambda spec: "github-actions" in spec.pipelines,
        github_actions.files,
        (
            *(f".github/workflows/*-{kind}.yml" for kind in ("ci", "cd", "deploy", "lifecycle")),
            github_actions.ZIZMOR_CONFIG,
        ),
    ),
    Target(
        "azure-devops",
        lambda spec: "azure-devops" in spec.pipelines,
        azure_devops.files,
        tuple(f"{azure_devops.BASE}/{where}*.yml" for where in ("", *DEVOPS_TEMPLATES)),
    ),
    Target("docs", lambda spec: True, docs.files, tuple(f"docs/alm/{page}.md" for page in DOCS)),
    Target(
        "scripts",
        lambda spec: True,
        lambda spec, _: scripts.files(spec),
        (
            ".almgen/commands.json",
            ".almgen/gates.json",
            ".almgen/release.json",
            scripts.SCHEMA,
            scripts.ROUTING_CLIENT,
            *(f".almgen/scripts/{name}.py" for name in scripts.SCRIPTS),
            *(f"{root}/.gitattributes" for root in scripts.GITATTRIBUTE_ROOTS),
        ),
    ),
]
