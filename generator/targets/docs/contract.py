"""docs/alm/CONTRACT.md: what the pipelines tell the spec's test and gate commands, by name.

The names are `generator/runtime/contract.py`'s (the script the pipelines run to set them); this
module lists them for one spec, with its models and agents spelled out.
"""

from __future__ import annotations

from generator.spec.model import Spec


def variable(name: str) -> str:
    """`generator/runtime/contract.py`'s `variable` (tests/test_targets.py keeps them equal), not
    imported: that script brings the pipelines' runtime (subprocess, argparse, routing) to `generate`."""
    return name.upper().replace("-", "_")


def contract_rows(spec: Spec) -> list[dict[str, str]]:
    """(name, value) of every contract variable this spec's commands get."""
    rows = [
        ("ALMGEN_ENVIRONMENT", "the environment the command calls (gates: the one before the gated one)"),
        (
            "ALMGEN_REGION",
            "the region called: tests run once per region of the environment, primary first (a failure"
            " in any region fails the test); gates call the primary region",
        ),
        ("ALMGEN_ENDPOINT", "that region's AI Services endpoint"),
        ("AZURE_OPENAI_ENDPOINT", "the same (the name the openai and azure-ai-evaluation samples read)"),
        ("ALMGEN_APPCONFIG_ENDPOINT", "that region's App Configuration endpoint"),
        *(
            [
                (
                    "ALMGEN_GATEWAY_ENDPOINT",
                    "that region's AI gateway URL: `<url>/<model>/chat/completions?api-version=...`"
                    " reaches the model as customers do (the pool's weights pick the deployment)",
                )
            ]
            if spec.gateway.enabled
            else []
        ),
        ("ALMGEN_TARGET", "live, or candidate: a blue-green environment's tests before the swap"),
    ]
    for model in spec.models:
        prefix = f"ALMGEN_MODEL_{variable(model.name)}"
        unit = "deployment" if model.kind == "foundation" else "deployment (colour) of its online endpoint"
        if model.kind == "custom":
            rows.append((f"{prefix}_ONLINE_ENDPOINT", f"the Azure ML online endpoint of {model.name}"))
            if spec.gateway.enabled:
                rows.append(
                    (
                        f"{prefix}_GATEWAY_URL",
                        f"that region's gateway URL of {model.name}: POST `<url>` scores it as customers do"
                        " (the endpoint splits its colours; the gateway fails over to another region)",
                    )
                )
        rows.append((f"{prefix}_DEPLOYMENT", f"the {unit} of {model.name} that ALMGEN_TARGET names"))
        rows.append((f"{prefix}_LIVE_DEPLOYMENT", f"the {unit} of {model.name} serving customers now"))
    if spec.foundation_models:
        first = spec.foundation_models[0].name
        rows.append(("AZURE_OPENAI_DEPLOYMENT", f"ALMGEN_MODEL_{variable(first)}_DEPLOYMENT ({first})"))
    if spec.foundry_project:
        users = (("agents", spec.agents), ("safety evaluators", spec.safety))
        used_by = " and ".join(name for name, uses in users if uses)
        rows.append(("ALMGEN_PROJECT_ENDPOINT", f"the Foundry project endpoint (for the {used_by})"))
        rows.append(("AZURE_AI_PROJECT_ENDPOINT", "the same (the name AIProjectClient samples read)"))
    for agent in spec.agents:
        rows.append((f"ALMGEN_AGENT_{variable(agent.name)}_NAME", f"{agent.name}, the agent's name"))
        prefix = f"ALMGEN_AGENT_{variable(agent.name)}"
        rows.append(
            (
                f"{prefix}_VERSION",
                f"the version of {agent.name} to call (the Responses API agent_reference {{name, version}}): "
                "for tests the release's candidate, live only after they pass; for gates the live one",
            )
        )
        rows.append(
            (
                f"{prefix}_LIVE_VERSION",
                f"the version of {agent.name} serving now (App Configuration key almgen:agent:{agent.name}; "
                '"" before its first release; the service reads it with .almgen/client/almgen_routing.py '
                f'Router.agent_version("{agent.name}"))',
            )
        )
        rows.append((f"{prefix}_ID", f"the id of that version of {agent.name}"))
    if spec.retrieval is not None:
        rows.append(("ALMGEN_SEARCH_ENDPOINT", "that region's Azure AI Search endpoint (Entra ID only)"))
        rows.append(
            (
                "ALMGEN_SEARCH_INDEX",
                f"{spec.retrieval.alias}, the alias the agents query: it serves the index version of the "
                "last release that passed this environment's tests",
            )
        )
    return [{"name": name, "value": value} for name, value in rows]


def setup_rows(spec: Spec) -> list[dict[str, str]]:
    """Each command's setup, as the pipelines run it."""
    commands = [(f"test {t.name}", t.setup) for t in spec.tests] + [
        (f"{g.kind} gate", g.setup) for g in spec.gates
    ]
    rows = []
    for name, setup in commands:
        if setup is None:
            continue
        if setup.requirements:
            rows.append({"command": name, "setup": f"python -m pip install -r {setup.requirements}"})
        else:
            rows.append({"command": name, "setup": setup.command or ""})
    return rows
