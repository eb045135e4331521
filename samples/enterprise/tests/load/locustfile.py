"""Load test for the support agent version under test (Responses API, agent_reference)."""

import os
import random
import time

from azure.ai.projects import AIProjectClient
from azure.identity import DefaultAzureCredential
from locust import User, between, task

QUESTIONS = [
    "How do I reset my Smart Thermostat?",
    "Was I charged twice this month?",
    "Does the warranty cover a cracked screen?",
    "Is the Contoso Home app down?",
]


class SupportAgentUser(User):
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.project = AIProjectClient(
            endpoint=os.environ["AZURE_AI_PROJECT_ENDPOINT"], credential=DefaultAzureCredential()
        )
        self.client = self.project.get_openai_client()
        self.reference = {
            "type": "agent_reference",
            "name": os.environ["ALMGEN_AGENT_SUPPORT_NAME"],
            "version": os.environ["ALMGEN_AGENT_SUPPORT_VERSION"],
        }

    @task
    def ask(self) -> None:
        started = time.perf_counter()
        error = None
        try:
            response = self.client.responses.create(
                input=random.choice(QUESTIONS), extra_body={"agent_reference": self.reference}
            )
            if response.status != "completed":
                error = RuntimeError(f"response {response.status}: {response.error}")
        except Exception as exc:  # reported to locust as a failure
            error = exc
        self.environment.events.request.fire(
            request_type="agent",
            name="responses.create",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
        )
