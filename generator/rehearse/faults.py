"""The faults a rehearsal injects, from `--inject` text to the dicts the world stores.

    ENV:MODEL:error-rate=PERCENT@step=N   the candidate of MODEL errs from its Nth traffic step on
    ENV:MODEL:latency-p95=MS@step=N       the candidate of MODEL is that slow from its Nth step on
    ENV:MODEL:requests=COUNT@step=N       the candidate of MODEL gets COUNT requests a minute from step N
    ENV:MODEL:tokens=COUNT@step=N         the candidate of MODEL uses COUNT tokens a request from step N
    ENV:gate=GATE:fail                    the gate before ENV (evaluation or safety) fails
    ENV:ab-evaluation:worse               in ENV's A/B test the candidate's evaluation scores are worse
    ENV:tests=TEST:fail                   the test TEST fails in ENV
    ENV:cancel@minutes=M                  the run is cancelled M minutes after ENV's first job starts
    ENV:cancel@job=JOB                    the run is cancelled as ENV's job JOB (canary-2...) would start
    ENV:approval=reject                   the approval of ENV is rejected
    ENV:ab-decision=reject                ENV's manual A/B decision is rejected (compare.decide: manual)
    ENV:region=REGION:fail                deploying ENV's stack in REGION fails
    ENV:region=REGION:outage              every model deployment of ENV in REGION answers 5xx
    ENV:slow-deploy=MINUTES               a deployment of ENV takes that long (past a job timeout)
    ENV:agents:fail                       the Agent Service refuses ENV's new agent versions (403)
    ENV:agents:live[=REGION]:fail         App Configuration refuses making an agent version live in ENV
                                          (in REGION only: the regions before it were switched)
    ENV:fine-tune:fail                    ENV's fine-tuning jobs fail (Azure OpenAI: status failed)

Every fault names an environment of the spec; a model, gate, test or region must be one the
spec has, so a typo is an error (exit 2), never a rehearsal that silently injects nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator.plan.build import plan
from generator.spec.model import Spec
from generator.spec.naming import github_ab_decision_environment, github_approval_environment

FORMS = (
    "ENV:MODEL:error-rate=PERCENT@step=N",
    "ENV:MODEL:latency-p95=MS@step=N",
    "ENV:MODEL:requests=COUNT@step=N",
    "ENV:MODEL:tokens=COUNT@step=N",
    "ENV:gate=GATE:fail",
    "ENV:ab-evaluation:worse",
    "ENV:tests=TEST:fail",
    "ENV:cancel@minutes=M",
    "ENV:cancel@job=JOB",
    "ENV:approval=reject",
    "ENV:ab-decision=reject",
    "ENV:region=REGION:fail",
    "ENV:region=REGION:outage",
    "ENV:slow-deploy=MINUTES",
    "ENV:agents:fail",
    "ENV:fine-tune:fail",
    "ENV:agents:live[=REGION]:fail",
)

_NUMBER = r"(\d+(?:\.\d+)?)"
_METRICS = "error-rate|latency-p95|requests|tokens"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("metric", re.compile(rf"^([^:]+):([^:]+):({_METRICS})={_NUMBER}@step=(\d+)$")),
    ("gate", re.compile(r"^([^:]+):gate=([^:]+):fail$")),
    ("ab-evaluation", re.compile(r"^([^:]+):ab-evaluation:worse$")),
    ("test", re.compile(r"^([^:]+):tests=([^:]+):fail$")),
    ("cancel", re.compile(rf"^([^:]+):cancel@minutes={_NUMBER}$")),
    ("cancel-job", re.compile(r"^([^:]+):cancel@job=([a-z0-9-]+)$")),
    ("approval", re.compile(r"^([^:]+):approval=reject$")),
    ("ab-decision", re.compile(r"^([^:]+):ab-decision=reject$")),
    ("region", re.compile(r"^([^:]+):region=([^:]+):fail$")),
    ("outage", re.compile(r"^([^:]+):region=([^:]+):outage$")),
    ("slow-deploy", re.compile(rf"^([^:]+):slow-deploy={_NUMBER}$")),
    ("agents", re.compile(r"^([^:]+):agents:fail$")),
    ("fine-tune", re.compile(r"^([^:]+):fine-tune:fail$")),
    ("agents-live", re.compile(r"^([^:]+):agents:live(?:=([^:]+))?:fail$")),
)


class FaultError(ValueError):
    """A fault that does not parse or names something the spec does not have."""


@dataclass(frozen=True)
class Fault:
    text: str  # as the user wrote it
    data: dict[str, Any]  # what the world stores (see generator.rehearse.world)

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def env(self) -> str:
        return str(self.data["env"])


def _one_of(value: str, allowed: list[str], what: str, text: str) -> None:
    if value not in allowed:
        listed = ", ".join(allowed) or "none"
        raise FaultError(f"{text!r}: {what} {value!r} is not in the spec (it has: {listed})")


def parse(text: str, spec: Spec) -> Fault:
    for kind, pattern in _PATTERNS:
        match = pattern.match(text.strip())
        if match:
            if kind == "ab-evaluation":
                return Fault(text, _ab_evaluation(match.group(1), spec, text))
            if kind == "ab-decision":
                return Fault(text, _ab_decision(match.group(1), spec, text))
            return Fault(text, _build(kind, match.groups(), spec, text))
    forms = "\n  ".join(FORMS)
    raise FaultError(f"{text!r} is not a fault; the forms are:\n  {forms}")


def _ab_evaluation(env: str, spec: Spec, text: str) -> dict[str, Any]:
    """`ENV:ab-evaluation:worse`: ENV must run an A/B test, and the spec an evaluation gate."""
    _one_of(env, [e.name for e in spec.environments], "environment", text)
    ab = spec.environment(env).strategy.type == "ab"
    if not (ab and any(g.kind == "evaluation" for g in spec.gates)):
        raise FaultError(f"{text!r}: {env} runs no A/B test with an evaluation")
    return {"kind": "ab-evaluation", "env": env}


def _ab_decision(env: str, spec: Spec, text: str) -> dict[str, Any]:
    """`ENV:ab-decision=reject`: an approval, rejected in ENV's decision environment; ENV must run an
    A/B test that a person decides (`compare.decide: manual`)."""
    _one_of(env, [e.name for e in spec.environments], "environment", text)
    ab = spec.environment(env).strategy.ab
    if ab is None or ab.decide != "manual":
        raise FaultError(f"{text!r}: {env} has no manual A/B decision to reject")
    return {
        "kind": "approval",
        "env": env,
        "decision": "reject",
        "githubEnvironment": github_ab_decision_environment(env),
        "manualValidation": True,  # Azure DevOps: the ManualValidation@1 task, not the stage's checks
    }


def _build(kind: str, groups: tuple[str, ...], spec: Spec, text: str) -> dict[str, Any]:
    env_name = groups[0]
    _one_of(env_name, [e.name for e in spec.environments], "environment", text)
    env = spec.environment(env_name)
    data: dict[str, Any] = {"kind": kind, "env": env_name}
    if kind == "metric":
        _one_of(groups[1], [m.name for m in spec.models], "model", text)
        data |= {"model": groups[1], "metric": groups[2], "value": float(groups[3]), "step": int(groups[4])}
    elif kind == "gate":
        _one_of(groups[1], [g.kind for g in env.gates], f"gate of {env_name}", text)
        data["gate"] = groups[1]
    elif kind == "test":
        _one_of(groups[1], [t.name for t in env.tests], f"test of {env_name}", text)
        data["test"] = groups[1]
    elif kind == "cancel":
        data["minutes"] = float(groups[1])
    elif kind == "cancel-job":  # the world stores a cancel, at a job boundary instead of a moment
        jobs = {job.id: job for job in plan(spec).environment(env_name).jobs}
        _one_of(groups[1], list(jobs), f"job of {env_name}", text)
        data |= {"kind": "cancel", "job": groups[1], "devops_job": jobs[groups[1]].devops_id}
    elif kind == "approval":
        if not env.approval.required:
            raise FaultError(f"{text!r}: {env_name} has no approval to reject")
        # GitHub asks the reviewers in the approval environment (`github_approval_environment`)
        data |= {"decision": "reject", "githubEnvironment": github_approval_environment(env_name)}
    elif kind in ("region", "outage"):
        _one_of(groups[1], list(env.regions), f"region of {env_name}", text)
        data["region"] = groups[1]
    elif kind in ("agents", "agents-live", "fine-tune"):
        if not (spec.fine_tuned_models if kind == "fine-tune" else spec.agents):
            what = "fine-tunes no model" if kind == "fine-tune" else "has no agents"
            raise FaultError(f"{text!r}: the spec {what}")
        if kind == "agents-live" and groups[1] is not None:
            _one_of(groups[1], list(env.regions), f"region of {env_name}", text)
            data["region"] = groups[1]
    else:
        data["minutes"] = float(groups[1])
    return data


def parse_all(texts: list[str], spec: Spec) -> list[Fault]:
    return [parse(text, spec) for text in texts]
