CONTEXT = "Full-time employees accrue 25 days of paid vacation per calendar year."


def ask(client, deployment, question, context=CONTEXT):
    completion = client.chat.completions.create(
        model=deployment,
        temperature=0,
        messages=[
            {"role": "system", "content": "Answer only from the context. "
             "If the answer is not in the context, reply exactly: I don't know."},
            {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
        ],
    )
    return completion.choices[0].message.content


def test_answers_from_context(client, deployment):
    assert "25" in ask(client, deployment, "How many vacation days do I get?")


def test_says_unknown_outside_context(client, deployment):
    answer = ask(client, deployment, "What is the parental leave policy?")
    assert "don't know" in answer.lower()
