"""Load test against the environment's chat deployment (Entra ID token, no keys)."""

import os

from azure.identity import DefaultAzureCredential
from locust import HttpUser, between, task

DEPLOYMENT = os.environ["AZURE_OPENAI_DEPLOYMENT"]
TOKEN = DefaultAzureCredential().get_token("https://cognitiveservices.azure.com/.default")


class ChatUser(HttpUser):
    host = os.environ["AZURE_OPENAI_ENDPOINT"]
    wait_time = between(1, 3)

    @task
    def ask(self) -> None:
        self.client.post(
            f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21",
            headers={"Authorization": f"Bearer {TOKEN.token}"},
            json={
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "Summarize our travel policy."}],
            },
            name="chat/completions",
        )
