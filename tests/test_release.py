"""Releasing almgen itself: the version scheme, the tag check, and .github/workflows/release.yml.

The workflow is checked by the tools the generated workflows are checked by (actionlint with
shellcheck, zizmor, the GitHub workflow schema, yamllint) and its shape is asserted: only the
publish job may ask for an OIDC token, in the `pypi` environment, with the publishing action
pinned to a commit.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator import __version__
from generator.package_data import spec_schema
from generator.plan.catalog import ACTIONS
from tests import tools
from tests.conftest import REPO, SAMPLES

WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
PUBLISH_ACTION = "pypa/gh-action-pypi-publish"


def _release_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_check", REPO / "scripts" / "release_check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["release_check"] = module
    spec.loader.exec_module(module)
    return module


release_check = _release_check()


def _workflow() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(WORKFLOW.read_text("utf-8"))
    return data


# The version scheme


def test_the_package_version_follows_the_scheme_and_is_read_from_one_place() -> None:
    assert re.fullmatch(release_check.SCHEME, __version__)
    assert release_check.package_version() == __version__


@pytest.mark.parametrize("version", ["0.1.0", "1.0.0", "10.20.30", "0.2.0rc1", "1.0.0a1", "1.0.0b12"])
def test_versions_in_the_scheme(version: str) -> None:
    assert release_check.problems(f"v{version}", version) == []


@pytest.mark.parametrize(
    "version", ["0.1", "01.0.0", "1.0.0-rc1", "1.0.0.post1", "1.0.0.dev1", "v1.0.0", "1.0"]
)
def test_versions_outside_the_scheme(version: str) -> None:
    (problem,) = release_check.problems(f"v{version}", version)
    assert "does not follow the scheme" in problem


@pytest.mark.parametrize("tag", ["0.1.0", "v0.1.1", "v0.1.0rc1", "refs/tags/v0.1.0", "v0.1.0 "])
def test_a_tag_other_than_v_plus_the_version_is_refused(tag: str) -> None:
    (problem,) = release_check.problems(tag, "0.1.0")
    assert f"the tag {tag!r} is not 'v0.1.0'" in problem


def test_the_distributions_must_be_one_sdist_and_one_wheel_of_the_version(tmp_path: Path) -> None:
    (tmp_path / "almgen-0.1.0.tar.gz").write_bytes(b"")
    (tmp_path / "almgen-0.1.0-py3-none-any.whl").write_bytes(b"")
    assert release_check.problems("v0.1.0", "0.1.0", tmp_path) == []
    (tmp_path / "almgen-0.0.9-py3-none-any.whl").write_bytes(b"")
    (problem,) = release_check.problems("v0.1.0", "0.1.0", tmp_path)
    assert "almgen-0.0.9-py3-none-any.whl" in problem


def test_the_version_is_assigned_once(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text('__version__ = "1.2.3"\n', "utf-8")
    assert release_check.package_version(init) == "1.2.3"
    init.write_text('__version__ = "1.2.3"\n__version__ = "1.2.4"\n', "utf-8")
    with pytest.raises(ValueError, match="exactly once"):
        release_check.package_version(init)


def test_release_check_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert release_check.main([f"v{__version__}"]) == 0
    assert release_check.main(["v999.0.0"]) == 1
    assert "is not" in capsys.readouterr().err
    assert release_check.main([]) == 2


def test_a_pinned_almgen_version_in_the_spec_follows_the_release_scheme() -> None:
    """`targets.almgen.version` accepts exactly the versions almgen is released under."""
    almgen = spec_schema()["properties"]["targets"]["properties"]["almgen"]
    assert almgen["properties"]["version"]["pattern"] == release_check.SCHEME


# CHANGELOG and metadata


def test_the_changelog_has_an_unreleased_section_in_keep_a_changelog_form() -> None:
    text = (REPO / "CHANGELOG.md").read_text("utf-8")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    for heading in headings:
        assert heading == "Unreleased" or re.fullmatch(release_check.SCHEME, heading.split(" ")[0]), heading
        assert re.search(rf"^\[{re.escape(heading)}\]: https://", text, re.MULTILINE), heading
    sections = set(re.findall(r"^### (\w+)", text, re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def _pyproject() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    pytest.skip("reading pyproject.toml needs tomllib (Python 3.11+)")


def test_the_project_urls_name_the_repository_and_the_samples_link_the_managed_schema() -> None:
    """Editors validate a spec offline, at the almgen version that generated it (no URL to go stale)."""
    project = _pyproject()["project"]
    repository = project["urls"]["Repository"]
    for spec in SAMPLES.glob("*/almgen.yaml"):
        first = spec.read_text("utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=.almgen/almgen.schema.json", spec
    for url in project["urls"].values():
        assert url.startswith(repository), url


# The workflow


def test_the_workflow_runs_on_version_tags_only() -> None:
    workflow = _workflow()
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {}


def test_only_the_publish_job_gets_an_oidc_token_in_the_pypi_environment() -> None:
    jobs = _workflow()["jobs"]
    assert set(jobs) == {"build", "publish"}
    assert jobs["build"]["permissions"] == {"contents": "read"}
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["needs"] == "build"
    assert "environment" not in jobs["build"]


def test_the_build_job_checks_the_tag_before_building_and_the_files_after() -> None:
    runs = [step.get("run", "") for step in _workflow()["jobs"]["build"]["steps"]]
    scripts = "\n".join(runs)
    assert scripts.index('release_check.py "$TAG"') < scripts.index("python -m build")
    assert scripts.index('release_check.py "$TAG" dist') > scripts.index("python -m build")
    assert "twine check --strict dist/*" in scripts
    assert "${{" not in scripts  # the tag reaches the shell through TAG only


def test_every_action_is_pinned_to_a_commit_with_its_tag_and_shared_ones_match_the_catalog() -> None:
    text = WORKFLOW.read_text("utf-8")
    pinned = re.findall(r"uses: ([\w.-]+/[\w.-]+)@(\S+) # (\S+)", text)
    assert len(pinned) == text.count("uses: ")
    catalog = {action.repo: action for action in ACTIONS.values()}
    for repo, sha, tag in pinned:
        assert re.fullmatch(r"[0-9a-f]{40}", sha), repo
        assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), repo
        if repo in catalog:
            assert (sha, tag) == (catalog[repo].sha, catalog[repo].tag), repo
    assert PUBLISH_ACTION in {repo for repo, _sha, _tag in pinned}


@pytest.fixture(scope="module")
def workflow_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with only the release workflow: the validators see nothing else."""
    root = tmp_path_factory.mktemp("release")
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, root / ".github" / "workflows" / WORKFLOW.name)
    return root


def test_actionlint_with_shellcheck(workflow_repo: Path) -> None:
    assert tools.actionlint(workflow_repo) == []


def test_zizmor(workflow_repo: Path) -> None:
    assert tools.zizmor(workflow_repo) == []


def test_github_workflow_schema_and_yamllint() -> None:
    assert tools.check_jsonschema([WORKFLOW], "vendor.github-workflows") == []
    assert tools.yamllint([WORKFLOW]) == []
