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
    ):
        done = runner.invoke(cli, ["rehearse", spec, *args])
        assert done.exit_code == 2, done.output
        assert text in done.output
