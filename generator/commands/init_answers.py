"""The answers `almgen init` asks for: each with its help line, default, choices and validation.

The same `parse_*` functions check a prompted answer (click's `value_proc`, so a bad answer is
re-asked) and a command-line option (a bad one is a usage error). Regions come from the one list
almgen ships (`generator/spec/naming.py: REGION_CODES`, which also names resources).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from generator.frozen import frozen
from generator.spec.naming import REGION_CODES

NAME = re.compile(r"[a-z][a-z0-9-]{2,22}")
REVIEWER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@/-]{0,99}")
PIPELINES: dict[str, tuple[str, ...]] = {
    "github-actions": ("github-actions",),
    "azure-devops": ("azure-devops",),
}
PIPELINES["both"] = ("github-actions", "azure-devops")
STRATEGIES = ("blue-green", "canary", "direct")
REGIONS = tuple(sorted(REGION_CODES))
DESCRIPTION_MAX = 300


class BadAnswer(ValueError):
    """An answer that does not fit; the message says what is expected."""


@frozen
class Answers:
    name: str
    description: str = "An AI service on Azure"
    pipelines: tuple[str, ...] = ("github-actions",)
    region: str = "eastus2"
    reviewers: tuple[str, ...] = ("ai-leads",)
    strategy: str = "blue-green"


def parse_name(text: str) -> str:
    value = text.strip()
    if not NAME.fullmatch(value):
        raise BadAnswer(
            f"{value!r} is not a service name: 3 to 23 lowercase letters, digits and hyphens, "
            "starting with a letter (e.g. support-bot)"
        )
    return value


def parse_description(text: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > DESCRIPTION_MAX:
        raise BadAnswer(f"a description is one line of 1 to {DESCRIPTION_MAX} characters")
    return value


def parse_pipelines(text: str) -> tuple[str, ...]:
    items = [p.strip() for p in text.split(",") if p.strip()]
    if len(items) == 1 and items[0] in PIPELINES:
        return PIPELINES[items[0]]
    if items and all(p in PIPELINES and p != "both" for p in items):
        return tuple(dict.fromkeys(items))
    raise BadAnswer(f"{text.strip()!r}: answer github-actions, azure-devops or both")


def parse_region(text: str) -> str:
    value = re.sub(r"[\s_-]+", "", text).lower()
    if value in REGION_CODES:
        return value
    close = difflib.get_close_matches(value, REGIONS, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"one of {', '.join(REGIONS)}"
    raise BadAnswer(f"{text.strip()!r} is not an Azure region almgen knows: {hint}")


def parse_reviewers(text: str) -> tuple[str, ...]:
    items = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in items if not REVIEWER.fullmatch(r)]
    if not items or bad:
        raise BadAnswer(
            f"{', '.join(bad) or 'nothing'}: give GitHub users or teams (or Azure DevOps groups), "
            "comma-separated, e.g. octocat, my-org/ai-leads"
        )
    return tuple(dict.fromkeys(items))


def parse_strategy(text: str) -> str:
    value = text.strip().lower()
    if value not in STRATEGIES:
        raise BadAnswer(f"{text.strip()!r}: answer {', '.join(STRATEGIES)}")
    return value


@frozen
class Question:
    field: str
    help: str
    parse: Callable[[str], object]
    choices: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # shown instead of the choices when they are many


QUESTIONS = (
    Question("name", "The service's name: resource names and pipeline names start with it.", parse_name),
    Question(
        "description",
        "One line saying what the service does (the spec, the docs, the first evaluation row).",
        parse_description,
    ),
    Question(
        "pipelines",
        "Where the pipelines run: github-actions, azure-devops, or both.",
        parse_pipelines,
        tuple(PIPELINES),
    ),
    Question(
        "region",
        "The Azure region of every environment, as `az account list-locations` names it.",
        parse_region,
        REGIONS,
        ("eastus2", "swedencentral", "westeurope"),
    ),
    Question(
        "reviewers",
        "Who approves a deployment to prod: GitHub users/teams or Azure DevOps groups, comma-separated.",
        parse_reviewers,
    ),
    Question(
        "strategy",
        "How prod is updated: blue-green (swap after tests), canary (traffic in steps), direct.",
        parse_strategy,
        STRATEGIES,
    ),
)
