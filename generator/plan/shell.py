"""The bash of every Plan step, shared by GitHub Actions and Azure DevOps.

Scripts read only environment variables: spec values are set in the step's `env` by the
renderer (escaped), per-environment inputs through `inputs` (each target maps an input name to
its own syntax: `inputs.x` on GitHub, `parameters.x` on Azure DevOps). Which step runs where is
the Plan's decision (`ShellStep.condition`, typed); this module only writes the commands.
"""

from __future__ import annotations

import json

from generator.frozen import frozen
from generator.plan.model import Condition, Job, Step, manual_ab
from generator.spec.model import Model, Spec

RELEASE = "release"  # where the promoted artifact is downloaded
SCRIPTS = f"{RELEASE}/.almgen/scripts"
RELEASE_JSON = f"{RELEASE}/.almgen/release.json"
COMMON = f"--release {RELEASE_JSON} --root {RELEASE}"  # models.py and agents.py read paths from the artifact
COMMANDS = f"{RELEASE}/.almgen/commands.json"


def contract_command(
    outputs: str, out: str, *, target: bool, agents: bool = False, each_region: bool = False
) -> str:
    """contract.py writing the environment contract of $ALMGEN_ENVIRONMENT to OUT (NAME=value lines).

    With TARGET, the tests' $ALMGEN_TARGET picks each model's deployment (the candidate of a
    blue-green environment from the live state before the deploy); gates call what is live. With
    AGENTS, the tests call each agent's candidate version (agents.py candidate's summary).
    With EACH_REGION, OUT is a folder of one contract per region: the tests run in every region
    (run.py --contract OUT), so a region that serves badly fails them too; gates call the primary.
    """
    where = f'--outputs {outputs} --env "$ALMGEN_ENVIRONMENT" --release {RELEASE_JSON}'
    aim = ' --target "$ALMGEN_TARGET" --state live-state.json --candidates candidates.json' if target else ""
    aim += f" --agents {AGENT_CANDIDATES}" if target and agents else ""
    return f'python "{SCRIPTS}/contract.py" {where}{aim} {"--out-dir" if each_region else "--out"} {out}'


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


FINE_TUNED = "fine-tuned.json"  # the fine-tuning lineage, kept for the release record
TUNED_STATE = "live-state-tuned.json"  # the live state naming new fine-tuned models: deploy it
FINE_TUNE_MINUTES = 300  # within the provision job's 360; a longer job is waited for by the next run


@frozen
class ShellStep:
    id: str
    name: str
    script: str
    env: tuple[tuple[str, str], ...] = ()  # literal values from the spec
    inputs: tuple[tuple[str, str], ...] = ()  # environment variable -> per-environment input
    condition: Condition = None
    timeout: int | None = None
    # long waits outlive a login's token: the next Azure call needs a fresh login (GitHub logs in
    # once per job; each Azure DevOps AzureCLI@2 task logs in by itself)
    login_after: bool = False


def job_steps(spec: Spec, job: Job) -> list[ShellStep]:
    """The shell steps of one job of the Plan, in order."""
    if job.kind == "canary-step":
        return canary_steps(spec)
    if job.kind == "rollback":
        return restore_steps(spec)
    return [shell for step in job.steps for shell in shell_steps(spec, step)]


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
                condition=step.condition,
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
    if kind in ("build-index", "switch-index", "retain-indexes"):
        return [ShellStep(step.id, step.name, _script(*_retrieval(kind)))]
    rollout = {
        "swap": _swap_steps,
        "ab-test": _ab_steps,
        "ab-promote": _ab_promote_steps,
        "standby": standby_steps,
        "route-direct": _direct_steps,
        "fine-tune": _fine_tune_steps,
        "agent-candidates": _agent_candidate_steps,
        "deploy-agents": _deploy_agent_steps,
    }.get(kind)
    if rollout is not None:
        return rollout(spec, step)
    if kind == "test":
        test = step.id.removeprefix("test-")
        return [
            ShellStep(
                step.id,
                step.name,
                _script(
                    contract_command(
                        "outputs.json", "contracts", target=True, agents=bool(spec.agents), each_region=True
                    ),
                    _python("run", f"test {test} --commands {COMMANDS} --contract contracts"),
                ),
                env=(("ALMGEN_OUTPUTS", "outputs.json"), ("ALMGEN_LIVE_STATE_FILE", "live-state.json")),
                inputs=(("ALMGEN_TARGET", "test-target"),),
                condition=step.condition,
                timeout=step.timeout_minutes,
            )
        ]
    if kind in ("retire", "retain", "cleanup"):
        return [ShellStep(step.id, step.name, _script(_python("models", _records(spec, kind))))]
    return []  # release-record is rendered by each target, with its own artifact handling


