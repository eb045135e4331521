"""The Plan's types: every per-environment decision as a typed value that targets only print.

Both pipeline targets render one *environment template* (GitHub: a reusable workflow; Azure
DevOps: a stage template) that every environment calls with its own `inputs`. So the Plan has
two halves:

- `Plan.jobs`: the template's job graph, the same for every environment: which jobs, in which
  order, under which typed `Condition` (evaluated against an environment's inputs), with which
  credentials and steps. A canary step is its own job on both targets (fresh login, own timeout,
  own health check, routing restored on failure).
- `EnvironmentPlan.inputs`: the values one environment passes, formatted once, so GitHub and
  Azure DevOps print the same numbers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from generator.frozen import frozen
from generator.spec.model import Environment, Gate, Spec

StepKind = Literal[
    "live-state",
    "what-if",
    "deploy-infra",
    "fine-tune",
    "train",
    "register",
    "deploy-infra-models",
    "build-index",
    "route-direct",
    "canary",
    "agent-candidates",
    "test",
    "swap",
    "ab-test",
    "ab-promote",
    "switch-index",
    "deploy-agents",
    "standby",
    "release-record",
    "retire",
    "cleanup",
    "retain",
    "retain-indexes",
    "rollback",
]
JobKind = Literal["gates", "provision", "canary-step", "finish", "ab-decision", "rollback"]
Credentials = Literal["environment", "previous-environment"]
InputValue = str | int | float | bool | tuple[str, ...] | tuple[int, ...]


INPUTS = {  # every input of the environment template, in order, with what it means
    "environment": "The environment to deploy.",
    "location": "The primary region; the ARM deployment of the environment lives there.",
    "deployment": "The ARM deployment of the environment (its outputs are the deployed resources).",
    "previous-environment": "The environment whose deployment the gates evaluate.",
    "previous-deployment": "The ARM deployment the gates evaluate.",
    "gates": "The gates that must pass first (evaluation, safety).",
    "strategy": "direct, blue-green, canary or ab.",
    "canary-steps": "Canary traffic percentages, in order, ending at 100.",
    "bake-minutes": "Minutes to watch after each canary step or a blue-green swap; an A/B test's duration.",
    "ab-split": "A/B test: the candidate's percentage of the traffic while both variants serve (0: no test).",
    "ab-metric": "A/B test: the metric compared (latencyP95Ms, errorRatePercent or tokensPerRequest; "
    "empty: no test).",
    "ab-tolerance-percent": "A/B test: how much worse than the serving version the candidate may be.",
    # only in a spec with a manual A/B decision (compare.decide): a rule-only spec's files stay as they were
    "ab-decide": "A/B test: rule (the comparison promotes the winner) or manual (a person decides; "
    "empty: no test).",
    "rollback-error-rate-percent": "Roll back when the error rate exceeds this percentage.",
    "rollback-latency-p95-ms": "Roll back when the p95 latency exceeds this many ms (0 for no limit).",
    "rollback-min-requests": "Roll back when a health window holds fewer requests than this, after waiting.",
    "health-wait-minutes": "The longest a health check waits for its minimum of requests.",
    "tests": "The tests to run after the deployment.",
    "test-target": "What the tests call (ALMGEN_TARGET): live, or the candidate before a swap or A/B test.",
    "train": "Retrain custom models in this environment.",
    "canary-timeout": "Minutes a canary step job may run: its bake and checks.",
    "finish-timeout": (
        "Minutes the finishing job may run: agent candidates, tests, swap or A/B test, agents and records."
    ),
}


def manual_ab(spec: Spec) -> bool:
    """An A/B test whose candidate a person approves (`compare.decide: manual`)."""
    tests = [env.strategy.ab for env in spec.environments if env.strategy.ab is not None]
    return any(ab.decide == "manual" for ab in tests)


def camel(name: str) -> str:
    """An input's name on Azure DevOps: `bake-minutes` -> `bakeMinutes`."""
    head, *rest = name.split("-")
    return head + "".join(part.capitalize() for part in rest)


# ---- conditions: typed, evaluated against one environment's inputs ---------------------------


@frozen
class InputTrue:
    """A boolean input is true (`train`)."""

    input: str


@frozen
class InputHas:
    """A list input holds a value (`tests` has `smoke`)."""

    input: str
    value: str


@frozen
class InputNonEmpty:
    """A list input is not empty (`gates`)."""

    input: str


@frozen
class InputEquals:
    """A string input equals a value (`strategy` is `canary`), or differs from it when negated."""

    input: str
    value: str
    negate: bool = False


@frozen
class InputLongerThan:
    """A list input has more than `length` items (canary step job k runs when steps > k-1)."""

    input: str
    length: int


Condition = InputTrue | InputHas | InputNonEmpty | InputEquals | InputLongerThan | None


def holds(condition: Condition, inputs: dict[str, InputValue]) -> bool:
    """Evaluate a condition for one environment: what each target's printed condition means."""
    if condition is None:
        return True
    value = inputs[condition.input]
    if isinstance(condition, InputTrue):
        return value is True
    if isinstance(condition, InputHas):
        return isinstance(value, tuple) and condition.value in value
    if isinstance(condition, InputNonEmpty):
        return isinstance(value, tuple) and len(value) > 0
    if isinstance(condition, InputEquals):
        return (value == condition.value) != condition.negate
    return isinstance(value, tuple) and len(value) > condition.length


