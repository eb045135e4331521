"""Every sample's generated files, byte for byte. `pytest --update-goldens` rewrites them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.render.outputs import OutputFile, header
from generator.targets.scripts.files import RUNTIME
from generator.targets.scripts.files import SCRIPTS as SCRIPT_NAMES
from tests.conftest import REPO, SAMPLE_NAMES, Golden
from tests.generated import outputs

GOLDEN = REPO / "tests" / "golden"


SCRIPTS = ".almgen/scripts/"


def _pinned(sample: str) -> list[OutputFile]:
    """Every output but the runtime scripts, which are almgen's own modules copied verbatim."""
    return [f for f in outputs(sample) if not f.path.startswith(SCRIPTS)]


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_runtime_scripts_are_the_package_modules_verbatim(sample: str) -> None:
    scripts = [f for f in outputs(sample) if f.path.startswith(SCRIPTS)]
    assert {Path(f.path).name for f in scripts} == {f"{name}.py" for name in SCRIPT_NAMES}
    for script in scripts:
        source = (RUNTIME / Path(script.path).name).read_text("utf-8")
        assert script.text == header(script.path, "almgen.yaml") + source


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_generated_files_match_the_golden_files(sample: str, golden: Golden) -> None:
    files = _pinned(sample)
    root = GOLDEN / sample
    for output in files:
        golden.check(root / output.path, output.text)
    expected = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    extra = expected - {f.path for f in files}
    if golden.update:
        for path in extra:
            (root / path).unlink()
    else:
        assert not extra, f"golden files no longer generated: {sorted(extra)}; run pytest --update-goldens"


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_rendering_is_deterministic(sample: str) -> None:
    from generator.render.all import render
    from generator.spec.validate import load_spec
    from tests.conftest import SAMPLES

    again = render(load_spec(SAMPLES / sample / "almgen.yaml"))
    assert [(f.path, f.text) for f in again] == [(f.path, f.text) for f in outputs(sample)]
