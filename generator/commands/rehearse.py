"""`almgen rehearse`: the spec's pipeline, run end to end against a simulated Azure, judged.

Exit 0 when the pipeline ends as the spec says it should: without faults every environment is
deployed and serves; with faults the run stops at the first faulted environment, whose traffic
is back exactly where it was before the release (the rollback worked), and nothing after it was
touched. Exit 1 otherwise. Bad input (an unknown fault, environment or target) exits 2.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UsageError
from generator.rehearse.driver import Phase, first_deploy, next_release, run_phase
from generator.rehearse.faults import Fault, FaultError, parse_all
from generator.spec.model import Spec


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]


def serving(snapshot: dict[str, Any], env: str) -> Any:
    """What serves customers in ENV: routing and the versions behind it (not standby resources)."""
    from generator.rehearse.azure.snapshot import serving_view

    return serving_view(snapshot, env)


def judge(spec: Spec, phase: Phase) -> Verdict:
    envs = [e.name for e in spec.environments]
    if not phase.faults:
        if phase.conclusion == "success":
            return Verdict(True, [f"{phase.name}: the run succeeded in every environment"])
        return Verdict(False, [f"{phase.name}: the run ended {phase.conclusion} without any fault"])
    stopped = min((f.env for f in phase.faults), key=envs.index)
    reasons = []
    ok = phase.conclusion != "success"
    reasons.append(f"{phase.name}: the run ended {phase.conclusion} (a fault in {stopped} must stop it)")
    for name in envs[envs.index(stopped) :]:
        same = serving(phase.before, name) == serving(phase.after, name)
        ok &= same
        what = "rolled back" if name == stopped else "untouched"
        verb = "is" if same else "is NOT"
        reasons.append(f"{name}: what serves {verb} as before the release ({what})")
    return Verdict(ok, reasons)


def check_target(spec: Spec, target: str | None) -> str:
    chosen = target or spec.pipelines[0]
    if chosen not in spec.pipelines:
        have = ", ".join(spec.pipelines)
        raise UsageError(f"the spec has no {chosen} pipeline (targets.pipelines: {have})")
    return chosen


def parse_faults(texts: tuple[str, ...], spec: Spec) -> list[Fault]:
    try:
        return parse_all(list(texts), spec)
    except FaultError as exc:
        raise UsageError(f"--inject {exc}") from exc


@dataclass
class Rehearsal:
    target: str
    phases: list[Phase]
    verdicts: list[Verdict]
    timeline: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def rehearse(spec: Spec, target: str, faults: list[Fault], workdir: Path | None = None) -> Rehearsal:
    with tempfile.TemporaryDirectory(prefix="almgen-rehearsal-") as tmp:
        stage, first = first_deploy(spec, target, workdir or Path(tmp))
        phases = [first]
        if faults and first.conclusion == "success":
            next_release(stage.repo, spec.source.name)
            phases.append(run_phase(stage, "release", faults))
        return Rehearsal(target, phases, [judge(spec, p) for p in phases], stage.world.timeline())


def _event_text(event: dict[str, Any]) -> str:
    fields = {k: v for k, v in event.items() if k not in ("minute", "kind")}
    detail = " ".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(fields.items())
    )
    return f"  +{event['minute']:>8.1f} min  {event['kind']:<14} {detail}".rstrip()


def as_text(result: Rehearsal, env: str | None) -> str:
    lines = [f"rehearsal on {result.target}"]
    for event in result.timeline:
        if env is None or event.get("env") in (None, env):
            lines.append(_event_text(event))
    for phase, verdict in zip(result.phases, result.verdicts, strict=True):
        lines.append(f"{phase.name}: {phase.conclusion}")
        lines += [f"  {reason}" for reason in verdict.reasons]
        if not verdict.ok:
            lines += ["  " + line for line in phase.report.splitlines()]
    lines.append("verdict: " + ("as the spec says" if result.ok else "NOT as the spec says"))
    return "\n".join(lines) + "\n"


def as_json(result: Rehearsal, env: str | None) -> str:
    data = {
        "target": result.target,
        "ok": result.ok,
        "phases": [
            {
                "name": p.name,
                "conclusion": p.conclusion,
                "faults": [f.text for f in p.faults],
                "verdict": v.reasons,
            }
            for p, v in zip(result.phases, result.verdicts, strict=True)
        ],
        "timeline": [e for e in result.timeline if env is None or e.get("env") in (None, env)],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
