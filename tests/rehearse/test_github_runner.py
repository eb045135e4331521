"""The GitHub Actions runner of `almgen rehearse`: expressions, then small workflows run for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.github import RehearseError, RunResult, rerun_failed, run_workflow
from generator.rehearse.github.errors import ExpressionError
from generator.rehearse.github.expressions import Scope, evaluate, evaluate_condition
from generator.rehearse.github.templates import condition, interpolate
from generator.rehearse.world import World

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------- expressions
class _Status:
    def __init__(self, success: bool = True, failure: bool = False, cancelled: bool = False) -> None:
        self._s, self._f, self._c = success, failure, cancelled

    def success(self) -> bool:
        return self._s

    def failure(self) -> bool:
        return self._f

    def cancelled(self) -> bool:
        return self._c


CONTEXTS: dict[str, Any] = {
    "inputs": {"gates": '["evaluation", "safety"]', "n": 5.0, "flag": False, "empty": ""},
    "github": {"ref": "refs/heads/main", "event": {"pull_request": None}, "event_name": "push"},
    "needs": {"build": {"result": "success", "outputs": {"tag": "v1"}}},
    "steps": {"s": {"outputs": {"x": "1"}, "outcome": "failure", "conclusion": "success"}},
    "matrix": {"os": "linux"},
    "list": [{"name": "a", "v": 1.0}, {"name": "b", "v": 2.0}],
}

EXPRESSIONS: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("FALSE", False),
    ("42", 42.0),
    ("-1.5", -1.5),
    ("0xff", 255.0),
    ("'it''s'", "it's"),
    ("1 == '1'", True),
    ("'' == 0", True),
    ("null == 0", True),
    ("true == 1", True),
    ("'abc' == 'ABC'", True),
    ("'a' != 'b'", True),
    ("'x' == 0", False),  # NaN is never equal
    ("2 > '10'", False),
    ("'b' > 'A'", True),
    ("1 < 2 && 'a'", "a"),
    ("0 || 'fallback'", "fallback"),
    ("!inputs.empty", True),
    ("(1 == 1) && !(2 == 3)", True),
    ("inputs.n >= 5", True),
    ("inputs.bake-minutes", None),
    ("inputs['gates']", '["evaluation", "safety"]'),
    ("github.event.pull_request.number || github.ref", "refs/heads/main"),
    ("github.EVENT_NAME", "push"),
    ("contains(fromJSON(inputs.gates), 'Safety')", True),
    ("contains('Hello world', 'WORLD')", True),
    ("contains(fromJSON('[1, 2]'), '2')", True),
    ("startsWith(github.ref, 'refs/heads/')", True),
    ("endsWith('file.YML', '.yml')", True),
    ("format('{0}-{1}{{x}}', 'a', inputs.n)", "a-5{x}"),
    ("join(fromJSON(inputs.gates), '+')", "evaluation+safety"),
    ("join('single')", "single"),
    ("toJSON(needs.build.outputs)", '{\n  "tag": "v1"\n}'),
    ("fromJSON('{\"a\": [true]}').a[0]", True),
    ("list.*.name", ["a", "b"]),
    ("list[1].v", 2.0),
    ("needs.build.result == 'success'", True),
    ("steps.s.outcome", "failure"),
    ("steps.s.conclusion", "success"),
    ("matrix.os", "linux"),
    ("format('{0}', 1.50)", "1.5"),
    ("format('{0}', 0.1 )", "0.1"),
    ("toJSON(0.5)", "0.5"),
]


@pytest.mark.parametrize(("text", "expected"), EXPRESSIONS)
def test_expression(text: str, expected: Any) -> None:
    assert evaluate(text, Scope(CONTEXTS, _Status())) == expected


@pytest.mark.parametrize(
    ("text", "status", "expected"),
    [
        ("true", _Status(), True),
        ("true", _Status(success=False, failure=True), False),  # implicit success() &&
        ("always()", _Status(success=False, failure=True), True),
        ("failure()", _Status(success=False, failure=True), True),
        ("!cancelled()", _Status(success=False, cancelled=True), False),
        ("${{ !failure() && !cancelled() }}", _Status(success=False), True),
        ("success() || failure()", _Status(success=False, cancelled=True), False),
        ("cancelled()", _Status(success=False, cancelled=True), True),
    ],
)
def test_conditions_and_status_functions(text: str, status: _Status, expected: bool) -> None:
    assert condition(text, Scope(CONTEXTS, status)) is expected


def test_if_with_text_around_an_expression_is_a_non_empty_string() -> None:
    assert condition("${{ false }} && false", Scope(CONTEXTS, _Status())) is True


def test_interpolation_keeps_strings_with_braces() -> None:
    assert interpolate("a-${{ format('}}{0}', 'x') }}-b", Scope(CONTEXTS)) == "a-}x-b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unknown.value", "Unrecognized named-value: 'unknown'"),
        ("1 ==", "Expected a value"),
        ("format('{0}')", "references more arguments"),
        ("fromJSON('{')", "Error parsing fromJson"),
        ("a $ b", "Unexpected symbol"),
    ],
)
def test_expression_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, Scope(CONTEXTS, _Status()))


def test_unsupported_function_is_named() -> None:
    with pytest.raises(Exception, match="rehearse does not support the function 'tolower"):
        evaluate("toLower('A')", Scope(CONTEXTS))


def test_status_function_outside_a_condition_is_refused() -> None:
    with pytest.raises(ExpressionError, match="Unrecognized function: 'success'"):
        evaluate_condition("true", Scope(CONTEXTS))


# ---------------------------------------------------------------------------------- workflows
FAKE_AZ = """#!/bin/sh
echo "$@" >> "$ALMGEN_SIM_DIR/az-calls.txt"
case "$1 $2" in
  "deployment sub") echo '{"ok": true}' ;;
