"""Run time, the whole run: variables, stages and jobs in `dependsOn` order, conditions,
environment approvals, cancellation, re-runs of failed jobs.

Stages default to depending on the stage before; jobs default to no dependency. A stage or job
without `condition:` runs on `succeeded()` of its dependencies. Approvals of every environment
a stage targets are decided before any job of that stage starts. A `cancel` fault cancels the
run N simulated minutes after the first job targeting its environment started.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.rehearse.devops import steps as st
from generator.rehearse.devops.errors import DevOpsError
from generator.rehearse.devops.expressions import run as run_expression
from generator.rehearse.devops.expressions import to_str, truthy
from generator.rehearse.devops.jobs import fresh_workspace, run_job
from generator.rehearse.devops.results import (
    CANCELED,
    FAILED,
    OK,
    SKIPPED,
    SUCCEEDED,
    JobResult,
    RunResult,
    StageResult,
)
from generator.rehearse.devops.templates import expand_file
from generator.rehearse.stand_in_server import serving
from generator.rehearse.tools import head_commit, write_tools
from generator.rehearse.world import World

MAX_JOB_MINUTES = 360  # hosted agents: timeoutInMinutes 0 means this
_RUNTIME = re.compile(r"^\s*\$\[(.*)\]\s*$", re.S)


def _name(item: dict[str, Any]) -> str:
    return to_str(item.get("stage") or item.get("job") or item.get("deployment") or "")


def _list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [to_str(v) for v in value]
    return [to_str(value)] if to_str(value) else []


def _environment(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    if env is None or "deployment" not in job:
        return None
    name = to_str(env.get("name")) if isinstance(env, dict) else to_str(env)
    return name.split(".", 1)[0]


def _connections(job: Any) -> set[str]:
    """The service connections a job's tasks name (`azureSubscription`, `connectedServiceNameARM`):
    their checks apply to any job that uses them, deployment job or not."""
    if isinstance(job, list):
        return {name for item in job for name in _connections(item)}
    if not isinstance(job, dict):
        return set()
    found = {
        to_str(value)
        for key, value in job.items()
        if key in ("azureSubscription", "connectedServiceNameARM") and isinstance(value, str)
    }
    return found | {name for value in job.values() for name in _connections(value)}


def _variables(value: Any, notes: list[str]) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), to_str(v)) for k, v in value.items()]
    pairs = []
    for item in value:
        if "group" in item:
            notes.append(f"variable group {item['group']} ignored")
        elif "name" in item:
            pairs.append((to_str(item["name"]), to_str(item.get("value"))))
    return pairs


def _status(results: dict[str, str], deps: list[str], canceled: bool) -> dict[str, Callable[..., bool]]:
    def pick(names: tuple[Any, ...]) -> list[str]:
        return [results.get(to_str(n), SKIPPED) for n in (names or deps)]

    return {
        "succeeded": lambda *n: not canceled and all(r in OK for r in pick(n)),
        "failed": lambda *n: not canceled and any(r == FAILED for r in pick(n)),
        "succeededorfailed": lambda *n: not canceled and all(r in (*OK, FAILED) for r in pick(n)),
        "always": lambda *n: True,
        "canceled": lambda *n: canceled,
    }


def _order(
    items: list[dict[str, Any]], default_previous: bool, what: str
) -> list[tuple[dict[str, Any], list[str]]]:
    names = [_name(i) for i in items]
    deps: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        declared = _list(item.get("dependsOn"))
        if declared is None:
            declared = [names[index - 1]] if default_previous and index else []
        for dep in declared:
            if dep not in names:
                raise DevOpsError(f"{what} {names[index]} depends on unknown {what} {dep}")
        deps[names[index]] = declared
    ordered: list[tuple[dict[str, Any], list[str]]] = []
    done: set[str] = set()
    while len(done) < len(items):
        ready = [i for i in items if _name(i) not in done and all(d in done for d in deps[_name(i)])]
        if not ready:
            raise DevOpsError(f"the {what}s' dependsOn form a cycle")
        ordered.append((ready[0], deps[_name(ready[0])]))
        done.add(_name(ready[0]))
    return ordered


class _Run:
    def __init__(self, result: RunResult, world: World, previous: RunResult | None) -> None:
        self.r = result
        self.world = world
        self.previous = previous
        self.cancel_time: float | None = None
        self.current: StageResult | None = None
        self.current_deps: list[str] = []  # the dependsOn of the current stage
        self.approved: set[str] = set(result.options.get("approved", []))

    @property
    def canceled(self) -> bool:
        return self.cancel_time is not None and self.world.now() >= self.cancel_time

    def stages(self) -> None:
        doc = self.r.expanded
        stages = doc.get("stages")
        if stages is None:
            stages = [
                {"stage": "__default", "jobs": doc.get("jobs") or [{"job": "Job", "steps": doc.get("steps")}]}
            ]
        results: dict[str, str] = {}
        for stage, deps in _order(list(stages), True, "stage"):
            name = _name(stage)
            prev = self.previous.stages.get(name) if self.previous else None
            if prev is not None and prev.result in OK:
                self.r.stages[name] = prev
                results[name] = prev.result
                continue
            attempt = prev.attempt + 1 if prev else 1
            names = {"variables": self._base_vars(), "dependencies": self._stage_deps(deps)}
            condition = to_str(stage.get("condition") or "succeeded()")
            if not truthy(run_expression(condition, names, _status(results, deps, self.canceled))):
                self.r.stages[name] = StageResult(name, SKIPPED, attempt)
                self.world.record("stage", stage=name, result=SKIPPED, attempt=attempt)
                results[name] = SKIPPED
                continue
            self.world.record("stage", stage=name, event="start", attempt=attempt)
            result = self.stage(stage, attempt, prev, deps)
            self.r.stages[name] = result
            results[name] = result.result
            self.world.record("stage", stage=name, result=result.result, attempt=attempt)
        self.r.canceled = self.canceled
        finals = [s.result for s in self.r.stages.values()]
        self.r.result = (
            CANCELED
            if self.r.canceled
            else FAILED
            if FAILED in finals
            else SUCCEEDED
            if all(f in (*OK, SKIPPED) for f in finals)
            else CANCELED
        )

    def _base_vars(self) -> dict[str, str]:
        return dict(self.r.options["variables"])

    def _stage_deps(self, deps: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for dep in deps:
            stage = self.r.stages.get(dep)
            if stage is None:
                continue
            outputs = {f"{j.name}.{k}": v for j in stage.jobs.values() for k, v in j.outputs.items()}
            out[dep] = {"result": stage.result, "outputs": outputs}
        return out

    def _stage_dependencies(self) -> dict[str, Any]:
        """`stageDependencies` of a job: only the stages its stage depends on, as Azure gives it."""
        stages = [self.r.stages[d] for d in self.current_deps if d in self.r.stages]
        return {
            s.name: {
                "result": s.result,
                **{j.name: {"result": j.result, "outputs": j.outputs} for j in s.jobs.values()},
            }
            for s in stages
        }

    def stage(
        self, stage: dict[str, Any], attempt: int, prev: StageResult | None, stage_deps: list[str]
    ) -> StageResult:
        name = _name(stage)
        out = StageResult(name, SUCCEEDED, attempt)
        self.current = out
        self.current_deps = stage_deps
        variables = self._base_vars()
        variables.update(_variables(stage.get("variables"), self.r.warnings))
        variables.update({"System.StageName": name, "System.StageAttempt": str(attempt)})
        jobs = list(stage.get("jobs") or [])
        waiting = self.unpermitted(jobs)
        rejected = set() if waiting else self.approvals(name, jobs)
        results: dict[str, str] = {}
        for job, deps in _order(jobs, False, "job"):
            jname = _name(job)
            kept = prev.jobs.get(jname) if prev else None
            if kept is not None and kept.result in OK:
                kept.kept = True
                out.jobs[jname] = kept
                results[jname] = kept.result
                continue
            job_attempt = kept.attempt + 1 if kept else 1
            env = _environment(job)
            if waiting:
                result = JobResult(
                    name,
                    jname,
                    FAILED,
                    job_attempt,
                    message=f"This pipeline needs permission to access {', '.join(waiting)} "
                    "before this run can continue (no one permitted it)",
                    environment=env,
                )
            elif rejected:
                result = JobResult(
                    name,
                    jname,
                    FAILED if env in rejected else SKIPPED,
                    job_attempt,
                    message=f"The check of environment {env} was rejected" if env in rejected else "",
                    environment=env,
                )
            else:
                result = self.job(stage, job, deps, results, variables, job_attempt, attempt)
            out.jobs[jname] = result
            results[jname] = result.result
        finals = [j.result for j in out.jobs.values()]
        out.result = (
            FAILED
            if FAILED in finals
            else CANCELED
            if CANCELED in finals
            else SKIPPED
            if finals and all(f == SKIPPED for f in finals)
            else "SucceededWithIssues"
            if "SucceededWithIssues" in finals
            else SUCCEEDED
        )
        return out

    def unpermitted(self, jobs: list[dict[str, Any]]) -> list[str]:
        """The environments and service connections of the stage's jobs this pipeline may not use
        (none when every pipeline may use everything): Azure DevOps holds the stage until someone
        permits them, which in a rehearsal no one does."""
        permitted = self.r.options.get("permitted")
        if permitted is None:
            return []
        used = {("environment", e) for e in (_environment(j) for j in jobs) if e}
        used |= {("endpoint", c) for c in _connections(jobs)}
        label = {"environment": "environment", "endpoint": "service connection"}
        return [f"{label[kind]} {name}" for kind, name in sorted(used - permitted)]

    def approvals(self, stage: str, jobs: list[dict[str, Any]]) -> set[str]:
        rejected: set[str] = set()
        approvers = self.r.options["approvals"]
        # environments (deployment jobs) and service connections (any job) with checks
        resources = {e for e in (_environment(j) for j in jobs) if e} | _connections(jobs)
        for env in sorted(resources):
            if env not in approvers or env in self.approved:
                continue
            fault = next(
                (
                    f
                    for f in self.world.faults()
                    if f.get("kind") == "approval" and f.get("env") == env and not f.get("manualValidation")
                ),
                None,
            )
            decision = to_str((fault or {}).get("decision", "approve")).lower()
            self.world.record(
                "approval",
                stage=stage,
                env=env,
                approvers=approvers[env],
                decision="rejected" if decision == "reject" else "approved",
            )
            if decision == "reject":
                rejected.add(env)
            else:
                self.approved.add(env)
        self.r.options["approved"] = sorted(self.approved)
        return rejected

    def _cancel_before(self, job: str, env: str | None) -> None:
        """A `cancel` fault at a job boundary: the run is cancelled just as `job` would start."""
        for fault in self.world.faults():
            at_job = fault.get("devops_job") == job and fault.get("env") == env
            if fault.get("kind") == "cancel" and at_job and self.cancel_time is None:
                self.cancel_time = self.world.now()

    def job(  # noqa: PLR0917
        self,
        stage: dict[str, Any],
        job: dict[str, Any],
        deps: list[str],
        results: dict[str, str],
        stage_vars: dict[str, str],
        attempt: int,
        stage_attempt: int,
    ) -> JobResult:
        sname, jname = _name(stage), _name(job)
        env = _environment(job)
        done = self.current.jobs if self.current is not None else {}
        dependencies = {
            d: {"result": results.get(d, SKIPPED), "outputs": done[d].outputs if d in done else {}}
            for d in deps
        }
        names = {
            "variables": stage_vars,
            "dependencies": dependencies,
            "stageDependencies": self._stage_dependencies(),
        }
        variables = dict(stage_vars)
        for key, value in _variables(job.get("variables"), self.r.warnings):
            runtime = _RUNTIME.match(value)
            variables[key] = to_str(run_expression(runtime.group(1), names)) if runtime else value
        condition = to_str(job.get("condition") or "succeeded()")
        self._cancel_before(jname, env)
        if not truthy(
            run_expression(
                condition, {**names, "variables": variables}, _status(results, deps, self.canceled)
            )
        ):
            self.world.record("job", stage=sname, job=jname, result=SKIPPED, attempt=attempt)
            return JobResult(sname, jname, SKIPPED, attempt, environment=env)
        timeout = float(to_str(job.get("timeoutInMinutes") or 60)) or MAX_JOB_MINUTES
        timeout = min(timeout, MAX_JOB_MINUTES)
        cancel_timeout = float(to_str(job.get("cancelTimeoutInMinutes") or 5))
        self.world.record("job", stage=sname, job=jname, event="start", attempt=attempt, environment=env)
        if env and self.cancel_time is None:
            fault = next(
                (
                    f
                    for f in self.world.faults()
                    if f.get("kind") == "cancel" and f.get("env") == env and "job" not in f
                ),
                None,
            )
            if fault:
                self.cancel_time = self.world.now() + float(fault.get("minutes", 0)) * 60
        root = self.world.root / "devops" / f"run{self.r.build_id}"

        def make_ctx(hook: str) -> st.JobContext:
            start = self.world.now()
            workspace = fresh_workspace(root / "agents" / f"{sname}.{jname}.{attempt}.{hook or 'job'}")
            system = {
                "Build.BuildId": str(self.r.build_id),
                "Build.BuildNumber": str(self.r.build_id),
                "Build.SourcesDirectory": str(workspace / "s"),
                "System.DefaultWorkingDirectory": str(workspace / "s"),
                "Build.ArtifactStagingDirectory": str(workspace / "a"),
                "Build.StagingDirectory": str(workspace / "a"),
                "Build.BinariesDirectory": str(workspace / "b"),
                "Pipeline.Workspace": str(workspace),
                "Agent.BuildDirectory": str(workspace),
                "Agent.TempDirectory": str(workspace / "_temp"),
                "System.JobName": jname,
                "System.JobDisplayName": to_str(job.get("displayName") or jname),
                "System.JobAttempt": str(attempt),
                "System.StageAttempt": str(stage_attempt),
                "Agent.JobStatus": "Succeeded",
                "Agent.OS": "Linux",
                "TF_BUILD": "True",  # every agent sets it: scripts know they run on Azure Pipelines
            }
            if env:
                system["Environment.Name"] = env
            return st.JobContext(
                world=self.world,
                repo=self.r.repo,
                workspace=workspace,
                variables={**variables, **system},
                secrets=set(),
                build_id=self.r.build_id,
                artifacts=self.r.artifacts,
                artifact_root=root / "artifacts",
                job_deadline=start + timeout * 60,
                cancel_at=lambda: self.cancel_time,
                service_connections=self.r.options["service_connections"],
                timeout_minutes=timeout,
                tools=write_tools(root / "tools"),
                cancel_timeout_minutes=cancel_timeout,
            )

        result, step_results, outputs, message = run_job(job, make_ctx)
        self.world.record("job", stage=sname, job=jname, result=result, attempt=attempt, message=message)
        return JobResult(sname, jname, result, attempt, step_results, outputs, message, env)


def run_pipeline(
    repo: Path,
    pipeline: str,
    world: World,
    *,
    branch: str = "main",
    variables: dict[str, str] | None = None,
    approvals: dict[str, list[str]] | None = None,
    service_connections: dict[str, dict[str, str]] | None = None,
    build_id: int = 1,
    permitted: set[tuple[str, str]] | None = None,
) -> RunResult:
    """Run an Azure DevOps pipeline of `repo` (attempt 1) against the world.

    PERMITTED: the ("environment" | "endpoint", name) this pipeline may use (None: any)."""
    base = _system(repo, branch, build_id)
    expanded, warnings = expand_file(repo, pipeline, {**base, **(variables or {})})
    pipeline_vars = dict(base)
    pipeline_vars.update(_variables(expanded.get("variables"), warnings))
    pipeline_vars.update(variables or {})
    result = RunResult(
        repo,
        pipeline,
        build_id,
        SUCCEEDED,
        {},
        {},
        expanded,
        warnings,
        options={
            "variables": pipeline_vars,
            "approvals": dict(approvals or {}),
            "service_connections": dict(service_connections or {}),
            "world": world,
            "approved": [],
            "permitted": None if permitted is None else set(permitted),
        },
    )
    artifacts = world.root / "devops" / f"run{build_id}" / "artifacts"
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    world.record("run", pipeline=pipeline, build=build_id, event="start")
    with serving(world):
        _Run(result, world, None).stages()
    world.record("run", pipeline=pipeline, build=build_id, result=result.result)
    return result


def rerun_failed(previous: RunResult) -> RunResult:
    """ "Rerun failed jobs": the same run, failed stages and jobs again, successful ones kept."""
    world: World = previous.options["world"]
    result = RunResult(
        previous.repo,
        previous.pipeline,
        previous.build_id,
        SUCCEEDED,
        {},
        previous.artifacts,
        previous.expanded,
        list(previous.warnings),
        options=dict(previous.options),
    )
    world.record("run", pipeline=previous.pipeline, build=previous.build_id, event="rerun")
    with serving(world):
        _Run(result, world, previous).stages()
    world.record("run", pipeline=previous.pipeline, build=previous.build_id, result=result.result)
    return result


def expand(repo: Path, pipeline: str, *, branch: str = "main") -> dict[str, Any]:
    """The fully expanded pipeline (templates and `${{ }}` resolved)."""
    return expand_file(repo, pipeline, _system(repo, branch, 1))[0]


def _system(repo: Path, branch: str, build_id: int) -> dict[str, str]:
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    return {
        "Build.SourceBranch": ref,
        "Build.SourceBranchName": ref.rsplit("/", 1)[-1],
        "Build.SourceVersion": head_commit(repo),
        "Build.Reason": "IndividualCI",
        "Build.BuildId": str(build_id),
        "Build.Repository.Name": repo.name,
        "System.TeamProject": "rehearsal",
        "System.CollectionUri": "https://dev.azure.com/rehearsal/",
    }
