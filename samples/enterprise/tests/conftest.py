"""The support agent in the environment under test (Entra ID, no keys).

Reads the environment contract the pipeline sets (docs/alm/CONTRACT.md):
  AZURE_AI_PROJECT_ENDPOINT  the Foundry project endpoint
  ALMGEN_AGENT_SUPPORT_ID    the agent's id ("" before its first deploy: the pipeline deploys
                             agents after the tests, so the tests then have no agent to ask)
"""

import os

import pytest
from azure.ai.agents.models import ListSortOrder
from azure.ai.projects import AIProjectClient
from azure.identity import DefaultAzureCredential


@pytest.fixture(scope="session")
def project() -> AIProjectClient:
    return AIProjectClient(
        endpoint=os.environ["AZURE_AI_PROJECT_ENDPOINT"], credential=DefaultAzureCredential()
    )


@pytest.fixture(scope="session")
def agent(project):
    if not os.environ["ALMGEN_AGENT_SUPPORT_ID"]:
        pytest.skip("the support agent is not deployed yet (its first deploy follows the tests)")
    return project.agents.get_agent(os.environ["ALMGEN_AGENT_SUPPORT_ID"])


@pytest.fixture(scope="session")
def ask(project, agent):
    """ask(question) -> the agent's answer, in a fresh thread."""

    def _ask(question: str) -> str:
        thread = project.agents.threads.create()
        project.agents.messages.create(thread_id=thread.id, role="user", content=question)
        run = project.agents.runs.create_and_process(thread_id=thread.id, agent_id=agent.id)
        assert run.status == "completed", run.last_error
        messages = project.agents.messages.list(
            thread_id=thread.id, order=ListSortOrder.DESCENDING
        )
        return next(m for m in messages if m.role == "assistant").text_messages[-1].text.value

    return _ask