def _fine_tune_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """Fine-tune (when the inputs changed), then deploy what it made."""
    env = '--env "$ALMGEN_ENVIRONMENT"'
    wait = f"--timeout-minutes {FINE_TUNE_MINUTES} --poll-seconds 60"
    return [
        ShellStep(
            step.id,
            step.name,
            _script(
                _python(
                    "models",
                    f"fine-tune {env} --outputs outputs.json {COMMON} --state live-state.json "
                    f"--out {TUNED_STATE} --save {FINE_TUNED} --candidates candidates.json {wait}",
                )
            ),
            login_after=True,  # a fine-tuning job outlives the login's token
        ),
        ShellStep(
            "deploy-fine-tuned",
            "Deploy the fine-tuned models",
            _script(
                f"if [ ! -f {TUNED_STATE} ]; then",
                '  echo "The deployments serve the fine-tuned models already."',
                "  exit 0",
                "fi",
                f'ALMGEN_LIVE_STATE="$(cat {TUNED_STATE})" {_DEPLOY}',
            ),
        ),
    ]


def _agent_candidate_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """A candidate version of each agent, for the tests to call."""
    env = '--env "$ALMGEN_ENVIRONMENT"'
    return [
        ShellStep(
            step.id,
            step.name,
            _script(
                _python(
                    "agents",
                    f"candidate {env} --outputs outputs.json {COMMON} "
                    '--target "$ALMGEN_TARGET" --state live-state.json --candidates candidates.json '
                    f"--out {AGENT_CANDIDATES}",
                )
            ),
            inputs=(("ALMGEN_TARGET", "test-target"),),
        )
    ]


def _deploy_agent_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """Make the candidates live, keeping the live versions for a restore."""
    env = '--env "$ALMGEN_ENVIRONMENT"'
    return [
        ShellStep(
            step.id,
            step.name,
            _script(
                f'mkdir -p "{ROUTING}"',
                _python(
                    "agents",
                    f"live {env} --outputs outputs.json --candidate {AGENT_CANDIDATES} "
                    f'--save-previous "{PREVIOUS_AGENTS}" --out {AGENTS_LIVE}',
                ),
            ),
        )
    ]


def _records(spec: Spec, kind: str) -> str:
    """The models.py command of a step that changes the registry and writes its record."""
    env = '--env "$ALMGEN_ENVIRONMENT" --outputs outputs.json'
    if kind == "retire":
        return f"retire {env} {COMMON} --live-state live-state.json --out retirement-record.json"
    if kind == "cleanup":
        return f"clean-up {env} {COMMON} --out deletion-certificate.json"
    keep = spec.registry.keep_versions
    return f"retain {env} {COMMON} --keep {keep} --out retention-record.json"