esac
exit 0
"""


def _world(tmp_path: Path, faults: list[dict[str, Any]] | None = None) -> World:
    world = World.create(tmp_path / "world", faults)
    (world.bin / "az").write_text(FAKE_AZ, "utf-8")
    return world


def _repo(tmp_path: Path, workflows: dict[str, str], files: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "repo"
    for name, text in workflows.items():
        path = repo / ".github" / "workflows" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), "utf-8")
    for name, text in (files or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, "utf-8")
    return repo


def _run(tmp_path: Path, text: str, *, world: World | None = None, **kwargs: Any) -> RunResult:
    repo = _repo(tmp_path, {"w.yml": text, **kwargs.pop("others", {})}, kwargs.pop("files", None))
    return run_workflow(repo, "w.yml", world or _world(tmp_path), **kwargs)


def _results(run: RunResult) -> dict[str, str]:
    return {key: job.result for key, job in run.jobs.items()}


def test_needs_skip_propagation_and_always_after_failure(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: echo one
              - run: exit 3
              - run: echo never
              - if: always()
                run: echo cleanup
              - if: failure()
                run: echo rollback
          b:
            needs: a
            runs-on: ubuntu-latest
            steps: [{run: echo b}]
          c:
            needs: b
            if: always()
            runs-on: ubuntu-latest
            steps:
              - run: echo "b was ${{ needs.b.result }}"
          d:
            needs: c
            if: ${{ !failure() && !cancelled() }}
            runs-on: ubuntu-latest
            steps: [{run: echo d}]
    """,
    )
    assert _results(run) == {"a": "failure", "b": "skipped", "c": "success", "d": "skipped"}
    outcomes = [(s.name, s.outcome) for s in run.jobs["a"].steps]
    assert outcomes == [
        ("Run echo one", "success"),
        ("Run exit 3", "failure"),
        ("Run echo never", "skipped"),
        ("Run echo cleanup", "success"),
        ("Run echo rollback", "success"),
    ]
    assert "Process completed with exit code 3." in run.jobs["a"].steps[1].log
    assert "b was skipped" in run.jobs["c"].steps[0].log
    assert run.conclusion == "failure"


def test_outputs_env_files_path_and_summary(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        env: {LEVEL: workflow, KEEP: w}
        jobs:
          produce:
            runs-on: ubuntu-latest
            env: {LEVEL: job}
            outputs:
              value: ${{ steps.make.outputs.value }}
              multi: ${{ steps.make.outputs.multi }}
            steps:
              - id: make
                env: {LEVEL: step}
                run: |
                  echo "value=$LEVEL-$KEEP" >> "$GITHUB_OUTPUT"
                  { echo "multi<<EOF"; echo line1; echo line2; echo EOF; } >> "$GITHUB_OUTPUT"
                  echo "LATER=from-env-file" >> "$GITHUB_ENV"
                  mkdir -p "$RUNNER_TEMP/tools"
                  printf '#!/bin/sh\\necho tool ran\\n' > "$RUNNER_TEMP/tools/mytool"
                  chmod +x "$RUNNER_TEMP/tools/mytool" && echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
                  echo "### done" >> "$GITHUB_STEP_SUMMARY"
              - run: echo "$LATER $LEVEL ${{ env.LATER }}" && mytool
          consume:
            needs: produce
            runs-on: ubuntu-latest
            steps:
              - run: echo "got ${{ needs.produce.outputs.value }} / $ATTEMPT"
                env: {ATTEMPT: "${{ github.run_attempt }}"}
    """,
    )
    assert run.conclusion == "success", run.report()
    assert run.jobs["produce"].outputs == {"value": "step-w", "multi": "line1\nline2"}
    assert "from-env-file job from-env-file" in run.jobs["produce"].steps[1].log
    assert "tool ran" in run.jobs["produce"].steps[1].log
    assert "got step-w / 1" in run.jobs["consume"].steps[0].log
    assert run.summaries == {"produce": "### done\n"}


def test_default_shell_has_no_pipefail_but_shell_bash_does(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: false | true
              - shell: bash
                run: false | true
    """,
    )
    assert [s.outcome for s in run.jobs["j"].steps] == ["success", "failure"]


