"""The `retrieval` section: defaults, the resolved value and the rules a schema cannot say."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import SpecInvalid
from generator.spec.validate import load_spec
from tests.helpers import MINIMAL, write_tree

BASE = (
    MINIMAL.replace("  - name: dev\n", "  - name: dev\n  - name: prod\n")
    + """\
  - {name: scorer, kind: custom, version: 1.0.0, path: model}
  - {name: embed, model: text-embedding-3-large, version: "1", sku: Standard}
agents:
  - {name: helper, version: 1.0.0, model: chat, tools: [azure_ai_search]}
  - {name: coder, version: 1.0.0, model: chat, tools: [code_interpreter]}
tests:
  smoke: {command: "pytest -q"}
"""
)
SECTION = """\
retrieval:
  source: {asset: handbook, version: "3"}
  embedding: embed
"""


def _issues(tmp_path: Path, section: str, base: str = BASE) -> list[tuple[str, str]]:
    write_tree(tmp_path, {"almgen.yaml": base + section, "model/MLmodel": "flavors: {}\n"})
    with pytest.raises(SpecInvalid) as caught:
        load_spec(tmp_path / "almgen.yaml")
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_the_defaults_of_a_small_retrieval_section(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": BASE + SECTION, "model/MLmodel": "flavors: {}\n"})
    retrieval = load_spec(tmp_path / "almgen.yaml").retrieval
    assert retrieval is not None
    assert retrieval.alias == "demo-svc"  # the service name
    source = (retrieval.source_asset, retrieval.source_path, retrieval.source_version)
    assert source == ("handbook", None, "3")
    assert (retrieval.chunking.size, retrieval.chunking.overlap, retrieval.chunking.splitter) == (
        2000,
        200,
        "pages",
    )
    assert (retrieval.algorithm, retrieval.metric, retrieval.semantic_ranker) == ("hnsw", "cosine", False)
    assert retrieval.sku.as_dict() == {"dev": "basic", "prod": "basic"}
    assert retrieval.agents == ("helper",)  # every agent with the azure_ai_search tool
    assert retrieval.tests == ()


def test_no_section_no_retrieval(tmp_path: Path) -> None:
    without_search = BASE.replace("tools: [azure_ai_search]", "tools: [code_interpreter]")
    write_tree(tmp_path, {"almgen.yaml": without_search, "model/MLmodel": "flavors: {}\n"})
    assert load_spec(tmp_path / "almgen.yaml").retrieval is None


def test_the_search_tier_per_environment(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": BASE + SECTION + "  sku: {prod: standard2}\n", "model/MLmodel": "x"})
    retrieval = load_spec(tmp_path / "almgen.yaml").retrieval
    assert retrieval is not None
    assert retrieval.sku.as_dict() == {"dev": "basic", "prod": "standard2"}


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ("  sku: {production: standard}\n", "retrieval.sku.production", "is not an environment name"),
        ("  chunking: {size: 500, overlap: 500}\n", "retrieval.chunking.overlap", "not less than"),
        ("  agents: [helper, coder]\n", "retrieval.agents[1]", "has no azure_ai_search tool"),
        ("  agents: [helper, helpr]\n", "retrieval.agents[1]", "is not an agent name"),
        ("  tests: [smoek]\n", "retrieval.tests[0]", "is not a test name"),
        ("  index: {fields: [content]}\n", "retrieval.index.fields[0]", "every chunk has already"),
    ],
)
def test_the_rules_of_the_section(tmp_path: Path, extra: str, path: str, message: str) -> None:
    issues = _issues(tmp_path, SECTION + extra)
    assert [p for p, _ in issues] == [path]
    assert message in issues[0][1]


def test_the_source_is_an_asset_or_a_path(tmp_path: Path) -> None:
    both = SECTION.replace(
        "{asset: handbook,", "{asset: handbook, path: 'https://docs1.blob.core.windows.net/kbase/v3',"
    )
    assert _issues(tmp_path, both) == [
        ("retrieval.source", "the document source is a data asset or a storage path")
    ]
    path = SECTION.replace("{asset: handbook,", "{path: 'https://docs1.blob.core.windows.net/kbase/v3',")
    write_tree(tmp_path, {"almgen.yaml": BASE + path, "model/MLmodel": "x"})
    retrieval = load_spec(tmp_path / "almgen.yaml").retrieval
    assert retrieval is not None and retrieval.source_path == "https://docs1.blob.core.windows.net/kbase/v3"


def test_a_data_asset_needs_the_registry_of_a_custom_model(tmp_path: Path) -> None:
    foundation_only = BASE.replace("  - {name: scorer, kind: custom, version: 1.0.0, path: model}\n", "")
    issues = _issues(tmp_path, SECTION, foundation_only)
    assert [p for p, _ in issues] == ["retrieval.source.asset"]


@pytest.mark.parametrize("name", ["chat", "embedd", "scorer"])
def test_the_embedding_model_is_an_embedding_model_from_models(tmp_path: Path, name: str) -> None:
    issues = _issues(tmp_path, SECTION.replace("embedding: embed", f"embedding: {name}"))
    assert [p for p, _ in issues] == ["retrieval.embedding"]


def test_an_agent_with_the_search_tool_is_bound_to_the_index(tmp_path: Path) -> None:
    """azure_ai_search queries the retrieval index: without the section, or left out of an explicit
    retrieval.agents, the agent would have a search tool over no index."""
    excluded = SECTION + "  agents: []\n"
    assert _issues(tmp_path, excluded) == [
        (
            "agents[0].tools[0]",
            "the agent 'helper' has the azure_ai_search tool, "
            "but retrieval.agents does not bind it to the index",
        )
    ]
    assert _issues(tmp_path / "none", "") == [
        (
            "agents[0].tools[0]",
            "the azure_ai_search tool queries the index of the spec's retrieval section, "
            "and this spec has none",
        )
    ]


def test_a_data_asset_source_gets_its_readers_from_setup_and_its_grant_as_commands(tmp_path: Path) -> None:
    """The registry and the asset exist only after the first deploy: setup creates the identities,
    SETUP.md gives the grant on the asset's account as commands, and says the first build waits for it."""
    from generator.commands.setup.actions import actions
    from generator.commands.setup.model import Facts
    from generator.plan.build import plan
    from generator.render.all import render

    write_tree(tmp_path, {"almgen.yaml": BASE + SECTION, "model/MLmodel": "flavors: {}\n"})
    spec = load_spec(tmp_path / "almgen.yaml")
    done = [a.what for a in actions(spec, plan(spec), Facts(), spec.environments)]
    assert [w.split(" (")[0] for w in done if "-search-" in w] == [
        "identity id-demo-svc-search-dev in rg-demo-svc-dev",
        "identity id-demo-svc-search-prod in rg-demo-svc-prod",
    ]  # no grant: the asset's account is not known yet
    setup = next(f.text for f in render(spec) if f.path == "docs/alm/SETUP.md")
    section = setup.split("## Retrieval documents", 1)[1].split("\n## ", 1)[0]
    assert "| prod | `id-demo-svc-search-prod` | `rg-demo-svc-prod` |" in section
    assert "data asset handbook 3 of the model registry" in section
    assert 'az ml data show --name "$ASSET"' in section and "Storage Blob Data Reader" in section
