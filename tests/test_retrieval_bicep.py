"""The Azure AI Search of a spec with `retrieval`: one per regional stack, keys off, least privilege."""

from __future__ import annotations

import re

from generator.commands.setup.roles import BICEP_ASSIGNS
from generator.targets.bicep.files import ROLES
from tests.generated import outputs


def _files(sample: str) -> dict[str, str]:
    return {f.path: f.text for f in outputs(sample)}


def test_the_search_service_takes_no_keys_and_reads_documents_as_the_setup_identity() -> None:
    search = _files("enterprise")["infra/modules/search.bicep"]
    assert "resource search 'Microsoft.Search/searchServices@2025-05-01'" in search
    assert "disableLocalAuth: true" in search
    # its own identity vectorizes queries; the one `almgen setup` made and granted reads the documents
    assert "type: 'SystemAssigned, UserAssigned'" in search
    assert "'${documentsReader.id}': {}" in search
    reader = search.split("resource documentsReader ", 1)[1].split("\n}\n", 1)[0]
    assert "existing" in reader and "scope: resourceGroup(documentsIdentityGroup)" in reader
    params = _files("enterprise")["infra/env/prod.bicepparam"]
    assert "documentsIdentity: 'id-support-agent-search-prod'" in params
    assert "authOptions" not in search  # Azure refuses authOptions beside disableLocalAuth
    assert "publicNetworkAccess: publicNetworkAccess" in search
    assert re.search(r"diagnosticSettings@[^']+' = \{\n  name: 'to-log-analytics'\n  scope: search", search)


def test_the_project_connects_to_search_with_entra_id() -> None:
    search = _files("enterprise")["infra/modules/search.bicep"]
    block = search.split("resource connection ", 1)[1].split("\n}\n", 1)[0]
    assert "accounts/projects/connections@2025-12-01" in block
    assert "category: 'CognitiveSearch'" in block and "authType: 'AAD'" in block
    assert "credentials" not in block


def test_each_identity_gets_the_search_role_it_needs_and_bicep_may_assign_them() -> None:
    search = _files("enterprise")["infra/modules/search.bicep"]
    expected = {
        "indexBuilder": ("searchServiceContributor", "deployerPrincipalId"),
        "indexWriter": ("searchIndexDataContributor", "deployerPrincipalId"),
        "workloadReader": ("searchIndexDataReader", "workloadPrincipalId"),
        "agentReader": ("searchIndexDataReader", "project!.identity.principalId"),
        "vectorizer": ("cognitiveServicesOpenAIUser", "search.identity.principalId"),
    }
    for resource, (role, principal) in expected.items():
        block = search.split(f"resource {resource} ", 1)[1].split("\n}\n", 1)[0]
        assert ROLES[role] in block and f"principalId: {principal}\n" in block, resource
        assert role in BICEP_ASSIGNS  # the constrained RBAC administrator may write it


def test_the_tier_and_ranker_come_per_environment_from_the_spec() -> None:
    files = _files("enterprise")
    assert "param search = {\n  sku: 'basic'\n  semanticRanker: true\n" in files["infra/env/dev.bicepparam"]
    assert "sku: 'standard'" in files["infra/env/prod.bicepparam"].split("param search = ", 1)[1]
    stack = files["infra/modules/stack.bicep"]
    assert "module retrievalSearch 'search.bicep'" in stack
    assert "searchEndpoint: regionStacks[index].outputs.searchEndpoint" in files["infra/main.bicep"]


def test_no_retrieval_no_search() -> None:
    files = _files("minimal")
    assert "infra/modules/search.bicep" not in files
    assert "search" not in files["infra/modules/stack.bicep"]
