"""retrieval.py against the simulated search data plane (rehearse/azure/search.py) in process."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.azure import search
from generator.rehearse.azure.store import AzFailure
from generator.runtime import agents, common, indexing, retrieval

FACTS: dict[str, Any] = {
    "alias": "support-kb",
    "source": {"path": "https://contosokbdocs.blob.core.windows.net/support-kb/articles", "version": "7"},
    "chunking": {"size": 1500, "overlap": 150, "splitter": "pages"},
    "embedding": {
        "model": "embeddings",
        "catalogModel": "text-embedding-3-large",
        "version": "1",
        "dimensions": 3072,
    },
    "index": {"fields": ["product"], "algorithm": "hnsw", "metric": "cosine", "semanticRanker": True},
    "sku": "basic",
    "agents": ["support"],
    "tests": [],
    "keepIndexes": 2,
}

DOCUMENTS = (
    "/subscriptions/sub/resourceGroups/rg-docs/providers/Microsoft.Storage/storageAccounts/contosokbdocs"
)
READER = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/r"


class Service:
    """Two regions' search services; every request of retrieval.py is logged."""

    def __init__(self, tmp_path: Path) -> None:
        # as `almgen setup` leaves it: the documents reader, granted read on the documents' account
        self.state: dict[str, Any] = {
            "subscription": "sub",
            "groups": {},
            "identities": {READER: {"name": "id-support-search-prod", "principalId": "p-docs"}},
            "roles": [
                {"principalId": "p-docs", "roleDefinitionName": search.BLOB_READER, "scope": DOCUMENTS}
            ],
        }
        self.calls: list[tuple[str, str]] = []
        self.stacks = []
        for location, suffix in (("eastus2", "prod-eus2"), ("swedencentral", "prod-swc")):
            outputs = search.deploy(
                self.state, group=f"rg-{suffix}", group_id=f"/rg/{suffix}", service="support", suffix=suffix,
                location=location, documents_identity=READER,
            )  # fmt: skip
            self.stacks.append(
                {
                    "location": location,
                    "primary": location == "eastus2",
                    "aiServicesName": f"ais-{suffix}",
                    **outputs,
                }
            )
        self.root = tmp_path
        (tmp_path / "outputs.json").write_text(json.dumps({"stacks": {"value": self.stacks}}))
        self.write_release(FACTS)

    def write_release(self, facts: dict[str, Any]) -> None:
        release = {
            "service": "support",
            "environments": {"prod": {"models": [], "agents": [], "retrieval": facts}},
        }
        (self.root / "release.json").write_text(json.dumps(release))

    def http(self, method: str, address: str, body: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, address.partition("?")[0]))
        flags = {"--resource": search.RESOURCE, "--body": json.dumps(body) if body is not None else ""}
        try:
            return search.rest(None, self.state, method.lower(), address, flags)
        except AzFailure as failure:
            status, message = agents.rest_error(f"ERROR: {failure.message}")
            raise agents.HttpError(status or 500, message) from failure

    def run(self, *argv: str) -> int:
        common_args = ["--env", "prod", "--release", str(self.root / "release.json")]
        command, rest = argv[0], list(argv[1:])
        if command in ("build", "retain", "show"):
            rest += ["--outputs", str(self.root / "outputs.json")]
        if command in ("build", "switch", "retain", "show"):
            rest += common_args
        return retrieval.main([command, *rest])

    def alias(self, region: int) -> list[str]:
        name = self.stacks[region]["searchName"]
        return list(self.state["search"][name]["aliases"].get("support-kb", {}).get("indexes", []))

    def indexes(self, region: int) -> list[str]:
        return sorted(self.state["search"][self.stacks[region]["searchName"]]["indexes"])


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    fake = Service(tmp_path)
    monkeypatch.setattr(retrieval, "http", fake.http)
    monkeypatch.setattr(common, "az_text", lambda args, what: DOCUMENTS)
    monkeypatch.chdir(tmp_path)
    return fake


