"""Retrieval rehearsed: the index is built only when its inputs change, goes live after the gates, and
rolls back with the release.

A small spec (dev, then prod behind an evaluation gate, both direct) whose agent answers from a
versioned index keeps each scenario to two short environments; the enterprise sample's own
rehearsal (tests/rehearse/test_rehearsals.py) covers blue-green, canary and two regions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.commands.rehearse import judge, parse_faults
from generator.rehearse.azure.search import BLOB_READER
from generator.rehearse.azure.store import locked
from generator.rehearse.driver import Stage, commit_change, edit_spec, fork, run_phase
from tests.rehearse.conftest import GITHUB, TARGETS, first_deploys

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)

SPEC = """\
apiVersion: almgen/v1
service: {name: kb-agent, description: Answers from the handbook}
targets: {pipelines: [github-actions, azure-devops], infrastructure: bicep}
environments:
  - name: dev
  - name: prod
    gates: [evaluation]
models:
  - {name: chat, model: gpt-4o, version: "2024-11-20"}
  - {name: embed, model: text-embedding-3-small, version: "1", sku: Standard}
agents:
  - {name: helper, version: 1.0.0, model: chat, instructions: prompts/helper.md, tools: [azure_ai_search]}
retrieval:
  source: {path: "https://handbookdocs.blob.core.windows.net/handbook/articles", version: "1"}
  chunking: {size: 1200, overlap: 100}
  embedding: embed
  index: {name: handbook}
evaluation:
  command: "python -m evals.run"
  thresholds: {groundedness: ">= 4.0", retrieval: ">= 3.0"}
