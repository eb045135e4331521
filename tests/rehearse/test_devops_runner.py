"""The Azure DevOps runner of `almgen rehearse`: template expansion, conditions, runs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.devops import DevOpsError, expand, rerun_failed, run_pipeline
from generator.rehearse.devops.expressions import run as run_expression
from generator.rehearse.world import World

ROOT = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def pipeline(tmp_path: Path, text: str, **more: str) -> Path:
    return write(tmp_path / "repo", {"azure-pipelines.yml": text, **more})


def world(tmp_path: Path, faults: list[dict[str, Any]] | None = None) -> World:
    return World.create(tmp_path / "world", faults)


# templates -------------------------------------------------------------------------------------


def test_parameters_if_else_each_and_nested_templates(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        stages:
          - template: t/stage.yml
            parameters:
              envs: [dev, prod]
              flags: {a: 1, b: 2}
              deploy: true
        """,
        **{
            "t/stage.yml": """
            parameters:
              - name: envs
                type: object
              - name: flags
                type: object
                default: {}
              - name: deploy
                type: boolean
                default: false
              - name: region
                type: string
                default: westeurope
            stages:
              - ${{ each env in parameters.envs }}:
                  - stage: ${{ format('Deploy_{0}', env) }}
                    ${{ if eq(env, 'prod') }}:
                      dependsOn: Deploy_dev
                    ${{ elseif eq(env, 'qa') }}:
                      dependsOn: Nope
                    ${{ else }}:
                      dependsOn: []
                    variables:
                      ${{ each flag in parameters.flags }}:
                        ${{ flag.key }}: ${{ flag.value }}
                    jobs:
                      - template: ../jobs/job.yml
                        parameters:
                          name: ${{ env }}
                          run: ${{ parameters.deploy }}
                          region: ${{ parameters.region }}
            """,
            "jobs/job.yml": """
            parameters:
              - name: name
                type: string
              - name: run
                type: boolean
              - name: region
                type: string
            jobs:
              - job: ${{ parameters.name }}
                steps:
                  - ${{ if parameters.run }}:
                      - script: echo deploy ${{ upper(parameters.region) }}
                  - ${{ if not(parameters.run) }}:
                      - script: echo skip
            """,
        },
    )
    doc = expand(repo, "azure-pipelines.yml")
    stages = doc["stages"]
    assert [s["stage"] for s in stages] == ["Deploy_dev", "Deploy_prod"]
    assert stages[0]["dependsOn"] == [] and stages[1]["dependsOn"] == "Deploy_dev"
    assert stages[0]["variables"] == {"a": "1", "b": "2"}
    assert stages[1]["jobs"][0]["steps"] == [{"script": "echo deploy WESTEUROPE"}]


def test_missing_and_unknown_parameters_are_errors(tmp_path: Path) -> None:
    files = {
        "t.yml": "parameters:\n  - name: x\n    type: string\nsteps:\n  - script: echo ${{ parameters.x }}\n"
    }
    repo = pipeline(tmp_path, "steps:\n  - template: t.yml\n", **files)
    with pytest.raises(DevOpsError, match="A value for the 'x' parameter must be provided"):
        expand(repo, "azure-pipelines.yml")
    repo = pipeline(tmp_path, "steps:\n  - template: t.yml\n    parameters: {x: a, y: b}\n", **files)
    with pytest.raises(DevOpsError, match=r"t.yml: Unexpected parameter\(s\) y"):
        expand(repo, "azure-pipelines.yml")
    repo = pipeline(tmp_path, "steps:\n  - template: t.yml\n    parameters: {x: [1]}\n", **files)
    with pytest.raises(DevOpsError, match="expected a string"):
        expand(repo, "azure-pipelines.yml")
    repo = pipeline(tmp_path, "steps:\n  - script: ${{ nosuch(1) }}\n")
    with pytest.raises(DevOpsError, match=r"azure-pipelines.yml: .*unrecognized function nosuch"):
        expand(repo, "azure-pipelines.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eq(variables['Build.SourceBranch'], 'REFS/heads/main')", True),
        ("and(succeeded(), ne(variables.x, 'a'))", False),
        ("in('b', 'a', 'b')", True),
        ("notIn('c', 'a', 'b')", True),
        ("containsValue(split('a,b', ','), 'b')", True),
        ("startsWith('refs/heads/main', 'refs/heads/')", True),
        ("coalesce(variables.missing, '', 'z')", "z"),
        ("join('-', split('a b', ' '))", "a-b"),
        ("le(length('abc'), 3)", True),
        ("eq(dependencies.A.outputs['s.v'], 'yes')", True),
        ("eq(dependencies.A.result, 'Succeeded')", True),
    ],
)
def test_expressions(text: str, expected: object) -> None:
    names = {
        "variables": {"Build.SourceBranch": "refs/heads/main", "x": "a"},
        "dependencies": {"A": {"result": "Succeeded", "outputs": {"s.v": "yes"}}},
    }
    assert run_expression(text, names, {"succeeded": lambda *a: True}) == expected