_CANDIDATE = (
    "state=live-state.json",
    "if [ -f live-state-next.json ]; then state=live-state-next.json; fi",
    'to="$('
    + _python(
        "traffic",
        'candidate --state "$state" --model "$ALMGEN_MODEL" --kind "$ALMGEN_KIND" '
        '--version "$ALMGEN_MODEL_VERSION"',
    )
    + ' --candidates candidates.json)"',
)
MOVED = "moved.txt"  # a route step touches it when traffic moved; bake and check follow it
_LATENCY = (
    "latency=()",
    'if [ "$ALMGEN_LATENCY_P95_MS" != "0" ]; then',
    '  latency=(--latency-p95-ms "$ALMGEN_LATENCY_P95_MS")',
    "fi",
)
_THRESHOLDS = (
    ("ALMGEN_BAKE_MINUTES", "bake-minutes"),
    ("ALMGEN_ERROR_RATE_PERCENT", "rollback-error-rate-percent"),
    ("ALMGEN_LATENCY_P95_MS", "rollback-latency-p95-ms"),
    ("ALMGEN_MIN_REQUESTS", "rollback-min-requests"),
    ("ALMGEN_HEALTH_WAIT_MINUTES", "health-wait-minutes"),
)
ROUTING = "routing"  # the folder that keeps each model's routing from before the rollout
PREVIOUS = f"{ROUTING}/previous-${{ALMGEN_MODEL}}.json"


AGENT_CANDIDATES = "agents-candidate.json"  # each agent's candidate version per region: the tests call it
AGENTS_LIVE = "agents-live.json"  # the versions made live: the release record names them
PREVIOUS_AGENTS = f"{ROUTING}/previous-agents.json"  # the live versions from before, for a restore
RETRIEVAL_CANDIDATE = "retrieval-candidate.json"  # the build's index per region, kept for the finish job
RETRIEVAL_SWITCHED = "retrieval-switched.json"  # what serves after the switch: the release record's lineage
PREVIOUS_INDEX = f"{ROUTING}/previous-retrieval.json"


def _retrieval(kind: str) -> tuple[str, ...]:
    env = f'--env "$ALMGEN_ENVIRONMENT" --release {RELEASE_JSON}'
    if kind == "build-index":
        return (
            _python(
                "traffic", 'state --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" > live-state-index.json'
            ),
            _python(
                "retrieval",
                f"build {env} --outputs outputs.json --live-state live-state-index.json "
                f"--out {RETRIEVAL_CANDIDATE}",
            ),
        )
    if kind == "switch-index":
        return (
            f'mkdir -p "{ROUTING}"',
            _python(
                "retrieval",
                f'switch {env} --build {RETRIEVAL_CANDIDATE} --save-previous "{PREVIOUS_INDEX}" '
                f"--out {RETRIEVAL_SWITCHED}",
            ),
        )
    return (_python("retrieval", f"retain {env} --outputs outputs.json"),)


def _model_env(model: Model) -> tuple[tuple[str, str], ...]:
    return (
        ("ALMGEN_MODEL", model.name),
        ("ALMGEN_KIND", model.kind),
        ("ALMGEN_MODEL_VERSION", model.version or ""),
    )


def _per_model(
    step: Step, models: tuple[Model, ...], lines: tuple[str, ...], inputs: tuple[tuple[str, str], ...] = ()
) -> list[ShellStep]:
    """One shell step of a Plan step for each model, named after it, reading it from the env."""
    return [
        ShellStep(
            f"{step.id}-{model.name}",
            f"{step.name} ({model.name})",
            _script(*lines),
            env=_model_env(model),
            inputs=inputs,
            condition=step.condition,
        )
        for model in models
    ]


def _swap_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """Blue-green: swap every model to its candidate, bake once, then judge each model's health.

    The bake has its own step so that the judgment runs on a fresh login (a long bake outlives a
    token); a failed judgment fails the job, whose restore steps put the previous colour back.
    """
    swap = _per_model(
        step,
        spec.models,
        (
            *_CANDIDATE,
            f"mkdir -p {ROUTING}",
            _python(
                "traffic",
                'shift --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                f'--kind "$ALMGEN_KIND" --to "$to" --percent 100 --moved {MOVED} '
                f'--save-previous "{PREVIOUS}"',
            ),
        ),
    )
    bake = _bake("swap-bake", "Bake: let the swapped colours serve before judging them", step.condition)
    return [*swap, bake, *_checks(spec, "swap-check", step.condition)]


