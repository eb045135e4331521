"""Make the Plan: every decision of what runs, where, in which order and with which values.

GitHub Actions and Azure DevOps print the same Plan (see `generator.plan.model`), so their
jobs, conditions, timeouts and thresholds agree by construction; `tests/test_parity.py` reads
both back from the generated files to prove it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from generator.plan import catalog
from generator.plan.model import (
    BuildJob,
    BuildPlan,
    BuildStep,
    EnvironmentPlan,
    GateJob,
    InputEquals,
    InputHas,
    InputLongerThan,
    InputNonEmpty,
    InputTrue,
    InputValue,
    Job,
    Plan,
    Step,
    holds,
    manual_ab,
)
from generator.spec.model import Environment, Setup, Spec

GATES_TIMEOUT = 120  # minutes: evaluation and safety runs
PROVISION_TIMEOUT = 360  # minutes: the longest a hosted job may run; ML deployments are slow
ROLLBACK_TIMEOUT = 60  # minutes: putting the routing back (an ML endpoint's traffic update takes minutes)
MARGIN = 30  # minutes a job needs beyond its bakes and tests: login, downloads, traffic calls
AB_EVALUATION_MINUTES = 30  # an A/B test's evaluation of one variant (the gates job allows 120 for all)
# A health window with too few requests is waited on: one more bake, at least long enough for
# Azure Monitor's lag, at most half a login's lifetime (each health check follows a fresh login).
HEALTH_WAIT_MIN, HEALTH_WAIT_MAX = 5, 30


def health_wait_minutes(bake_minutes: int) -> int:
    return min(max(bake_minutes, HEALTH_WAIT_MIN), HEALTH_WAIT_MAX)


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


def _install_almgen(spec: Spec) -> BuildStep:
    """The step that installs the almgen of `targets.almgen`; its values reach the shell only as
    environment variables."""
    almgen = spec.almgen
    if almgen.form == "git":
        return BuildStep("Install almgen", catalog.INSTALL_ALMGEN_GIT, (("ALMGEN_GIT", almgen.source),))
    if almgen.form == "wheel":
        env = (("ALMGEN_WHEEL", almgen.source), ("ALMGEN_WHEEL_SHA256", almgen.sha256))
        return BuildStep("Install almgen", catalog.INSTALL_ALMGEN_WHEEL, env)
    return BuildStep("Install almgen", catalog.INSTALL_ALMGEN, (("ALMGEN_VERSION", almgen.source),))


def _build_checks(spec: Spec) -> tuple[BuildJob, ...]:
    """The spec and generated files, the infrastructure, and a security scan of the IaC, the
    repository's secrets and (GitHub) the workflows: all before packaging."""
    spec_env = (("ALMGEN_SPEC", spec.source.name),)
    jobs = [
        BuildJob(
            "check",
            "Spec and generated files",
            10,
            True,
            (
                _install_almgen(spec),
                BuildStep("Validate the spec", catalog.VALIDATE_SPEC, spec_env),
                BuildStep("Generated files match the spec", catalog.CHECK_GENERATED, spec_env),
            ),
        )
    ]
    scans = [
        BuildStep(
            "Scan for secrets (detect-secrets)",
            catalog.SECRETS_SCAN,
            (("DETECTOR_VERSION", catalog.DETECTOR_VERSION),),
        ),
        BuildStep(
            "Scan the workflows (zizmor, actionlint)",
            catalog.WORKFLOW_SCAN,
            (("ZIZMOR_VERSION", catalog.ZIZMOR_VERSION), ("ACTIONLINT_VERSION", catalog.ACTIONLINT_VERSION)),
            target="github-actions",
        ),
    ]
    if spec.infrastructure == "bicep":
        jobs.append(
            BuildJob(
                "infrastructure",
                "Bicep build and lint",
                10,
                False,
                (BuildStep("Build and lint", catalog.BICEP_BUILD_AND_LINT),),
            )
        )
        scans.insert(
            0,
            BuildStep(
                "Scan the infrastructure (checkov)",
                catalog.CHECKOV_SCAN,
                (("CHECKOV_VERSION", catalog.CHECKOV_VERSION),),
            ),
        )
    jobs.append(BuildJob("security", "Security scan", 15, True, tuple(scans)))
    return tuple(jobs)


def _number(value: float) -> int | float:
    """5.0 prints as 5 on every target; 2.5 stays 2.5."""
    return int(value) if float(value).is_integer() else value