def test_the_indexer_reads_the_documents_as_the_identity_setup_granted(service: Service) -> None:
    assert service.run("build", "--out", "built.json", "--poll-seconds", "0") == 0
    source = service.state["search"][service.stacks[0]["searchName"]]["datasources"]["support-kb-v1"]
    assert source["identity"] == {
        "@odata.type": "#Microsoft.Azure.Search.DataUserAssignedIdentity",
        "userAssignedIdentity": READER,
    }
    assert source["credentials"] == {"connectionString": f"ResourceId={DOCUMENTS};"}


def test_without_the_read_role_on_the_documents_the_build_fails_naming_the_identity(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    service.state["roles"] = []
    assert service.run("build", "--out", "built.json", "--poll-seconds", "0") == 1
    assert f"{READER} holds no Storage Blob Data Reader on {DOCUMENTS}" in capsys.readouterr().err


def test_the_first_build_makes_version_1_in_every_region(service: Service) -> None:
    assert service.run("build", "--out", "built.json", "--poll-seconds", "0") == 0
    built = json.loads(Path("built.json").read_text())
    assert [s["index"] for s in built["stacks"]] == ["support-kb-v1", "support-kb-v1"]
    assert all(s["built"] and s["documents"] == search.CHUNKS for s in built["stacks"])
    assert service.indexes(0) == service.indexes(1) == ["support-kb-v1"]
    assert service.alias(0) == []  # nothing serves it before the switch


def test_the_definitions_carry_chunking_embedding_and_ranker(service: Service) -> None:
    service.run("build", "--out", "built.json", "--poll-seconds", "0")
    plane = service.state["search"][service.stacks[0]["searchName"]]
    index, skillset = plane["indexes"]["support-kb-v1"], plane["skillsets"]["support-kb-v1"]
    vector = next(f for f in index["fields"] if f["name"] == "contentVector")
    assert vector["dimensions"] == 3072
    vectorizer = index["vectorSearch"]["vectorizers"][0]["azureOpenAIParameters"]
    assert vectorizer == {
        "resourceUri": "https://ais-prod-eus2.openai.azure.com",
        "deploymentId": "embeddings",
        "modelName": "text-embedding-3-large",
    }
    assert "semantic" in index and "product" in [f["name"] for f in index["fields"]]
    split = skillset["skills"][0]
    assert (split["textSplitMode"], split["maximumPageLength"], split["pageOverlapLength"]) == (
        "pages",
        1500,
        150,
    )
    source = plane["datasources"]["support-kb-v1"]
    assert source["container"] == {"name": "support-kb", "query": "articles"}
    assert source["credentials"]["connectionString"].startswith("ResourceId=/subscriptions/")  # no key
    assert plane["indexers"]["support-kb-v1"]["description"] == indexing.HASH_MARK + indexing.inputs_hash(
        FACTS
    )


def test_unchanged_inputs_build_nothing(service: Service) -> None:
    service.run("build", "--out", "first.json", "--poll-seconds", "0")
    service.calls.clear()
    assert service.run("build", "--out", "again.json", "--poll-seconds", "0") == 0
    again = json.loads(Path("again.json").read_text())
    assert [(s["index"], s["built"]) for s in again["stacks"]] == [("support-kb-v1", False)] * 2
    assert not [call for call in service.calls if call[0] == "PUT"]


@pytest.mark.parametrize(
    "change",
    [
        ("source", "version", "8"),
        ("chunking", "size", 1000),
        ("embedding", "version", "2"),
        ("index", "semanticRanker", False),
    ],
)
def test_any_changed_input_builds_the_next_version(service: Service, change: tuple[str, str, Any]) -> None:
    service.run("build", "--out", "first.json", "--poll-seconds", "0")
    facts = copy.deepcopy(FACTS)
    facts[change[0]][change[1]] = change[2]
    service.write_release(facts)
    service.run("build", "--out", "second.json", "--poll-seconds", "0")
    second = json.loads(Path("second.json").read_text())
    assert [(s["index"], s["built"]) for s in second["stacks"]] == [("support-kb-v2", True)] * 2
    assert service.indexes(0) == ["support-kb-v1", "support-kb-v2"]  # the previous one is kept


def test_switch_moves_the_alias_and_restore_moves_it_back(service: Service) -> None:
    service.run("build", "--out", "v1.json", "--poll-seconds", "0")
    assert service.run("switch", "--build", "v1.json", "--save-previous", "previous-v1.json") == 0
    assert service.alias(0) == service.alias(1) == ["support-kb-v1"]
    service.write_release(FACTS | {"source": {**FACTS["source"], "version": "8"}})
    service.run("build", "--out", "v2.json", "--poll-seconds", "0")
    service.run("switch", "--build", "v2.json", "--save-previous", "previous.json", "--out", "switched.json")
    assert service.alias(0) == ["support-kb-v2"]
    switched = json.loads(Path("switched.json").read_text())
    assert [s["previous"] for s in switched["stacks"]] == ["support-kb-v1"] * 2
    assert service.run("restore", "--previous", "previous.json") == 0
    assert service.alias(0) == service.alias(1) == ["support-kb-v1"]


def test_a_failed_indexer_fails_the_build(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        search, "_status", lambda world, env, indexer: {"status": "persistentFailure", "errorMessage": "403"}
    )
    assert service.run("build", "--out", "built.json", "--poll-seconds", "0") == 1
    assert not Path("built.json").exists()


def test_retention_keeps_what_serves_and_what_is_newer(service: Service) -> None:
    for version in ("1", "2", "3", "4"):
        service.write_release(FACTS | {"source": {**FACTS["source"], "version": version}})
        service.run("build", "--out", f"v{version}.json", "--poll-seconds", "0")
        if version == "2":
            service.run("switch", "--build", "v2.json", "--save-previous", "previous.json")
    assert service.run("retain") == 0  # keep 2: v4 and v3 by age, v2 because it serves
    assert service.indexes(0) == ["support-kb-v2", "support-kb-v3", "support-kb-v4"]
    assert "support-kb-v1" not in service.state["search"][service.stacks[0]["searchName"]]["indexers"]


def test_show_names_the_served_index_and_its_inputs(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    service.run("build", "--out", "v1.json", "--poll-seconds", "0")
    service.run("switch", "--build", "v1.json", "--save-previous", "previous.json")
    capsys.readouterr()
    assert service.run("show") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0] == {
        "location": "eastus2",
        "alias": "support-kb",
        "index": "support-kb-v1",
        "inputsSha256": indexing.inputs_hash(FACTS),
    }


def test_the_embedding_deployment_is_the_colour_with_the_spec_version() -> None:
    live = {
        "active": {"embeddings": "embeddings-blue"},
        "versions": {"embeddings-blue": "1", "embeddings-green": "2"},
    }
    assert retrieval.embedding_deployment(FACTS, live) == "embeddings-blue"
    newer = FACTS | {"embedding": {**FACTS["embedding"], "version": "2"}}
    assert retrieval.embedding_deployment(newer, live) == "embeddings-green"
    assert retrieval.embedding_deployment(FACTS, {}) == "embeddings"  # direct: one deployment


def test_a_data_asset_source_is_read_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def az_text(args: list[str], what: str) -> str:
        asked.append(args)
        return "https://mlstore1.blob.core.windows.net/azureml-blobstore/kb/v3/"

    monkeypatch.setattr(common, "az_text", az_text)
    facts = FACTS | {"source": {"asset": "support-kb", "version": "3"}, "registry": "mlr-support"}
    assert retrieval.container_of(facts) == ("mlstore1", "azureml-blobstore", "kb/v3")
    (argv,) = asked
    assert argv[:3] == ["ml", "data", "show"] and argv[argv.index("--registry-name") + 1] == "mlr-support"


def test_a_data_asset_outside_blob_storage_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        common, "az_text", lambda args, what: "azureml://datastores/workspaceblobstore/paths/kb"
    )
    facts = FACTS | {"source": {"asset": "support-kb", "version": "3"}, "registry": "mlr-support"}
    with pytest.raises(common.Failure, match="not in a blob folder"):
        retrieval.container_of(facts)