AB_TEST = "ab-test-${ALMGEN_MODEL}.json"  # a model's comparison: the release record reads it
AB_EVALUATION = "ab-evaluation"  # each variant's contract and evaluation results (live.json, candidate.json)


def _ab_evaluation(spec: Spec, step: Step) -> list[ShellStep]:
    """The evaluation gate's own command run against each variant (the serving deployments, then
    the candidates), as the gate runs it: a contract naming them, `run.py gate evaluation`."""
    evaluation = next((g for g in spec.gates if g.kind == "evaluation"), None)
    if evaluation is None:
        return []
    where = f'--outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --release {RELEASE_JSON}'
    aim = '--target "$variant" --state live-state.json --candidates candidates.json'
    return [
        ShellStep(
            "ab-test-evaluate",
            "A/B test: run the evaluation against both variants",
            _script(
                f"if [ ! -f {MOVED} ]; then",
                '  echo "No traffic moved: no A/B test, no variants to evaluate."',
                "  exit 0",
                "fi",
                f"mkdir -p {AB_EVALUATION}",
                "for variant in live candidate; do",
                f'  python "{SCRIPTS}/contract.py" {where} {aim} --out "{AB_EVALUATION}/$variant.env"',
                f'  ALMGEN_EVAL_RESULTS="$PWD/{AB_EVALUATION}/$variant.json" \\',
                f"    {_python('run', f'gate evaluation --commands {COMMANDS}')} "
                f'--contract "{AB_EVALUATION}/$variant.env"',
                "done",
            ),
            env=(("ALMGEN_EVAL_DATASET", evaluation.dataset),) if evaluation.dataset else (),
            condition=step.condition,
        )
    ]


def _ab_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """An A/B test: every model's candidate takes the split beside the serving version, both serve
    for the test's duration (the bake), then each model's comparison promotes the candidate or
    restores the routing saved by the split (abtest.py).

    A model whose candidate already serves (a first deploy, the same commit again) moves nothing;
    its comparison has nothing to compare and passes.
    """
    split = _per_model(
        step,
        spec.models,
        (
            *_CANDIDATE,
            f"mkdir -p {ROUTING}",
            _python(
                "traffic",
                'shift --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                f'--kind "$ALMGEN_KIND" --to "$to" --percent "$ALMGEN_AB_SPLIT" --moved {MOVED} '
                f'--save-previous "{PREVIOUS}"',
            ),
        ),
        (("ALMGEN_AB_SPLIT", "ab-split"),),
    )
    evaluate = _ab_evaluation(spec, step)
    scored = (
        f' \\\n  --gates {RELEASE}/.almgen/gates.json --evaluation-serving "{AB_EVALUATION}/live.json" '
        f'--evaluation-candidate "{AB_EVALUATION}/candidate.json"'
        if evaluate
        else ""
    )
    wait = _bake("ab-test-wait", "A/B test: both variants serve for the test's duration", step.condition)
    manual = manual_ab(spec)
    # a manual decision: compare only; the comparison goes to the decision's jobs with the routing
    decide = (
        (
            ' --decide "$ALMGEN_AB_DECIDE"',
            f'if [ "$ALMGEN_AB_DECIDE" = manual ] && [ -f "{AB_TEST}" ]; then cp "{AB_TEST}" {ROUTING}/; fi',
        )
        if manual
        else ("",)
    )
    compare = [
        ShellStep(
            f"ab-test-compare-{model.name}",
            f"A/B test: compare both variants of {model.name} and promote the winner",
            _script(
                f"if [ ! -f {MOVED} ]; then",
                '  echo "No traffic moved: no A/B test to judge."',
                "  exit 0",
                "fi",
                *_CANDIDATE,
                *_LATENCY,
                _python(
                    "abtest",
                    'compare --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                    f'--candidate "$to" --previous "{PREVIOUS}" --split "$ALMGEN_AB_SPLIT" \\',
                ),
                '  --minutes "$ALMGEN_BAKE_MINUTES" --metric "$ALMGEN_AB_METRIC" '
                '--tolerance-percent "$ALMGEN_AB_TOLERANCE_PERCENT" \\',
                '  --error-rate-percent "$ALMGEN_ERROR_RATE_PERCENT" "${latency[@]}" '
                f'--min-requests "$ALMGEN_MIN_REQUESTS" --out "{AB_TEST}"{scored}{decide[0]}',
                *decide[1:],
            ),
            env=_model_env(model),
            inputs=(
                *(pair for pair in _THRESHOLDS if pair[0] != "ALMGEN_HEALTH_WAIT_MINUTES"),  # no waiting
                ("ALMGEN_AB_SPLIT", "ab-split"),
                ("ALMGEN_AB_METRIC", "ab-metric"),
                ("ALMGEN_AB_TOLERANCE_PERCENT", "ab-tolerance-percent"),
                *((("ALMGEN_AB_DECIDE", "ab-decide"),) if manual else ()),
            ),
            condition=step.condition,
            login_after=True,
        )
        for model in spec.models
    ]
    return [*split, *evaluate, wait, *compare]


