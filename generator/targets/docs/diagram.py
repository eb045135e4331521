"""The pipeline drawn as a Mermaid flowchart from the Plan (docs/alm/PIPELINE.md, `almgen explain`).

Top to bottom, so it stays readable at GitHub's page width: the build, then per environment its
gates, approval, provision (one node per region, in deployment order, the primary first), one
node per canary step, the tests, the blue-green swap, the retrieval alias switch and the release
record; dashed edges lead to the rounded rollback nodes (the routing from before the canary, the
swap back, the alias back).
"""

from __future__ import annotations

from dataclasses import field

from generator.frozen import record
from generator.plan.model import EnvironmentPlan, Plan
from generator.render.escape import one_line
from generator.spec.naming import github_ab_decision_environment

_ESCAPES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;", "#": "#35;"}


def _label(text: str) -> str:
    """Mermaid label text inside double quotes: no quote, HTML or markdown can break out of it.

    `#` is escaped too: Mermaid decodes `#lt;` and `#60;` in a label, so a value holding them
    would otherwise become a raw `<` (HTML) once drawn.
    """
    return "".join(_ESCAPES.get(char, char) for char in one_line(text))


_SHAPES = {"[]": ("[", "]"), "{{}}": ("{{", "}}"), "//": ("[/", "/]"), "()": ("(", ")")}

Text = str | tuple[str, ...]  # a label, or its lines (short lines keep the drawing narrow)


def _node(node: str, text: Text, shape: str = "[]") -> str:
    opening, closing = _SHAPES[shape]
    lines = (text,) if isinstance(text, str) else text
    return f'    {node}{opening}"{"<br>".join(_label(line) for line in lines)}"{closing}'


@record
class _Drawing:
    """One environment's subgraph so far: its nodes, its edges and the node the next one follows."""

    name: str
    last: str
    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)

    def step(self, node: str, text: Text, shape: str = "[]") -> None:
        """A node on the main path, after the previous one."""
        self.nodes.append(_node(node, text, shape))
        self.edges.append(f"  {self.last} --> {node}")
        self.last = node

    def rollback(self, node: str, text: Text) -> None:
        self.nodes.append(_node(node, text, "()"))


def _gates_and_approval(drawing: _Drawing, env_plan: EnvironmentPlan) -> None:
    for gate in env_plan.gates:
        thresholds = tuple(f"{t.metric} {t}" for t in gate.gate.thresholds)
        text = (f"{gate.gate.kind} gate on {gate.evaluates}", *thresholds)
        drawing.step(f"{drawing.name}_{gate.gate.kind}", text, "{{}}")
    approval = env_plan.env.approval
    if approval.required:
        drawing.step(f"{drawing.name}_approval", ("approval", ", ".join(approval.reviewers)), "//")


def _provision(drawing: _Drawing, regions: tuple[str, ...]) -> None:
    """One node per region, in deployment order: a region starts only after the one before succeeded."""
    for index, region in enumerate(regions, start=1):
        node = f"{drawing.name}_provision" + (f"_{index}" if index > 1 else "")
        if index == 1:
            primary = " (primary)" if len(regions) > 1 else ""
            drawing.step(node, (f"provision {region}{primary}", "what-if, deploy"))
        else:
            drawing.step(node, (f"provision {region}", f"deploy, once {regions[index - 2]} succeeded"))


def _build_index(drawing: _Drawing, env_plan: EnvironmentPlan) -> None:
    if "build-index" in env_plan.step_ids():
        drawing.step(
            f"{drawing.name}_index", ("retrieval index", "a new version only when its inputs changed")
        )


def _canary(drawing: _Drawing, env_plan: EnvironmentPlan) -> None:
    env = env_plan.env
    percents = env_plan.input("canary-steps")
    restore = f"{drawing.name}_restore"
    where = f" in {' then '.join(env.regions)}" if len(env.regions) > 1 else ""
    for job in env_plan.jobs:
        if job.kind != "canary-step":
            continue
        assert isinstance(percents, tuple)
        node = f"{drawing.name}_canary_{job.canary_index}"
        percent = percents[job.canary_index - 1]
        bake = f"route, bake {env.strategy.bake_minutes} min, check"
        drawing.step(node, (f"canary {percent}%{where}", bake))
        drawing.edges.append(f"  {node} -. breach or failure .-> {restore}")
    if env.strategy.type == "canary":
        drawing.rollback(restore, ("roll back", "the routing from before the canary"))


def _finish(drawing: _Drawing, env_plan: EnvironmentPlan) -> None:
    env = env_plan.env
    if env.tests:
        tested = {
            "blue-green": " (the candidate, before the swap)",
            "ab": " (the candidate, before the A/B test)",
        }.get(env.strategy.type, "")
        drawing.step(f"{drawing.name}_tests", (f"tests{tested}", ", ".join(t.name for t in env.tests)))
    if env.strategy.type == "blue-green":
        swap, back = f"{drawing.name}_swap", f"{drawing.name}_swap_back"
        drawing.step(swap, ("blue-green", "swap to the tested candidate, watch, check"))
        drawing.edges.append(f"  {swap} -. breach .-> {back}")
        drawing.rollback(back, ("roll back", "swap back to the previous colour"))
    if env.strategy.ab is not None:
        test, back = f"{drawing.name}_ab_test", f"{drawing.name}_ab_back"
        split, minutes = env.strategy.ab.split, env.strategy.bake_minutes
        manual = env.strategy.ab.decide == "manual"
        drawing.step(
            test,
            (
                f"A/B test {split}% for {minutes} min",
                "compare both variants; a person decides (" + github_ab_decision_environment(env.name) + ")"
                if manual
                else "compare both variants, promote the winner",
            ),
        )
        loss = "rejected, timed out or cancelled" if manual else "the serving version wins"
        drawing.edges.append(f"  {test} -. {loss} .-> {back}")
        drawing.rollback(back, ("roll back", "the weights from before the test; the run fails"))
    if "switch-index" in env_plan.step_ids():
        switch, back = f"{drawing.name}_switch_index", f"{drawing.name}_index_back"
        drawing.step(switch, ("retrieval alias", "to the new index"))
        drawing.edges.append(f"  {switch} -. later failure .-> {back}")
        drawing.rollback(back, ("roll back", "the alias to the previous index"))
    drawing.step(f"{drawing.name}_finish", "release record")


def _environment(env_plan: EnvironmentPlan, previous: str) -> tuple[list[str], str]:
    """The subgraph of one environment and the node the next one follows."""
    env = env_plan.env
    drawing = _Drawing(env.name.replace("-", "_"), previous)
    _gates_and_approval(drawing, env_plan)
    _provision(drawing, env.regions)
    _build_index(drawing, env_plan)
    _canary(drawing, env_plan)
    _finish(drawing, env_plan)
    head = [f'  subgraph {drawing.name}["{_label(env.name)}"]', "    direction TB"]
    return [*head, *drawing.nodes, "  end", *drawing.edges], drawing.last


def mermaid(plan: Plan) -> str:
    lines = ["flowchart TB", '  build["Build: validate the spec and IaC, scan, package once"]']
    previous = "build"
    for env_plan in plan.environments:
        drawn, previous = _environment(env_plan, previous)
        lines += drawn
    return "\n".join(lines) + "\n"
