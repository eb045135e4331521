"""The `almgen` command: a thin layer of click commands over the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from generator import __version__, reports
from generator.commands.generate import RefusedError
from generator.console import say, verbosity_options
from generator.errorhandler import handle_errors
from generator.errors import ExitCode

F = TypeVar("F", bound=Callable[..., Any])

SPEC_DEFAULT = "almgen.yaml"


def _spec_paths(specs: tuple[Path, ...]) -> list[Path]:
    return list(specs) or [Path(SPEC_DEFAULT)]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="almgen")
@verbosity_options
def cli() -> None:
    """almgen: one spec (almgen.yaml) to the whole lifecycle of an Azure AI service."""


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@FORMAT
@verbosity_options
@handle_errors
def validate(specs: tuple[Path, ...], fmt: str) -> None:
    """Check SPEC files (default ./almgen.yaml): exit 0 valid, 3 invalid."""
    from generator.spec.validate import load_spec

    if fmt == "text":
        for path in _spec_paths(specs):
            reports.print_valid(str(path), load_spec(path))
        return
    from generator.errors import SpecInvalid

    data: dict[str, Any] = {}
    for path in _spec_paths(specs):
        try:
            data[str(path)] = reports.valid_entry(load_spec(path))
        except SpecInvalid as exc:
            data[str(path)] = reports.invalid_entry(exc.issues)
    click.echo(reports.dump(data))
    if not all(entry["valid"] for entry in data.values()):
        sys.exit(ExitCode.INVALID)


@cli.command()
def schema() -> None:
    """Print the spec's JSON Schema."""
    from generator.package_data import data_dir

    sys.stdout.write((data_dir("schemas") / "almgen.schema.json").read_text("utf-8"))


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--env", "env", help="Only this environment.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text", show_default=True
)
@handle_errors
def explain(spec: Path | None, env: str | None, fmt: str) -> None:
    """Per environment: regions, gates, approvals, strategy, tests, model and agent versions."""
    from generator.commands.explain import explain_data, explain_text
    from generator.errors import UsageError
    from generator.spec.validate import load_spec

    resolved = load_spec(spec or Path(SPEC_DEFAULT))
    names = [e.name for e in resolved.environments]
    if env is not None and env not in names:
        raise UsageError(f"no environment {env!r} in the spec; it has {', '.join(names)}")
    if fmt == "json":
        import json

        click.echo(json.dumps(explain_data(resolved, env), indent=2))
    elif fmt == "mermaid":
        from generator.plan.build import plan
        from generator.targets.docs.diagram import mermaid

        click.echo(mermaid(plan(resolved)), nl=False)
    else:
        click.echo(explain_text(resolved, env), nl=False)


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite managed files edited by hand.")
@click.option("--adopt", is_flag=True, help="Take over files at managed paths that almgen did not write.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@FORMAT
@verbosity_options
@handle_errors
def generate(specs: tuple[Path, ...], force: bool, adopt: bool, dry_run: bool, fmt: str) -> None:
    """Write the pipelines, infrastructure and docs of SPEC files (default ./almgen.yaml)."""
    from generator.commands.generate import generate as run

    run(_spec_paths(specs), force=force, adopt=adopt, dry_run=dry_run, fmt=fmt)


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@FORMAT
@verbosity_options
@handle_errors
def check(specs: tuple[Path, ...], fmt: str) -> None:
    """Exit 0 when the generated files match SPEC files, 1 with a diff and the fix when not."""
    from generator.regen.fastpath import up_to_date

    report: dict[str, Any] = {}
    for path in _spec_paths(specs):
        fast = up_to_date(path)
        findings: list[Any] = []
        if not fast:
            from generator.regen.drift import check_spec

            findings = check_spec(path)
        report[str(path)] = reports.findings_entry(findings)
        if fmt == "text":
            reports.print_check(str(path), findings, fast=fast)
    if fmt == "json":
        click.echo(reports.dump(report))
    if any(report.values()):
        sys.exit(ExitCode.DRIFT)


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@FORMAT
@verbosity_options
@handle_errors
def diff(specs: tuple[Path, ...], fmt: str) -> None:
    """What `almgen generate` would change, as a unified diff (writes nothing): exit 0 none, 1 some."""
    from generator.regen.drift import check_spec

    report: dict[str, Any] = {}
    for path in _spec_paths(specs):
        findings = check_spec(path)
        report[str(path)] = reports.findings_entry(findings)
        if fmt == "text":
            reports.print_diff(findings)
    if fmt == "json":
        click.echo(reports.dump(report))
    if any(report.values()):
        sys.exit(ExitCode.DRIFT)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--spec",
    "spec",
    type=click.Path(path_type=Path),
    default=Path(SPEC_DEFAULT),
    show_default=True,
    help="The spec that generates PATH.",
)
@handle_errors
def eject(path: Path, spec: Path) -> None:
    """Make a generated file yours: almgen stops writing it and removes its header."""
    from generator.regen.eject import eject as eject_file

    key = eject_file(spec, str(path))
    click.echo(f"ejected {key}: it is yours now; almgen generate will not touch it")


