"""Shared fixtures: a client for the deployment the pipeline just rolled out.

Reads the environment contract the pipeline sets (docs/alm/CONTRACT.md): AZURE_OPENAI_ENDPOINT,
and AZURE_OPENAI_DEPLOYMENT (the chat model's deployment under test: the candidate of a
blue-green environment before the swap, else the live one).
"""

import os

import pytest
from azure.identity import DefaultAzureCredential, get_bearer_token_provider
from openai import AzureOpenAI


@pytest.fixture(scope="session")
def client() -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
        api_version="2024-10-21",
        azure_ad_token_provider=get_bearer_token_provider(
            DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default"
        ),
    )


@pytest.fixture(scope="session")
def deployment() -> str:
    return os.environ["AZURE_OPENAI_DEPLOYMENT"]
