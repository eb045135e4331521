"""Ask the support agent in the environment a gate evaluates (Entra ID, no keys).

The environment contract the pipeline sets (docs/alm/CONTRACT.md):
  AZURE_AI_PROJECT_ENDPOINT     https://<account>.services.ai.azure.com/api/projects/<project>
  ALMGEN_AGENT_SUPPORT_NAME     the agent's name
  ALMGEN_AGENT_SUPPORT_VERSION  the version being evaluated (a gate: the live one)
"""

import os
import time

from azure.ai.projects import AIProjectClient
from azure.identity import DefaultAzureCredential

credential = DefaultAzureCredential()
project = AIProjectClient(endpoint=os.environ["AZURE_AI_PROJECT_ENDPOINT"], credential=credential)
client = project.get_openai_client()
REFERENCE = {
    "type": "agent_reference",
    "name": os.environ["ALMGEN_AGENT_SUPPORT_NAME"],
    "version": os.environ["ALMGEN_AGENT_SUPPORT_VERSION"],
}


def ask(query: str) -> dict:
    """One question, no stored conversation: {"response": text, "latency_ms": float}."""
    started = time.perf_counter()
    response = client.responses.create(input=query, extra_body={"agent_reference": REFERENCE})
    latency_ms = (time.perf_counter() - started) * 1000
    if response.status == "failed":
        # A prompt blocked by the content filter fails the response: nothing reached the user.
        if response.error and response.error.code == "content_filter":
            return {"response": "[blocked by content filter]", "latency_ms": latency_ms}
        raise RuntimeError(f"agent response failed: {response.error}")
    return {"response": response.output_text, "latency_ms": latency_ms}
