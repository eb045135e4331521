"""Integration test: the service (system prompt + context) answers from the context it is given."""

from __future__ import annotations

from evals import model


def test_the_service_answers_from_its_context() -> None:
    reply = model.answer("What is the code word?", "The code word is heliotrope.")
    assert "heliotrope" in reply.lower(), reply


def test_the_service_says_when_the_context_has_no_answer() -> None:
    reply = model.answer("Who won the 1930 World Cup?", "This context is about the weather.")
    assert reply.strip() and model.BLOCKED not in reply, reply
