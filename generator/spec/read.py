"""Read a spec file's text within bounds, before any YAML parser sees it.

Size, readability, UTF-16, binary content and invalid UTF-8 are refused with a located issue;
then `text_issues` refuses what would trip the parser (an empty file, tabs, deep flow nesting).
"""

from __future__ import annotations

from pathlib import Path

from generator.errors import Issue, SpecInvalid
from generator.spec.document import Document, FieldPath, display_path

MAX_BYTES = 1024 * 1024  # a spec is a page of YAML; anything larger is a mistake or an attack
MAX_DEPTH = 64


def read_text(path: Path, via: tuple[Document, FieldPath] | None) -> str:
    shown = display_path(path)

    def fail(message: str, expected: str, fix: str, line: int = 1, column: int = 1) -> SpecInvalid:
        return SpecInvalid([Issue(shown, line, column, "", message, expected, fix)])

    try:
        if not path.is_file():
            if via is not None:
                parent, at = via
                raise SpecInvalid(
                    [
                        parent.issue(
                            at,
                            f"the file {parent.data[at[0]]!r} does not exist",
                            "a path relative to this file",
                            "correct the path or create the file",
                        )
                    ]
                )
            raise fail(
                "no such file",
                "a spec file such as almgen.yaml",
                "pass the path of your spec, or run `almgen init` to start one",
            )
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise fail(
                f"the file is {size} bytes; a spec may be at most {MAX_BYTES} bytes",
                "a YAML spec of at most 1 MiB",
                "move large content (prompts, datasets) into files the spec names",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(
            f"cannot read the file: {exc.strerror}", "a readable file", "check the path and its permissions"
        ) from exc
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail("the file is UTF-16 text", "UTF-8 text", "save the file as UTF-8 (no BOM needed)")
    if b"\0" in raw:
        offset = raw.index(b"\0")
        line, column = _line_col(raw, offset)
        raise fail(
            "this is a binary file, not YAML",
            "UTF-8 YAML text",
            "replace it with the YAML spec, or pass the path of your almgen.yaml",
            line,
            column,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw, exc.start)
        raise fail(
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
            "UTF-8 text",
            "save the file as UTF-8",
            line,
            column,
        ) from exc
    return text


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    start = raw.rfind(b"\n", 0, offset) + 1
    return line, offset - start + 1


def _tab_issues(shown: str, text: str) -> list[Issue]:
    issues = []
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            issues.append(
                Issue(
                    shown,
                    number,
                    indent.index("\t") + 1,
                    "",
                    "a tab in the indentation",
                    "spaces for indentation (YAML forbids tabs)",
                    "replace the tab with spaces",
                )
            )
    return issues


def _flow_depth_issue(shown: str, text: str) -> Issue | None:
    """Refuse `[[[[...` before the parser recurses into it (quotes and comments skipped)."""
    depth = 0
    quote = ""
    for number, line in enumerate(text.splitlines(), start=1):
        for column, char in enumerate(line, start=1):
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 1 or line[column - 2] in " \t"):
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return Issue(
                        shown,
                        number,
                        column,
                        "",
                        "the document is nested too deeply",
                        f"at most {MAX_DEPTH} levels of nesting",
                        "flatten the structure",
                    )
            elif char in "]}":
                depth = max(depth - 1, 0)
    return None


def text_issues(shown: str, text: str) -> list[Issue]:
    """What stops `text` from being parsed at all: empty, tabs in the indentation, nesting too deep."""
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return [
            Issue(
                shown,
                1,
                1,
                "",
                "the file is empty",
                "a mapping with apiVersion, service, targets, environments, models",
                "write the spec, or run `almgen init` in a new folder for a starter spec",
            )
        ]
    tabs = _tab_issues(shown, text)
    if tabs:
        return tabs
    too_deep = _flow_depth_issue(shown, text)
    return [too_deep] if too_deep else []
