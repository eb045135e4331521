def test_chat_completion_answers(client, deployment):
    completion = client.chat.completions.create(
        model=deployment,
        max_tokens=5,
        messages=[{"role": "user", "content": "Reply with the single word: pong"}],
    )
    assert "pong" in completion.choices[0].message.content.lower()
