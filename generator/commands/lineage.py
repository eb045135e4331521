"""`almgen lineage`: per environment, which version of what, trained on which data, serves where.

It answers from the spec (what the pipeline deploys). What actually served when is in each
deployment's release record and on the Azure resources' tags.
"""

from __future__ import annotations

from typing import Any

from generator.plan import plan
from generator.spec import naming
from generator.spec.model import Environment, FineTune, Retrieval, Spec
from generator.targets.bicep.files import colours


def lineage_data(spec: Spec, only: str | None = None) -> dict[str, Any]:
    environments = []
    trains = {e.name: e.input("train") is True for e in plan(spec).environments}
    for env in spec.environments:
        if only is not None and env.name != only:
            continue
        models = []
        for model in spec.models:
            entry: dict[str, Any] = {"name": model.name, "kind": model.kind, "version": model.version}
            if model.kind == "foundation":
                names = (
                    [model.name] if len(colours(env)) == 1 else [f"{model.name}-{c}" for c in colours(env)]
                )
                entry["catalogModel"] = f"{model.format}/{model.model}"
                if model.fine_tune is not None:
                    entry["fineTune"] = fine_tune_data(model.fine_tune)
                entry["servesFrom"] = [
                    {
                        "region": s.region,
                        "resourceGroup": s.resource_group,
                        "account": naming.ai_services(spec.service.name, s.suffix) + "-*",
                        "deployments": names,
                    }
                    for s in env.stacks
                ]
            else:
                if model.training_data:
                    entry["trainingData"] = {
                        "asset": model.training_data.asset,
                        "version": model.training_data.version,
                    }
                entry["preprocessing"] = list(model.preprocessing)
                entry["featureEngineering"] = list(model.feature_engineering)
                entry["hyperparameters"] = model.hyperparameters_file or dict(model.hyperparameters)
                entry["retrainedHere"] = bool(trains[env.name] and model.training_job)
                entry["servesFrom"] = [
                    {
                        "region": s.region,
                        "resourceGroup": s.resource_group,
                        "workspace": naming.ml_workspace(spec.service.name, s.suffix),
                        "endpoint": naming.online_endpoint(spec.service.name, model.name, s.suffix),
                        "deployments": list(colours(env)),
                    }
                    for s in env.stacks
                ]
            models.append(entry)
        agents = [{"name": a.name, "version": a.version, "model": a.model} for a in spec.agents]
        entry = {"name": env.name, "models": models, "agents": agents}
        if spec.retrieval is not None:
            entry["retrieval"] = _retrieval(spec, spec.retrieval, env)
        environments.append(entry)
    retired = [
        {"kind": r.kind, "name": r.name, "version": r.version, "reason": r.reason, "date": r.date}
        for r in spec.registry.retired
    ]
    return {"service": spec.service.name, "environments": environments, "retired": retired}


def fine_tune_data(tune: FineTune) -> dict[str, Any]:
    """The inputs of a fine-tuned model: what the fine-tuning job's suffix hashes (finetuning.py)."""
    data: dict[str, Any] = {
        "trainingData": {"asset": tune.training_data.asset, "version": tune.training_data.version},
        "hyperparameters": tune.hyperparameters(),
        "seed": tune.seed,
    }
    if tune.validation_data is not None:
        validation = tune.validation_data
        data["validationData"] = {"asset": validation.asset, "version": validation.version}
    return data


def _retrieval(spec: Spec, retrieval: Retrieval, env: Environment) -> dict[str, Any]:
    """What answers from the index: documents and their version, chunking, embedding model, index.

    The index version (`<alias>-v<N>`) is decided at run time from the hash of these inputs: the
    release record names it per region, `retrieval.py show` reads it from Azure.
    """
    embedding = spec.model(retrieval.embedding)
    return {
        "alias": retrieval.alias,
        "documents": {
            "source": retrieval.source_path or f"azureml data asset {retrieval.source_asset}",
            "version": retrieval.source_version,
        },
        "chunking": {
            "splitter": retrieval.chunking.splitter,
            "size": retrieval.chunking.size,
            "overlap": retrieval.chunking.overlap,
        },
        "embedding": {"model": embedding.name, "catalogModel": embedding.model, "version": embedding.version},
        "index": {"versions": f"{retrieval.alias}-v<N>", "semanticRanker": retrieval.semantic_ranker},
        "agents": list(retrieval.agents),
        "servesFrom": [
            {"region": s.region, "resourceGroup": s.resource_group, "sku": retrieval.sku[env.name]}
            for s in env.stacks
        ],
    }


def _retrieval_lines(retrieval: dict[str, Any]) -> list[str]:
    documents, chunking, embedding = retrieval["documents"], retrieval["chunking"], retrieval["embedding"]
    return [
        f"  retrieval {retrieval['alias']}: documents {documents['source']} version {documents['version']}",
        f"    chunking {chunking['splitter']} {chunking['size']}/{chunking['overlap']}; "
        f"embedding {embedding['catalogModel']} {embedding['version']} ({embedding['model']})",
        f"    index {retrieval['index']['versions']} behind the alias {retrieval['alias']} in "
        + ", ".join(place["region"] for place in retrieval["servesFrom"])
        + " (the release record names N)",
    ]


def _fine_tune_text(tune: dict[str, Any]) -> str:
    training = tune["trainingData"]
    text = f"fine-tuned on {training['asset']}:{training['version']}"
    if "validationData" in tune:
        text += f" (validation {tune['validationData']['asset']}:{tune['validationData']['version']})"
    hyper = ", ".join(f"{k} {v}" for k, v in sorted(tune["hyperparameters"].items())) or "defaults"
    seed = f", seed {tune['seed']}" if tune["seed"] is not None else ""
    return f"{text}; hyperparameters {hyper}{seed} (the release record names the job and the model)"


def lineage_text(spec: Spec, only: str | None = None) -> str:
    data = lineage_data(spec, only)
    lines = []
    for env in data["environments"]:
        lines.append(f"{env['name']}:")
        for model in env["models"]:
            head = f"  {model['name']} {model['version']}"
            if model["kind"] == "foundation":
                lines.append(f"{head} ({model['catalogModel']})")
                if "fineTune" in model:
                    lines.append(f"    {_fine_tune_text(model['fineTune'])}")
            else:
                data_text = (
                    f"{model['trainingData']['asset']}:{model['trainingData']['version']}"
                    if "trainingData" in model
                    else "undeclared data"
                )
                steps = ", ".join(model["preprocessing"]) or "none"
                features = ", ".join(model["featureEngineering"]) or "none"
                lines.append(f"{head} trained on {data_text}; preprocessing {steps}; features {features}")
                if model["retrainedHere"]:
                    lines.append("    retrained in this environment")
            for place in model["servesFrom"]:
                where = place.get("endpoint") or place.get("account")
                lines.append(
                    f"    serves from {place['region']}: {place['resourceGroup']} / {where} "
                    f"({', '.join(place['deployments'])})"
                )
        for agent in env["agents"]:
            lines.append(f"  agent {agent['name']} {agent['version']} on {agent['model']}")
        if "retrieval" in env:
            lines += _retrieval_lines(env["retrieval"])
    for item in data["retired"]:
        lines.append(
            f"retired: {item['kind']} {item['name']} {item['version']} on {item['date']}: {item['reason']}"
        )
    return "\n".join(lines) + "\n"
