"""The shell of each deploy step, shared by GitHub Actions and Azure DevOps.

Scripts read only environment variables: spec values are set in the step's `env` by the
renderer (escaped), per-environment inputs through `inputs` (a target maps them to its own
syntax: `inputs.x` on GitHub, `parameters.x` on Azure DevOps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from generator.plan.build import Plan, Step
from generator.spec.model import Spec

RELEASE = "release"  # where the promoted artifact is downloaded
SCRIPTS = f"{RELEASE}/.almgen/scripts"
RELEASE_JSON = f"{RELEASE}/.almgen/release.json"
COMMON = f"--release {RELEASE_JSON} --root {RELEASE}"  # models.py and agents.py read paths from the artifact

_SHOW_OUTPUTS = """\
if az deployment sub show --name "$ALMGEN_DEPLOYMENT" --query properties.outputs --output json \\
    > outputs-before.json 2> show-error.txt; then
  :
elif grep -q DeploymentNotFound show-error.txt; then
  echo '{}' > outputs-before.json
else
  cat show-error.txt >&2
  exit 1
fi"""

_INFRA = (
    '--name "$ALMGEN_DEPLOYMENT" --location "$ALMGEN_LOCATION" '
    f"--template-file {RELEASE}/infra/main.bicep "
    f'--parameters "{RELEASE}/infra/env/${{ALMGEN_ENVIRONMENT}}.bicepparam"'
)
_DEPLOY = f"az deployment sub create {_INFRA} --query properties.outputs --output json > outputs.json"


@dataclass(frozen=True)
class ShellStep:
    id: str
    name: str
    script: str
    env: tuple[tuple[str, str], ...] = ()  # literal values from the spec
    inputs: tuple[tuple[str, str], ...] = ()  # environment variable -> per-environment input
    when: str = ""  # "" always; "train"; "tests has <name>"; "strategy == <type>"
    timeout: int | None = None


KIND_ORDER = (
    "live-state",
    "what-if",
    "deploy-infra",
    "train",
    "register",
    "deploy-infra-models",
    "canary",
    "test",
    "swap",
    "deploy-agents",
    "retire",
)


def union_steps(spec: Spec, plan: Plan, kinds: tuple[str, ...] = KIND_ORDER) -> list[ShellStep]:
    """Every environment's shell steps of the given kinds, once each, in deploy order.

    A pipeline's per-environment deploy template holds this union; each step carries the
    condition (`when`) under which an environment runs it.
    """
    seen: dict[str, tuple[int, int, ShellStep]] = {}
    for env_plan in plan.environments:
        for step in env_plan.steps:
            if step.kind not in kinds:
                continue
            for shell in shell_steps(spec, step):
                if shell.id not in seen:
                    seen[shell.id] = (KIND_ORDER.index(step.kind), len(seen), shell)
    return [shell for _, _, shell in sorted(seen.values(), key=lambda item: item[:2])]


def _script(*lines: str) -> str:
    """A bash script that stops at the first failure (Azure DevOps does not set -e for us)."""
    return "\n".join(("set -euo pipefail", *lines)) + "\n"


def _python(script: str, arguments: str) -> str:
    return f'python "{SCRIPTS}/{script}.py" {arguments}'


def shell_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """The shell steps that carry out a Plan step (one per model for traffic steps)."""
    kind = step.kind
    env = '--env "$ALMGEN_ENVIRONMENT"'
    if kind == "live-state":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    _SHOW_OUTPUTS,
                    _python("traffic", f"state --outputs outputs-before.json {env} > live-state.json"),
                ),
            )
        ]
    if kind == "what-if":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    f'ALMGEN_LIVE_STATE="$(cat live-state.json)" az deployment sub what-if {_INFRA} \\',
                    "  --exclude-change-types NoChange Ignore",
                ),
            )
        ]
    if kind == "deploy-infra":
        return [
            ShellStep(step.id, step.name, _script(f'ALMGEN_LIVE_STATE="$(cat live-state.json)" {_DEPLOY}'))
        ]
    if kind == "train":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    _python(
                        "models",
                        f'train {env} --model "$ALMGEN_MODEL" --outputs outputs.json {COMMON} '
                        '--save "trained-${ALMGEN_MODEL}.json"',
                    )
                ),
                env=step.env,
                when="train",
            )
        ]
    if kind == "register":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    "shopt -s nullglob",
                    "trained=()",
                    'for file in trained-*.json; do trained+=(--trained "$file"); done',
                    _python(
                        "models",
                        f"register {env} --outputs outputs.json {COMMON} --out registered.json "
                        '"${trained[@]}"',
                    ),
                ),
            )
        ]
    if kind == "deploy-infra-models":
        custom = json.dumps([{"name": m.name, "version": m.version} for m in spec.custom_models])
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    _python(
                        "traffic",
                        'plan-ml --state live-state.json --models "$ALMGEN_CUSTOM_MODELS" '
                        "--candidates candidates.json > live-state-next.json",
                    ),
                    f'ALMGEN_LIVE_STATE="$(cat live-state-next.json)" {_DEPLOY}',
                ),
                env=(("ALMGEN_CUSTOM_MODELS", custom),),
            )
        ]
    if kind == "deploy-agents":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    _python("traffic", f"state --outputs outputs.json {env} > live-state-after.json"),
                    _python(
                        "agents",
                        f"deploy {env} --outputs outputs.json {COMMON} --live-state live-state-after.json",
                    ),
                ),
            )
        ]
    if kind in ("swap", "canary"):
        return _traffic_steps(spec, step)
    if kind == "test":
        test = step.id.removeprefix("test-")
        timeout = next(t.timeout_minutes for t in spec.tests if t.name == test)
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    f'ALMGEN_ENDPOINT="$({_python("traffic", "endpoint --outputs outputs.json")})"',
                    "export ALMGEN_ENDPOINT",
                    _python("run", f"test {test} --commands {RELEASE}/.almgen/commands.json"),
                ),
                env=(("ALMGEN_OUTPUTS", "outputs.json"), ("ALMGEN_LIVE_STATE_FILE", "live-state.json")),
                inputs=(("ALMGEN_TARGET", "test-target"),),
                when=f"tests has {test}",
                timeout=timeout,
            )
        ]
    if kind == "retire":
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    _python(
                        "models",
                        f"retire {env} --outputs outputs.json {COMMON} --live-state live-state.json "
                        "--out retirement-record.json",
                    )
                ),
            )
        ]
    return []  # release-record is rendered by each target, with its own artifact handling


def _traffic_steps(spec: Spec, step: Step) -> list[ShellStep]:
    command = "swap" if step.kind == "swap" else "canary"
    inputs = [
        ("ALMGEN_BAKE_MINUTES", "bake-minutes"),
        ("ALMGEN_ERROR_RATE_PERCENT", "rollback-error-rate-percent"),
        ("ALMGEN_LATENCY_P95_MS", "rollback-latency-p95-ms"),
    ]
    steps = ""
    if command == "canary":
        inputs.append(("ALMGEN_CANARY_STEPS", "canary-steps"))
        steps = ' --steps "$ALMGEN_CANARY_STEPS"'
    strategy = "blue-green" if command == "swap" else "canary"
    candidate = 'candidate --state "$state" --model "$ALMGEN_MODEL" --kind '
    return [
        ShellStep(
            f"{step.id}-{model.name}",
            f"{step.name} ({model.name})",
            _script(
                "state=live-state.json",
                "if [ -f live-state-next.json ]; then state=live-state-next.json; fi",
                f'to="$({_python("traffic", candidate + model.kind)} --candidates candidates.json)"',
                "latency=()",
                'if [ "$ALMGEN_LATENCY_P95_MS" != "0" ]; then',
                '  latency=(--latency-p95-ms "$ALMGEN_LATENCY_P95_MS")',
                "fi",
                _python(
                    "traffic",
                    f'{command} --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" '
                    f'--model "$ALMGEN_MODEL" --kind {model.kind} --to "$to"{steps} \\',
                ),
                '  --bake-minutes "$ALMGEN_BAKE_MINUTES" --error-rate-percent "$ALMGEN_ERROR_RATE_PERCENT" '
                '"${latency[@]}" \\',
                '  --save-previous "previous-${ALMGEN_MODEL}.json"',
            ),
            env=(("ALMGEN_MODEL", model.name),),
            inputs=tuple(inputs),
            when=f"strategy == {strategy}",
        )
        for model in spec.models
    ]