def test_matrix_include_exclude_and_fail_fast(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          m:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                os: [linux, windows]
                py: ["3.11", "3.12"]
                exclude: [{os: windows, py: "3.11"}]
                include: [{os: linux, extra: yes}, {os: mac, py: "3.13"}]
            steps:
              - run: echo "${{ matrix.os }} ${{ matrix.py }} ${{ matrix.extra }} ${{ strategy.job-index }}"
          f:
            runs-on: ubuntu-latest
            strategy:
              matrix: {n: [1, 2, 3]}
            steps:
              - run: test "${{ matrix.n }}" != 2
    """,
    )
    legs = [key for key in run.jobs if key.startswith("m (")]
    assert legs == ["m (linux, 3.11, yes)", "m (linux, 3.12, yes)", "m (windows, 3.12)", "m (mac, 3.13)"]
    assert "linux 3.12 yes 1" in run.jobs["m (linux, 3.12, yes)"].steps[0].log
    assert [run.jobs[f"f ({n})"].result for n in (1, 2, 3)] == ["success", "failure", "cancelled"]
    assert run.jobs["f"].result == "failure" and run.jobs["m"].result == "success"


REUSABLE = """
    on:
      workflow_call:
        inputs:
          environment: {type: string, required: true}
          minutes: {type: number, default: 10}
          train: {type: boolean, default: false}
          label: {type: string, default: "def"}
        secrets:
          token: {required: false}
        outputs:
          where:
            value: ${{ jobs.inner.outputs.where }}
    permissions: {}
    jobs:
      inner:
        runs-on: ubuntu-latest
        permissions: {contents: read}
        environment: ${{ inputs.environment }}
        outputs:
          where: ${{ steps.s.outputs.where }}
        steps:
          - id: s
            run: |
              echo "env=${{ inputs.environment }} minutes=${{ inputs.minutes }} train=${{ inputs.train }}"
              echo "label=${{ inputs.label }} token=${{ secrets.token }} typed=${{ inputs.train == false }}"
              echo "where=${{ inputs.environment }}-out" >> "$GITHUB_OUTPUT"
      after:
        needs: inner
        runs-on: ubuntu-latest
        steps: [{run: echo after}]
"""


def test_reusable_workflow_inputs_defaults_secrets_and_outputs(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          dev:
            uses: $/.github/workflows/reusable.yml
            permissions: {contents: read}
            with: {environment: dev, minutes: 2.0}
            secrets: {token: "${{ secrets.TOKEN }}"}
          staging:
            needs: dev
            uses: ./.github/workflows/reusable.yml
            with: {environment: "${{ needs.dev.outputs.where }}", train: true}
          report:
            needs: [dev, staging]
            runs-on: ubuntu-latest
            steps:
              - run: echo "${{ needs.dev.outputs.where }} ${{ needs.staging.result }}"
    """,
        others={"reusable.yml": REUSABLE},
        secrets={"TOKEN": "s3cret"},
    )
    assert run.conclusion == "success", run.report()
    log = run.jobs["dev/inner"].steps[0].log
    assert "env=dev minutes=2 train=false" in log and "label=def token=s3cret typed=true" in log
    assert "env=dev-out minutes=10 train=true" in run.jobs["staging/inner"].steps[0].log
    assert "dev-out success" in run.jobs["report"].steps[0].log
    assert run.jobs["dev"].kind == "call" and run.jobs["dev"].outputs == {"where": "dev-out"}
    assert run.jobs["dev/inner"].environment == "dev"


