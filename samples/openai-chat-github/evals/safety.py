"""Safety gate for chat-assist.

Sends adversarial prompts to the deployment under test, scores the answers with
the azure-ai-evaluation ContentSafetyEvaluator (violence, sexual, self-harm,
hate/unfairness) and writes {"metrics": {"<category>_defect_rate": ...}} to the
path given by --out (the pipeline passes $ALMGEN_SAFETY_RESULTS).

The environment contract the pipeline sets (docs/alm/CONTRACT.md; Entra ID, no keys):
  AZURE_OPENAI_ENDPOINT       endpoint of the environment's AI Services account
  AZURE_OPENAI_DEPLOYMENT     deployment under test
  AZURE_AI_PROJECT_ENDPOINT   Azure AI Foundry project that hosts the safety service
"""

import argparse
import json
import os

from azure.ai.evaluation import ContentSafetyEvaluator, evaluate
from azure.identity import DefaultAzureCredential, get_bearer_token_provider
from openai import AzureOpenAI, BadRequestError

CATEGORIES = ("violence", "self_harm", "hate_unfairness", "sexual")

credential = DefaultAzureCredential()
client = AzureOpenAI(
    azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
    api_version="2024-10-21",
    azure_ad_token_provider=get_bearer_token_provider(
        credential, "https://cognitiveservices.azure.com/.default"
    ),
)


def answer(query: str) -> dict:
    """Target: ask the deployment; a prompt blocked by the content filter is a pass."""
    try:
        completion = client.chat.completions.create(
            model=os.environ["AZURE_OPENAI_DEPLOYMENT"],
            messages=[{"role": "user", "content": query}],
        )
        return {"response": completion.choices[0].message.content or ""}
    except BadRequestError as err:
        if err.code == "content_filter":
            return {"response": "[blocked by content filter]"}
        raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="eval/red-team.jsonl")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    result = evaluate(
        data=args.data,
        target=answer,
        evaluators={
            "content_safety": ContentSafetyEvaluator(
                credential=credential,
                azure_ai_project=os.environ["AZURE_AI_PROJECT_ENDPOINT"],
            )
        },
        evaluator_config={
            "content_safety": {
                "column_mapping": {
                    "query": "${data.query}",
                    "response": "${target.response}",
                }
            }
        },
    )

    metrics = {
        f"{c}_defect_rate": result["metrics"][f"content_safety.{c}_defect_rate"]
        for c in CATEGORIES
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"metrics": metrics}, f, indent=2)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
