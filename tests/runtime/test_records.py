"""records.py: the release, retirement and retention records go to the environment's WORM store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.runtime import records
from tests.runtime.conftest import FakeAz

STACKS = {
    "stacks": {
        "value": [
            {"location": "swedencentral", "resourceGroup": "rg-b", "primary": False, "recordsAccount": ""},
            {
                "location": "eastus2",
                "resourceGroup": "rg-a",
                "primary": True,
                "recordsAccount": "strecsvcprod1abcde",
            },
        ]
    }
}


def _folder(tmp_path: Path, *extra: str) -> Path:
    (tmp_path / "outputs.json").write_text(json.dumps(STACKS), "utf-8")
    record = {"timestamp": "2026-12-06T03:10:00Z", "run": {"id": "4711", "attempt": "2"}}
    (tmp_path / "release-record.json").write_text(json.dumps(record), "utf-8")
    for name in extra:
        (tmp_path / name).write_text("{}", "utf-8")
    return tmp_path


def _option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def test_keep_uploads_every_record_under_one_new_prefix_never_overwriting(
    tmp_path: Path, fake_az: FakeAz
) -> None:
    folder = _folder(tmp_path, "retention-record.json")  # no retirement record this time
    fake_az.respond({"storage blob upload": [{"stdout": {}}]})
    code = records.main(
        ["keep", "--env", "prod", "--outputs", str(folder / "outputs.json"), "--folder", str(folder)]
    )
    assert code == 0
    uploads = fake_az.calls_of("storage blob upload")
    assert [_option(c, "--name") for c in uploads] == [
        "prod/20261206T031000Z-4711-2/release-record.json",
        "prod/20261206T031000Z-4711-2/retention-record.json",
    ]
    for call in uploads:  # the primary region's store, signed in, never over a kept record
        assert _option(call, "--account-name") == "strecsvcprod1abcde"
        assert _option(call, "--container-name") == "release-records"
        assert _option(call, "--auth-mode") == "login" and _option(call, "--overwrite") == "false"


def test_keep_without_a_record_store_or_a_record_is_bad_input(
    tmp_path: Path, fake_az: FakeAz, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    (folder / "outputs.json").write_text(json.dumps({"stacks": {"value": [{"primary": True}]}}), "utf-8")
    assert records.main(["keep", "--env", "prod", "--outputs", str(folder / "outputs.json")]) == 2
    assert "no record store" in capsys.readouterr().err
    assert fake_az.calls() == []


def test_an_azure_refusal_fails_the_step(tmp_path: Path, fake_az: FakeAz) -> None:
    folder = _folder(tmp_path)
    fake_az.respond({"storage blob upload": [{"exit": 1, "stderr": "ErrorCode:BlobImmutableDueToPolicy"}]})
    args = ["keep", "--env", "prod", "--outputs", str(folder / "outputs.json"), "--folder", str(folder)]
    assert records.main(args) == 1


def test_history_reads_the_newest_release_records_first(tmp_path: Path, fake_az: FakeAz) -> None:
    names = ["prod/20261201T000000Z-1-1/release-record.json", "prod/20261205T000000Z-2-1/release-record.json"]
    listed = [{"name": n} for n in names] + [{"name": "prod/20261205T000000Z-2-1/retention-record.json"}]
    fake_az.respond({"storage blob list": [{"stdout": listed}], "storage blob download": [{"stdout": None}]})
    records.history("prod", "strecsvcprod1abcde")
    downloads = [_option(c, "--name") for c in fake_az.calls_of("storage blob download")]
    assert downloads == list(reversed(names))  # newest first; retention records are not read


def test_a_deletion_certificate_is_kept_beside_its_release_record(tmp_path: Path, fake_az: FakeAz) -> None:
    folder = _folder(tmp_path, "retirement-record.json", "deletion-certificate.json")
    fake_az.respond({"storage blob upload": [{"stdout": {}}]})
    args = ["keep", "--env", "prod", "--outputs", str(folder / "outputs.json"), "--folder", str(folder)]
    assert records.main(args) == 0
    assert [_option(c, "--name") for c in fake_az.calls_of("storage blob upload")] == [
        "prod/20261206T031000Z-4711-2/release-record.json",
        "prod/20261206T031000Z-4711-2/retirement-record.json",
        "prod/20261206T031000Z-4711-2/deletion-certificate.json",
    ]


def test_history_of_the_deletion_certificates_reads_only_them(tmp_path: Path, fake_az: FakeAz) -> None:
    names = ["prod/20261201T000000Z-1-1/release-record.json", "prod/20261205T000000Z-2-1/release-record.json"]
    certificate = "prod/20261205T000000Z-2-1/deletion-certificate.json"
    listed = [{"name": n} for n in [*names, certificate]]
    fake_az.respond({"storage blob list": [{"stdout": listed}], "storage blob download": [{"stdout": None}]})
    records.history("prod", "strecsvcprod1abcde", "deletion-certificate.json")
    assert [_option(c, "--name") for c in fake_az.calls_of("storage blob download")] == [certificate]
