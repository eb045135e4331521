"""The evaluation gate: answer every row of the dataset with the deployment under test, score
the answers with azure-ai-evaluation, write the means for the gate.

  python -m evals.run --dataset eval/qa.jsonl --out results.json

The target is AZURE_OPENAI_DEPLOYMENT; the AI judge is ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT (the
deployment serving customers), both on AZURE_OPENAI_ENDPOINT (docs/alm/CONTRACT.md). The scores
are 1 to 5; the spec's `evaluation.thresholds` name them (groundedness, relevance, coherence).
Exit 0 when the results are written (the gate judges them), 1 when anything is missing.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from evals import model

METRICS = ("groundedness", "relevance", "coherence")


def evaluators() -> dict[str, Any]:
    try:
        from azure.ai.evaluation import CoherenceEvaluator, GroundednessEvaluator, RelevanceEvaluator
    except ImportError:
        raise model.NotReady(f"azure-ai-evaluation is not installed: {model.INSTALL}") from None
    judge, credential = model.contract().judge_config, model.credential()
    return {
        "groundedness": GroundednessEvaluator(judge, credential=credential),
        "relevance": RelevanceEvaluator(judge, credential=credential),
        "coherence": CoherenceEvaluator(judge, credential=credential),
    }


def score(row: dict[str, Any], scorers: dict[str, Any]) -> dict[str, Any]:
    query, context = str(row["query"]), str(row.get("context", ""))
    response = model.answer(query, context)
    scores: dict[str, Any] = {"query": query, "response": response}
    for name, evaluator in scorers.items():
        kwargs = {"query": query, "response": response} | (
            {"context": context} if name == "groundedness" else {}
        )
        value = evaluator(**kwargs).get(name)
        if not model.finite(value):
            raise model.NotReady(f"the {name} evaluator gave no score for {query!r}: {value!r}")
        scores[name] = float(value)
    return scores


def main() -> None:
    args = model.arguments(__doc__)
    data = model.rows(args.dataset)
    scorers = evaluators()
    details = [score(row, scorers) for row in data]
    model.write_metrics(args.out, {m: fmean(d[m] for d in details) for m in METRICS}, details)


if __name__ == "__main__":
    main()