def _inputs(spec: Spec, env: Environment, previous: Environment | None) -> dict[str, InputValue]:
    """What one environment passes to the environment template, each value formatted once."""
    strategy = env.strategy
    rollback = strategy.rollback
    tests = {t.name: t for t in spec.tests}
    # a bake once for every model, then each model's check may wait for its minimum of requests
    wait = health_wait_minutes(strategy.bake_minutes) if rollback and rollback.min_requests else 0
    watch_minutes = strategy.bake_minutes + wait * len(spec.models)
    # a swap is watched (and may wait for requests); an A/B test waits its duration, then compares
    swap_minutes = {"blue-green": watch_minutes, "ab": strategy.bake_minutes}.get(strategy.type, 0)
    if strategy.type == "ab" and any(g.kind == "evaluation" for g in spec.gates):
        swap_minutes += 2 * AB_EVALUATION_MINUTES  # the evaluation runs against both variants
    ab = strategy.ab
    decide = {"ab-decide": ab.decide if ab else ""} if manual_ab(spec) else {}
    return {
        "environment": env.name,
        "location": env.primary.region,
        "deployment": deployment_name(spec, env),
        "previous-environment": previous.name if previous else "",
        "previous-deployment": deployment_name(spec, previous) if previous else "",
        "gates": tuple(g.kind for g in env.gates),
        "strategy": strategy.type,
        "canary-steps": strategy.steps if strategy.type == "canary" else (),
        "bake-minutes": strategy.bake_minutes,
        "ab-split": ab.split if ab else 0,
        "ab-metric": ab.metric if ab else "",
        "ab-tolerance-percent": _number(ab.tolerance_percent) if ab else 0,
        **decide,
        "rollback-error-rate-percent": _number(rollback.error_rate_percent) if rollback else 0,
        "rollback-latency-p95-ms": (rollback.latency_p95_ms or 0) if rollback else 0,
        "rollback-min-requests": rollback.min_requests if rollback else 0,
        "health-wait-minutes": wait,
        "tests": tuple(t.name for t in env.tests),
        "test-target": "candidate" if strategy.type in ("blue-green", "ab") else "live",
        "train": bool(env.is_first and any(m.training_job for m in spec.custom_models)),
        "canary-timeout": watch_minutes + MARGIN,
        "finish-timeout": MARGIN + swap_minutes + sum(tests[t.name].timeout_minutes for t in env.tests),
    }


def deployment_name(spec: Spec, env: Environment) -> str:
    """The ARM deployment of an environment: stable, so the last outputs can be read back."""
    return f"{spec.service.name}-{env.name}"


def _provision_steps(spec: Spec) -> tuple[Step, ...]:
    steps = [
        Step("live-state", "Read the live state", "live-state"),
        Step("what-if", "What-if", "what-if"),
        Step("deploy-infra", "Deploy infrastructure", "deploy-infra"),
    ]
    if spec.fine_tuned_models:  # the account exists: fine-tune in it, then deploy what it made
        steps.append(Step("fine-tune", "Fine-tune the models whose inputs changed", "fine-tune"))
    for model in spec.custom_models:
        if model.training_job:
            steps.append(
                Step(
                    f"train-{model.name}",
                    f"Train {model.name}",
                    "train",
                    InputTrue("train"),
                    (("ALMGEN_MODEL", model.name), ("ALMGEN_TRAINING_JOB", model.training_job)),
                )
            )
    if spec.custom_models:
        steps.append(Step("register", "Publish custom models to the registry with lineage", "register"))
        steps.append(Step("deploy-infra-models", "Deploy the new model versions", "deploy-infra-models"))
        if any(env.strategy.type == "direct" for env in spec.environments):
            # an online endpoint serves only what its traffic map names: direct sends it all at once
            steps.append(
                Step(
                    "route-direct",
                    "Direct: send all traffic to the new model versions",
                    "route-direct",
                    InputEquals("strategy", "direct"),
                )
            )
    if spec.retrieval is not None:  # the models are deployed: the embedding deployment can index
        steps.append(
            Step("build-index", "Build the retrieval index (when its inputs changed)", "build-index")
        )
    return tuple(steps)


