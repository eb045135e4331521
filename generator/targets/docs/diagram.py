"""The pipeline drawn as a Mermaid flowchart, from the Plan (docs/alm/PIPELINE.md, `almgen explain`)."""

from __future__ import annotations

from generator.plan.model import Plan


def _label(text: str) -> str:
    """Mermaid label text inside double quotes: quotes become #quot; so labels cannot break out."""
    return text.replace('"', "#quot;").replace("\n", " ")


def mermaid(plan: Plan) -> str:
    lines = ["flowchart LR", f'  build["{_label("Build: validate IaC, scan, almgen check, package")}"]']
    previous = "build"
    for env_plan in plan.environments:
        env = env_plan.env
        name = env.name.replace("-", "_")
        for gate in env_plan.gates:
            node = f"{name}_{gate.gate.kind}"
            thresholds = ", ".join(f"{t.metric} {t}" for t in gate.gate.thresholds)
            lines.append(f'  {node}{{"{_label(f"{gate.gate.kind} gate: {thresholds}")}"}}')
            lines.append(f"  {previous} --> {node}")
            previous = node
        if env.approval.required:
            node = f"{name}_approval"
            lines.append(f'  {node}[/"{_label("approval: " + ", ".join(env.approval.reviewers))}"/]')
            lines.append(f"  {previous} --> {node}")
            previous = node
        strategy = env.strategy.describe()
        regions = ", ".join(env.regions)
        deploy = f"{env.name}: deploy ({regions}), {strategy}"
        lines.append(f'  {name}_deploy["{_label(deploy)}"]')
        lines.append(f"  {previous} --> {name}_deploy")
        previous = f"{name}_deploy"
        if env.tests:
            lines.append(f'  {name}_tests["{_label("tests: " + ", ".join(t.name for t in env.tests))}"]')
            lines.append(f"  {previous} --> {name}_tests")
            previous = f"{name}_tests"
    return "\n".join(lines) + "\n"
