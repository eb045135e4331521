"""The deployment plan: a target-neutral, ordered graph of stages, jobs, gates and steps.

GitHub Actions and Azure DevOps render the same Plan, so their stages, gates and order are
the same by construction. Every decision (what runs, in which order, with what values) is
made here; the templates print it. Values reach scripts only as environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from generator.spec.model import Environment, Gate, Spec

PYTHON_VERSION = "3.12"
RELEASE_ARTIFACT = "release"

StepKind = Literal[
    "live-state",
    "what-if",
    "deploy-infra",
    "train",
    "register",
    "deploy-infra-models",
    "deploy-agents",
    "swap",
    "canary",
    "test",
    "release-record",
    "retire",
]


@dataclass(frozen=True)
class Step:
    """One step of a deploy job. `env` holds spec values, which the renderer escapes."""

    id: str  # stable, unique in its job: "test-smoke"
    name: str
    kind: StepKind
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GateJob:
    gate: Gate
    evaluates: str | None  # the environment whose deployment the gate evaluates (None: before any)


@dataclass(frozen=True)
class EnvironmentPlan:
    """What happens for one environment, in order: gates, approval, deploy, strategy, tests, record."""

    env: Environment
    previous: str | None
    gates: tuple[GateJob, ...]
    steps: tuple[Step, ...]
    deployment_name: str  # the ARM deployment name: stable, so the last outputs can be read back

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

    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps]


@dataclass(frozen=True)
class BuildPlan:
    package: tuple[str, ...] = field(default_factory=tuple)  # paths in the release artifact


@dataclass(frozen=True)
class Plan:
    service: str
    build: BuildPlan
    environments: tuple[EnvironmentPlan, ...]
    retired: bool  # registry.retired is non-empty: the lifecycle removes and records them

    def environment(self, name: str) -> EnvironmentPlan:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)


def _package_paths(spec: Spec) -> tuple[str, ...]:
    """What the release artifact carries: built once, promoted through every environment.

    A training job goes with its whole folder (an Azure ML job names its code relative to its
    file); a path inside another packaged folder is not listed twice.
    """
    paths = {spec.source.name, "infra", ".almgen"}
    if spec.evaluation and spec.evaluation.dataset:
        paths.add(spec.evaluation.dataset)
    for model in spec.custom_models:
        for path in (model.path, model.hyperparameters_file):
            if path:
                paths.add(path)
        if model.training_job:
            folder = PurePosixPath(model.training_job).parent
            paths.add(model.training_job if folder == PurePosixPath(".") else folder.as_posix())
    for agent in spec.agents:
        if agent.instructions:
            paths.add(agent.instructions)
    normal = {PurePosixPath(p).as_posix() for p in paths}
    return tuple(sorted(p for p in normal if not any(p.startswith(other + "/") for other in normal)))


def _environment_steps(spec: Spec, env: Environment) -> tuple[Step, ...]:
    steps = [
        Step("live-state", "Read the live state", "live-state"),
        Step("what-if", "What-if", "what-if"),
        Step("deploy-infra", "Deploy infrastructure", "deploy-infra"),
    ]
    trained = [m for m in spec.custom_models if m.training_job]
    if env.is_first and trained:
        for model in trained:
            assert model.training_job is not None
            steps.append(
                Step(
                    f"train-{model.name}",
                    f"Train {model.name}",
                    "train",
                    (("ALMGEN_MODEL", model.name), ("ALMGEN_TRAINING_JOB", model.training_job)),
                )
            )
    if spec.custom_models:
        steps.append(Step("register", "Register custom models with lineage", "register"))
        steps.append(Step("deploy-infra-models", "Deploy the new model versions", "deploy-infra-models"))
    # canary moves traffic first, then tests what serves; blue-green tests the candidate, then swaps
    if env.strategy.type == "canary":
        steps.append(
            Step("canary", "Canary: move traffic step by step, watch, roll back on a breach", "canary")
        )
    for test in env.tests:
        steps.append(Step(f"test-{test.name}", f"Test: {test.name}", "test"))
    if env.strategy.type == "blue-green":
        steps.append(Step("swap", "Blue-green: swap to the tested candidate and watch", "swap"))
    if spec.agents:  # last: agent definitions go live once their model deployment serves
        steps.append(Step("deploy-agents", "Deploy agents", "deploy-agents"))
    steps.append(Step("release-record", "Release record", "release-record"))
    if spec.registry.retired:
        steps.append(Step("retire", "Remove retired versions", "retire"))
    return tuple(steps)


def plan(spec: Spec) -> Plan:
    envs = []
    previous: str | None = None
    for env in spec.environments:
        gates = tuple(GateJob(gate, previous) for gate in env.gates)
        envs.append(
            EnvironmentPlan(
                env, previous, gates, _environment_steps(spec, env), f"{spec.service.name}-{env.name}"
            )
        )
        previous = env.name
    return Plan(
        spec.service.name, BuildPlan(package=_package_paths(spec)), tuple(envs), bool(spec.registry.retired)
    )