def _finish_steps(spec: Spec) -> tuple[Step, ...]:
    """After traffic is where it should be: agent candidates, tests, the blue-green swap, agents live,
    records."""
    steps = []
    if spec.agents:  # a new version of each agent, not live: the tests call it (ALMGEN_AGENT_<NAME>_VERSION)
        steps.append(
            Step("agent-candidates", "Create the candidate agent versions (not live)", "agent-candidates")
        )
    steps += [
        Step(f"test-{t.name}", f"Test: {t.name}", "test", InputHas("tests", t.name), (), t.timeout_minutes)
        for t in spec.tests
        if any(t in env.tests for env in spec.environments)
    ]
    if any(env.strategy.type == "blue-green" for env in spec.environments):
        steps.append(
            Step(
                "swap",
                "Blue-green: swap to the tested candidate and watch",
                "swap",
                InputEquals("strategy", "blue-green"),
            )
        )
    if any(env.strategy.type == "ab" for env in spec.environments):
        steps.append(
            Step(
                "ab-test",
                "A/B test: split the traffic, compare both variants, promote the winner",
                "ab-test",
                InputEquals("strategy", "ab"),
            )
        )
    if spec.retrieval is not None:  # the gates and tests passed: the new index serves
        steps.append(Step("switch-index", "Switch the retrieval alias to the new index", "switch-index"))
    if spec.agents:  # the tested versions go live once their model deployment serves
        steps.append(Step("deploy-agents", "Make the tested agent versions live", "deploy-agents"))
    steps.append(Step("release-record", "Release record", "release-record"))
    if spec.registry.retired:
        steps.append(Step("retire", "Remove retired versions", "retire"))
    if spec.registry.retired and spec.registry.cleanup and spec.custom_models:
        # opt-in: the training data only retired versions were trained on goes, with a certificate
        steps.append(Step("cleanup", "Delete the data no version needs", "cleanup"))
    if spec.custom_models:  # registry.retention.keepVersions: older registered versions are archived
        steps.append(Step("retain", "Archive versions past retention", "retain"))
    if spec.retrieval is not None:  # the same keepVersions, for index versions
        steps.append(Step("retain-indexes", "Delete index versions past retention", "retain-indexes"))
    if spec.foundation_models and any(env.strategy.type != "direct" for env in spec.environments):
        # last: a restore after a failure must find the previous colour still at full capacity
        steps.append(Step("standby", "Scale the standby colour down", "standby"))
    return tuple(steps)


def _ab_test(spec: Spec) -> bool:
    return any(env.strategy.type == "ab" for env in spec.environments)


MANUAL = InputEquals("ab-decide", "manual")
NOT_MANUAL = InputEquals("ab-decide", "manual", negate=True)


def _decided_later(steps: tuple[Step, ...]) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """A manual A/B test splits the finish job at the comparison: what follows it (index, agents,
    records, retention, standby) runs in the finish job without a manual decision, and after the
    approval, in the ab-promote job, with one. Returns (finish's steps, ab-promote's)."""
    cut = next(i for i, step in enumerate(steps) if step.kind == "ab-test") + 1
    tail = steps[cut:]
    assert all(step.condition is None for step in tail), "a later finish step with its own condition"
    promote = Step("ab-promote", "A/B test: the approved candidate takes all traffic", "ab-promote")
    return (
        steps[:cut] + tuple(replace(step, condition=NOT_MANUAL) for step in tail),
        (promote, *tail),
    )


def _decision_jobs(finish: Job) -> tuple[Job, ...]:
    """After a manual A/B test's comparison: the person's decision, then promote or restore.

    The decision job holds no credential (GitHub: the `<env>-ab-decision` environment's reviewers;
    Azure DevOps: an agentless ManualValidation task). ab-promote runs once it succeeded; ab-restore
    runs when the comparison succeeded and the decision did not (rejected, timed out, cancelled),
    puts the saved routing back and fails the run before the next environment.
    """
    decision = Job("ab-decision", "ab-decision", "A/B decision", ("finish",), MANUAL, "environment", 5)
    promote = replace(
        finish,
        id="ab-promote",
        name="A/B promote",
        needs=("ab-decision",),
        condition=MANUAL,
        steps=(),
        produces="",
        reads=(*finish.reads, "finish"),
    )
    restore = Job(
        "ab-restore",
        "rollback",
        "A/B restore",
        ("finish", "ab-decision", "ab-promote"),
        MANUAL,
        "environment",
        ROLLBACK_TIMEOUT,
        (Step("rollback", "Roll back", "rollback"),),
        reads=("provision", "finish"),
        rolls_back_after="finish",
        unless="ab-decision",
    )
    return decision, promote, restore