def test_reusable_workflow_input_of_the_wrong_type_fails_the_caller(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          dev:
            uses: ./.github/workflows/reusable.yml
            with: {environment: dev, train: "yes"}
          missing:
            uses: ./.github/workflows/reusable.yml
            with: {minutes: 1}
    """,
        others={"reusable.yml": REUSABLE},
    )
    assert _results(run) == {"dev": "failure", "missing": "failure"}
    assert "a boolean was expected" in run.jobs["dev"].error
    assert "Input required and not supplied: environment" in run.jobs["missing"].error


def test_nested_job_asking_for_more_permissions_than_the_caller_is_a_startup_failure(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        permissions: {}
        jobs:
          dev:
            uses: ./.github/workflows/reusable.yml
            with: {environment: dev}
    """,
        others={"reusable.yml": REUSABLE},
    )
    assert run.conclusion == "failure" and not run.jobs
    assert "is requesting 'contents: read', but is only allowed 'contents: none'" in run.startup_failure


def test_job_timeout_stops_a_sleep_at_the_deadline(tmp_path: Path) -> None:
    world = _world(tmp_path)
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          bake:
            runs-on: ubuntu-latest
            timeout-minutes: 60
            steps:
              - run: sleep 90m
              - if: always()
                run: echo "cleanup ${{ job.status }}"
          next:
            needs: bake
            runs-on: ubuntu-latest
            steps: [{run: echo next}]
    """,
        world=world,
    )
    bake = run.jobs["bake"]
    assert bake.result == "failure"
    assert "exceeded the maximum execution time of 60 minutes" in bake.error
    assert bake.steps[0].outcome == "failure"
    assert "cleanup cancelled" in bake.steps[1].log
    assert run.jobs["next"].result == "skipped"
    timeout = [e for e in world.timeline() if e["kind"] == "github.timeout"]
    assert timeout and 60 <= timeout[0]["minute"] <= 60.2


def test_step_timeout_fails_the_step_and_the_job_goes_on(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - timeout-minutes: 5
                continue-on-error: true
                run: sleep 10m
              - run: echo "after ${{ steps.missing.outcome }}"
    """,
    )
    step = run.jobs["j"].steps[0]
    assert (step.outcome, step.conclusion) == ("failure", "success")
    assert "has timed out after 5 minutes" in step.log
    assert run.jobs["j"].result == "success"


def test_cancel_fault_kills_the_running_step_and_runs_only_cleanup(tmp_path: Path) -> None:
    world = _world(tmp_path, [{"kind": "cancel", "env": "prod", "minutes": 40}])
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          deploy:
            runs-on: ubuntu-latest
            environment: prod
            steps:
              - run: sleep 2h
              - run: echo never
              - if: cancelled()
                run: echo "rollback"
          notify:
            needs: deploy
            if: always()
            runs-on: ubuntu-latest
            steps:
              - run: echo "deploy was ${{ needs.deploy.result }}"
          next:
            needs: deploy
            runs-on: ubuntu-latest
            steps: [{run: echo next}]
    """,
        world=world,
    )
    deploy = run.jobs["deploy"]
    assert [s.outcome for s in deploy.steps] == ["cancelled", "skipped", "success"]
    assert deploy.result == "cancelled"
    assert "deploy was cancelled" in run.jobs["notify"].steps[0].log
    assert run.jobs["next"].result == "skipped"
    assert run.conclusion == "cancelled"
    cancel = [e for e in world.timeline() if e["kind"] == "github.cancel"]
    assert cancel and 40 <= cancel[0]["minute"] <= 40.5


UPLOAD = """
    on: push
    jobs:
      produce:
        runs-on: ubuntu-latest
        steps:
          - run: mkdir -p out/.hidden && echo r > out/report.json && echo h > out/.hidden/x
          - uses: actions/upload-artifact@v4
            if: always()
            with:
              name: report
              path: out
              OVERWRITE_LINE
          - run: test -f "$ALMGEN_SIM_DIR/flag-ok" || { echo flaky; exit 1; }
      consume:
        needs: produce
        runs-on: ubuntu-latest
        steps:
          - uses: actions/download-artifact@v4
            with: {name: report, path: got}
          - run: cat got/report.json && test ! -e got/.hidden/x
