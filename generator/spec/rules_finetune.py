"""The rules of `models[].fineTune` that a JSON Schema cannot express (located issues).

What almgen generates for a fine-tuned model: the first environment fine-tunes in its primary region's
AI Services account; every other region and environment deploys that same model from there (the
deployment's `model.source` names the first environment's account), never a retrain
(docs/architecture.md, "Fine-tuned foundation models"). Under blue-green, canary and an A/B test the
colours are told apart by the fine-tuned model's id (every fine-tuned model is version 1): a new one
goes to the colour that does not serve, and the rollout (or the comparison) moves traffic to it.
"""

from __future__ import annotations

from collections.abc import Iterator

from generator.errors import Issue
from generator.spec.defaults import default
from generator.spec.document import Document
from generator.spec.rules_retrieval import is_embedding_model

# The deployment types Azure OpenAI serves fine-tuned models on (learn.microsoft.com, "Deploy a
# fine-tuned model": Standard, Global Standard and Provisioned Throughput).
FINE_TUNED_SKUS = ("Standard", "GlobalStandard", "ProvisionedManaged")


def fine_tune_rules(doc: Document) -> Iterator[Issue]:
    tuned = [
        (index, model)
        for index, model in enumerate(doc.data["models"])
        if isinstance(model.get("fineTune"), dict)
        and model.get("kind", default("models.kind")) == "foundation"
    ]
    if not tuned:
        return
    for index, model in tuned:
        name = model["name"]
        if model.get("format", default("models.format")) != "OpenAI":
            yield doc.issue(
                ("models", index, "format"),
                f"{name!r} is fine-tuned, and its format is {model.get('format')!r}",
                "format OpenAI (Azure OpenAI fine-tuning)",
                "use `format: OpenAI` with a base model Azure OpenAI fine-tunes",
            )
        if is_embedding_model(str(model.get("model", ""))):
            yield doc.issue(
                ("models", index, "model"),
                f"{model['model']!r} is an embedding model, which Azure OpenAI does not fine-tune",
                "a chat model Azure OpenAI fine-tunes, e.g. gpt-4o-mini 2024-07-18",
                "remove fineTune, or fine-tune a chat model",
            )
        sku = model.get("sku", default("models.sku"))
        if sku not in FINE_TUNED_SKUS:
            yield doc.issue(
                ("models", index, "sku"),
                f"a fine-tuned model is not served on {sku}",
                "one of " + ", ".join(FINE_TUNED_SKUS),
                "use `sku: Standard` (or GlobalStandard) for a fine-tuned model",
            )
