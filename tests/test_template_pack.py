"""A platform team's template pack: it overrides one named block of a built-in template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.render.all import render
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES
from tests.generated import outputs

PACK_CI = """{% extends "builtin:github-actions/ci.yml.j2" %}
{% block jobs %}
{{ super() }}
  license:
    name: License headers
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: {{ actions.checkout }}
        with:
          persist-credentials: false
      - name: Check license headers
        run: grep -rL "SPDX-License-Identifier" src || true
{% endblock %}
"""


def _with_pack(tmp_path: Path, template: str) -> Path:
    """The minimal sample with a pack whose GitHub CI template is `template`; returns the spec."""
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "minimal", root)
    (root / "platform" / "github-actions").mkdir(parents=True)
    (root / "platform" / "github-actions" / "ci.yml.j2").write_text(template)
    spec = root / "almgen.yaml"
    spec.write_text(spec.read_text() + "templates: platform\n")
    return spec


def test_a_pack_overrides_only_the_named_block(tmp_path: Path) -> None:
    spec = _with_pack(tmp_path, PACK_CI)
    files = {f.path: f.text for f in render(load_spec(spec))}
    builtin = {f.path: f.text for f in outputs("minimal")}
    ci = ".github/workflows/hello-chat-ci.yml"
    assert "  license:\n    name: License headers" in files[ci]
    assert files[ci].startswith(builtin[ci])  # super(): the built-in jobs, unchanged, come first
    # every other file is exactly the built-in output
    assert {p: t for p, t in files.items() if p != ci and not p.startswith(".almgen/")} == {
        p: t for p, t in builtin.items() if p != ci and not p.startswith(".almgen/")
    }


def test_the_pack_is_an_input_of_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "minimal", root)
    (root / "platform").mkdir()
    spec = root / "almgen.yaml"
    spec.write_text(spec.read_text() + "templates: platform\n")
    assert (root / "platform").resolve() in load_spec(spec).inputs


ESCAPES = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "cycler-globals": "{{ cycler.__init__.__globals__ }}",
    "lipsum-globals": "{{ lipsum.__globals__ }}",
    "context": "{{ self._TemplateReference__context }}",
    "mutation": "{% set xs = [] %}{{ xs.append(1) }}",
    "format-string": "{{ '{0.__class__}'.format(1) }}",
}


@pytest.mark.parametrize("template", list(ESCAPES.values()), ids=list(ESCAPES))
def test_a_pack_that_reaches_outside_the_sandbox_fails_located(tmp_path: Path, template: str) -> None:
    spec = _with_pack(tmp_path, "line one\n\n" + template + "\n")
    result = CliRunner().invoke(cli, ["generate", "--dry-run", str(spec)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "platform/github-actions/ci.yml.j2:3:1: error: templates:" in result.output


def test_a_pack_never_runs_code(tmp_path: Path) -> None:
    """Jinja's `cycler` global reached `os` through its function globals: the pack ran a command."""
    witness = tmp_path / "pwned"
    spec = _with_pack(tmp_path, "{{ cycler.__init__.__globals__.os.system('touch " + str(witness) + "') }}\n")
    result = CliRunner().invoke(cli, ["check", str(spec)])
    assert result.exit_code == 3, result.output
    assert not witness.exists()


def test_a_pack_with_a_syntax_error_fails_located(tmp_path: Path) -> None:
    spec = _with_pack(tmp_path, "fine\n{% if %}\n")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0  # validate does not render
    result = CliRunner().invoke(cli, ["generate", "--dry-run", str(spec)])
    assert result.exit_code == 3, result.output
    assert "platform/github-actions/ci.yml.j2:2:1: error: templates:" in result.output
    assert "TemplateSyntaxError" in result.output
