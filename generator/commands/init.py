"""`almgen init`: a new AI service repository from the cookiecutter template, then generated.

The scaffold (spec, prompt, evaluation dataset and script, smoke test) is written once and is
the user's; everything generated from the spec follows with `almgen generate`.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.errors import UsageError
from generator.package_data import data_dir

PIPELINES = ("github-actions", "azure-devops")
NAME = re.compile(r"[a-z][a-z0-9-]{2,22}")


def init(directory: Path, *, name: str | None, pipelines: list[str], no_input: bool) -> Path:
    """Create `directory` with a starter spec and its files; return the spec's path."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    target = directory.absolute()
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{directory} is not empty: almgen init only creates a new folder's files")
    service = name or re.sub(r"[^a-z0-9-]+", "-", target.name.lower()).strip("-")
    if not NAME.fullmatch(service):
        raise UsageError(
            f"{service!r} is not a service name: 3 to 23 lowercase letters, digits and "
            "hyphens, starting with a letter (pass --name)"
        )
    unknown = [p for p in pipelines if p not in PIPELINES]
    if unknown or not pipelines:
        raise UsageError(f"--pipelines takes {', '.join(PIPELINES)} (comma-separated)")
    context = {"_directory": target.name, "name": service, "_pipelines": ", ".join(pipelines)}
    try:
        cookiecutter(
            str(data_dir("templates") / "project"),
            no_input=no_input,
            extra_context=context,
            output_dir=str(target.parent),
            overwrite_if_exists=target.exists(),
        )
    except CookiecutterException as exc:
        raise UsageError(f"the project template failed: {exc}") from exc
    return target / "almgen.yaml"
