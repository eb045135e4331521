"""Issue 15, the regeneration guarantees: a check that cannot be fooled, a generate that can be
interrupted, a hostile manifest that is never acted on, and only regular files read or written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from generator.cli import cli
from tests.conftest import REPO, SAMPLE_NAMES, SAMPLES

GROUNDEDNESS = 'groundedness: ">= 4.0"'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLES / "openai-chat-github", root)
    assert GROUNDEDNESS in (root / "almgen.yaml").read_text()
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def spec(root: Path) -> str:
    return str(root / "almgen.yaml")


def generated(root: Path) -> Path:
    result = run("generate", spec(root))
    assert result.exit_code == 0, result.output
    return root


def set_groundedness(root: Path, value: str) -> None:
    path = root / "almgen.yaml"
    text = path.read_text()
    start = text.index("groundedness: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f'groundedness: ">= {value}"' + text[end:])


def manifest(root: Path) -> dict[str, object]:
    data = json.loads((root / ".almgen" / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def save_manifest(root: Path, data: object) -> None:
    (root / ".almgen" / "manifest.json").write_text(json.dumps(data))


def entries(data: dict[str, object]) -> list[dict[str, str]]:
    files = data["files"]
    assert isinstance(files, list)
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def almgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real executable (the fast path included), bounded in time so a hang fails the test."""
    code = "import sys\nsys.argv = ['almgen', *sys.argv[1:]]\nfrom generator.entry import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        check=False,
    )


# 1. check cannot be fooled by a hand-edited manifest


def test_a_lowered_threshold_with_its_hash_in_the_manifest_is_caught(repo: Path) -> None:
    generated(repo)
    gates = repo / ".almgen" / "gates.json"
    lowered = gates.read_text().replace('"groundedness": ">= 4.0"', '"groundedness": ">= 1.0"')
    assert lowered != gates.read_text()
    gates.write_text(lowered)
    data = manifest(repo)
    for entry in entries(data):
        if entry["path"] == ".almgen/gates.json":
            entry["sha256"] = sha(lowered.encode())
    save_manifest(repo, data)
    done = almgen("check", spec(repo))
    assert done.returncode == 1, done.stdout + done.stderr
    assert '-      "groundedness": ">= 1.0"' in done.stdout


def test_a_manifest_without_its_seal_is_not_trusted(repo: Path) -> None:
    generated(repo)
    gates = repo / ".almgen" / "gates.json"
    gates.write_text(gates.read_text().replace(">= 4.0", ">= 1.0"))
    data = manifest(repo)
    del data["seal"]
    for entry in entries(data):
        if entry["path"] == ".almgen/gates.json":
            entry["sha256"] = sha(gates.read_bytes())
    save_manifest(repo, data)
    assert almgen("check", spec(repo)).returncode == 1


def test_a_file_marked_ejected_by_hand_in_the_manifest_is_caught(repo: Path) -> None:
    generated(repo)
    gates = repo / ".almgen" / "gates.json"
    gates.write_text(gates.read_text().replace(">= 4.0", ">= 1.0"))
    data = manifest(repo)
    for entry in entries(data):
        if entry["path"] == ".almgen/gates.json":
            entry["ownership"] = "user"  # as if ejected, without running almgen eject
    save_manifest(repo, data)
    done = almgen("check", spec(repo))
    assert done.returncode == 1, done.stdout
    assert "unsealed  .almgen/manifest.json: its seal does not match its content" in done.stdout


# 2. an input that changes while generate runs


def test_a_spec_changed_before_writing_writes_nothing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.regen import generate
    from generator.render.all import render
    from generator.render.outputs import OutputFile
    from generator.spec.model import Spec

    def render_then_edit(resolved: Spec) -> list[OutputFile]:
        outputs = render(resolved)
        set_groundedness(repo, "4.5")  # the user saves the spec while almgen renders
        return outputs

    monkeypatch.setattr(generate, "render", render_then_edit)
    result = run("generate", spec(repo))
    assert result.exit_code == 1
    assert "the spec changed while generating" in result.output and "run again" in result.output
    assert not (repo / ".almgen").exists() and not (repo / "infra").exists()