# ---- steps and jobs ----------------------------------------------------------------------------


@frozen
class Step:
    """One step of a job, as the Plan decides it; `plan.shell` turns it into bash."""

    id: str  # stable, unique in its job: "test-smoke"
    name: str
    kind: StepKind
    condition: Condition = None
    env: tuple[tuple[str, str], ...] = ()  # spec values, which the renderer escapes
    timeout_minutes: int | None = None


@frozen
class Job:
    """One job of the environment template: the same on both targets."""

    id: str  # kebab-case, unique: "canary-2"
    kind: JobKind
    name: str
    needs: tuple[str, ...]
    condition: Condition
    credentials: Credentials
    timeout: int | str  # minutes, or the input that holds them (they differ per environment)
    steps: tuple[Step, ...] = ()
    canary_index: int = 0  # canary-step jobs: 1 for the first step
    produces: str = ""  # the artifact this job publishes for later jobs ("" none)
    reads: tuple[str, ...] = ()  # the jobs whose artifacts it downloads
    restores: bool = False  # on failure or cancellation, the routing from before the rollout comes back
    # a rollback job: runs only when the rollout failed or was cancelled after this job succeeded
    rolls_back_after: str = ""
    # ... or, with this job (a manual A/B decision) named, when that job did not succeed: rejected,
    # timed out or cancelled, whether the rollout failed or not
    unless: str = ""
    # pip requirements files the job's commands install (their setup): the pip cache is keyed on them
    pip_requirements: tuple[str, ...] = ()

    @property
    def first_canary(self) -> bool:
        """The first canary step saves the routing every later failure restores."""
        return self.canary_index == 1

    @property
    def prepares_always(self) -> bool:
        """Its preparation (checkout, downloads, login) runs even after a failure or a cancellation:
        a cancel that lands while the job prepares must still leave its roll-back steps what they need."""
        return self.restores or self.kind == "rollback"

    @property
    def devops_id(self) -> str:
        """Azure DevOps job names: letters, digits, underscores (and never the reserved `deploy`)."""
        return "".join(part.capitalize() for part in self.id.split("-"))


@frozen
class GateJob:
    gate: Gate
    evaluates: str | None  # the environment whose deployment the gate evaluates (None: before any)


@frozen
class EnvironmentPlan:
    """One environment: its gates and the inputs it passes to the environment template."""

    env: Environment
    previous: str | None
    gates: tuple[GateJob, ...]
    deployment_name: str  # the ARM deployment name: stable, so the last outputs can be read back
    inputs: tuple[tuple[str, InputValue], ...]
    jobs: tuple[Job, ...]  # the template's jobs that run for this environment, in order

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def job_id(self) -> str:
        return f"deploy-{self.env.name}"

    @property
    def stage_id(self) -> str:
        """Azure DevOps stage IDs allow letters, digits and underscores."""
        return "Deploy_" + self.env.name.replace("-", "_")

    @property
    def gates_stage_id(self) -> str:
        """Azure DevOps runs gates in a stage before the approval-bound one, so reviewers see them."""
        return "Gates_" + self.env.name.replace("-", "_")

    def input(self, name: str) -> InputValue:
        return dict(self.inputs)[name]

    def steps(self) -> list[Step]:
        """Every step a rollout of this environment runs, in order across its jobs (gates and the
        rollback job, which runs only after a failure, excluded)."""
        values = dict(self.inputs)
        rollout = [job for job in self.jobs if not job.rolls_back_after]
        return [s for job in rollout for s in job.steps if holds(s.condition, values)]

    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps()]


@frozen
class BuildStep:
    name: str
    script: str
    env: tuple[tuple[str, str], ...] = ()
    target: str = ""  # only in this pipeline target's files ("" every target)


@frozen
class BuildJob:
    """A job of the build stage: it checks the commit before anything is packaged."""

    id: str
    name: str
    timeout_minutes: int
    python: bool  # needs Python set up first
    steps: tuple[BuildStep, ...]

    @property
    def devops_id(self) -> str:
        return self.id.capitalize()


@frozen
class BuildPlan:
    checks: tuple[BuildJob, ...]  # all must pass before the release is packaged
    package: tuple[str, ...]  # paths in the release artifact

    def checks_for(self, target: str) -> tuple[BuildJob, ...]:
        """The checks as one pipeline target runs them: its own steps and the shared ones."""
        return tuple(
            replace(job, steps=tuple(s for s in job.steps if s.target in ("", target))) for job in self.checks
        )


@frozen
class Plan:
    service: str
    build: BuildPlan
    jobs: tuple[Job, ...]  # the environment template's job graph
    environments: tuple[EnvironmentPlan, ...]
    retired: bool  # registry.retired is non-empty: the lifecycle removes and records them

    @property
    def ab_test(self) -> bool:
        """Some environment runs an A/B test: the release record reads its comparisons."""
        return any(step.kind == "ab-test" for job in self.jobs for step in job.steps)

    @property
    def lifecycle_environment(self) -> EnvironmentPlan:
        """The weekly read-only checks use the first environment's identity: it needs no approval."""
        return self.environments[0]

    def environment(self, name: str) -> EnvironmentPlan:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)
