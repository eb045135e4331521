"""Load test for the support agent through the Foundry Agent Service SDK."""

import os
import random
import time

from azure.ai.agents.models import AgentThreadCreationOptions, ThreadMessageOptions
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
        self.agent_id = os.environ["ALMGEN_AGENT_SUPPORT_ID"]

    @task
    def ask(self) -> None:
        started = time.perf_counter()
        error = None
        try:
            question = ThreadMessageOptions(role="user", content=random.choice(QUESTIONS))
            run = self.project.agents.create_thread_and_process_run(
                agent_id=self.agent_id,
                thread=AgentThreadCreationOptions(messages=[question]),
            )
            if run.status != "completed":
                error = RuntimeError(f"run {run.status}: {run.last_error}")
        except Exception as exc:  # reported to locust as a failure
            error = exc
        self.environment.events.request.fire(
            request_type="agent",
            name="create_thread_and_process_run",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
        )
