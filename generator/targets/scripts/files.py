"""Files every target shares: the runtime scripts, and the facts they read (.almgen/*.json)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from generator import __version__
from generator.package_data import data_dir
from generator.plan.model_registry import model_registry
from generator.render.outputs import OutputFile, header
from generator.spec import naming
from generator.spec.model import Environment, FineTune, Model, Retrieval, Spec
from generator.spec.rules_retrieval import EMBEDDING_DIMENSIONS
from generator.targets.bicep.files import colours

SCHEMA = ".almgen/almgen.schema.json"  # editors validate the spec offline, at this almgen's version
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
CLIENT = Path(__file__).resolve().parents[2] / "client"
ROUTING_CLIENT = ".almgen/client/almgen_routing.py"  # what a service imports without a gateway


def routes_in_app_configuration(spec: Spec) -> bool:
    """Without a gateway, the service itself routes foundation-model traffic by the rollout's keys."""
    rolls_out = any(env.strategy.type != "direct" for env in spec.environments)
    return not spec.gateway.enabled and bool(spec.foundation_models) and rolls_out


SCRIPTS = (
    "gate",
    "release",
    "traffic",
    "models",
    "agents",
    "run",
    "contract",
    "records",
    "retrieval",
    "abtest",
    "quality",
    # the modules they import, shipped beside them
    "abscores",
    "common",
    "facts",
    "training",
    "finetuning",
    "registration",
    "retirement",
    "retention",
    "cleanup",
    "collected",
    "lifecycle",
    "routing",
    "weights",
    "health",
    "indexing",
    "definitions",
)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def gates(spec: Spec) -> dict[str, Any]:
    return {gate.kind: {"thresholds": {t.metric: str(t) for t in gate.thresholds}} for gate in spec.gates}


def commands(spec: Spec) -> dict[str, Any]:
    """The spec's commands by name, for run.py: spec text never enters a pipeline file."""
    table: dict[str, Any] = {
        "tests": {t.name: t.command for t in spec.tests},
        "gates": {g.kind: g.command for g in spec.gates},
    }
    setup = {
        "tests": {t.name: t.setup.as_json() for t in spec.tests if t.setup},
        "gates": {g.kind: g.setup.as_json() for g in spec.gates if g.setup},
    }
    if setup["tests"] or setup["gates"]:
        table["setup"] = setup
    return table


def _fine_tune(spec: Spec, tune: FineTune) -> dict[str, Any]:
    """What finetuning.py hashes and sends: the data assets (in the registry), hyperparameters, seed;
    and where the model is fine-tuned (`home`: the first environment's primary region), which every
    other environment and region deploys by reference instead of fine-tuning again."""
    home = spec.environments[0]
    entry: dict[str, Any] = {
        "registry": spec.registry.name or naming.ml_registry(spec.service.name),
        "home": {
            "environment": home.name,
            "deployment": f"{spec.service.name}-{home.name}",  # plan.build.deployment_name
            "resourceGroup": home.primary.resource_group,
        },
        "trainingData": {"asset": tune.training_data.asset, "version": tune.training_data.version},
    }
    if tune.validation_data is not None:
        validation = tune.validation_data
        entry["validationData"] = {"asset": validation.asset, "version": validation.version}
    if tune.hyperparameters():
        entry["hyperparameters"] = tune.hyperparameters()
    if tune.seed is not None:
        entry["seed"] = tune.seed
    return entry


def _model(spec: Spec, model: Model, env: Environment) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": model.name, "kind": model.kind, "version": model.version}
    if model.kind == "foundation":
        assert model.capacity is not None
        entry |= {
            "model": model.model,
            "format": model.format,
            "sku": model.sku,
            "capacity": model.capacity[env.name],
        }
        if model.fine_tune is not None:
            # the deployments of the environment that serve it (the colours): a new fine-tuned model
            # goes to the one that does not serve, and the rollout moves traffic to it
            names = [f"{model.name}-{c}" for c in colours(env)] if len(colours(env)) > 1 else [model.name]
            entry["fineTune"] = _fine_tune(spec, model.fine_tune) | {"deployments": names}
        return entry
    if model.training_data:
        entry["trainingData"] = {"asset": model.training_data.asset, "version": model.training_data.version}
    entry |= {
        "preprocessing": list(model.preprocessing),
        "featureEngineering": list(model.feature_engineering),
    }
    if model.hyperparameters_file:
        entry["hyperparameters"] = {"file": model.hyperparameters_file}
    else:
        entry["hyperparameters"] = dict(model.hyperparameters)
    if model.path:
        entry["path"] = model.path
    if model.training_job:
        entry["trainingJob"] = model.training_job
    return entry


