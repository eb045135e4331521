"""Smoke test after each deployment: the deployment of the environment answers a question.

It calls the model through the environment contract (docs/alm/CONTRACT.md) with Entra ID: no keys.
"""

from __future__ import annotations

from evals import model


def test_the_deployment_answers() -> None:
    reply = model.chat([{"role": "user", "content": "Reply with the single word: ready"}])
    assert reply.strip(), "the deployment answered with nothing"
