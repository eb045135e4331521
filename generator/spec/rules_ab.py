"""The rules of an A/B test strategy (`strategy: {type: ab}`) that the JSON Schema cannot express.

An A/B test runs the release's candidate beside the serving version in a pre-production
environment, through the AI gateway's weighted pool, and compares the two: so it needs an
environment after the first (the rule in `rules.strategies`) and before the last, a gateway, and
foundation models only: a custom model's colours are split by its online endpoint, not by a gateway
pool, and the comparison reads each foundation deployment's gateway logs.
"""

from __future__ import annotations

from collections.abc import Iterator

from generator.errors import Issue
from generator.spec.document import Document, FieldPath

AB_ONLY = ("split", "durationMinutes", "compare")


def ab_tests(doc: Document) -> Iterator[Issue]:
    environments = doc.data["environments"]
    for index, env in enumerate(environments):
        strategy = env.get("strategy")
        if not strategy:
            continue
        path: FieldPath = ("environments", index, "strategy")
        kind = strategy["type"]
        if kind != "ab":
            for key in AB_ONLY:
                if key in strategy:
                    yield doc.issue(
                        (*path, key),
                        f"{key} applies to an A/B test (type ab) only",
                        f"no {key} with type {kind}",
                        f"remove {key}, or use `type: ab`",
                        key=True,
                    )
            continue
        if "bakeMinutes" in strategy:
            yield doc.issue(
                (*path, "bakeMinutes"),
                "an A/B test waits durationMinutes, not bakeMinutes",
                "durationMinutes with type ab",
                "rename bakeMinutes to durationMinutes",
                key=True,
            )
        if index == len(environments) - 1 and index > 0:
            yield doc.issue(
                (*path, "type"),
                f"an A/B test runs in a pre-production environment, and {env['name']} is the last "
                "(production) environment",
                "type ab in an environment between the first and the last (e.g. staging)",
                "use blue-green or canary here, and `type: ab` in the environment before it",
            )
        yield from _needs_gateway(doc, (*path, "type"))
        yield from _decision(doc, (*path, "compare"), strategy.get("compare") or {})


def _decision(doc: Document, path: FieldPath, compare: dict[str, object]) -> Iterator[Issue]:
    """A manual decision needs the people who make it; reviewers without one would be ignored."""
    manual = compare.get("decide", "rule") == "manual"
    if manual and not compare.get("reviewers"):
        yield doc.issue(
            (*path, "decide"),
            "a manual A/B decision needs reviewers: nobody could approve or reject the candidate",
            "reviewers: users or teams who decide, beside decide: manual",
            "add `reviewers: [<team>]`, or use `decide: rule`",
        )
    if not manual and "reviewers" in compare:
        yield doc.issue(
            (*path, "reviewers"),
            "reviewers decide an A/B test only with decide: manual",
            "no reviewers with decide: rule",
            "remove reviewers, or add `decide: manual`",
            key=True,
        )


def _needs_gateway(doc: Document, path: FieldPath) -> Iterator[Issue]:
    models = doc.data["models"]
    if any(m.get("kind") == "custom" for m in models):
        yield doc.issue(
            path,
            "an A/B test compares foundation models behind the AI gateway, and this spec has a custom model",
            "type ab in a spec whose models are all foundation models",
            "use blue-green or canary for a spec with custom models",
        )
    if (doc.data.get("gateway") or {}).get("type") == "none":
        yield doc.issue(
            path,
            "an A/B test splits traffic through the AI gateway, and gateway.type is none",
            "gateway.type apim (or unset: an A/B test turns it on)",
            "remove `gateway: {type: none}`, or use blue-green here",
        )