def _ab_promote_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """A person approved the A/B test's candidate: each model's compared candidate takes all traffic,
    its comparison is written again with the decision, for the release record."""
    kept = f"{ROUTING}/{AB_TEST}"
    return _per_model(
        step,
        spec.models,
        (
            f'if [ ! -f "{kept}" ]; then',
            '  echo "No A/B comparison of $ALMGEN_MODEL: nothing to promote."',
            "  exit 0",
            "fi",
            _python(
                "abtest",
                'promote --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                f'--comparison "{kept}" --approved-in "${{ALMGEN_ENVIRONMENT}}-ab-decision" '
                f'--out "{AB_TEST}"',
            ),
        ),
    )


def _direct_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """Custom models under `direct`: the new version takes all of its endpoint's traffic."""
    shift = _python(
        "traffic",
        'shift --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
        '--kind "$ALMGEN_KIND" --to "$to" --percent 100',
    )
    return _per_model(step, spec.custom_models, (*_CANDIDATE, shift))


def canary_steps(spec: Spec) -> list[ShellStep]:
    """One canary step for every model: route ALMGEN_PERCENT to the candidate, bake once, check each.

    The first step of a rollout saves each model's routing under `routing/` before it moves
    anything; `restore_steps` puts it back when any step fails.
    """
    route = [
        ShellStep(
            f"route-{model.name}",
            f"Route the canary share of {model.name}",
            _script(
                *_CANDIDATE,
                "save=()",
                f'if [ ! -f "{PREVIOUS}" ]; then',
                f"  mkdir -p {ROUTING}",
                f'  save=(--save-previous "{PREVIOUS}")',
                "fi",
                _python(
                    "traffic",
                    'shift --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                    '--kind "$ALMGEN_KIND" --to "$to" --percent "$ALMGEN_PERCENT" '
                    f'--after "$ALMGEN_PREVIOUS_PERCENT" --moved {MOVED} "${{save[@]}}"',
                ),
            ),
            env=_model_env(model),
            inputs=(
                ("ALMGEN_PERCENT", "canary-percent"),
                ("ALMGEN_PREVIOUS_PERCENT", "canary-previous-percent"),
            ),
        )
        for model in spec.models
    ]
    return [*route, _bake("bake", "Bake: let the canary serve before judging it"), *_checks(spec, "check")]


def _bake(id_: str, name: str, condition: Condition = None) -> ShellStep:
    """Wait the bake when traffic moved; the next step logs in afresh (a bake outlives a token)."""
    return ShellStep(
        id_,
        name,
        _script(
            f"if [ ! -f {MOVED} ]; then",
            '  echo "No traffic moved in this step: nothing to bake."',
            "  exit 0",
            "fi",
            'sleep "$((ALMGEN_BAKE_MINUTES * 60))"',
        ),
        inputs=(("ALMGEN_BAKE_MINUTES", "bake-minutes"),),
        condition=condition,
        login_after=True,
    )


