"""The rules of `models[].fineTune` that a JSON Schema cannot express (located issues).

What almgen generates for a fine-tuned model today: the first environment fine-tunes in its AI Services
account and deploys the result there, `direct`. Azure OpenAI keeps a fine-tuned model in the account
whose job made it; another account (another region, another environment) deploys it only by naming
that account in the deployment's model (`source` or `sourceAccount`), which almgen does not generate yet
(docs/architecture.md, "Fine-tuned foundation models"). So what would need it is refused here, with
the fix, rather than deployed as something else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.errors import Issue
from generator.spec.defaults import default
from generator.spec.document import Document, FieldPath
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
    environments: list[dict[str, Any]] = doc.data["environments"]
    for index, model in tuned:
        path: FieldPath = ("models", index, "fineTune")
        name = model["name"]
        if len(environments) > 1:
            yield doc.issue(
                path,
                f"{name!r} is fine-tuned, and the spec has {len(environments)} environments",
                "a fine-tuned model in a spec with one environment (for now)",
                "Azure OpenAI keeps a fine-tuned model in the account that trained it, and almgen does "
                "not yet deploy it into another environment's account (a deployment naming the source "
                "account): keep fineTune in a one-environment spec, or deploy the base model",
            )
        for env_index, env in enumerate(environments):
            regions = env.get("regions") or []
            if len(regions) > 1:
                yield doc.issue(
                    ("environments", env_index, "regions"),
                    f"{name!r} is fine-tuned, and environment {env['name']!r} has {len(regions)} regions",
                    "one region where a model is fine-tuned",
                    "the fine-tuned model lives in the primary region's account: keep one region",
                )
            kind = (env.get("strategy") or {}).get("type", "direct")
            if kind != "direct":
                yield doc.issue(
                    ("environments", env_index, "strategy", "type"),
                    f"{name!r} is fine-tuned, and environment {env['name']!r} rolls out by {kind}",
                    "direct where a fine-tuned model is deployed (for now)",
                    "use `type: direct`: colours of a fine-tuned model are not generated yet",
                )
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
