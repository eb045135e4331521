"""The distributions a release publishes, built as .github/workflows/release.yml builds them.

`python -m build` makes the sdist and the wheel; they pass `twine check --strict` and
scripts/release_check.py, the wheel carries templates/ and schemas/ and the project's metadata,
and, installed into a fresh environment, almgen runs anywhere.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from generator import __version__
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow  # builds the distributions and installs the wheel into a new environment


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built by the release workflow's command."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (built,) = dist.glob("almgen-*.whl")
    return built


def test_the_distributions_pass_twine_check_and_the_release_check(dist: Path) -> None:
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *sorted(map(str, dist.iterdir()))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "release_check.py"), f"v{__version__}", str(dist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_wheel_carries_the_project_metadata_and_the_license(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = f"almgen-{__version__}.dist-info"
    metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata["Summary"] and metadata["Keywords"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(urls)
    assert any(c.startswith("Development Status ::") for c in metadata.get_all("Classifier", []))
    assert f"{info}/licenses/LICENSE" in archive.namelist()


def test_the_sdist_carries_what_a_rebuild_and_the_tests_need(dist: Path) -> None:
    (sdist,) = dist.glob("almgen-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "pyproject.toml",
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "generator/__init__.py",
        "schemas/almgen.schema.json",
        "scripts/release_check.py",
        "tests/conftest.py",
    ):
        assert needed in names, needed


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
