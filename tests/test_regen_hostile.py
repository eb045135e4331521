"""Issue 15: a hostile or malformed manifest is never acted on and never ends in a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tests.conftest import SAMPLE_NAMES, SAMPLES
from tests.trust import entries, generated, manifest, run, sample_copy, save_manifest, sha, spec


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return sample_copy(tmp_path)


# 4. a hostile manifest is never acted on


def test_a_hostile_manifest_deletes_nothing_outside_almgens_files(repo: Path) -> None:
    generated(repo)
    (repo / "scripts").mkdir()
    (repo / "scripts" / "deploy.sh").write_text("echo mine\n")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text("[core]\n")
    (repo / "infra" / "mine.txt").write_text("mine\n")
    (repo / "docs" / "alm" / "notes.md").write_text("mine\n")
    (repo / ".github" / "workflows" / "release.yml").write_text("on: push\n")
    (repo / "infra" / "modules" / "extra.bicep").write_text("// mine\n")
    victims = ["almgen.yaml", "scripts/deploy.sh", ".git/config", "infra/mine.txt", "docs/alm/notes.md"]
    victims += [".github/workflows/release.yml", "infra/modules/extra.bicep", "infra//main.bicep"]
    data = manifest(repo)
    for path in victims:
        entries(data).append(
            {"path": path, "ownership": "managed", "sha256": sha((repo / path).read_bytes())}
        )
    save_manifest(repo, data)
    check = run("check", spec(repo))
    assert check.exit_code == 1 and check.output.count("unsafe") == len(victims)
    result = run("generate", spec(repo))
    assert result.exit_code == 0, result.output
    for path in victims:
        assert (repo / path).exists(), path
        assert f"ignored  {path}" in result.output
    assert run("check", spec(repo)).exit_code == 0


@pytest.mark.parametrize(
    ("files", "shown"),
    [
        ([{"path": 7, "ownership": "managed", "sha256": "0" * 64}], "files["),
        ([{"path": "infra/x.bicep", "ownership": ["managed"], "sha256": "0" * 64}], "infra/x.bicep"),
        ([{"path": "infra/x.bicep", "ownership": "managed", "sha256": {"a": 1}}], "infra/x.bicep"),
        (["infra/main.bicep"], "files["),
        ([{"path": "infra", "ownership": "managed", "sha256": "0" * 64}], "infra"),
        ([{"path": "infra/env/x.bicepparam", "ownership": "managed", "sha256": "0" * 64}], "x.bicepparam"),
        # names past the file system's limit (NAME_MAX)
        ([{"path": "x" * 300, "ownership": "managed", "sha256": "0" * 64}], "x" * 300),
        (
            [{"path": f"infra/env/{'y' * 300}.bicepparam", "ownership": "managed", "sha256": "0" * 64}],
            "y" * 300,
        ),
    ],
)
def test_a_wrong_entry_is_ignored_and_reported(repo: Path, files: list[object], shown: str) -> None:
    generated(repo)
    if shown == "x.bicepparam":
        (repo / "infra" / "env" / "x.bicepparam").mkdir()  # a folder at a path almgen could write
    data = manifest(repo)
    entries(data).extend(files)  # type: ignore[arg-type]
    save_manifest(repo, data)
    for command in ("check", "diff", "generate"):  # generate last: it writes a clean manifest
        result = run(command, spec(repo))
        assert result.exit_code in (0, 1), (command, result.output)
        assert "Traceback" not in result.output and "internal error" not in result.output
        assert shown in result.output, (command, result.output)
    assert "ignored" in result.output and result.exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": 1, "files": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"schema": 1, "files": {"path": "x"}}', "files must be a list"),
        ('{"schema": 1, "generator": [1], "inputs": 5}', "inputs must be a list"),
        ('{"schema": 1, "files": [' + ",".join(["1"] * 30_000) + "]}", "at most"),
        ('{"schema": 1, "files": ["' + "a" * (9 * 1024 * 1024) + '"]}', "larger than"),
    ],
)
def test_a_malformed_manifest_is_a_clear_error(repo: Path, content: str, message: str) -> None:
    generated(repo)
    (repo / ".almgen" / "manifest.json").write_text(content)
    for command in ("generate", "check", "diff"):
        result = run(command, spec(repo))
        assert result.exit_code in (2, 3), (command, result.output[-500:])
        assert message in result.output and "Traceback" not in result.output


def test_every_generated_path_is_one_almgen_could_generate() -> None:
    from generator.regen.places import could_generate
    from tests.generated import outputs

    for sample in SAMPLE_NAMES:
        for output in outputs(sample):
            assert could_generate(output.path), f"{sample}: {output.path} is missing from a target's places"
    mine = [
        "almgen.yaml",
        ".git/config",
        "scripts/deploy.sh",
        ".almgen/manifest.json",
        "infra",
        "docs/alm/notes.md",
    ]
    mine += [
        ".github/workflows/release.yml",
        "infra/modules/extra.bicep",
        "infra//main.bicep",
        "./infra/main.bicep",
    ]
    mine += [".azure-pipelines/templates/x/y.yml", "infra/env/sub/dev.bicepparam"]
    for path in mine:
        assert not could_generate(path), path
    assert could_generate("infra/env/retired.bicepparam") and could_generate(
        ".github/workflows/old-name-ci.yml"
    )


# 4 and 7, as a property: whatever the manifest holds, an answer or a clean error


@pytest.fixture(scope="module")
def sample_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("property") / "repo"
    shutil.copytree(SAMPLES / "openai-chat-github", root)
    assert run("generate", spec(root)).exit_code == 0
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "infra" / "env" / "old.bicepparam")
    (root / "infra" / "env" / "x.bicepparam").mkdir()
    return root


_PATHS = [
    "almgen.yaml",
    ".git/config",
    "infra",
    "infra/main.bicep",
    "infra/modules/x.bicep",
    "../x",
    "/etc/passwd",
]
_PATHS += ["infra/env/old.bicepparam", "docs/alm/SETUP.md", "a\x00b", "", "C:x", "a\\b", "x" * 5000]
_PATHS += ["x" * 300, "infra/env/" + "y" * 300 + ".bicepparam", "infra/" + "y" * 300 + "/z.bicep"]


def _manifests() -> SearchStrategy[dict[str, Any]]:
    """Manifest-shaped JSON: right and wrong types at every level, hostile and plausible paths."""
    from generator import __version__
    from tests.strategies import values

    sha = st.one_of(st.just("0" * 64), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
    entry = st.one_of(
        values,
        st.fixed_dictionaries(
            {
                "path": st.one_of(st.sampled_from(_PATHS), values),
                "ownership": st.one_of(st.sampled_from(["managed", "seeded", "user"]), values),
                "sha256": st.one_of(sha, values),
            }
        ),
    )
    return st.fixed_dictionaries(
        {
            "schema": st.one_of(st.just(1), values),
            "generator": st.one_of(
                st.fixed_dictionaries({"version": st.one_of(st.just(__version__), values)}), values
            ),
            "inputs": st.one_of(st.lists(entry, max_size=4), values),
            "files": st.one_of(st.lists(entry, max_size=8), values),
            "seal": st.one_of(st.fixed_dictionaries({"value": st.one_of(sha, values)}), values),
        }
    )


def test_any_manifest_gives_an_answer_or_a_clean_error(sample_repo: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    from generator.errors import AlmgenError
    from generator.regen import drift
    from generator.regen import manifest as mf
    from generator.regen.fastpath import up_to_date
    from generator.regen.places import could_generate
    from generator.regen.write import plan_writes
    from generator.render.all import render
    from generator.spec.validate import load_spec

    resolved = load_spec(sample_repo / "almgen.yaml")
    outputs = render(resolved)
    planned = {o.path for o in outputs}
    before = {p.relative_to(sample_repo).as_posix(): p.stat().st_mtime_ns for p in sample_repo.rglob("*")}

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=_manifests())
    def prove(data: object) -> None:
        (sample_repo / ".almgen" / "manifest.json").write_text(json.dumps(data, default=str))
        up_to_date(sample_repo / "almgen.yaml")  # answers, never raises
        try:
            manifest = mf.load(sample_repo)
        except AlmgenError as exc:
            assert exc.exit_code in (2, 3) and str(exc)
            return
        mf.screen(sample_repo, manifest, planned, {"almgen.yaml"})
        assert all(path in planned or could_generate(path) for path in manifest.files)
        drift.compare(sample_repo, outputs, manifest)
        plan_writes(sample_repo, outputs, manifest, force=False, adopt=False)

    prove()
    after = {p.relative_to(sample_repo).as_posix(): p.stat().st_mtime_ns for p in sample_repo.rglob("*")}
    assert {k: v for k, v in after.items() if k != ".almgen/manifest.json"} == {
        k: v for k, v in before.items() if k != ".almgen/manifest.json"
    }
