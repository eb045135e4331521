"""The questions of `almgen init`, asked with click: a help line, a default, the choices, and a
re-prompt that says what was wrong. Options given on the command line are not asked again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from generator.commands.init_answers import QUESTIONS, Answers, BadAnswer, Question
from generator.errors import UsageError


def default_name(directory: Path) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", directory.absolute().name.lower()).strip("-")[:23].strip("-")


def _text(value: Any) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _ask(question: Question, default: Any) -> Any:
    click.secho(question.help, dim=True, err=True)
    label = question.field
    if question.examples:
        label += f" ({len(question.choices)} known, e.g. {', '.join(question.examples)})"
    elif question.choices:
        label += f" ({', '.join(question.choices)})"

    def check(text: str) -> Any:
        try:
            return question.parse(text)
        except BadAnswer as exc:
            raise click.BadParameter(str(exc)) from exc

    return click.prompt(label, default=_text(default), value_proc=check, err=True)


def answers(directory: Path, given: dict[str, str | None], *, ask: bool) -> Answers:
    """The answers: options as given (checked), the rest asked, or the defaults with --no-input."""
    defaults = Answers(name=default_name(directory))
    values: dict[str, Any] = {}
    for question in QUESTIONS:
        option = given.get(question.field)
        default = getattr(defaults, question.field)
        if option is not None or not ask:
            try:
                values[question.field] = question.parse(option if option is not None else _text(default))
            except BadAnswer as exc:
                raise UsageError(f"--{question.field}: {exc}") from exc
        else:
            values[question.field] = _ask(question, default)
    return Answers(**values)
