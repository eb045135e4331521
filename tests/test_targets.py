"""A new target is one folder plus one registry line: proved with a target only this test registers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    assert 'prod:\n  stage: prod\n  script: ["echo 8 jobs"]' in by_path[".gitlab-ci.yml"]
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


@given(name=st.text(max_size=40))
def test_the_contract_doc_names_variables_as_the_runtime_script_does(name: str) -> None:
    from generator.runtime import contract as runtime
    from generator.targets.docs import contract as doc

    assert doc.variable(name) == runtime.variable(name)


def test_generate_does_not_import_what_it_does_not_use(tmp_path: Path) -> None:
    """The pipelines' runtime scripts are copied, not run; jsonschema only explains invalid specs."""
    shutil.copytree(SAMPLES / "enterprise", tmp_path / "service")
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith(("
        "'generator.runtime', 'jsonschema')))))\n"
        "sys.argv = ['almgen', 'generate']\n"
        "from generator.entry import main\nmain()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "service",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
