"""The support agent version under test (Entra ID, no keys).

Reads the environment contract the pipeline sets (docs/alm/CONTRACT.md):
  AZURE_AI_PROJECT_ENDPOINT      the Foundry project endpoint
  ALMGEN_AGENT_SUPPORT_NAME      the agent's name
  ALMGEN_AGENT_SUPPORT_VERSION   the version to test: the release's candidate, which goes live
                                 only after the tests pass
"""

import os

import pytest
from azure.ai.projects import AIProjectClient
from azure.identity import DefaultAzureCredential


@pytest.fixture(scope="session")
def project() -> AIProjectClient:
    return AIProjectClient(
        endpoint=os.environ["AZURE_AI_PROJECT_ENDPOINT"], credential=DefaultAzureCredential()
    )


@pytest.fixture(scope="session")
def agent(project):
    """The definition of the version under test (instructions, model, tools)."""
    version = project.agents.get_version(
        agent_name=os.environ["ALMGEN_AGENT_SUPPORT_NAME"],
        agent_version=os.environ["ALMGEN_AGENT_SUPPORT_VERSION"],
    )
    return version.definition


@pytest.fixture(scope="session")
def ask(project):
    """ask(question) -> the answer of the version under test (Responses API, agent_reference)."""
    reference = {
        "type": "agent_reference",
        "name": os.environ["ALMGEN_AGENT_SUPPORT_NAME"],
        "version": os.environ["ALMGEN_AGENT_SUPPORT_VERSION"],
    }
    client = project.get_openai_client()

    def _ask(question: str) -> str:
        response = client.responses.create(input=question, extra_body={"agent_reference": reference})
        assert response.status == "completed", response.error
        return response.output_text

    return _ask