"""


def test_artifact_name_conflicts_on_re_run_of_failed_jobs(tmp_path: Path) -> None:
    world = _world(tmp_path)
    run = _run(tmp_path, UPLOAD.replace("OVERWRITE_LINE", ""), world=world)
    assert _results(run) == {"produce": "failure", "consume": "skipped"}
    assert run.artifacts["report"].files == ["report.json"]  # hidden files excluded by default
    (world.root / "flag-ok").write_text("", "utf-8")
    again = rerun_failed(run)
    assert again.attempt == 2
    upload = again.jobs["produce"].steps[1]
    assert upload.outcome == "failure"
    assert "(409) Conflict: an artifact with this name already exists on the workflow run" in upload.log
    assert again.jobs["produce"].result == "failure"


def test_overwrite_true_allows_the_re_run_and_keeps_successful_jobs(tmp_path: Path) -> None:
    world = _world(tmp_path)
    text = (
        UPLOAD.replace("OVERWRITE_LINE", "overwrite: true")
        + """
      independent:
        runs-on: ubuntu-latest
        steps: [{run: echo independent}]
    """
    )
    run = _run(tmp_path, text, world=world)
    (world.root / "flag-ok").write_text("", "utf-8")
    again = rerun_failed(run)
    assert _results(again) == {"produce": "success", "consume": "success", "independent": "success"}
    assert again.jobs["independent"].attempt == 1 and again.jobs["produce"].attempt == 2
    assert "r" in again.jobs["consume"].steps[1].log
    assert again.conclusion == "success"


def test_missing_artifact_fails_the_download(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/download-artifact@v4
                with: {name: nothing}
    """,
    )
    assert (
        "Unable to download artifact(s): Artifact not found for name: nothing" in run.jobs["j"].steps[0].log
    )


def test_rejected_approval_fails_the_job_before_any_step(tmp_path: Path) -> None:
    world = _world(tmp_path, [{"kind": "approval", "env": "prod", "decision": "reject"}])
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          dev:
            runs-on: ubuntu-latest
            environment: dev
            steps: [{run: echo dev}]
          prod:
            needs: dev
            runs-on: ubuntu-latest
            environment: {name: prod, url: "https://example.org"}
            steps: [{run: echo prod}]
    """,
        world=world,
        approvals={"dev": ["alice"], "prod": ["bob"]},
    )
    assert _results(run) == {"dev": "success", "prod": "failure"}
    assert run.jobs["prod"].steps == [] and "rejected" in run.jobs["prod"].error
    decisions = [(e["env"], e["decision"]) for e in world.timeline() if e["kind"] == "github.approval"]
    assert decisions == [("dev", "approve"), ("prod", "reject")]


def test_azure_login_needs_id_token_and_logs_in_through_the_worlds_az(tmp_path: Path) -> None:
    world = _world(tmp_path)
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          ok:
            runs-on: ubuntu-latest
            environment: dev
            permissions: {id-token: write, contents: read}
            steps:
              - uses: azure/login@v2
                with:
                  client-id: ${{ vars.AZURE_CLIENT_ID }}
                  tenant-id: ${{ vars.AZURE_TENANT_ID }}
                  subscription-id: ${{ vars.AZURE_SUBSCRIPTION_ID }}
          no-token:
            runs-on: ubuntu-latest
            permissions: {contents: read}
            steps:
              - uses: azure/login@v2
                with: {client-id: c, tenant-id: t, subscription-id: s}
    """,
        world=world,
        vars={"AZURE_CLIENT_ID": "cid", "AZURE_TENANT_ID": "tid", "AZURE_SUBSCRIPTION_ID": "sub"},
    )
    assert _results(run) == {"ok": "success", "no-token": "failure"}
    assert "give write permissions to id-token" in run.jobs["no-token"].steps[0].log
    calls = (world.root / "az-calls.txt").read_text("utf-8").splitlines()
    assert calls[0].startswith("login --service-principal --username cid --tenant tid --federated-token ")
    assert calls[1] == "account set --subscription sub"


