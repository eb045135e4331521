"""A custom-model spec behind the AI gateway in two prod regions (tests of Bicep and rehearsal)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import SAMPLES

REGIONS = ("westeurope", "northeurope")


def custom_gateway_sample(folder: Path) -> Path:
    """custom-model-devops with `gateway: {type: apim}` and prod in two regions; its almgen.yaml."""
    shutil.copytree(SAMPLES / "custom-model-devops", folder)
    spec = folder / "almgen.yaml"
    text = spec.read_text("utf-8")
    text = text.replace("  - name: prod\n", f"  - name: prod\n    regions: [{', '.join(REGIONS)}]\n", 1)
    spec.write_text(text + "\ngateway: {type: apim}\n", "utf-8")
    return spec
