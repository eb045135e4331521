"""The wheel carries templates/ and schemas/: installed into a fresh environment, almgen runs anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
    )
    (built,) = out.glob("almgen-*.whl")
    return built


def test_the_wheel_carries_schemas_and_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "generator/_data/schemas/almgen.schema.json" in names
    templates = [p.relative_to(REPO).as_posix() for p in (REPO / "templates").rglob("*") if p.is_file()]
    assert templates
    for name in templates:
        assert f"generator/_data/{name}" in names


def test_installed_almgen_runs_from_an_unrelated_folder(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([bindir / "python", "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(SAMPLES / "minimal", elsewhere)
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for args in (["validate"], ["schema"], ["explain", "--format", "json"]):
        result = subprocess.run(
            [bindir / "almgen", *args],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            env=clean_env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    located = subprocess.run(
        [bindir / "python", "-c", "import generator.package_data as r; print(r.data_dir('schemas'))"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=clean_env,
        check=True,
    )
    assert "site-packages" in located.stdout
