"""Ask the support agent deployed in the environment under test (Entra ID, no keys).

The environment contract the pipeline sets (docs/alm/CONTRACT.md):
  AZURE_AI_PROJECT_ENDPOINT  https://<account>.services.ai.azure.com/api/projects/<project>
  ALMGEN_AGENT_SUPPORT_ID    id of the agent version being evaluated
"""

import os
import time

from azure.ai.agents.models import ListSortOrder
from azure.ai.projects import AIProjectClient
from azure.identity import DefaultAzureCredential

credential = DefaultAzureCredential()
project = AIProjectClient(endpoint=os.environ["AZURE_AI_PROJECT_ENDPOINT"], credential=credential)


def ask(query: str) -> dict:
    """One question in a fresh thread: {"response": text, "latency_ms": float}."""
    started = time.perf_counter()
    thread = project.agents.threads.create()
    project.agents.messages.create(thread_id=thread.id, role="user", content=query)
    run = project.agents.runs.create_and_process(
        thread_id=thread.id, agent_id=os.environ["ALMGEN_AGENT_SUPPORT_ID"]
    )
    latency_ms = (time.perf_counter() - started) * 1000
    if run.status == "failed":
        # A prompt blocked by the content filter fails the run: nothing reached the user.
        if run.last_error and run.last_error.get("code") == "content_filter":
            return {"response": "[blocked by content filter]", "latency_ms": latency_ms}
        raise RuntimeError(f"agent run failed: {run.last_error}")
    messages = project.agents.messages.list(thread_id=thread.id, order=ListSortOrder.DESCENDING)
    reply = next(m for m in messages if m.role == "assistant")
    project.agents.threads.delete(thread.id)
    return {"response": reply.text_messages[-1].text.value, "latency_ms": latency_ms}
