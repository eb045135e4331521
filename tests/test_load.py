from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import SpecInvalid
from generator.spec.load import format_path, load_document
from tests.helpers import MINIMAL, write_tree


def test_positions_are_recorded_for_keys_and_values(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    doc = load_document(tmp_path / "almgen.yaml")
    value = doc.locate(("models", 0, "model"))
    key = doc.locate(("service", "name"), key=True)
    assert (value.line, value.column) == (7, 25)
    assert (key.line, key.column) == (2, 11)


def test_a_missing_field_is_located_at_its_nearest_parent(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": MINIMAL})
    doc = load_document(tmp_path / "almgen.yaml")
    pos = doc.locate(("environments", 0, "strategy", "steps"))
    assert (pos.line, pos.column) == (5, 5)


def test_extends_merges_maps_and_replaces_lists(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "platform/base.yaml": """\
                azure: {location: westeurope}
                service: {name: base-name, owner: platform@contoso.com}
                targets: {pipelines: [azure-devops]}
                """,
            "svc/almgen.yaml": "extends: ../platform/base.yaml\n" + MINIMAL,
        },
    )
    doc = load_document(tmp_path / "svc" / "almgen.yaml")
    assert doc.data["service"] == {"name": "demo-svc", "owner": "platform@contoso.com"}
    assert doc.data["azure"] == {"location": "westeurope"}
    assert doc.data["targets"]["pipelines"] == ["github-actions"]
    # positions point into the file that wrote the value
    assert doc.locate(("azure", "location")).file.endswith("base.yaml")
    assert doc.locate(("service", "name")).file.endswith("almgen.yaml")
    assert [p.name for p in doc.inputs] == ["almgen.yaml", "base.yaml"]


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"a.yaml": "extends: b.yaml\napiVersion: almgen/v1\n", "b.yaml": "extends: a.yaml\n"}
    )
    with pytest.raises(SpecInvalid) as caught:
        load_document(tmp_path / "a.yaml")
    (issue,) = caught.value.issues
    assert "cycle" in issue.message
    assert issue.path == "extends"


def test_extends_to_a_missing_file_is_located_at_the_extends_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"almgen.yaml": "extends: nowhere.yaml\n" + MINIMAL})
    with pytest.raises(SpecInvalid) as caught:
        load_document(tmp_path / "almgen.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.column, issue.path) == (1, 10, "extends")
    assert "does not exist" in issue.message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"# only a comment\n", "empty"),
        (b"- a\n- b\n", "not a mapping"),
        (b"a: 1\n---\nb: 2\n", "2 YAML documents"),
        (b"a: .inf\n", "finite"),
        (b"? [a, b]\n: 1\n", "plain text"),
    ],
)
def test_unusable_documents_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    (tmp_path / "almgen.yaml").write_bytes(content)
    with pytest.raises(SpecInvalid) as caught:
        load_document(tmp_path / "almgen.yaml")
    assert needle in caught.value.format()


def test_dates_and_yaml_12_booleans_load_as_text(tmp_path: Path) -> None:
    (tmp_path / "almgen.yaml").write_text("d: 2026-10-01\nflag: yes\nt: true\n", "utf-8")
    doc = load_document(tmp_path / "almgen.yaml")
    assert doc.data == {"d": "2026-10-01", "flag": "yes", "t": True}


def test_format_path_quotes_keys_that_are_not_plain() -> None:
    assert format_path(("a", 0, "b")) == "a[0].b"
    assert format_path(("settings", "Chat:Temperature")) == 'settings["Chat:Temperature"]'
