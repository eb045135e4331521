"""Post-deploy validation in prod: the agent definition matches this repository."""

import time
from pathlib import Path

INSTRUCTIONS = Path(__file__).parents[2] / "prompts" / "support.md"


def test_instructions_match_repository(agent):
    assert agent.instructions.strip() == INSTRUCTIONS.read_text(encoding="utf-8").strip()


def test_tools_enabled(agent):
    assert {tool.type for tool in agent.tools} == {"azure_ai_search", "code_interpreter"}


def test_answers_within_latency_budget(ask):
    started = time.perf_counter()
    assert ask("How do I reset my Smart Thermostat to factory settings?")
    assert (time.perf_counter() - started) < 10