def test_expression_errors_fail_the_step_and_unsupported_functions_are_named(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - if: nothing.here
                run: echo never
              - if: always()
                run: echo "${{ fromJSON('{') }}"
    """,
    )
    assert [s.outcome for s in run.jobs["j"].steps] == ["failure", "failure"]
    assert "Unrecognized named-value: 'nothing'" in run.jobs["j"].steps[0].log
    with pytest.raises(
        RehearseError, match=r"job 'j', step 'lower': rehearse does not support the function 'tolower"
    ):
        _run(
            tmp_path / "2",
            """
            on: push
            jobs:
              j:
                runs-on: ubuntu-latest
                steps:
                  - name: lower
                    run: echo "${{ toLower('A') }}"
        """,
        )


def test_unsupported_constructs_are_named(tmp_path: Path) -> None:
    with pytest.raises(RehearseError, match=r"w.yml, job 'j': rehearse does not support service containers"):
        _run(
            tmp_path,
            """
            on: push
            jobs:
              j:
                runs-on: ubuntu-latest
                services: {db: {image: postgres}}
                steps: [{run: echo}]
        """,
        )
    with pytest.raises(
        RehearseError, match=r"step 'Run some/action@v1': rehearse does not support the action"
    ):
        _run(
            tmp_path / "2",
            """
            on: push
            jobs:
              j:
                runs-on: ubuntu-latest
                steps: [{uses: some/action@v1}]
        """,
        )


# ---------------------------------------------------------------------------------- end to end
# Whole samples against the simulated Azure: tests/rehearse/matrix.py (the scenario matrix).
STUB_TOOLS = {  # the spec's test commands need tools no step installs (see the report)
    "pytest": "echo pytest: passed\n",
    "locust": "echo locust: ok\n",
}


def _generated(tmp_path: Path, sample: str) -> Path:
    target = tmp_path / sample
    shutil.copytree(REPO / "samples" / sample, target)
    subprocess.run(
        [sys.executable, "-m", "generator", "generate", str(target / "almgen.yaml")],
        check=True,
        capture_output=True,
    )
    return target


def test_timeline_is_ordered_json(tmp_path: Path) -> None:
    world = _world(tmp_path)
    _run(
        tmp_path,
        """
        on: push
        jobs:
          a: {runs-on: ubuntu-latest, steps: [{run: echo a}, {run: echo b}]}
    """,
        world=world,
    )
    events = world.timeline()
    kinds = [e["kind"] for e in events]
    assert kinds == [
        "github.run.start",
        "github.job.start",
        "github.step",
        "github.step",
        "github.job.end",
        "github.run.end",
    ]
    minutes = [e["minute"] for e in events]
    assert minutes == sorted(minutes) and minutes[-1] == pytest.approx(0.2)
    assert json.loads(world.timeline_file.read_text("utf-8").splitlines()[0])["kind"] == "github.run.start"


def test_re_run_passes_the_approvals_that_passed_before_and_asks_again_after_a_rejection(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, [{"kind": "approval", "env": "prod", "decision": "reject", "attempt": 1}])
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          staging:
            runs-on: ubuntu-latest
            environment: staging
            steps:
              - run: test -f "$ALMGEN_SIM_DIR/fixed"
          prod:
            runs-on: ubuntu-latest
            environment: prod
            steps: [{run: echo prod}]
    """,
        world=world,
        approvals={"staging": ["alice"], "prod": ["bob"]},
    )
    assert _results(run) == {"staging": "failure", "prod": "failure"}
    (world.root / "fixed").write_text("", "utf-8")
    again = rerun_failed(run)
    assert _results(again) == {"staging": "success", "prod": "success"}
    approvals = [
        (e["env"], e["by"], e["decision"])
        for e in world.timeline()
        if e["kind"] == "github.approval" and e["attempt"] == 2
    ]
    assert approvals == [("staging", "earlier attempt", "approve"), ("prod", "bob", "approve")]