# runs ------------------------------------------------------------------------------------------


def test_stage_and_job_dependencies_conditions_and_outputs(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        variables:
          greeting: hello
        stages:
          - stage: A
            jobs:
              - job: Set
                steps:
                  - script: echo "##vso[task.setvariable variable=v;isOutput=true]yes"
                    name: s
              - job: Use
                dependsOn: Set
                variables:
                  got: $[ dependencies.Set.outputs['s.v'] ]
                steps:
                  - script: test "$GOT" = yes && test "$(greeting)" = hello && test "$GREETING" = hello
              - job: Fail
                steps:
                  - script: exit 3
              - job: AfterFail
                dependsOn: Fail
                steps:
                  - script: echo never
              - job: OnFail
                dependsOn: Fail
                condition: failed()
                steps:
                  - script: echo rescue
          - stage: B
            jobs:
              - job: Never
                steps:
                  - script: echo never
          - stage: C
            dependsOn: A
            condition: always()
            jobs:
              - job: Read
                variables:
                  from: $[ stageDependencies.A.Set.outputs['s.v'] ]
                steps:
                  - script: test "$FROM" = yes
        """,
    )
    result = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    a = result.stages["A"].jobs
    assert {n: j.result for n, j in a.items()} == {
        "Set": "Succeeded",
        "Use": "Succeeded",
        "Fail": "Failed",
        "AfterFail": "Skipped",
        "OnFail": "Succeeded",
    }
    assert result.stages["A"].result == "Failed"
    assert result.stages["B"].result == "Skipped"
    assert result.job("C", "Read").result == "Succeeded"
    assert result.result == "Failed"


def test_bash_runs_without_errexit_unless_asked(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        steps:
          - script: |
              false
              echo carried on
            name: noe
          - script: |
              set -e
              false
              echo never
            name: withe
            continueOnError: true
          - bash: echo oops >&2
            failOnStderr: true
        """,
    )
    result = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    job = result.job("__default", "Job")
    outcomes = [(s.display.split(":")[0], s.outcome) for s in job.steps]
    assert outcomes[1:] == [("Script", "Succeeded"), ("Script", "SucceededWithIssues"), ("Bash", "Failed")]
    assert "carried on" in job.steps[1].log


DEPLOY = """
stages:
  - stage: Deploy
    jobs:
      - deployment: Roll
        environment: {name: prod, resourceName: x}
        {timeout}
        strategy:
          runOnce:
            deploy:
              steps:
                - script: {deploy}
                - script: echo cleanup
                  condition: always()
            on:
              failure:
                steps:
                  - script: echo rolled back
              success:
                steps:
                  - script: echo celebrated
"""


def _deploy(tmp_path: Path, deploy: str, timeout: str = "") -> Path:
    return pipeline(tmp_path, DEPLOY.replace("{deploy}", deploy).replace("{timeout}", timeout))


def _hooks(result: Any) -> list[tuple[str, str]]:
    return [(s.hook, s.outcome) for s in result.job("Deploy", "Roll").steps if s.outcome != "Skipped"]


def test_run_once_failure_hook_runs_when_deploy_fails(tmp_path: Path) -> None:
    result = run_pipeline(_deploy(tmp_path, "exit 1"), "azure-pipelines.yml", world(tmp_path))
    job = result.job("Deploy", "Roll")
    assert job.result == "Failed"
    assert any(s.hook == "on.failure" and "rolled back" in s.log for s in job.steps)
    assert not any(s.hook == "on.success" for s in job.steps)
    ok = run_pipeline(_deploy(tmp_path / "b", "echo ok"), "azure-pipelines.yml", world(tmp_path / "b"))
    assert any(s.hook == "on.success" for s in ok.job("Deploy", "Roll").steps)
    assert not any(
        s.display.startswith("checkout") and s.outcome != "Skipped" for s in ok.job("Deploy", "Roll").steps
    )


def test_a_stage_waits_for_what_the_pipeline_may_not_use(tmp_path: Path) -> None:
    """Azure DevOps holds a stage whose environment or service connection the pipeline is not
    permitted to use (almgen setup permits them; in a rehearsal no one else does)."""
    permitted = {("environment", "prod")}
    held = run_pipeline(_deploy(tmp_path, "echo ok"), "azure-pipelines.yml", world(tmp_path), permitted=set())
    job = held.job("Deploy", "Roll")
    assert (held.result, job.result) == ("Failed", "Failed")
    assert "needs permission to access environment prod before this run can continue" in job.message
    assert not [s for s in job.steps if s.outcome != "Skipped"]  # nothing ran
    ok = run_pipeline(
        _deploy(tmp_path / "b", "echo ok"), "azure-pipelines.yml", world(tmp_path / "b"), permitted=permitted
    )
    assert ok.job("Deploy", "Roll").result == "Succeeded"


