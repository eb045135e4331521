from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from tests.conftest import SAMPLES, Golden
from tests.helpers import MINIMAL, write_tree

ENTERPRISE = str(SAMPLES / "enterprise" / "almgen.yaml")


def test_validate_ok_and_invalid_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", ENTERPRISE]).exit_code == 0
    write_tree(tmp_path, {"almgen.yaml": MINIMAL.replace("almgen/v1", "almgen/v9")})
    result = runner.invoke(cli, ["validate", str(tmp_path / "almgen.yaml")])
    assert result.exit_code == 3
    assert "apiVersion: 'almgen/v9' is not supported" in result.output


def test_validate_takes_several_specs_and_defaults_to_almgen_yaml(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a/almgen.yaml": MINIMAL, "almgen.yaml": MINIMAL})
    result = subprocess.run(
        [sys.executable, "-m", "generator", "validate", "almgen.yaml", "a/almgen.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("valid (demo-svc: dev)") == 2
    default = subprocess.run(
        [sys.executable, "-m", "generator", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert default.returncode == 0


def test_a_missing_spec_is_an_invalid_input_not_a_crash(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 3
    assert "no such file" in result.output
    assert "almgen init" in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["explain", ENTERPRISE, "--format", "yaml"]).exit_code == 2
    unknown_env = runner.invoke(cli, ["explain", ENTERPRISE, "--env", "qa"])
    assert unknown_env.exit_code == 2
    assert "no environment 'qa'" in unknown_env.output
    assert runner.invoke(cli, ["frobnicate"]).exit_code == 2


def test_explain_text_of_the_enterprise_sample(golden: Golden) -> None:
    result = CliRunner().invoke(cli, ["explain", ENTERPRISE])
    assert result.exit_code == 0, result.output
    out = result.output
    staging = out[out.index("2. staging") : out.index("3. prod")]
    prod = out[out.index("3. prod") :]
    assert "gates:     evaluation (groundedness >= 4.0" in staging
    assert "strategy:  blue-green" in staging
    assert "safety (violence_defect_rate <= 0.01" in prod
    assert "strategy:  canary 10% -> 25% -> 50% -> 100%, bake 15 min" in prod
    assert "eastus2 (rg-support-agent-prod-eus2, primary), swedencentral" in prod
    assert "approval:  required, by ai-leads" in prod
    golden.check(Path(__file__).parent / "golden" / "explain" / "enterprise.txt", out)


def test_explain_json_for_one_environment() -> None:
    result = CliRunner().invoke(cli, ["explain", ENTERPRISE, "--env", "prod", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    (prod,) = data["environments"]
    assert [g["gate"] for g in prod["gates"]] == ["evaluation", "safety"]
    assert prod["strategy"]["type"] == "canary"
    assert prod["strategy"]["steps"] == [10, 25, 50, 100]
    assert [r["region"] for r in prod["regions"]] == ["eastus2", "swedencentral"]
    assert prod["retrieval"]["alias"] == "support-kb" and prod["retrieval"]["sku"] == "standard"


def test_an_internal_error_exits_4_with_a_log_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("generator.spec.validate.load_spec", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(cli, ["validate", ENTERPRISE])
    assert result.exit_code == 4
    assert "Traceback" not in result.output
    assert "please report it" in result.output
    (log,) = tmp_path.glob("almgen-error-*.log")
    assert str(log) in result.output
    assert "simulated bug" in log.read_text("utf-8")
    assert "Traceback" in log.read_text("utf-8")


def test_the_crash_log_is_private_and_never_follows_a_planted_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log had a fixed name in the shared temp folder: a symlink there redirected the write."""

    def boom(_: object) -> None:
        raise RuntimeError("simulated bug")

    import tempfile

    monkeypatch.setattr("generator.spec.validate.load_spec", boom)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", "utf-8")
    (tmp_path / "almgen-error.log").symlink_to(victim)
    outputs = [CliRunner().invoke(cli, ["validate", ENTERPRISE]).output for _ in range(2)]
    assert victim.read_text("utf-8") == "precious"
    logs = sorted(tmp_path.glob("almgen-error-*.log"))
    assert len(logs) == 2  # one unique file per crash
    for log, output in zip(logs, sorted(outputs), strict=True):
        assert str(log) in output
        assert not log.is_symlink()
        assert log.stat().st_mode & 0o777 == 0o600


def _run_into_a_closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`almgen ARGS | head -0`: stdout is a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "TMPDIR": str(cwd)}
    try:
        return subprocess.run(
            [sys.executable, "-m", "generator", *args],
            cwd=cwd,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)


def test_a_closed_stdout_pipe_exits_quietly(tmp_path: Path) -> None:
    """`almgen check | head` ended in "internal error: BrokenPipeError" (exit 4) and a crash log."""
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    result = _run_into_a_closed_pipe(["validate", "almgen.yaml"], tmp_path)
    assert result.stderr == ""
    assert result.returncode == 141
    assert not list(tmp_path.glob("almgen-error*"))


def test_a_closed_stdout_pipe_exits_quietly_on_the_fast_check(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    assert CliRunner().invoke(cli, ["generate", str(tmp_path / "almgen.yaml")]).exit_code == 0
    result = _run_into_a_closed_pipe(["check"], tmp_path)
    assert result.stderr == ""
    assert result.returncode == 141


def test_the_module_entry_point_runs_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "almgen.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "generator", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 3
    assert "binary file" in result.stderr
    assert "Traceback" not in result.stderr
