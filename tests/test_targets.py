"""A new target is one folder plus one registry line: proved with a target only this test registers."""

from __future__ import annotations

import pytest

from generator.plan.model import Plan
from generator.render.all import render
from generator.render.outputs import OutputFile, TemplateFile
from generator.spec.model import Spec
from generator.spec.validate import load_spec
from generator.targets import TARGETS, Target
from tests.conftest import SAMPLES


def _gitlab_files(spec: Spec, plan: Plan) -> list[TemplateFile | OutputFile]:
    """A toy GitLab CI target: one stage per environment, read from the Plan only."""
    stages = "\n".join(f"  - {env.name}" for env in plan.environments)
    jobs = "".join(
        f'\n{env.name}:\n  stage: {env.name}\n  script: ["echo {len(env.jobs)} jobs"]\n'
        for env in plan.environments
    )
    return [OutputFile(".gitlab-ci.yml", f"stages:\n{stages}\n{jobs}")]


@pytest.fixture
def gitlab() -> object:
    target = Target("gitlab-ci", lambda spec: True, _gitlab_files)
    TARGETS.append(target)
    yield target
    TARGETS.remove(target)


def test_a_registered_target_renders_beside_the_others(gitlab: object) -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    by_path = {f.path: f.text for f in render(spec)}
    assert ".gitlab-ci.yml" in by_path
    assert "stage: prod" in by_path[".gitlab-ci.yml"]
    assert 'prod:\n  stage: prod\n  script: ["echo 7 jobs"]' in by_path[".gitlab-ci.yml"]
    assert ".github/workflows/support-agent-cd.yml" in by_path  # the others are unchanged


def test_targets_are_only_what_the_registry_lists() -> None:
    assert [t.name for t in TARGETS] == ["bicep", "github-actions", "azure-devops", "docs", "scripts"]


@pytest.mark.parametrize(
    "text",
    ["a: 'unclosed\n", "a:\n  - b\n c: d\n", "a: *nowhere\n", "one: 1\n---\ntwo: 2\n", "key: [1, 2\n"],
)
def test_verify_refuses_generated_yaml_that_does_not_parse(text: str) -> None:
    from generator.render.verify import GeneratedOutputInvalid, verify

    good = OutputFile("ok.yml", "a: [1, 2]\nb: &x {c: d}\ne: *x\n", "managed")
    verify([good])
    with pytest.raises(GeneratedOutputInvalid, match=r"bad\.yml: not valid YAML"):
        verify([good, OutputFile("bad.yml", text, "managed")])