def test_default_job_timeout_of_60_minutes_kills_a_long_bake(tmp_path: Path) -> None:
    w = world(tmp_path)
    result = run_pipeline(_deploy(tmp_path, "sleep 90m"), "azure-pipelines.yml", w)
    job = result.job("Deploy", "Roll")
    assert job.result == "Failed"
    assert "ran longer than the maximum time of 60 minutes" in job.message
    assert 60 <= w.minutes() < 70
    # the timeout fails the deploy hook: always() still runs in the job, and on.failure runs
    assert ("deploy", "Canceled") in _hooks(result)
    assert any(s.hook == "on.failure" and s.outcome == "Succeeded" for s in job.steps)
    assert any(e["kind"] == "timeout" for e in w.timeline())
    assert w.deadline() is None


def test_explicit_timeout_lets_the_bake_finish(tmp_path: Path) -> None:
    w = world(tmp_path)
    result = run_pipeline(_deploy(tmp_path, "sleep 90m", "timeoutInMinutes: 120"), "azure-pipelines.yml", w)
    assert result.job("Deploy", "Roll").result == "Succeeded"


def test_cancellation_runs_only_always_and_no_failure_hook(tmp_path: Path) -> None:
    w = world(tmp_path, [{"kind": "cancel", "env": "prod", "minutes": 40}])
    repo = _deploy(tmp_path, "sleep 90m", "timeoutInMinutes: 120")
    result = run_pipeline(repo, "azure-pipelines.yml", w)
    job = result.job("Deploy", "Roll")
    assert job.result == "Canceled" and result.result == "Canceled"
    steps = [(s.hook, s.display, s.outcome) for s in job.steps]
    assert ("deploy", "Script: echo cleanup", "Succeeded") in steps
    assert not any(s.hook.startswith("on.") for s in job.steps)
    assert 40 <= w.minutes() < 41


def test_approval_rejected_before_any_job_of_the_stage(tmp_path: Path) -> None:
    w = world(tmp_path, [{"kind": "approval", "env": "prod", "decision": "reject"}])
    repo = pipeline(
        tmp_path,
        """
        stages:
          - stage: Deploy
            jobs:
              - job: Before
                steps:
                  - script: echo should not run
              - deployment: Roll
                environment: prod
                strategy:
                  runOnce:
                    deploy:
                      steps:
                        - script: echo nope
        """,
    )
    result = run_pipeline(repo, "azure-pipelines.yml", w, approvals={"prod": ["leads"]})
    jobs = result.stages["Deploy"].jobs
    assert jobs["Roll"].result == "Failed" and not jobs["Roll"].steps
    assert jobs["Before"].result == "Skipped" and not jobs["Before"].steps
    assert [e["decision"] for e in w.timeline() if e["kind"] == "approval"] == ["rejected"]


def test_a_service_connection_check_asks_for_any_job_that_uses_it(tmp_path: Path) -> None:
    """Checks on a service connection apply to every job that names it, deployment job or not (setup puts
    production's approval on its connection too); a job on another connection is not asked."""
    w = world(tmp_path, [{"kind": "approval", "env": "azure-prod", "decision": "reject"}])
    repo = pipeline(
        tmp_path,
        """
        stages:
          - stage: Watch
            jobs:
              - job: Plain
                steps:
                  - task: AzureCLI@2
                    inputs:
                      azureSubscription: azure-prod-monitoring
                      scriptType: bash
                      scriptLocation: inlineScript
                      inlineScript: echo reads
          - stage: Deploy
            dependsOn: []
            jobs:
              - job: Plain
                steps:
                  - task: AzureCLI@2
                    inputs:
                      azureSubscription: azure-prod
                      scriptType: bash
                      scriptLocation: inlineScript
                      inlineScript: echo writes
        """,
    )
    result = run_pipeline(repo, "azure-pipelines.yml", w, approvals={"azure-prod": ["leads"]})
    asked = [(e["stage"], e["env"], e["decision"]) for e in w.timeline() if e["kind"] == "approval"]
    assert asked == [("Deploy", "azure-prod", "rejected")]
    assert result.stages["Watch"].jobs["Plain"].result == "Succeeded"
    assert not result.stages["Deploy"].jobs["Plain"].steps