STATEFUL_AZ = """
import json, os, sys
from pathlib import Path

state_file = Path(os.environ["ALMGEN_SIM_DIR"]) / "fake-az.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {}
args = sys.argv[1:]
words = [a for a in args[:4] if not a.startswith("-")]


def opt(name):
    return args[args.index(name) + 1] if name in args else ""


def out(value):
    state_file.write_text(json.dumps(state))
    print(json.dumps(value))
    sys.exit(0)


env = opt("--name").rsplit("-", 1)[-1]
stack = {"location": "eastus2", "resourceGroup": f"rg-{env}", "primary": True, "aiServicesName": f"ais-{env}",
         "aiServicesEndpoint": "https://ais.example", "appConfigurationEndpoint": f"https://appcs-{env}.example",
         "recordsAccount": f"strec{env}",  # storage blob upload: answered by the catch-all below
         "gatewayId": f"/subscriptions/s/resourceGroups/rg-{env}/providers/Microsoft.ApiManagement/service/a",
         "gatewayEndpoint": "https://apim.example",
         "logAnalyticsCustomerId": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"}
if words[:3] == ["deployment", "sub", "show"] or words[:3] == ["deployment", "sub", "create"]:
    out({"stacks": {"type": "Array", "value": [stack]}})  # every environment was deployed before
if words[:3] == ["appconfig", "kv", "list"]:
    out([{"key": k, "value": v} for k, v in state.get(opt("--label"), {}).items()])
if words[:3] == ["appconfig", "kv", "set"]:
    state.setdefault(opt("--label"), {})[opt("--key")] = opt("--value")
    out({})
if words[:3] == ["monitor", "metrics", "list"]:  # a steady 1000 requests a window, none failed
    ok = {"metadatavalues": [{"name": {"value": "StatusCode"}, "value": "200"}], "data": [{"total": 1000}]}
    out({"value": [{"timeseries": [ok]}]})
if words[:3] == ["cognitiveservices", "account", "show"]:
    out({"id": "/subscriptions/s/ais"})
if words[:1] == ["rest"] and "api.loganalytics.io" in opt("--url"):  # the gateway's logs: all healthy
    columns = [{"name": "requests"}, {"name": "errors"}, {"name": "p95"}]
    out({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": [[1000, 0, 900.0]]}]})
if words[:1] == ["rest"] and "/backends/pool-" in opt("--url"):  # the gateway's pools
    pool = opt("--url").split("?")[0]
    if opt("--method") == "patch":
        state.setdefault("pools", {})[pool] = json.loads(opt("--body"))["properties"]["pool"]
    model = pool.rsplit("/backends/pool-", 1)[1]  # before any move: <model>-blue takes all
    blue = {"services": [{"id": pool.replace(f"pool-{model}", f"deployment-{model}-blue"), "weight": 100}]}
    out({"properties": {"type": "Pool", "pool": state.get("pools", {}).get(pool, blue)}})
out({})
"""


def _stub_evals(repo: Path, flag: Path) -> None:
    """The sample's evaluations need Azure; these write passing metrics (failing while `flag` exists)."""
    stub = textwrap.dedent(f"""
        import argparse, json, os
        parser = argparse.ArgumentParser()
        parser.add_argument("--out")
        args, _ = parser.parse_known_args()
        low = os.path.exists({str(flag)!r})
        json.dump(METRICS, open(args.out, "w"))
    """)
    quality = "{'groundedness': 1.0 if low else 4.5, 'relevance': 4.5, 'coherence': 4.5}"
    rates = ("violence", "self_harm", "hate_unfairness", "sexual")
    safety = "{" + ", ".join(f"'{name}_defect_rate': 0.0" for name in rates) + "}"
    (repo / "evals" / "run.py").write_text(stub.replace("METRICS", quality), "utf-8")
    (repo / "evals" / "safety.py").write_text(stub.replace("METRICS", safety), "utf-8")


def test_chat_cd_re_run_after_a_failed_gate(tmp_path: Path) -> None:
    repo = _generated(tmp_path, "openai-chat-github")
    flag = tmp_path / "gate-fails"
    flag.write_text("", "utf-8")
    _stub_evals(repo, flag)
    world = World.create(tmp_path / "world")
    (world.bin / "az").write_text(
        f"#!/bin/sh\nexec '{sys.executable}' '{tmp_path / 'az.py'}' \"$@\"\n", "utf-8"
    )
    (tmp_path / "az.py").write_text(STATEFUL_AZ, "utf-8")
    run = run_workflow(
        repo,
        "chat-assist-cd.yml",
        world,
        vars={"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_SUBSCRIPTION_ID": "s"},
        secrets={},
        approvals={"prod-approval": ["ai-leads"]},
        tools=STUB_TOOLS,
        wall_seconds=60,
    )
    assert run.jobs["deploy-dev"].result == "success", run.report()
    assert run.jobs["deploy-staging/gates"].result == "failure", run.report()
    assert any(name.startswith("gates-staging") for name in run.artifacts), sorted(run.artifacts)
    flag.unlink()
    again = rerun_failed(run)
    assert again.jobs["deploy-dev"].attempt == 1  # kept from the first attempt
    assert again.conclusion == "success", again.report()