def _checks(spec: Spec, prefix: str, condition: Condition = None) -> list[ShellStep]:
    """Each model's health over the bake, when traffic moved. A check may wait for its minimum of
    requests, so the step after it logs in afresh."""
    return [
        ShellStep(
            f"{prefix}-{model.name}",
            f"Check the health of {model.name}",
            _script(
                f"if [ ! -f {MOVED} ]; then",
                '  echo "No traffic moved: nothing to judge."',
                "  exit 0",
                "fi",
                *_CANDIDATE,
                *_LATENCY,
                "minutes=$((ALMGEN_BAKE_MINUTES > 0 ? ALMGEN_BAKE_MINUTES : 1))",
                _python(
                    "traffic",
                    'health --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                    '--kind "$ALMGEN_KIND" --deployment "$to" --minutes "$minutes" \\',
                ),
                '  --error-rate-percent "$ALMGEN_ERROR_RATE_PERCENT" "${latency[@]}" '
                '--min-requests "$ALMGEN_MIN_REQUESTS" --wait-minutes "$ALMGEN_HEALTH_WAIT_MINUTES"',
            ),
            env=_model_env(model),
            inputs=_THRESHOLDS,
            condition=condition,
            login_after=True,
        )
        for model in spec.models
    ]


def standby_steps(spec: Spec, step: Step) -> list[ShellStep]:
    """After the rollout: each foundation model's colour that serves nothing, down to its standby
    capacity (nothing to do where a model has one deployment, under direct)."""
    return [
        ShellStep(
            f"{step.id}-{model.name}",
            f"{step.name} ({model.name})",
            _script(
                _python(
                    "traffic",
                    'standby --outputs outputs.json --env "$ALMGEN_ENVIRONMENT" --model "$ALMGEN_MODEL" '
                    '--capacity "$ALMGEN_STANDBY_CAPACITY"',
                )
            ),
            env=(("ALMGEN_MODEL", model.name), ("ALMGEN_STANDBY_CAPACITY", str(model.standby_capacity))),
            condition=step.condition,
        )
        for model in spec.foundation_models
    ]


def keep_records_step(folder: str) -> ShellStep:
    """After the release record: the records go to the environment's WORM store (records.py)."""
    return ShellStep(
        "keep-records",
        "Keep the records unchangeable",
        _script(
            _python("records", f'keep --env "$ALMGEN_ENVIRONMENT" --outputs outputs.json --folder "{folder}"')
        ),
    )


def restore_steps(spec: Spec) -> list[ShellStep]:
    """After a failure: every model's routing from before the rollout, back (nothing saved: nothing moved).

    The first canary step and the blue-green swap save it under `routing/`; a canary step job,
    and the finish job (a test, the swap or the agents failing after traffic moved) restore it. The
    retrieval alias, switched in the finish job, goes back to the index it served before, and so do
    the agents' live versions (App Configuration `almgen:agent:<name>`) once they were switched.
    """
    agents = [
        ShellStep(
            "restore-agents",
            "Roll back the live agent versions",
            _script(
                f'if [ -f "{PREVIOUS_AGENTS}" ]; then',
                "  " + _python("agents", f'restore --outputs outputs.json --previous "{PREVIOUS_AGENTS}"'),
                "fi",
            ),
        )
    ]
    index = [
        ShellStep(
            "restore-index",
            "Roll back the retrieval alias",
            _script(
                f'if [ -f "{PREVIOUS_INDEX}" ]; then',
                "  " + _python("retrieval", f'restore --previous "{PREVIOUS_INDEX}"'),
                "fi",
            ),
        )
    ]
    return (
        (agents if spec.agents else [])
        + (index if spec.retrieval is not None else [])
        + [
            ShellStep(
                f"restore-{model.name}",
                f"Roll back {model.name}",
                _script(
                    f'if [ -f "{PREVIOUS}" ]; then',
                    "  "
                    + _python(
                        "traffic",
                        f'restore --outputs outputs.json --previous "{PREVIOUS}"',
                    ),
                    "fi",
                ),
                env=_model_env(model),
            )
            for model in spec.models
        ]
    )