@cli.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path), default=Path("."))
@click.option("--name", help="The service name (default: from the folder's name).")
@click.option("--description", help="One line saying what the service does.")
@click.option("--pipelines", help="github-actions, azure-devops or both (default: github-actions).")
@click.option("--region", help="The Azure region, e.g. eastus2 (default: eastus2).")
@click.option("--reviewers", help="Who approves prod deployments, comma-separated (default: ai-leads).")
@click.option("--strategy", help="How prod is updated: blue-green, canary or direct (default: blue-green).")
@click.option("--no-input", is_flag=True, help="Do not ask; take the defaults and options given.")
@handle_errors
def init(directory: Path, no_input: bool, **given: str | None) -> None:
    """Start an AI service in DIRECTORY (empty, a clone, or an existing repository): a starter
    almgen.yaml, its prompt, datasets, evaluation and safety harnesses and tests, then generate.
    Files that exist are never overwritten."""
    from generator.commands.init import init as scaffold
    from generator.commands.init import refuse_initialized
    from generator.commands.init_prompts import answers

    refuse_initialized(directory)
    result = scaffold(directory, answers(directory, given, ask=not no_input))
    for path in result.skipped:
        managed = (
            " (almgen generates it: `almgen generate --force` replaces it)" if path in result.managed else ""
        )
        click.echo(f"skipped {path}: it exists, kept as it is{managed}")
    click.echo(f"created {len(result.created)} files in {directory}, {len(result.skipped)} skipped")
    click.echo(
        "next: run `almgen setup` (Azure and pipeline identities), push, "
        "then watch the first run of the pipeline"
    )


@cli.command()
@click.argument("name")
@click.option("--major", "part", flag_value="major", help="1.4.2 -> 2.0.0")
@click.option("--minor", "part", flag_value="minor", help="1.4.2 -> 1.5.0")
@click.option("--patch", "part", flag_value="patch", help="1.4.2 -> 1.4.3")
@click.option(
    "--spec", "spec", type=click.Path(path_type=Path), default=Path(SPEC_DEFAULT), show_default=True
)
@handle_errors
def bump(name: str, part: str | None, spec: Path) -> None:
    """Bump the semver of custom model or agent NAME; comments and layout are kept."""
    from generator.commands.bump import bump as bump_version
    from generator.errors import UsageError

    if part not in ("major", "minor", "patch"):
        raise UsageError("say which part to bump: --major, --minor or --patch")
    old, new = bump_version(spec, name, part)  # type: ignore[arg-type]
    click.echo(f"{name}: {old} -> {new}; run `almgen generate` to carry it into the pipelines")


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--env", "env", help="Only this environment.")
@click.option(
    "--live",
    is_flag=True,
    help="Read what serves now from Azure (through az, signed in) and list where it differs from the spec "
    "(exit 1 when it does).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def lineage(spec: Path | None, env: str | None, live: bool, fmt: str) -> None:
    """Per environment: which model and agent versions, trained on what, serve where."""
    import json

    from generator.commands.lineage import lineage_data, lineage_text
    from generator.errors import UsageError
    from generator.spec.validate import load_spec

    resolved = load_spec(spec or Path(SPEC_DEFAULT))
    if env is not None and env not in [e.name for e in resolved.environments]:
        raise UsageError(f"no environment {env!r} in the spec")
    if live:
        from generator.commands.lineage_live import LiveError, live_lineage, live_text

        try:
            data = live_lineage(resolved, env)
        except LiveError as exc:
            raise UsageError(f"cannot read what serves from Azure: {exc}") from None
        click.echo(json.dumps(data, indent=2) if fmt == "json" else live_text(data), nl=fmt == "json")
        if any(e["differences"] for e in data["environments"]):
            sys.exit(ExitCode.DRIFT)
        return
    if fmt == "json":
        click.echo(json.dumps(lineage_data(resolved, env), indent=2))
    else:
        click.echo(lineage_text(resolved, env), nl=False)


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option(
    "--target",
    type=click.Choice(["github-actions", "azure-devops"]),
    help="The pipeline to run (default: the spec's first).",
)
@click.option("--env", "env", help="Show only this environment's part of the timeline.")
@click.option(
    "--inject", "faults", multiple=True, metavar="FAULT", help="A fault, e.g. prod:chat:error-rate=8@step=2."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--keep", type=click.Path(path_type=Path), help="Keep the rehearsal's repository and world here."
)
@handle_errors
def rehearse(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    spec: Path | None,
    target: str | None,
    env: str | None,
    faults: tuple[str, ...],
    fmt: str,
    keep: Path | None,
) -> None:
    """Run the generated pipeline end to end against a simulated Azure: exit 0 as the spec says, 1 not."""
    from generator.commands import rehearse as command
    from generator.errors import UsageError
    from generator.spec.validate import load_spec

    resolved = load_spec(spec or Path(SPEC_DEFAULT))
    if env is not None and env not in [e.name for e in resolved.environments]:
        raise UsageError(f"no environment {env!r} in the spec")
    chosen = command.check_target(resolved, target)
    result = command.rehearse(resolved, chosen, command.parse_faults(faults, resolved), keep)
    click.echo((command.as_json if fmt == "json" else command.as_text)(result, env), nl=False)
    if not result.ok:
        raise RefusedError("the rehearsal did not end as the spec says")


def main() -> None:
    cli(prog_name="almgen")


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--env", "env", help="Only this environment.")
@click.option("--dry-run", is_flag=True, help="Check and print what would be created; create nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--repo", help="The GitHub repository OWNER/REPO (default: gh repo view).")
@click.option("--organization", help="The Azure DevOps organization URL (default: az devops configure).")
@click.option("--project", help="The Azure DevOps project (default: az devops configure).")
@verbosity_options
@handle_errors
def setup(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    spec: Path | None,
    env: str | None,
    dry_run: bool,
    fmt: str,
    repo: str | None,
    organization: str | None,
    project: str | None,
) -> None:
    """The one-time setup (identities, roles, environments, approvals), idempotently, with az and gh."""
    from generator.commands.setup.command import run_setup
    from generator.commands.setup.run import Options

    run_setup(
        spec or Path(SPEC_DEFAULT),
        env=env,
        fmt=fmt,
        options=Options(dry_run=dry_run, repo=repo, organization=organization, project=project),
        out=lambda text: click.echo(text, nl=False),
        err=lambda text: say(text, err=True),
    )
