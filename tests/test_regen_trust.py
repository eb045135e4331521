"""Issue 15, the regeneration guarantees: a check that cannot be fooled by a hand-edited manifest,
an input changed while generate runs, and a generate that can be interrupted."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.trust import (
    almgen,
    entries,
    generated,
    manifest,
    run,
    sample_copy,
    save_manifest,
    set_groundedness,
    sha,
    spec,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return sample_copy(tmp_path)


# 1. check cannot be fooled by a hand-edited manifest


def test_the_fast_paths_hmac_is_hmac_sha256() -> None:
    import hashlib
    import hmac

    from generator.regen.digests import hmac_sha256, sha256

    for key in [b"", b"k", bytes(range(32)), bytes(64), bytes(range(65)), b"\xff" * 200]:
        for message in [b"", b"message", bytes(range(256)) * 40]:
            assert hmac_sha256(key, message) == hmac.new(key, message, "sha256").hexdigest()
            assert sha256(message).hexdigest() == hashlib.sha256(message).hexdigest()


def test_file_hashes_are_sha256_before_and_after_hashlib_takes_over() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from generator.regen.digests import BUILTIN_BYTES, hex_sha256\n"
        "chunks = [bytes([n]) * (BUILTIN_BYTES // 2 + 1) for n in range(3)]\n"
        "first = hex_sha256(chunks[0])\n"
        "assert 'hashlib' not in sys.modules\n"
        "rest = [hex_sha256(chunk) for chunk in chunks[1:]]\n"
        "assert 'hashlib' in sys.modules\n"
        "import hashlib\n"
        "assert [first, *rest] == [hashlib.sha256(chunk).hexdigest() for chunk in chunks]\n"
        "print('OK')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.stdout == "OK\n", done.stdout + done.stderr


def test_a_seal_that_is_not_ascii_is_not_trusted() -> None:
    from generator.regen import seal

    assert not seal.verifies("é" * 64, "0.1.0", {}, [])
    assert seal.verifies(
        seal.seal("0.1.0", {"a": "b"}, [("x", "managed", "c")]), "0.1.0", {"a": "b"}, [("x", "managed", "c")]
    )


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


def test_the_content_digest_is_blake2b_over_each_managed_files_blake2b(repo: Path) -> None:
    import hashlib

    generated(repo)
    data = manifest(repo)
    content = data["seal"]["content"]  # type: ignore[index]
    assert content["algorithm"] == "blake2b-256"
    managed = sorted(e["path"] for e in entries(data) if e["ownership"] == "managed")
    total = hashlib.blake2b(digest_size=32)
    for path in managed:
        each = hashlib.blake2b((repo / path).read_bytes(), digest_size=32).hexdigest()
        total.update(f"{path}\0{each}\n".encode())
    assert content["value"] == total.hexdigest()


def test_a_content_digest_recomputed_by_hand_breaks_the_seal(repo: Path) -> None:
    """Lower a threshold, fix its sha256 and the content digest: the seal no longer verifies."""
    from generator.regen import fastpath
    from generator.regen.digests import content_digest, hex_blake2b

    generated(repo)
    gates = repo / ".almgen" / "gates.json"
    gates.write_text(gates.read_text().replace(">= 4.0", ">= 1.0"))
    data = manifest(repo)
    for entry in entries(data):
        if entry["path"] == ".almgen/gates.json":
            entry["sha256"] = sha(gates.read_bytes())
    managed = [e["path"] for e in entries(data) if e["ownership"] == "managed"]
    data["seal"]["content"]["value"] = content_digest(  # type: ignore[index]
        (path, hex_blake2b((repo / path).read_bytes())) for path in managed
    )
    save_manifest(repo, data)
    assert not fastpath.up_to_date(repo / "almgen.yaml")
    done = almgen("check", spec(repo))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unsealed  .almgen/manifest.json" in done.stdout


def test_a_manifest_without_a_content_digest_is_checked_by_rendering(repo: Path) -> None:
    """An eject (or an older almgen) writes no content digest: the fast path defers to the full check."""
    from generator.regen import fastpath

    generated(repo)
    assert fastpath.up_to_date(repo / "almgen.yaml")
    assert run("eject", str(repo / "docs" / "alm" / "SETUP.md"), "--spec", spec(repo)).exit_code == 0
    assert "content" not in manifest(repo)["seal"]  # type: ignore[operator]
    assert not fastpath.up_to_date(repo / "almgen.yaml")
    assert almgen("check", spec(repo)).returncode == 0
    generated(repo)  # the next generate writes it again
    assert fastpath.up_to_date(repo / "almgen.yaml")


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
    from generator.regen.write import Write, apply

    generated(repo)
    set_groundedness(repo, "4.2")
    rendered = (repo / "almgen.yaml").read_bytes()

    def apply_then_edit(
        root: Path, writes: dict[str, Write], removals: dict[str, str], new: Manifest
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
    from generator.regen.write import Write, apply

    generated(repo)
    text = (repo / "almgen.yaml").read_text()
    start, end = text.index("  - name: staging"), text.index("  - name: prod")
    (repo / "almgen.yaml").write_text(text[:start] + text[end:].replace(" staging: 30,", ""))
    orphan = repo / "infra" / "env" / "staging.bicepparam"

    def edit_then_apply(
        root: Path, writes: dict[str, Write], removals: dict[str, str], new: Manifest
    ) -> None:
        assert "infra/env/staging.bicepparam" in removals
        orphan.write_text(orphan.read_text() + "// mine, saved while almgen ran\n")
        apply(root, writes, removals, new)

    monkeypatch.setattr(generate, "apply", edit_then_apply)
    result = run("generate", spec(repo))
    assert result.exit_code == 0, result.output
    assert "// mine, saved while almgen ran" in orphan.read_text()


def test_a_file_saved_while_generating_is_not_written_over(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.regen import generate
    from generator.regen.manifest import Manifest
    from generator.regen.write import Write, apply

    generated(repo)
    set_groundedness(repo, "4.2")  # .almgen/gates.json is stale: generate plans to update it
    gates = repo / ".almgen" / "gates.json"

    def edit_then_apply(
        root: Path, writes: dict[str, Write], removals: dict[str, str], new: Manifest
    ) -> None:
        assert ".almgen/gates.json" in writes
        gates.write_text(gates.read_text().replace(">= 3.8", ">= 3.9"))  # the user's edit, meanwhile
        apply(root, writes, removals, new)

    monkeypatch.setattr(generate, "apply", edit_then_apply)
    result = run("generate", spec(repo))
    assert result.exit_code == 1, result.output
    assert ".almgen/gates.json changed while generating: it is left as you saved it" in result.output
    assert '">= 3.9"' in gates.read_text()
    monkeypatch.undo()
    again = run("generate", spec(repo))  # the edit is the user's now: refused, not overwritten
    assert again.exit_code == 1 and "refused  .almgen/gates.json (edited by hand" in again.output
    assert '">= 3.9"' in gates.read_text()


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