def test_rerun_republishing_an_artifact_fails(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        stages:
          - stage: Build
            jobs:
              - job: Pack
                steps:
                  - script: mkdir -p out && echo 1 > out/x
                  - publish: out
                    artifact: drop
                  - script: test "$(System.JobAttempt)" = 2
              - job: Later
                dependsOn: Pack
                steps:
                  - download: current
                    artifact: drop
                  - script: test -f "$(Pipeline.Workspace)/drop/x"
        """,
    )
    first = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    assert first.job("Build", "Pack").result == "Failed"
    second = rerun_failed(first)
    pack = second.job("Build", "Pack")
    assert pack.attempt == 2 and pack.result == "Failed"
    assert "Artifact drop already exists for build 1" in pack.log()


def test_rerun_keeps_successful_jobs(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        jobs:
          - job: Good
            steps:
              - script: echo fine
          - job: Flaky
            steps:
              - script: test "$(System.JobAttempt)" = 2
        """,
    )
    first = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    assert first.result == "Failed"
    second = rerun_failed(first)
    assert second.result == "Succeeded"
    assert second.job("__default", "Good").kept and second.job("__default", "Flaky").attempt == 2


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_a_run_leaves_no_file_open(tmp_path: Path) -> None:
    """A runner runs hundreds of steps in the suite's worker: each step's script file is closed."""
    repo = pipeline(
        tmp_path, "jobs:\n  - job: A\n    steps:\n      - script: echo one\n      - script: echo two\n"
    )
    before = len(list(Path("/proc/self/fd").iterdir()))
    assert run_pipeline(repo, "azure-pipelines.yml", world(tmp_path)).result == "Succeeded"
    assert len(list(Path("/proc/self/fd").iterdir())) == before


def test_artifact_named_per_attempt_reaches_consumers_across_a_rerun(tmp_path: Path) -> None:
    """A producer names its artifact with its attempt and says it in an output; a runOnce
    deployment job's output is `<job>.<step>.<var>`, a regular job's in another stage `<step>.<var>`."""
    output = "##vso[task.setvariable variable=artifact;isOutput=true]"
    repo = pipeline(
        tmp_path,
        f"""
        stages:
          - stage: Gates
            jobs:
              - job: Check
                steps:
                  - script: mkdir -p v && echo ok > v/verdict
                  - script: echo "{output}gates_$(System.JobAttempt)"
                    name: Artifact
                    condition: always()
                  - publish: v
                    artifact: gates_$(System.JobAttempt)
                    condition: always()
                  - script: test "$(System.JobAttempt)" = 2
          - stage: Deploy
            dependsOn: Gates
            jobs:
              - deployment: Provision
                environment: prod
                strategy:
                  runOnce:
                    deploy:
                      steps:
                        - script: mkdir -p s && echo state > s/state
                        - script: echo "{output}state_$(System.JobAttempt)"
                          name: Artifact
                        - publish: s
                          artifact: state_$(System.JobAttempt)
              - deployment: Finish
                dependsOn: Provision
                environment: prod
                variables:
                  gates: $[ stageDependencies.Gates.Check.outputs['Artifact.artifact'] ]
                  state: $[ dependencies.Provision.outputs['Provision.Artifact.artifact'] ]
                  unprefixed: $[ dependencies.Provision.outputs['Artifact.artifact'] ]
                strategy:
                  runOnce:
                    deploy:
                      steps:
                        - download: current
                          artifact: $(gates)
                        - download: current
                          artifact: $(state)
                        - script: test "$(gates)" = gates_2 && test "$(state)" = state_1
                        - script: test -z "$UNPREFIXED"
        """,
    )
    first = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    assert first.job("Gates", "Check").result == "Failed" and first.stages["Deploy"].result == "Skipped"
    second = rerun_failed(first)
    assert second.job("Gates", "Check").attempt == 2
    assert second.job("Deploy", "Finish").result == "Succeeded", second.report()
    assert sorted(second.artifacts) == ["gates_1", "gates_2", "state_1"]


def test_stage_dependencies_hold_only_the_stages_depended_on(tmp_path: Path) -> None:
    repo = pipeline(
        tmp_path,
        """
        stages:
          - stage: A
            jobs:
              - job: Set
                steps:
                  - script: echo "##vso[task.setvariable variable=v;isOutput=true]yes"
                    name: s
          - stage: B
            jobs:
              - job: Pass
                steps:
                  - script: echo pass
          - stage: C
            dependsOn: B
            jobs:
              - job: Read
                variables:
                  from: $[ stageDependencies.A.Set.outputs['s.v'] ]
                steps:
                  - script: test -z "$FROM"
        """,
    )
    result = run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))
    assert result.job("C", "Read").result == "Succeeded", result.report()


def test_unknown_task_is_a_clear_error(tmp_path: Path) -> None:
    repo = pipeline(tmp_path, "steps:\n  - task: Nope@1\n")
    with pytest.raises(DevOpsError, match="task Nope@1 is not supported"):
        run_pipeline(repo, "azure-pipelines.yml", world(tmp_path))


# Whole samples against the simulated Azure: tests/rehearse/matrix.py (the scenario matrix).
