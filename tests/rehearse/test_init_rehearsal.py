"""An `almgen init`-ed repository, rehearsed from an empty subscription to prod on both targets.

The rehearsal runs the generated pipelines themselves against the simulated Azure; the spec's
test and gate commands become stand-ins that pass (docs/rehearsal.md), so this shows the starter
spec's pipeline, gates and approvals go green, not the harnesses (tests/test_init_harness.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.rehearse.azure.snapshot import serving_view
from generator.rehearse.driver import first_deploy
from generator.spec.validate import load_spec
from tests.rehearse.conftest import TARGETS

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


@pytest.mark.parametrize("target", TARGETS)
def test_an_initialized_repository_deploys_to_prod_on_its_first_run(tmp_path: Path, target: str) -> None:
    repo = tmp_path / "starter-svc"
    result = CliRunner().invoke(cli, ["init", str(repo), "--no-input", "--pipelines", "both"])
    assert result.exit_code == 0, result.output
    spec = load_spec(repo / "almgen.yaml")
    assert {g.kind for env in spec.environments for g in env.gates} == {"evaluation", "safety"}
    _, first = first_deploy(spec, target, tmp_path / "rehearsal")
    assert first.conclusion == "success", first.report
    for env in spec.environments:
        serving = serving_view(first.after, env.name)
        assert list(serving[env.regions[0]]["chat"]["shares"].values()) == [100], env.name
