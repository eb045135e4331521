"""The state one attempt of a workflow run shares across its jobs: the world, the run's identity,
vars and secrets, approvals, the cancellation, and the runner's own stand-ins on PATH."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.rehearse.github.artifacts import ArtifactStore
from generator.rehearse.github.results import JobResult
from generator.rehearse.world import World

CANCEL_GRACE = 300.0  # GitHub forcibly ends what still runs 5 minutes after a cancellation
STEP_SETUP = 6.0  # each step moves the clock 0.1 minute, so timelines have an order


@dataclass
class RunState:
    world: World
    snapshot: Path
    run_dir: Path
    run_id: int
    attempt: int
    event: str
    ref: str
    sha: str
    repository: str
    workflow_name: str
    vars: dict[str, str]
    secrets: dict[str, str]
    environment_vars: dict[str, dict[str, str]]
    environment_secrets: dict[str, dict[str, str]]
    approvals: dict[str, list[str]]
    dispatch_inputs: dict[str, Any]
    store: ArtifactStore
    wall_seconds: float
    bin: Path
    previous: dict[str, JobResult] | None = None  # re-run failed jobs: the earlier attempt's jobs
    cancel_at: float | None = None
    cancel_recorded: bool = False
    armed: set[int] = field(default_factory=set)  # the cancel faults already started
    jobs: dict[str, JobResult] = field(default_factory=dict)

    # cancellation ---------------------------------------------------------------------------
    def cancelled(self) -> bool:
        if self.cancel_at is None or self.world.now() < self.cancel_at:
            return False
        if not self.cancel_recorded:
            self.cancel_recorded = True
            self.world.record("github.cancel", run=self.run_id, attempt=self.attempt, reason="fault")
        return True

    def arm_cancel(self, environment: str | None) -> None:
        """A `cancel` fault: the run is cancelled N minutes after the first job bound to `env` started."""
        for index, fault in enumerate(self.world.faults()):
            if fault.get("kind") != "cancel" or index in self.armed or fault.get("env") != environment:
                continue
            if "job" in fault or ("attempt" in fault and int(fault["attempt"]) != self.attempt):
                continue
            self.armed.add(index)
            self._cancel(self.world.now() + float(fault.get("minutes", 0)) * 60)

    def cancel_before_job(self, job_id: str, environment: str | None) -> None:
        """A `cancel` fault at a job boundary: the run is cancelled just as `job_id` would start."""
        for index, fault in enumerate(self.world.faults()):
            if fault.get("kind") != "cancel" or index in self.armed or fault.get("job") != job_id:
                continue
            if fault.get("env") != environment or int(fault.get("attempt", self.attempt)) != self.attempt:
                continue
            self.armed.add(index)
            self._cancel(self.world.now())

    def _cancel(self, at: float) -> None:
        self.cancel_at = at if self.cancel_at is None else min(self.cancel_at, at)

    def approval_fault(self, environment: str, job: str) -> dict[str, Any] | None:
        for fault in self.world.faults():
            if fault.get("kind") != "approval" or environment not in (
                fault.get("env"),
                fault.get("githubEnvironment"),
            ):
                continue
            if "attempt" in fault and int(fault["attempt"]) != self.attempt:
                continue
            if "job" in fault and str(fault["job"]) not in job:
                continue
            return fault
        return None

    # what every step sees -------------------------------------------------------------------
    def github_context(self, job_id: str) -> dict[str, Any]:
        ref_name = (
            self.ref.rsplit("/", 1)[-1] if self.ref.startswith("refs/heads/") else self.ref.split("/", 2)[-1]
        )
        owner = self.repository.split("/")[0]
        return {
            "event_name": self.event,
            "ref": self.ref,
            "ref_name": ref_name,
            "ref_type": "tag" if self.ref.startswith("refs/tags/") else "branch",
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": owner,
            "run_id": str(self.run_id),
            "run_number": str(self.run_id % 1000),
            "run_attempt": str(self.attempt),
            "workflow": self.workflow_name,
            "actor": "rehearse",
            "triggering_actor": "rehearse",
            "job": job_id,
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "graphql_url": "https://api.github.com/graphql",
            "event": self.event_payload(),
            "token": "ghs_rehearse",
            "action": "",
            "workspace": "",
            "base_ref": "main" if self.event == "pull_request" else "",
            "head_ref": "feature" if self.event == "pull_request" else "",
            "retention_days": "90",
        }

    def event_payload(self) -> dict[str, Any]:
        repository = {
            "full_name": self.repository,
            "name": self.repository.split("/")[-1],
            "default_branch": "main",
        }
        if self.event == "pull_request":
            return {
                "action": "opened",
                "number": 1.0,
                "repository": repository,
                "pull_request": {
                    "number": 1.0,
                    "head": {"ref": "feature", "sha": self.sha},
                    "base": {"ref": "main"},
                },
            }
        if self.event == "workflow_dispatch":
            return {"inputs": dict(self.dispatch_inputs), "ref": self.ref, "repository": repository}
        if self.event == "schedule":
            return {"schedule": "", "repository": repository}
        return {"ref": self.ref, "after": self.sha, "before": "0" * 40, "repository": repository}

    def base_environ(self) -> dict[str, str]:
        """The host's environment without a host runner's variables, the world's stand-ins first."""
        host = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_"))}
        # the host's virtualenv is not on a hosted runner: its packages come only through `python`
        venv_bin = os.path.dirname(sys.executable)
        host.pop("VIRTUAL_ENV", None)
        host["PATH"] = os.pathsep.join(
            p for p in host.get("PATH", "").split(os.pathsep) if p and p != venv_bin
        )
        env = self.world.environ(host)
        env["PATH"] = f"{self.bin}{os.pathsep}{env['PATH']}"
        return env


def write_event(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
