"""Evaluation gate for chat-assist.

Generates a fresh answer for every row of the dataset from the deployment under
test, scores it with azure-ai-evaluation and writes {"metrics": {...}} to the
path given by --out (the pipeline passes $ALMGEN_EVAL_RESULTS).

The environment contract the pipeline sets (docs/alm/CONTRACT.md; no keys: Entra ID via
DefaultAzureCredential):
  AZURE_OPENAI_ENDPOINT              endpoint of the environment's AI Services account
  AZURE_OPENAI_DEPLOYMENT            the chat deployment of the environment evaluated
  ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT  the LLM judge (add a judge model to the spec's models and
                                     use its ALMGEN_MODEL_<NAME>_DEPLOYMENT to judge with another)
"""

import argparse
import json
import os

from azure.ai.evaluation import (
    CoherenceEvaluator,
    GroundednessEvaluator,
    RelevanceEvaluator,
    evaluate,
)
from azure.identity import DefaultAzureCredential, get_bearer_token_provider
from openai import AzureOpenAI

API_VERSION = "2024-10-21"
SYSTEM_PROMPT = (
    "You answer employee questions using only the provided context. "
    "If the context does not contain the answer, say you don't know."
)

credential = DefaultAzureCredential()
endpoint = os.environ["AZURE_OPENAI_ENDPOINT"]
client = AzureOpenAI(
    azure_endpoint=endpoint,
    api_version=API_VERSION,
    azure_ad_token_provider=get_bearer_token_provider(
        credential, "https://cognitiveservices.azure.com/.default"
    ),
)


def answer(query: str, context: str) -> dict:
    """Target: ask the deployment under test."""
    completion = client.chat.completions.create(
        model=os.environ["AZURE_OPENAI_DEPLOYMENT"],
        temperature=0.2,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {query}"},
        ],
    )
    return {"response": completion.choices[0].message.content}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="eval/qa.jsonl")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    judge = {
        "azure_endpoint": endpoint,
        "azure_deployment": os.environ["ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT"],
        "api_version": API_VERSION,
    }
    mapping = {
        "query": "${data.query}",
        "context": "${data.context}",
        "response": "${target.response}",
    }
    result = evaluate(
        data=args.data,
        target=answer,
        evaluators={
            "groundedness": GroundednessEvaluator(judge, credential=credential),
            "relevance": RelevanceEvaluator(judge, credential=credential),
            "coherence": CoherenceEvaluator(judge, credential=credential),
        },
        evaluator_config={"default": {"column_mapping": mapping}},
    )

    # evaluate() reports the mean of each metric as "<evaluator>.<metric>".
    metrics = {
        name: result["metrics"][f"{name}.{name}"]
        for name in ("groundedness", "relevance", "coherence")
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"metrics": metrics}, f, indent=2)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
