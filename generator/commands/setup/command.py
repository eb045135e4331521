"""`almgen setup`: what the click command calls (the click layer only parses options)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.commands.setup.run import (
    Echo,
    Options,
    Runner,
    report_text,
    select,
    setup,
    subprocess_runner,
)


def run_setup(  # noqa: PLR0913 - one argument per option
    spec_path: Path,
    *,
    env: str | None,
    fmt: str,
    options: Options,
    out: Echo,
    err: Echo,
    runner: Runner = subprocess_runner,
) -> None:
    """Set up SPEC's environments (or `env`): print the report to `out`, every command to `err`."""
    from generator.plan.build import plan
    from generator.spec.validate import load_spec

    spec = load_spec(spec_path)
    envs = select(spec, env)
    outcomes, facts = setup(spec, plan(spec), env, options, runner, err)
    if fmt == "json":
        data = {
            "notes": list(facts.notes),
            "actions": [outcome.as_dict() for outcome in outcomes],
        }
        out(json.dumps(data, indent=2) + "\n")
    else:
        out(report_text(spec, envs, outcomes, facts, options.dry_run))
