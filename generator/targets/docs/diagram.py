"""The pipeline drawn as a Mermaid flowchart from the Plan (docs/alm/PIPELINE.md, `almgen explain`).

Top to bottom, so it stays readable at GitHub's page width: the build, then per environment its
gates, approval, provision (regions in deployment order), one node per canary step, and the
finishing job; dashed edges are the rollback paths.
"""

from __future__ import annotations

from generator.plan.model import EnvironmentPlan, Plan
from generator.render.escape import one_line

_ESCAPES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;", "#": "#35;"}


def _label(text: str) -> str:
    """Mermaid label text inside double quotes: no quote, HTML or markdown can break out of it.

    `#` is escaped too: Mermaid decodes `#lt;` and `#60;` in a label, so a value holding them
    would otherwise become a raw `<` (HTML) once drawn.
    """
    return "".join(_ESCAPES.get(char, char) for char in one_line(text))


def _node(node: str, text: str, shape: str = "[]") -> str:
    opening, closing = {"[]": ("[", "]"), "{}": ("{", "}"), "//": ("[/", "/]"), "()": ("(", ")")}[shape]
    return f'    {node}{opening}"{_label(text)}"{closing}'


def _environment(env_plan: EnvironmentPlan, previous: str) -> tuple[list[str], str]:
    """The subgraph of one environment and the node the next one follows."""
    env = env_plan.env
    name = env.name.replace("-", "_")
    lines = [f'  subgraph {name}["{_label(env.name)}"]', "    direction TB"]
    edges = []
    last = previous
    for gate in env_plan.gates:
        node = f"{name}_{gate.gate.kind}"
        thresholds = ", ".join(f"{t.metric} {t}" for t in gate.gate.thresholds)
        lines.append(_node(node, f"{gate.gate.kind} gate on {gate.evaluates}: {thresholds}", "{}"))
        edges.append(f"  {last} --> {node}")
        last = node
    if env.approval.required:
        node = f"{name}_approval"
        lines.append(_node(node, "approval: " + ", ".join(env.approval.reviewers), "//"))
        edges.append(f"  {last} --> {node}")
        last = node
    regions = " then ".join(env.regions)
    lines.append(_node(f"{name}_provision", f"provision: what-if, deploy {regions}"))
    edges.append(f"  {last} --> {name}_provision")
    last = f"{name}_provision"
    percents = env_plan.input("canary-steps")
    restore = f"{name}_restore"
    for job in env_plan.jobs:
        if job.kind != "canary-step":
            continue
        assert isinstance(percents, tuple)
        node = f"{name}_canary_{job.canary_index}"
        percent = percents[job.canary_index - 1]
        lines.append(_node(node, f"canary {percent}%: route, bake {env.strategy.bake_minutes} min, check"))
        edges.append(f"  {last} --> {node}")
        edges.append(f"  {node} -. breach or failure .-> {restore}")
        last = node
    if env.strategy.type == "canary":
        lines.append(_node(restore, "roll back: routing from before the canary", "()"))
    finish = [f"tests: {', '.join(t.name for t in env.tests)}"] if env.tests else []
    if env.strategy.type == "blue-green":
        finish.append("swap to the tested candidate, watch, swap back on a breach")
    finish.append("release record")
    lines.append(_node(f"{name}_finish", "; ".join(finish)))
    edges.append(f"  {last} --> {name}_finish")
    lines.append("  end")
    return lines + edges, f"{name}_finish"


def mermaid(plan: Plan) -> str:
    lines = ["flowchart TB", '  build["Build: validate the spec and IaC, scan, package once"]']
    previous = "build"
    for env_plan in plan.environments:
        drawn, previous = _environment(env_plan, previous)
        lines += drawn
    return "\n".join(lines) + "\n"