"""


def aliases(stage: Stage) -> dict[str, str]:
    """Per environment, the index the alias `handbook` serves."""
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    groups = state["groups"]
    return {
        groups[service["group"]]["tags"]["environment"]: service["aliases"]
        .get("handbook", {})
        .get("indexes", [""])[0]
        for service in state["search"].values()
    }


def indexes(stage: Stage, env: str) -> list[str]:
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    return sorted(
        name
        for service in state["search"].values()
        if state["groups"][service["group"]]["tags"]["environment"] == env
        for name in service["indexes"]
    )


def builds(stage: Stage, since: float) -> list[dict[str, Any]]:
    return [e for e in stage.world.timeline() if e["kind"] == "azure-search-index" and e["minute"] >= since]


def new_documents(data: Any) -> None:
    data["retrieval"]["source"]["version"] = "2"


def new_documents_and_agent(data: Any) -> None:
    new_documents(data)
    data["agents"][0]["version"] = "1.1.0"  # its update is what fails, after the switch


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stage]:
    """The small spec's first deploy on each target, from an empty subscription (once per module)."""
    return first_deploys(
        tmp_path_factory,
        "kb-agent",
        {"almgen.yaml": SPEC, "prompts/helper.md": "Answer from the handbook.\n"},
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_first_deploy_ends_with_the_agent_bound_to_the_versioned_index(
    target: str, first: dict[str, Stage]
) -> None:
    stage = first[target]
    assert aliases(stage) == {"dev": "handbook-v1", "prod": "handbook-v1"}
    state = json.loads(stage.world.azure_file.read_text("utf-8"))
    for account in state["accounts"].values():
        (agent,) = account["agents"].values()
        (version,) = agent["versions"]  # the first version, its definition's search tool
        (tool,) = [t for t in version["definition"]["tools"] if t["type"] == "azure_ai_search"]
        (bound,) = tool["azure_ai_search"]["indexes"]
        assert bound["index_name"] == "handbook"  # the alias: a switch needs no new agent version
        assert bound["project_connection_id"].endswith(
            f"/accounts/{account['name']}/projects/agents/connections/search"
        )


def test_lineage_live_names_the_index_that_serves_and_a_spec_it_was_not_built_from(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    """The audit question for retrieval, answered from Azure: which index the alias serves and
    the inputs it was built from; a spec with new documents that is not deployed yet differs."""
    stage = fork(first[GITHUB], tmp_path)
    command = [sys.executable, "-m", "generator", "lineage", str(stage.repo / "almgen.yaml"), "--live"]
    env = stage.world.environ()
    done = subprocess.run(
        [*command, "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    prod = next(e for e in json.loads(done.stdout)["environments"] if e["name"] == "prod")
    (region,) = prod["regions"]
    served = region["retrieval"]
    assert served["index"] == "handbook-v1" and served["inputsSha256"] == served["specInputsSha256"]
    assert (
        served["source"]["version"] == "1" and served["embedding"]["catalogModel"] == "text-embedding-3-small"
    )
    edit_spec(stage.repo / "almgen.yaml", new_documents)  # changed, not deployed
    again = subprocess.run([*command, "--env", "prod"], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "retrieval: handbook serves handbook-v1" in again.stdout
    assert "handbook-v1 was built from other inputs than the spec's" in again.stdout


def test_an_unchanged_source_builds_nothing_on_a_rerun(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    start = stage.world.minutes()
    phase = run_phase(stage, "same inputs again", [])
    assert phase.conclusion == "success", phase.report
    assert builds(stage, start) == []
    assert aliases(stage) == {"dev": "handbook-v1", "prod": "handbook-v1"}


@pytest.mark.parametrize("target", TARGETS)
def test_a_new_source_version_builds_gates_and_switches_a_new_index(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[target], tmp_path)
    start = stage.world.minutes()
    commit_change(stage.repo, "almgen.yaml", new_documents, "handbook: new articles")
    phase = run_phase(stage, "new documents", [])
    assert phase.conclusion == "success", phase.report
    assert [e["index"] for e in builds(stage, start)] == ["handbook-v2", "handbook-v2"]  # dev, then prod
    assert aliases(stage) == {"dev": "handbook-v2", "prod": "handbook-v2"}
    assert indexes(stage, "prod") == ["handbook-v1", "handbook-v2"]  # the previous one is kept
    timeline = stage.world.timeline()
    gate = next(e["minute"] for e in timeline if e["kind"] == "gate-run" and e["minute"] >= start)
    switch = next(e for e in timeline if e["kind"] == "azure-search-alias" and e["minute"] >= gate)
    assert switch["index"] == "handbook-v2"  # prod's alias moved only after its gate


def test_a_failed_gate_keeps_the_old_index_live(first: dict[str, Stage], tmp_path: Path) -> None:
    stage = fork(first[GITHUB], tmp_path)
    commit_change(stage.repo, "almgen.yaml", new_documents, "handbook: new articles")
    phase = run_phase(stage, "gate fails", parse_faults(("prod:gate=evaluation:fail",), stage.spec))
    assert phase.conclusion == "failure"
    assert aliases(stage) == {"dev": "handbook-v2", "prod": "handbook-v1"}
    assert indexes(stage, "prod") == ["handbook-v1"]  # nothing was built past the gate


@pytest.mark.parametrize("target", TARGETS)
def test_a_release_failing_after_the_switch_rolls_the_alias_back(
    target: str, first: dict[str, Stage], tmp_path: Path
) -> None:
    stage = fork(first[target], tmp_path)
    commit_change(stage.repo, "almgen.yaml", new_documents_and_agent, "handbook and helper: new versions")
    # the switch of the agents' live version fails, after the alias moved
    phase = run_phase(stage, "agents fail", parse_faults(("prod:agents:live:fail",), stage.spec))
    verdict = judge(stage.spec, phase)
    assert verdict.ok, "\n".join(verdict.reasons) + "\n" + phase.report
    assert aliases(stage) == {"dev": "handbook-v2", "prod": "handbook-v1"}
    assert indexes(stage, "prod") == ["handbook-v1", "handbook-v2"]  # built, judged, not served
    switched = [e for e in stage.world.timeline() if e["kind"] == "azure-search-alias"]
    assert [e["index"] for e in switched][-2:] == ["handbook-v2", "handbook-v1"]  # prod: switched, restored


def test_the_first_index_is_read_as_the_identity_almgen_setup_granted(first: dict[str, Stage]) -> None:
    """Each environment's data source names the identity `almgen setup` made (seeded into the world
    before the first push, as setup leaves it), and every search service of the environment has it."""
    state = json.loads(first[GITHUB].world.azure_file.read_text("utf-8"))
    for service in state["search"].values():
        env = state["groups"][service["group"]]["tags"]["environment"]
        (reader,) = service["identities"]
        assert reader.endswith(f"/userAssignedIdentities/id-kb-agent-search-{env}")
        source = service["datasources"]["handbook-v1"]
        assert source["identity"]["userAssignedIdentity"] == reader


def test_without_setup_s_read_role_the_new_index_fails_and_the_old_one_stays_live(
    first: dict[str, Stage], tmp_path: Path
) -> None:
    """What a real first push hit before setup granted the role: the indexer cannot read the
    documents. The release stops at dev's build; nothing switches."""
    stage = fork(first[GITHUB], tmp_path)
    with locked(stage.world.azure_file) as state:
        state["roles"] = [r for r in state["roles"] if r["roleDefinitionName"] != BLOB_READER]
    commit_change(stage.repo, "almgen.yaml", new_documents, "handbook: new articles")
    phase = run_phase(stage, "no read role", [])
    assert phase.conclusion == "failure"
    assert "holds no Storage Blob Data Reader on" in phase.report
    assert aliases(stage) == {"dev": "handbook-v1", "prod": "handbook-v1"}


@pytest.mark.parametrize("target", TARGETS)
def test_every_az_line_of_the_first_deploy_parses_with_the_real_azure_cli(
    target: str, first: dict[str, Stage]
) -> None:
    """Building, switching and retaining indexes go through `az rest` and `az storage account show`."""
    from tests.rehearse import azcli

    if not azcli.available():
        pytest.skip("the azure-cli tools environment is not installed (scripts/test.sh installs it)")
    calls = (first[target].world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    lines = [json.loads(line)["argv"] for line in calls]
    search = [argv for argv in lines if any(".search.windows.net" in arg for arg in argv)]
    assert {argv[argv.index("--method") + 1] for argv in search} >= {"get", "put"}
    assert azcli.rejected(lines) == []
