"""`targets.almgen`: which almgen the generated pipelines install, the same way on both targets.

The spec's value reaches the install step only as an environment variable (the script is the
catalog's, the same for every spec); a wheel is installed only if its SHA-256 matches.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator import __version__
from generator.errors import SpecInvalid
from generator.plan import catalog
from generator.render.all import render
from generator.spec.validate import load_spec
from tests import tools
from tests.conftest import SAMPLES

SHA = "0123456789abcdef0123456789abcdef01234567"
WHEEL = "https://example.org/dist/almgen-0.1.0-py3-none-any.whl"
WHEEL_SHA = "ab" * 32
FORMS: dict[str, tuple[str, str, dict[str, str]]] = {
    # name: (targets.almgen in flow YAML, the script, the environment it gets)
    "default": ("", catalog.INSTALL_ALMGEN, {"ALMGEN_VERSION": __version__}),
    "version": ('{version: "0.0.9"}', catalog.INSTALL_ALMGEN, {"ALMGEN_VERSION": "0.0.9"}),
    "git": (
        f"{{git: git+https://github.com/example/almgen.git@{SHA}}}",
        catalog.INSTALL_ALMGEN_GIT,
        {"ALMGEN_GIT": f"git+https://github.com/example/almgen.git@{SHA}"},
    ),
    "wheel": (
        f"{{wheel: {WHEEL}, sha256: {WHEEL_SHA}}}",
        catalog.INSTALL_ALMGEN_WHEEL,
        {"ALMGEN_WHEEL": WHEEL, "ALMGEN_WHEEL_SHA256": WHEEL_SHA},
    ),
}


def _spec(folder: Path, almgen: str) -> Path:
    """A copy of the enterprise sample (both targets) with `targets.almgen: ALMGEN` when given."""
    shutil.copytree(SAMPLES / "enterprise", folder)
    spec = folder / "almgen.yaml"
    text = spec.read_text("utf-8")
    text = re.sub(r"\n  almgen: .*", "", text, count=1)  # the sample pins the default form
    if almgen:
        text = text.replace("\ntargets:\n", f"\ntargets:\n  almgen: {almgen}\n", 1)
    spec.write_text(text, "utf-8")
    return spec


def _generate(folder: Path, almgen: str) -> Path:
    for output in render(load_spec(_spec(folder, almgen))):
        path = folder / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output.text, "utf-8", newline="\n")
    return folder


def _install_steps(repo: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(file, script, env) of every "Install almgen" step, read back from the generated YAML."""
    found = []
    for path in sorted(repo.glob(".github/workflows/*.yml")) + sorted(
        repo.rglob(".azure-pipelines/**/*.yml")
    ):
        found += [(path.name, *step) for step in _steps_named(YAML(typ="safe").load(path.read_text("utf-8")))]
    return found


def _steps_named(node: Any, name: str = "Install almgen") -> list[tuple[str, dict[str, str]]]:
    if isinstance(node, dict):
        if name in (node.get("name"), node.get("displayName")):
            return [(node.get("run") or node.get("script") or "", dict(node.get("env", {})))]
        return [step for value in node.values() for step in _steps_named(value, name)]
    if isinstance(node, list):
        return [step for value in node for step in _steps_named(value, name)]
    return []


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("almgen-install")
    return {form: _generate(root / form, almgen) for form, (almgen, _s, _e) in FORMS.items()}


@pytest.mark.parametrize("form", FORMS)
def test_both_targets_install_the_form_the_spec_names_through_the_environment(
    form: str, generated: dict[str, Path]
) -> None:
    _almgen, script, env = FORMS[form]
    steps = _install_steps(generated[form])
    files = {file for file, _script, _env in steps}
    assert files == {"support-agent-ci.yml", "support-agent-cd.yml", "build.yml"}
    for file, run, given in steps:
        assert run.rstrip() == script.rstrip(), file
        assert given == env, file
        for value in env.values():
            assert value not in run, file  # spec values never in the shell's text


def test_without_targets_almgen_the_pin_is_this_almgen(generated: dict[str, Path]) -> None:
    ci = (generated["default"] / ".github/workflows/support-agent-ci.yml").read_text("utf-8")
    assert f'ALMGEN_VERSION: "{__version__}"' in ci


