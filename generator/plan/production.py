"""Scheduled production evaluation (`monitoring.evaluation`): what the lifecycle workflow runs, and when.

The lifecycle workflow (weekly without it) runs on the evaluation's schedule, and one job evaluates the
last environment: in each of its regions, the evaluation gate's command (and the safety gate's) against
what serves, judged by gate.py with the gates' thresholds. quality.py sends the result of each region as
a custom event to that region's Application Insights; alerts.bicep alerts through the action group on a
failed result and when no result arrived for two intervals (a schedule that stopped).
"""

from __future__ import annotations

from generator.frozen import frozen
from generator.plan.build import deployment_name
from generator.spec.model import Environment, Spec
from generator.spec.naming import monitoring_connection, monitoring_environment

EVENT = "almgen.production-evaluation"  # the custom event's name (AppEvents.Name)
WEEKLY = "17 6 * * 1"  # the model lifecycle checks, without a production evaluation
CRONS = {"hourly": "17 * * * *", "daily": "17 6 * * *"}
# (the schedule's interval, how long without a result before the heartbeat alert fires), ISO 8601
INTERVALS = {"hourly": ("PT1H", "PT2H"), "daily": ("P1D", "P2D")}


@frozen
class ProductionGate:
    kind: str  # evaluation or safety: the gate of commands.json and gates.json
    results_variable: str  # the environment variable the command writes its results to


@frozen
class ProductionEvaluation:
    environment: Environment  # the last environment: production
    deployment: str  # its ARM deployment, whose outputs name the regions' endpoints
    gates: tuple[ProductionGate, ...]
    cron: str
    interval: str
    missing: str
    monitoring_environment: str  # GitHub: the reviewer-free environment of the monitoring identity
    monitoring_connection: str  # Azure DevOps: the monitoring identity's service connection

    @property
    def cron_title(self) -> str:
        return "Hourly" if self.cron == CRONS["hourly"] else "Daily"

    @property
    def gate_arguments(self) -> str:
        """quality.py's --gate KIND=VARIABLE arguments (names the schema restricts to [a-z_A-Z0-9])."""
        return " ".join(f"--gate {gate.kind}={gate.results_variable}" for gate in self.gates)


def production_evaluation(spec: Spec) -> ProductionEvaluation | None:
    settings = spec.monitoring.evaluation
    if settings is None or spec.evaluation is None:
        return None
    gates = [spec.evaluation]
    if settings.safety and spec.safety is not None:
        gates.append(spec.safety)
    env = spec.environments[-1]
    interval, missing = INTERVALS[settings.schedule]
    return ProductionEvaluation(
        environment=env,
        deployment=deployment_name(spec, env),
        gates=tuple(ProductionGate(gate.kind, gate.results_variable) for gate in gates),
        cron=CRONS[settings.schedule],
        interval=interval,
        missing=missing,
        monitoring_environment=monitoring_environment(env.name),
        monitoring_connection=monitoring_connection(env.service_connection),
    )


def lifecycle_cron(spec: Spec) -> str:
    """When the lifecycle workflow runs: the production evaluation's schedule, else weekly."""
    evaluation = production_evaluation(spec)
    return evaluation.cron if evaluation else WEEKLY


def bicep_parameter(spec: Spec, env: Environment) -> dict[str, str]:
    """main.bicep's productionEvaluation: the alert rules' settings in the last environment, else {}."""
    evaluation = production_evaluation(spec)
    if evaluation is None or evaluation.environment.name != env.name:
        return {}
    return {"event": EVENT, "interval": evaluation.interval, "missing": evaluation.missing}


def script(evaluation: ProductionEvaluation, temp: str) -> str:
    """The job's bash: read the environment's outputs, write one contract per region (what serves now:
    no --target, so the live deployments and agent versions), evaluate and report. TEMP is the CI's
    temporary folder variable (`${RUNNER_TEMP}`, `${AGENT_TEMPDIRECTORY}`); values come from env."""
    outputs, contracts, out = f'"{temp}/outputs.json"', f'"{temp}/contracts"', f'"{temp}/quality"'
    return "\n".join(
        [
            "set -euo pipefail",
            'az deployment sub show --name "$ALMGEN_DEPLOYMENT" --query properties.outputs --output json'
            f" > {outputs}",
            f'python .almgen/scripts/contract.py --outputs {outputs} --env "$ALMGEN_ENVIRONMENT"'
            f" --release .almgen/release.json --out-dir {contracts}",
            f'python .almgen/scripts/quality.py evaluate --env "$ALMGEN_ENVIRONMENT" --outputs {outputs}'
            f" --contracts {contracts} {evaluation.gate_arguments} --out {out}",
        ]
    )
