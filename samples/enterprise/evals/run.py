"""Evaluation gate: quality and latency of the support agent.

Asks the agent every question in the dataset, scores the answers with
azure-ai-evaluation and writes {"metrics": {...}} to --out ($ALMGEN_EVAL_RESULTS).
The judge is the live chat deployment of the environment evaluated, from the environment
contract (docs/alm/CONTRACT.md): ALMGEN_ENDPOINT and ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT.
"""

import argparse
import json
import os

import numpy as np
from azure.ai.evaluation import (
    CoherenceEvaluator,
    GroundednessEvaluator,
    RelevanceEvaluator,
    evaluate,
)

from evals.agent import ask, credential

QUALITY = ("groundedness", "relevance", "coherence")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="eval/support-qa.jsonl")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    judge = {
        "azure_endpoint": os.environ["ALMGEN_ENDPOINT"],
        "azure_deployment": os.environ["ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT"],
        "api_version": "2024-10-21",
    }
    evaluators = {
        "groundedness": GroundednessEvaluator(judge, credential=credential),
        "relevance": RelevanceEvaluator(judge, credential=credential),
        "coherence": CoherenceEvaluator(judge, credential=credential),
    }
    mapping = {
        "query": "${data.query}",
        "context": "${data.context}",
        "response": "${target.response}",
    }
    result = evaluate(
        data=args.data,
        target=ask,
        evaluators=evaluators,
        evaluator_config={"default": {"column_mapping": mapping}},
    )

    metrics = {name: result["metrics"][f"{name}.{name}"] for name in QUALITY}
    latencies = [row["outputs.latency_ms"] for row in result["rows"]]
    metrics["latency_p95_ms"] = float(np.percentile(latencies, 95))

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"metrics": metrics}, f, indent=2)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
