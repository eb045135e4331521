def test_agent_answers(ask):
    assert ask("Hi, what can you help me with?").strip()
