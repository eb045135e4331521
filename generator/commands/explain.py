"""`almgen explain`: per environment what the pipeline will do, as text or JSON."""

from __future__ import annotations

from typing import Any

from generator.spec.model import Environment, Gate, Spec


def explain_data(spec: Spec, only: str | None = None) -> dict[str, Any]:
    envs = [e for e in spec.environments if only is None or e.name == only]
    return {
        "service": spec.service.name,
        "pipelines": list(spec.pipelines),
        "infrastructure": spec.infrastructure,
        "environments": [_environment(spec, env) for env in envs],
    }


def _gate(gate: Gate) -> dict[str, Any]:
    return {
        "gate": gate.kind,
        "command": gate.command,
        "thresholds": {t.metric: str(t) for t in gate.thresholds},
    }


def _environment(spec: Spec, env: Environment) -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": env.strategy.type}
    if env.strategy.type == "canary":
        strategy |= {"steps": list(env.strategy.steps), "bakeMinutes": env.strategy.bake_minutes}
    if env.strategy.ab is not None:
        ab = env.strategy.ab
        strategy |= {
            "split": ab.split,
            "durationMinutes": env.strategy.bake_minutes,
            "compare": {
                "metric": ab.metric,
                "tolerancePercent": ab.tolerance_percent,
                # a manual decision only: the rule's explanation stays as it was
                **({"decide": "manual", "reviewers": list(ab.reviewers)} if ab.decide == "manual" else {}),
            },
        }
    if env.strategy.rollback:
        strategy["rollback"] = {
            "errorRatePercent": env.strategy.rollback.error_rate_percent,
            "latencyP95Ms": env.strategy.rollback.latency_p95_ms,
        }
    models = []
    for model in spec.models:
        entry: dict[str, Any] = {"name": model.name, "kind": model.kind, "version": model.version}
        if model.kind == "foundation":
            assert model.capacity is not None
            entry |= {"model": model.model, "sku": model.sku, "capacity": model.capacity[env.name]}
            if model.fine_tune is not None:
                data = model.fine_tune.training_data
                entry["fineTunedOn"] = f"{data.asset}:{data.version}"
        else:
            assert model.instance_count is not None
            entry |= {"instanceType": model.instance_type, "instanceCount": model.instance_count[env.name]}
            if model.training_data:
                entry["trainingData"] = f"{model.training_data.asset}:{model.training_data.version}"
        models.append(entry)
    out: dict[str, Any] = {
        "name": env.name,
        "regions": [
            {"region": s.region, "resourceGroup": s.resource_group, "primary": s.primary} for s in env.stacks
        ],
        "gates": [_gate(g) for g in env.gates],
        "approval": {"required": env.approval.required, "reviewers": list(env.approval.reviewers)},
        "strategy": strategy,
        "tests": [{"name": t.name, "command": t.command} for t in env.tests],
        "models": models,
        "agents": [{"name": a.name, "version": a.version, "model": a.model} for a in spec.agents],
    }
    retrieval = spec.retrieval
    if retrieval is not None:
        chunking = retrieval.chunking
        out["retrieval"] = {
            "alias": retrieval.alias,
            "source": retrieval.source_asset or retrieval.source_path,
            "sourceVersion": retrieval.source_version,
            "chunking": f"{chunking.size} characters, {chunking.overlap} overlap, {chunking.splitter}",
            "embedding": retrieval.embedding,
            "sku": retrieval.sku[env.name],
        }
    return out


def explain_text(spec: Spec, only: str | None = None) -> str:
    data = explain_data(spec, only)
    lines = [
        f"{data['service']}: pipelines {', '.join(data['pipelines'])}; "
        f"infrastructure {data['infrastructure']}",
        "",
    ]
    for number, env in enumerate(data["environments"], start=1):
        multi = len(env["regions"]) > 1
        regions = ", ".join(
            f"{r['region']} ({r['resourceGroup']}{', primary' if r['primary'] and multi else ''})"
            for r in env["regions"]
        )
        lines.append(f"{number}. {env['name']}")
        lines.append(f"   regions:   {regions}")
        gates = "; ".join(
            f"{g['gate']} ({', '.join(f'{k} {v}' for k, v in g['thresholds'].items())})" for g in env["gates"]
        )
        lines.append(f"   gates:     {gates or 'none'}")
        approval = env["approval"]
        lines.append(
            "   approval:  "
            + (f"required, by {', '.join(approval['reviewers'])}" if approval["required"] else "none")
        )
        lines.append(f"   strategy:  {_strategy_text(env['strategy'])}")
        tests = ", ".join(t["name"] for t in env["tests"])
        lines.append(f"   tests:     {tests or 'none'}")
        for model in env["models"]:
            if model["kind"] == "foundation":
                detail = f"{model['model']} {model['version']}, {model['sku']}, capacity {model['capacity']}"
                if "fineTunedOn" in model:
                    detail += f", fine-tuned on {model['fineTunedOn']}"
            else:
                detail = f"custom {model['version']}, {model['instanceCount']} x {model['instanceType']}"
                if "trainingData" in model:
                    detail += f", trained on {model['trainingData']}"
            lines.append(f"   model:     {model['name']} ({detail})")
        for agent in env["agents"]:
            lines.append(f"   agent:     {agent['name']} {agent['version']} on {agent['model']}")
        if "retrieval" in env:
            r = env["retrieval"]
            lines.append(
                f"   retrieval: {r['alias']} from {r['source']} version {r['sourceVersion']} "
                f"({r['chunking']}; {r['embedding']}; search {r['sku']})"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _strategy_text(strategy: dict[str, Any]) -> str:
    text = str(strategy["type"])
    if strategy["type"] == "canary":
        steps = " -> ".join(f"{s}%" for s in strategy["steps"])
        text += f" {steps}, bake {strategy['bakeMinutes']} min"
    if strategy["type"] == "ab":
        compare = strategy["compare"]
        text += (
            f" {strategy['split']}% for {strategy['durationMinutes']} min, the candidate wins on "
            f"{compare['metric']} within {compare['tolerancePercent']:g}%"
        )
        if compare.get("decide") == "manual":
            text += f" (the rule advises; {', '.join(compare['reviewers'])} decide)"
    rollback = strategy.get("rollback")
    if rollback:
        limits = [f"errors > {rollback['errorRatePercent']:g}%"]
        if rollback["latencyP95Ms"]:
            limits.append(f"p95 > {rollback['latencyP95Ms']} ms")
        text += f", roll back on {' or '.join(limits)}"
    return text
