"""Issue 15: only regular files are read or written, packs are hashed within bounds, and a file
almgen cannot read or write is a clear error (exit 2), never a hang or a traceback."""

from __future__ import annotations

import errno
import os
import shutil
import socket
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
    spec,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return sample_copy(tmp_path)


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
    from generator import tempname

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempname, "create", read_only)
    result = run("generate", spec(repo))
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.output and "Read-only file system" in result.output


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
