"""Where the packaged data lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`schemas` or `templates`: `generator/_data/<name>` in a wheel, `<repo>/<name>` in a checkout."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"almgen's {name}/ folder is missing from the installation")


@cache
def spec_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((data_dir("schemas") / "almgen.schema.json").read_text("utf-8"))
    return schema
