"""Post-deploy validation in prod: the active deployment serves the pinned model."""


def test_serves_pinned_model(client, deployment):
    completion = client.chat.completions.create(
        model=deployment,
        max_tokens=1,
        messages=[{"role": "user", "content": "ok"}],
    )
    assert completion.model.startswith("gpt-4o")


def test_completes_normally(client, deployment):
    completion = client.chat.completions.create(
        model=deployment,
        max_tokens=20,
        messages=[{"role": "user", "content": "Say hello to the team."}],
    )
    assert completion.choices[0].finish_reason in {"stop", "length"}