def _requirements(setups: list[Setup | None]) -> tuple[str, ...]:
    """The pip requirements files of some commands' setups, once each, in order."""
    return tuple(dict.fromkeys(s.requirements for s in setups if s is not None and s.requirements))


def _jobs(spec: Spec) -> tuple[Job, ...]:
    """The environment template's job graph: gates, provision, one job per canary step, finish."""
    jobs = []
    if any(env.gates for env in spec.environments):
        jobs.append(
            Job(
                "gates",
                "gates",
                "Gates",
                (),
                InputNonEmpty("gates"),
                "previous-environment",
                GATES_TIMEOUT,
                produces="gates",
                pip_requirements=_requirements([g.setup for g in spec.gates]),
            )
        )
    jobs.append(
        Job(
            "provision",
            "provision",
            "Provision",
            ("gates",) if jobs else (),
            None,
            "environment",
            PROVISION_TIMEOUT,
            _provision_steps(spec),
            produces="state",
        )
    )
    slots = max((len(e.strategy.steps) for e in spec.environments if e.strategy.type == "canary"), default=0)
    for index in range(1, slots + 1):
        jobs.append(
            Job(
                f"canary-{index}",
                "canary-step",
                f"Canary step {index}",
                (jobs[-1].id,),
                InputLongerThan("canary-steps", index - 1),
                "environment",
                "canary-timeout",
                (Step(f"canary-{index}", f"Canary step {index}", "canary"),),
                canary_index=index,
                produces="routing" if index == 1 else "",
                reads=("provision",) if index == 1 else ("provision", "canary-1"),
                restores=True,
            )
        )
    finish_steps, promote_steps = _finish_steps(spec), tuple[Step, ...]()
    if manual_ab(spec):
        finish_steps, promote_steps = _decided_later(finish_steps)
    jobs.append(
        Job(
            "finish",
            "finish",
            "Finish",
            tuple(j.id for j in jobs if j.kind in ("provision", "canary-step")),
            None,
            "environment",
            "finish-timeout",
            finish_steps,
            reads=tuple(j.id for j in jobs if j.id in ("gates", "provision", "canary-1")),
            restores=True,
            pip_requirements=_requirements(
                [t.setup for t in spec.tests if any(t in env.tests for env in spec.environments)]
                # an A/B test runs the evaluation gate's command against both variants
                + [g.setup for g in spec.gates if g.kind == "evaluation" and _ab_test(spec)]
            ),
        )
    )
    if manual_ab(spec):  # the comparison's routing and verdict go to the jobs after the decision
        jobs[-1] = replace(jobs[-1], produces="ab-test")
        decision, promote, restore = _decision_jobs(jobs[-1])
        jobs += [decision, replace(promote, steps=promote_steps), restore]
    if slots:
        jobs.append(_rollback_job(tuple(jobs)))
    return tuple(jobs)


def _rollback_job(jobs: tuple[Job, ...]) -> Job:
    """Puts the routing back when the run fails or is cancelled between two jobs of a canary.

    Each canary step job and the finish job restore the routing themselves when they fail or are
    cancelled; a cancellation after one job ended and before the next started leaves no job to do
    it, so this one, after every job of the rollout, does (again, harmlessly, after a failure).
    """
    rollout = tuple(j.id for j in jobs if j.kind in ("provision", "canary-step", "finish"))
    return Job(
        "rollback",
        "rollback",
        "Roll back",
        rollout,
        InputLongerThan("canary-steps", 0),
        "environment",
        ROLLBACK_TIMEOUT,
        (Step("rollback", "Roll back", "rollback"),),
        reads=("provision", "canary-1"),
        rolls_back_after="canary-1",
    )


def plan(spec: Spec) -> Plan:
    jobs = _jobs(spec)
    envs = []
    previous: Environment | None = None
    for env in spec.environments:
        inputs = _inputs(spec, env, previous)
        envs.append(
            EnvironmentPlan(
                env,
                previous.name if previous else None,
                tuple(GateJob(gate, previous.name if previous else None) for gate in env.gates),
                deployment_name(spec, env),
                tuple(inputs.items()),
                tuple(j for j in jobs if holds(j.condition, inputs)),
            )
        )
        previous = env
    return Plan(
        spec.service.name,
        BuildPlan(_build_checks(spec), _package_paths(spec)),
        jobs,
        tuple(envs),
        bool(spec.registry.retired),
    )
