"""A platform team's template pack: it overrides one named block of a built-in template."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def test_a_pack_overrides_only_the_named_block(tmp_path: Path) -> None:
    root = tmp_path / "svc"
    shutil.copytree(SAMPLES / "minimal", root)
    (root / "platform" / "github-actions").mkdir(parents=True)
    (root / "platform" / "github-actions" / "ci.yml.j2").write_text(PACK_CI)
    spec = root / "almgen.yaml"
    spec.write_text(spec.read_text() + "templates: platform\n")
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