def _retrieval(spec: Spec, retrieval: Retrieval, env: Environment) -> dict[str, Any]:
    """What retrieval.py builds an index from: every input of its hash, and where it serves."""
    embedding = spec.model(retrieval.embedding)
    assert embedding.model is not None  # the rules: a foundation embedding model
    source: dict[str, str] = {"version": retrieval.source_version}
    if retrieval.source_asset:
        source["asset"] = retrieval.source_asset
    if retrieval.source_path:
        source["path"] = retrieval.source_path
    chunking = retrieval.chunking
    return {
        "alias": retrieval.alias,
        "source": source,
        "chunking": {"size": chunking.size, "overlap": chunking.overlap, "splitter": chunking.splitter},
        "embedding": {
            "model": embedding.name,
            "catalogModel": embedding.model,
            "version": embedding.version,
            "dimensions": EMBEDDING_DIMENSIONS[embedding.model],
        },
        "index": {
            "fields": list(retrieval.fields),
            "algorithm": retrieval.algorithm,
            "metric": retrieval.metric,
            "semanticRanker": retrieval.semantic_ranker,
        },
        "sku": retrieval.sku[env.name],
        "agents": list(retrieval.agents),
        "tests": list(retrieval.tests),
        "keepIndexes": spec.registry.keep_versions,
    }


def _model_registry(spec: Spec) -> dict[str, Any]:
    """Where custom model versions are published (by `home`) and deployed from (by everyone)."""
    registry = model_registry(spec)
    if registry is None:
        return {}
    return {"modelRegistry": {"name": registry.name, "home": registry.home}}


def release_facts(spec: Spec) -> dict[str, Any]:
    """The static half of every release record: what each environment deploys, and its lineage."""
    environments = {}
    for env in spec.environments:
        facts: dict[str, Any] = {
            "models": [_model(spec, m, env) for m in spec.models],
            "agents": [
                {
                    "name": a.name,
                    "version": a.version,
                    "model": a.model,
                    "instructions": a.instructions,
                    "tools": list(a.tools),
                    "description": a.description,
                }
                for a in spec.agents
            ],
        }
        if spec.evaluation and spec.evaluation.dataset:
            facts["evaluationDataset"] = spec.evaluation.dataset
        if spec.retrieval is not None:
            facts["retrieval"] = _retrieval(spec, spec.retrieval, env)
        environments[env.name] = facts
    return {
        "service": spec.service.name,
        "specSha256": hashlib.sha256(spec.source.read_bytes()).hexdigest(),
        "generator": f"almgen {__version__}",
        "foundryProject": spec.foundry_project,  # the contract names its endpoint
        **_model_registry(spec),
        "environments": environments,
        "retired": [
            {"kind": r.kind, "name": r.name, "version": r.version, "reason": r.reason, "date": r.date}
            for r in spec.registry.retired
        ],
    }


GITATTRIBUTE_ROOTS = (".almgen", ".azure-pipelines", ".github/workflows", "docs/alm", "infra")


def gitattributes(paths: list[str], spec_name: str) -> list[OutputFile]:
    """A `.gitattributes` in each generated folder marking exactly almgen's files generated.

    One per folder rather than one at the root: the repository's own root file stays the user's.
    """
    out = []
    for root in GITATTRIBUTE_ROOTS:
        mine = sorted(p.removeprefix(root + "/") for p in paths if p.startswith(root + "/"))
        if mine:
            lines = [f"{name} linguist-generated=true" for name in mine]
            path = f"{root}/.gitattributes"
            out.append(
                OutputFile(path, header(path, spec_name) + "\n".join(lines) + "\n", source="gitattributes")
            )
    return out


def files(spec: Spec) -> list[OutputFile]:
    name = spec.source.name
    out = [
        OutputFile(".almgen/commands.json", _json(commands(spec)), source="commands"),
        OutputFile(".almgen/gates.json", _json(gates(spec)), source="gates"),
        OutputFile(".almgen/release.json", _json(release_facts(spec)), source="release"),
    ]
    schema = data_dir("schemas") / "almgen.schema.json"  # the spec's modeline points here
    out.append(OutputFile(SCHEMA, schema.read_text("utf-8"), source="schemas/almgen.schema.json"))
    if routes_in_app_configuration(spec) or spec.agents:  # agents: almgen:agent:<name> names the live version
        source = CLIENT / "almgen_routing.py"
        text = header(ROUTING_CLIENT, name) + source.read_text("utf-8")
        out.append(OutputFile(ROUTING_CLIENT, text, source="client/almgen_routing.py"))
    for script in SCRIPTS:
        path = f".almgen/scripts/{script}.py"
        source = RUNTIME / f"{script}.py"
        out.append(
            OutputFile(path, header(path, name) + source.read_text("utf-8"), source=f"runtime/{script}.py")
        )
    return out
