"""`almgen rehearse` refuses bad input with a clear message and exit 2, before running anything."""

from __future__ import annotations

from click.testing import CliRunner

from generator.cli import cli
from tests.conftest import SAMPLES


def test_bad_input_is_a_usage_error() -> None:
    runner = CliRunner()
    spec = str(SAMPLES / "openai-chat-github" / "almgen.yaml")
    for args, text in (
        (["--inject", "prod:nope"], "is not a fault"),
        (["--inject", "qa:approval=reject"], "environment 'qa' is not in the spec"),
        (["--target", "azure-devops"], "has no azure-devops pipeline"),
        (["--env", "nowhere"], "no environment 'nowhere'"),
        (["--inject", "prod:agents:fail"], "the spec has no agents"),
        (["--inject", "prod:agents:live:fail"], "the spec has no agents"),
        (["--inject", "prod:cancel@job=canary-2"], "job of prod 'canary-2' is not in the spec"),
    ):
        done = runner.invoke(cli, ["rehearse", spec, *args])
        assert done.exit_code == 2, done.output
        assert text in done.output


def test_every_fault_form_parses_into_what_the_world_reads() -> None:
    from generator.rehearse.faults import parse
    from generator.spec.validate import load_spec

    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    assert parse("prod:agents:fail", spec).data == {"kind": "agents", "env": "prod"}
    assert parse("prod:agents:live:fail", spec).data == {"kind": "agents-live", "env": "prod"}
    assert parse("prod:agents:live=swedencentral:fail", spec).data == {
        "kind": "agents-live",
        "env": "prod",
        "region": "swedencentral",
    }
    assert parse("prod:chat:error-rate=8@step=2", spec).data == {
        "kind": "metric",
        "env": "prod",
        "model": "chat",
        "metric": "error-rate",
        "value": 8.0,
        "step": 2,
    }
    assert parse("prod:cancel@job=canary-3", spec).data == {
        "kind": "cancel",
        "env": "prod",
        "job": "canary-3",
        "devops_job": "Canary3",
    }
    assert parse("staging:gate=evaluation:fail", spec).data == {
        "kind": "gate",
        "env": "staging",
        "gate": "evaluation",
    }
