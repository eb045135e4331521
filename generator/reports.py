"""What `validate`, `generate`, `check` and `diff` print, as text or as JSON (docs/cli.md).

Every JSON report is one object with a key per spec, in the order the specs were given; the
shapes are documented in docs/cli.md and only grow (new keys), never change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from generator.console import Verbosity, action, diff_text, paint, say

if TYPE_CHECKING:
    from generator.errors import Issue
    from generator.regen.drift import Finding
    from generator.regen.write import Action, Report
    from generator.spec.model import Spec

ACTIONS: tuple[Action, ...] = ("created", "updated", "unchanged", "removed", "kept", "refused", "ignored")

WAYS_OUT = (
    "ways out: move the change into the spec; customize through a template pack (`templates:` in "
    "the spec, see templates/README.md); make the file yours with `almgen eject PATH`; or overwrite "
    "with `--force` (a hand edit) or `--adopt` (a file almgen did not write)"
)


def dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2)


# validate


def valid_entry(spec: Spec) -> dict[str, Any]:
    return {
        "valid": True,
        "service": spec.service.name,
        "environments": [e.name for e in spec.environments],
        "issues": [],
    }


def invalid_entry(issues: Sequence[Issue]) -> dict[str, Any]:
    return {"valid": False, "service": None, "environments": [], "issues": [asdict(i) for i in issues]}


def print_valid(path: str, spec: Spec) -> None:
    envs = ", ".join(e.name for e in spec.environments)
    say(f"{path}: {paint('valid', fg='green')} ({spec.service.name}: {envs})")
    for item in spec.inputs:
        say(f"  read {item}", at=Verbosity.VERBOSE)


# generate


def generate_entry(report: Report, *, dry_run: bool) -> dict[str, Any]:
    refused = bool(report.refused)
    return {
        "dry_run": dry_run,
        "written": not dry_run and not refused,
        "refused": refused,
        "changes": [asdict(c) for c in report.changes],
        "counts": {a: report.count(a) for a in ACTIONS},
    }


def print_generate(path: str, report: Report, *, dry_run: bool) -> None:
    """Each file's fate and a summary; a refused spec lists only its refusals (nothing was written)."""
    if report.refused:
        for change in report.refused:
            say(f"{action('refused')}  {change.path} ({change.reason})", at=Verbosity.QUIET)
        pending = sum(report.count(a) for a in ("created", "updated", "removed"))
        held = f" ({pending} other change(s) held back)" if pending else ""
        say(f"{path}: {len(report.refused)} refused; nothing written{held}")
        return
    for change in report.changes:
        shown = Verbosity.VERBOSE if change.action == "unchanged" else Verbosity.NORMAL
        reason = f" ({change.reason})" if change.reason else ""
        say(f"{action(change.action)}  {change.path}{reason}", at=shown)
    summary = ", ".join(f"{report.count(a)} {a}" for a in ACTIONS if a != "refused")
    say(f"{path}: {'would write: ' if dry_run else ''}{summary}")


# check and diff


def findings_entry(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]


def print_check(path: str, findings: Sequence[Finding], *, fast: bool) -> None:
    how = " (from the manifest)" if fast else " (rendered and compared)"
    for finding in findings:
        say(f"{action(finding.kind)}  {finding.path}: {finding.fix}", at=Verbosity.QUIET)
        if finding.diff:
            say(diff_text(finding.diff), nl=not finding.diff.endswith("\n"))
    if findings:
        say(f"{path}: {len(findings)} file(s) out of date")
    else:
        say(f"{path}: up to date")
    say(f"  checked{how}", at=Verbosity.VERBOSE)


def print_diff(findings: Sequence[Finding]) -> None:
    """The unified diff of every file generate would change; `--quiet` prints nothing (exit code only)."""
    for finding in findings:
        if finding.diff:
            say(diff_text(finding.diff), nl=not finding.diff.endswith("\n"))
        else:
            say(f"{action(finding.kind, 0)}: {finding.path}")
