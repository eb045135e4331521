"""almgen check: stale, tampered, missing, orphan and collision, each with its fix; exit 0 or 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from tests.conftest import SAMPLES


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLES / "openai-chat-github", root)
    result = CliRunner().invoke(cli, ["generate", str(root / "almgen.yaml")])
    assert result.exit_code == 0, result.output
    return root


def check(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["check", str(root / "almgen.yaml"), *args])


def test_clean_after_generate(repo: Path) -> None:
    result = check(repo)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_a_spec_change_is_stale_with_a_diff_and_the_fix(repo: Path) -> None:
    spec = repo / "almgen.yaml"
    assert "logRetentionDays: 60" in spec.read_text()
    spec.write_text(spec.read_text().replace("logRetentionDays: 60", "logRetentionDays: 120"))
    result = check(repo)
    assert result.exit_code == 1
    assert "stale  infra/env/dev.bicepparam: run `almgen generate`" in result.output
    assert "-param logRetentionDays = 60" in result.output
    assert "+param logRetentionDays = 120" in result.output
    assert CliRunner().invoke(cli, ["generate", str(spec)]).exit_code == 0
    assert check(repo).exit_code == 0


def test_a_hand_edit_is_tampered(repo: Path) -> None:
    workflow = next((repo / ".github" / "workflows").glob("*-cd.yml"))
    workflow.write_text(workflow.read_text() + "# mine\n")
    result = check(repo)
    assert result.exit_code == 1
    assert "tampered" in result.output and "+# mine" not in result.output and "-# mine" in result.output


def test_missing_orphan_and_collision(repo: Path) -> None:
    (repo / "infra" / "main.bicep").unlink()
    manifest_path = repo / ".almgen" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (repo / "infra" / "env" / "old.bicepparam").write_text("// old\n")
    import hashlib

    manifest["files"].append(
        {
            "path": "infra/env/old.bicepparam",
            "ownership": "managed",
            "sha256": hashlib.sha256(b"// old\n").hexdigest(),
        }
    )
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "docs/alm/SETUP.md"]
    manifest_path.write_text(json.dumps(manifest))
    (repo / "docs" / "alm" / "SETUP.md").write_text("my own notes\n")
    result = check(repo, "--format", "json")
    assert result.exit_code == 1
    findings = {f["path"]: f["kind"] for f in next(iter(json.loads(result.output).values()))}
    assert findings == {
        "infra/main.bicep": "missing",
        "infra/env/old.bicepparam": "orphan",
        "docs/alm/SETUP.md": "collision",
        ".almgen/manifest.json": "unsealed",  # edited by hand above
    }


def test_manifest_entries_outside_the_repository_are_ignored_and_reported(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    manifest_path = repo / ".almgen" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for path in ("../outside.txt", str(outside), "/etc/passwd"):
        manifest["files"].append({"path": path, "ownership": "managed", "sha256": "0" * 64})
    manifest_path.write_text(json.dumps(manifest))
    result = check(repo)
    assert result.exit_code == 1
    assert result.output.count("unsafe") == 3
    assert CliRunner().invoke(cli, ["generate", str(repo / "almgen.yaml")]).exit_code == 0
    assert outside.read_text() == "keep me\n"