def test_a_spec_changed_while_writing_is_not_recorded_against_old_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.regen import generate
    from generator.regen.manifest import Manifest
    from generator.regen.write import apply

    generated(repo)
    set_groundedness(repo, "4.2")
    rendered = (repo / "almgen.yaml").read_bytes()

    def apply_then_edit(
        root: Path, writes: dict[str, bytes], removals: dict[str, str], new: Manifest
    ) -> None:
        apply(root, writes, removals, new)
        set_groundedness(repo, "4.5")

    monkeypatch.setattr(generate, "apply", apply_then_edit)
    result = run("generate", spec(repo))
    assert result.exit_code == 1 and "the spec changed while generating" in result.output
    monkeypatch.undo()
    recorded = {i["path"]: i["sha256"] for i in manifest(repo)["inputs"]}  # type: ignore[attr-defined]
    assert recorded["almgen.yaml"] == sha(rendered)
    assert almgen("check", spec(repo)).returncode == 1  # 4.5 is not generated yet
    generated(repo)
    assert almgen("check", spec(repo)).returncode == 0


def test_an_orphan_edited_while_generating_is_kept(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.regen import generate
    from generator.regen.manifest import Manifest
    from generator.regen.write import apply

    generated(repo)
    text = (repo / "almgen.yaml").read_text()
    start, end = text.index("  - name: staging"), text.index("  - name: prod")
    (repo / "almgen.yaml").write_text(text[:start] + text[end:].replace(" staging: 30,", ""))
    orphan = repo / "infra" / "env" / "staging.bicepparam"

    def edit_then_apply(
        root: Path, writes: dict[str, bytes], removals: dict[str, str], new: Manifest
    ) -> None:
        assert "infra/env/staging.bicepparam" in removals
        orphan.write_text(orphan.read_text() + "// mine, saved while almgen ran\n")
        apply(root, writes, removals, new)

    monkeypatch.setattr(generate, "apply", edit_then_apply)
    result = run("generate", spec(repo))
    assert result.exit_code == 0, result.output
    assert "// mine, saved while almgen ran" in orphan.read_text()


# 3. an interrupted generate


def test_a_write_failing_midway_leaves_a_state_the_next_generate_recognizes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated(repo)
    set_groundedness(repo, "4.2")  # rewrites .almgen/gates.json, .almgen/release.json, PIPELINE.md
    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:  # the journal, gates.json, then release.json fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    failed = run("generate", spec(repo))
    monkeypatch.undo()
    assert failed.exit_code == 2, failed.output
    assert "No space left on device" in failed.output and ".almgen/release.json" in failed.output
    assert "Traceback" not in failed.output and not list(repo.rglob("*.almgen-tmp"))
    assert '">= 4.2"' in (repo / ".almgen" / "gates.json").read_text()  # written before the failure
    set_groundedness(repo, "4.4")  # the next change, without --force
    again = run("generate", spec(repo))
    assert again.exit_code == 0, again.output
    assert "refused" not in again.output.replace("0 refused", "")
    assert '">= 4.4"' in (repo / ".almgen" / "gates.json").read_text()
    assert not (repo / ".almgen" / "journal.json").exists()
    assert almgen("check", spec(repo)).returncode == 0


def test_temporary_files_left_by_a_kill_are_removed_by_the_next_generate(repo: Path) -> None:
    generated(repo)
    leftovers = [
        repo / "infra" / ".main.bicep.k3j2h1.almgen-tmp",
        repo / ".almgen" / ".gates.json.x.almgen-tmp",
    ]
    for leftover in leftovers:
        leftover.write_text("half")
    mine = repo / "infra" / "notes.almgen-tmp"  # not a name almgen's temporary files have
    mine.write_text("mine")
    result = run("generate", spec(repo))
    assert result.exit_code == 0, result.output
    assert "removed  infra/.main.bicep.k3j2h1.almgen-tmp (left by an interrupted generate)" in result.output
    assert not any(p.exists() for p in leftovers) and mine.exists()


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


# 5. only regular files; bounded template packs


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_at_a_managed_path_is_refused_without_hanging(repo: Path) -> None:
    generated(repo)
    (repo / "infra" / "main.bicep").unlink()
    os.mkfifo(repo / "infra" / "main.bicep")
    generate = almgen("generate", spec(repo))
    assert generate.returncode == 1 and "FIFO" in generate.stdout, generate.stdout + generate.stderr
    check = almgen("check", spec(repo))
    assert check.returncode == 1 and "irregular  infra/main.bicep: it is a FIFO" in check.stdout
    diff = almgen("diff", spec(repo))
    assert "irregular: infra/main.bicep" in diff.stdout and "Traceback" not in diff.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_by_the_manifest_is_ignored_without_hanging(repo: Path) -> None:
    generated(repo)
    os.mkfifo(repo / "infra" / "env" / "old.bicepparam")
    data = manifest(repo)
    entries(data).append({"path": "infra/env/old.bicepparam", "ownership": "managed", "sha256": "0" * 64})
    save_manifest(repo, data)
    for command in ("check", "diff", "generate"):  # generate last: it writes a clean manifest
        done = almgen(command, spec(repo))
        assert "infra/env/old.bicepparam" in done.stdout, (command, done.stdout + done.stderr)
        assert command == "diff" or "FIFO" in done.stdout
        assert "Traceback" not in done.stderr
    assert (repo / "infra" / "env" / "old.bicepparam").exists()


def test_a_template_pack_high_up_the_tree_is_bounded(repo: Path, tmp_path: Path) -> None:
    from generator.regen.regular import MAX_INPUT_FILES

    pack = tmp_path / "pack"
    (pack / "deep").mkdir(parents=True)
    for index in range(MAX_INPUT_FILES + 1):
        (pack / "deep" / f"{index}.txt").write_text("x")
    text = (repo / "almgen.yaml").read_text()
    (repo / "almgen.yaml").write_text(text + "templates: ../pack\n")
    result = run("generate", spec(repo))
    assert result.exit_code == 2, result.output
    assert f"more than {MAX_INPUT_FILES} files" in result.output and "point `templates:`" in result.output


# 6. eject never writes through a symlink


def test_eject_refuses_a_symlinked_almgen_folder_pointing_outside(repo: Path, tmp_path: Path) -> None:
    generated(repo)
    outside = tmp_path / "outside"
    shutil.move(str(repo / ".almgen"), outside)
    (repo / ".almgen").symlink_to(outside, target_is_directory=True)
    before = (outside / "manifest.json").read_bytes()
    result = run("eject", str(repo / "docs" / "alm" / "SETUP.md"), "--spec", spec(repo))
    assert result.exit_code == 2, result.output
    assert ".almgen/manifest.json runs through a symbolic link" in result.output
    assert (outside / "manifest.json").read_bytes() == before


# 7. unreadable and read-only files are clean errors


@pytest.mark.parametrize("command", ["generate", "check", "diff"])
def test_an_unreadable_managed_file_is_a_clear_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    generated(repo)
    set_groundedness(repo, "4.2")  # so check and diff read the files
    real_open = os.open

    def deny(path: object, flags: int, *args: int) -> int:
        if str(path).endswith("gates.json"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    result = run(command, spec(repo))
    assert result.exit_code == 2, result.output
    assert "gates.json: Permission denied" in result.output and "Traceback" not in result.output


def test_a_read_only_folder_is_a_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated(repo)
    set_groundedness(repo, "4.2")
    import tempfile

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    result = run("generate", spec(repo))
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.output and "Read-only file system" in result.output


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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_as_the_manifest_is_a_clear_error_without_hanging(repo: Path) -> None:
    generated(repo)
    (repo / ".almgen" / "manifest.json").unlink()
    os.mkfifo(repo / ".almgen" / "manifest.json")
    for command in ("check", "generate", "diff"):
        done = almgen(command, spec(repo))
        assert done.returncode == 2, (command, done.stdout + done.stderr)
        assert ".almgen/manifest.json is a FIFO (named pipe), not a regular file" in done.stderr


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets")
def test_a_socket_at_a_managed_path_is_reported(repo: Path) -> None:
    generated(repo)
    target = repo / "docs" / "alm" / "SETUP.md"
    target.unlink()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(target))
        result = run("check", spec(repo))
        assert result.exit_code == 1, result.output
        assert "irregular  docs/alm/SETUP.md: it is a socket" in result.output
        refused = run("generate", spec(repo))
        assert refused.exit_code == 1 and "a socket is in the way" in refused.output