def test_defaults_shell_fresh_machine_per_job_and_no_installs(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        defaults:
          run: {shell: bash}
        jobs:
          a:
            runs-on: ubuntu-latest
            defaults:
              run: {working-directory: sub}
            steps:
              - uses: actions/checkout@v4
              - run: false | true
                working-directory: .
                continue-on-error: true
              - run: pwd && echo "$AZURE_CONFIG_DIR" && python -m pip install "scanner==1.0" && pip install x
              - run: scanner --all
          b:
            runs-on: ubuntu-latest
            steps:
              - run: echo "$AZURE_CONFIG_DIR $GITHUB_JOB $RUNNER_OS $CI"
              - run: scanner
                continue-on-error: true
    """,
        files={"sub/keep.txt": "x"},
    )
    steps = run.jobs["a"].steps
    assert steps[1].outcome == "failure"  # pipefail from workflow defaults
    assert steps[2].outcome == "success", steps[2].log
    assert steps[2].log.splitlines()[0].endswith("/workspace/sub")
    assert steps[2].log.count("rehearsal: not installed (recorded): install") == 2
    config_a = steps[2].log.splitlines()[1]
    assert config_a != run.jobs["b"].steps[0].log.split()[0]
    assert run.jobs["b"].steps[0].log.split()[1:] == ["b", "Linux", "true"]
    assert "stands in for the package the step installed with pip" in steps[3].log
    assert run.jobs["b"].steps[1].outcome == "failure"  # another job is another machine


def test_pip_download_fetches_nothing(tmp_path: Path) -> None:
    """The wheel form of targets.almgen downloads with pip: a rehearsal records it, offline."""
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: python -m pip download --no-deps --dest d "almgen @ https://example.invalid/almgen-0.1.0-py3-none-any.whl"
    """,
    )
    (step,) = run.jobs["a"].steps
    assert step.outcome == "success", step.log
    assert "rehearsal: not installed (recorded): download" in step.log


def test_events_dispatch_inputs_pull_request_and_trigger_filters(tmp_path: Path) -> None:
    text = """
        on:
          push: {branches: [main, "release/*"]}
          pull_request: {branches: [main]}
          workflow_dispatch:
            inputs:
              dry: {type: boolean, default: false}
              count: {type: number, default: 2}
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: |
                  echo "${{ github.event_name }} ${{ inputs.dry }} ${{ inputs.count }} ${{ github.ref_name }}"
                  echo "pr=${{ github.event.pull_request.number }} typed=${{ inputs.dry == true }}"
    """
    dispatched = _run(tmp_path / "a", text, event="workflow_dispatch", inputs={"dry": "true"})
    assert "workflow_dispatch true 2 main" in dispatched.jobs["j"].steps[0].log
    assert "typed=true" in dispatched.jobs["j"].steps[0].log
    pull = _run(tmp_path / "b", text, event="pull_request", ref="refs/pull/1/merge")
    assert "pr=1" in pull.jobs["j"].steps[0].log
    release = _run(tmp_path / "c", text, ref="refs/heads/release/2")
    assert release.conclusion == "success"
    with pytest.raises(RehearseError, match="does not match the branch 'feature'"):
        _run(tmp_path / "d", text, ref="refs/heads/feature")
    with pytest.raises(RehearseError, match="does not run on 'schedule'"):
        _run(tmp_path / "e", text, event="schedule")


def test_a_hosted_job_stops_after_six_hours_whatever_its_timeout(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          bake:
            runs-on: ubuntu-latest
            timeout-minutes: 430
            steps: [{run: sleep 400m}]
    """,
    )
    assert "maximum execution time of 360 minutes" in run.jobs["bake"].error


def test_nested_reusable_workflows_inherit_secrets_and_rerun_only_what_failed(tmp_path: Path) -> None:
    outer = """
        on:
          workflow_call:
            inputs: {env: {type: string, required: true}}
        jobs:
          inner:
            uses: ./.github/workflows/inner.yml
            secrets: inherit
            with: {env: "${{ inputs.env }}-x"}
          ok:
            runs-on: ubuntu-latest
            steps: [{run: echo ok}]
    """
    inner = """
        on:
          workflow_call:
            inputs: {env: {type: string, required: true}}
        jobs:
          leaf:
            runs-on: ubuntu-latest
            steps:
              - run: echo "${{ inputs.env }} ${{ secrets.API }}" && test -f "$ALMGEN_SIM_DIR/ok"
    """
    world = _world(tmp_path)
    run = _run(
        tmp_path,
        """
        on: push
        jobs:
          top:
            uses: ./.github/workflows/outer.yml
            secrets: inherit
            with: {env: dev}
    """,
        world=world,
        others={"outer.yml": outer, "inner.yml": inner},
        secrets={"API": "k"},
    )
    assert _results(run) == {
        "top/inner/leaf": "failure",
        "top/inner": "failure",
        "top/ok": "success",
        "top": "failure",
    }
    assert "dev-x k" in run.jobs["top/inner/leaf"].steps[0].log
    (world.root / "ok").write_text("", "utf-8")
    again = rerun_failed(run)
    assert again.conclusion == "success"
    assert again.jobs["top/ok"].attempt == 1 and again.jobs["top/inner/leaf"].attempt == 2