@pytest.mark.parametrize(
    "almgen",
    [
        '{version: "0.1.0", git: "git+https://github.com/o/almgen@' + SHA + '"}',
        "{}",
        f"{{wheel: {WHEEL}}}",
        f"{{sha256: {WHEEL_SHA}}}",
        f'{{version: "0.1.0", sha256: {WHEEL_SHA}}}',
        "{git: git+https://github.com/o/almgen@main}",
        "{git: git+https://github.com/o/almgen@0123456}",
        f"{{git: 'git+https://user:token@github.com/o/almgen@{SHA}'}}",
        f"{{git: 'git+http://github.com/o/almgen@{SHA}'}}",
        f"{{git: 'https://github.com/o/almgen@{SHA}'}}",
        f"{{git: 'git+https://github.com/o/almgen@{SHA.upper()}'}}",
        f"{{wheel: 'http://example.org/almgen-0.1.0-py3-none-any.whl', sha256: {WHEEL_SHA}}}",
        f"{{wheel: '{WHEEL}?x=1', sha256: {WHEEL_SHA}}}",
        f"{{wheel: 'https://example.org/other-0.1.0-py3-none-any.whl', sha256: {WHEEL_SHA}}}",
        f"{{wheel: 'https://example.org/$(id)/almgen-0.1.0-py3-none-any.whl', sha256: {WHEEL_SHA}}}",
        f"{{wheel: {WHEEL}, sha256: {WHEEL_SHA.upper()}}}",
        f"{{wheel: {WHEEL}, sha256: {WHEEL_SHA[:-1]}}}",
        '{version: "v0.1.0"}',
        '{version: "0.1"}',
        "{version: 0.1}",
        '{version: "0.1.0", pip: "x"}',
    ],
)
def test_invalid_forms_are_refused_at_targets_almgen(almgen: str, tmp_path: Path) -> None:
    with pytest.raises(SpecInvalid) as raised:
        load_spec(_spec(tmp_path / "spec", almgen))
    assert raised.value.issues
    assert all(issue.path.startswith("targets.almgen") for issue in raised.value.issues), raised.value.issues


@pytest.mark.parametrize("form", ["git", "wheel"])
def test_github_workflows_pass_actionlint_and_zizmor(form: str, generated: dict[str, Path]) -> None:
    assert tools.actionlint(generated[form]) == []
    assert tools.zizmor(generated[form]) == []


@pytest.mark.parametrize("form", ["git", "wheel"])
def test_pipeline_files_pass_their_schemas_and_yamllint(form: str, generated: dict[str, Path]) -> None:
    github = sorted((generated[form] / ".github/workflows").glob("*.yml"))
    devops = sorted((generated[form] / ".azure-pipelines").rglob("*.yml"))
    assert tools.check_jsonschema(github, "vendor.github-workflows") == []
    assert tools.check_jsonschema(devops, "vendor.azure-pipelines") == []
    assert tools.yamllint(github + devops) == []


def _tiny_wheel(folder: Path) -> Path:
    """A wheel named almgen with one module and no dependencies: installs offline."""
    path = folder / "almgen-0.0.1-py3-none-any.whl"
    files = {
        "almgen_tiny.py": "VALUE = 1\n",
        "almgen-0.0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: almgen\nVersion: 0.0.1\n",
        "almgen-0.0.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(
            "almgen-0.0.1.dist-info/RECORD",
            "".join(f"{n},,\n" for n in files) + "almgen-0.0.1.dist-info/RECORD,,\n",
        )
    return path


@pytest.mark.slow  # creates a virtual environment and runs pip
def test_the_wheel_script_installs_only_a_wheel_with_the_given_sha256(tmp_path: Path) -> None:
    wheel = _tiny_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    base = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "ALMGEN_WHEEL": wheel.as_uri(),
    }
    base.pop("VIRTUAL_ENV", None)

    def install(sha256: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", catalog.INSTALL_ALMGEN_WHEEL],
            env={**base, "ALMGEN_WHEEL_SHA256": sha256},
            capture_output=True,
            text=True,
            check=False,
        )

    def installed() -> bool:
        probe = [str(env_dir / "bin" / "python"), "-c", "import almgen_tiny"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    wrong = install(hashlib.sha256(b"another file").hexdigest())
    assert wrong.returncode != 0 and "DO NOT MATCH THE HASHES" in wrong.stderr
    assert not installed()
    right = install(hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert right.returncode == 0, right.stderr
    assert installed()
