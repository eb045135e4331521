"""Hostile text in every field that reaches docs/alm/*.md changes no Markdown or Mermaid structure.

The docs print the service's description, reviewers, gate commands and their setups, and custom
models' preprocessing and features. Whatever those hold (and validate accepts), each Markdown file
keeps the baseline's lines, fences, table cells, code spans, block starts and HTML; each Mermaid
label stays a label and never decodes to raw HTML.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from generator.errors import SpecInvalid
from generator.render.all import render
from generator.render.escape import markdown_cell_code, markdown_code, markdown_text, one_line
from generator.spec.validate import load_spec
from generator.targets.docs.diagram import _label
from tests.conftest import SAMPLES

Setter = Callable[[Any, str], None]

# sample -> the fields of it that reach a doc
DOC_FIELDS: dict[str, dict[str, Setter]] = {
    "enterprise": {
        "description": lambda d, v: d["service"].update(description=v),
        "reviewer": lambda d, v: d["environments"][2]["approval"]["reviewers"].__setitem__(0, v),
        "evaluation-command": lambda d, v: d["evaluation"].update(command=v),
        "safety-command": lambda d, v: d["safety"].update(command=v),
        "setup-command": lambda d, v: d["tests"]["smoke"].update(setup={"command": v}),
    },
    "custom-model-devops": {
        "reviewer": lambda d, v: d["environments"][-1]["approval"]["reviewers"].__setitem__(0, v),
        "preprocessing": lambda d, v: d["models"][0]["preprocessing"].__setitem__(0, v),
        "feature": lambda d, v: d["models"][0]["featureEngineering"].__setitem__(0, v),
    },
}
PIECES = [
    *"'\"\\$`{}()[]:#&*!|<>%@,;=+-~_ .1\n\t\r",
    "```",
    "~~~",
    "#lt;",
    "#60;",
    "#quot;",
    "&lt;",
    "<img src=x onerror=alert(1)>",
    "<br>",
    "- ",
    "1. ",
    "===",
    "---",
    "    ",
    "$x$",
    "\u2028",
    "\x85",
    "\u202e",
]
HOSTILE = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)
UNESCAPED = r"(?<!\\)(?:\\\\)*"
BLOCK = re.compile(r"^\s{0,3}(#{1,6}\s|[-+*]\s|\d{1,9}[.)]\s|>|={2,}\s*$|-{3,}\s*$|\||<|    )")
MERMAID_ENTITY = re.compile(r"#(\d+|[A-Za-z]+);")


def _load(sample: str) -> Any:
    return YAML(typ="safe").load((SAMPLES / sample / "almgen.yaml").read_text("utf-8"))


def _docs(sample: str, values: dict[str, str]) -> dict[str, str] | None:
    """The sample's docs with `values` in its doc fields, or None when validate refuses them."""
    data = _load(sample)
    for field, value in values.items():
        DOC_FIELDS[sample][field](data, value)
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(SAMPLES / sample, Path(folder) / sample)
        spec = Path(folder) / sample / "almgen.yaml"
        spec.write_text(json.dumps(data, default=str), "utf-8")
        try:
            files = render(load_spec(spec))
        except SpecInvalid:
            return None
    return {f.path: f.text for f in files if f.path.endswith(".md")}


def _count(pattern: str, line: str) -> int:
    return len(re.findall(UNESCAPED + pattern, line))


def _markdown_shape(text: str) -> list[tuple[Any, ...]]:
    """Per line: fence or not, its block start, a table row's unescaped pipes, its code spans and
    its `<` outside them; Mermaid lines: their quotes, `<`, `>` and backticks (what a label decodes to is
    test_a_mermaid_label_decodes_to_the_text_without_html)."""
    shape: list[tuple[Any, ...]] = []
    fence = ""
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fence = "" if fence else line.strip()
            shape.append(("fence", line.strip() if fence else ""))
        elif fence == "```mermaid":
            shape.append(("mermaid", line.count('"'), line.count("<"), line.count(">"), line.count("`")))
        elif fence:
            shape.append(("code",))
        else:
            block = BLOCK.match(line)
            starts = block.group(1).strip()[:1] if block else ""
            cells = _count(r"\|", line) if starts == "|" else 0  # a table row's cells
            spans, html = _spans_and_html(line)
            shape.append((starts, cells, spans, html))
    return shape


def _spans_and_html(line: str) -> tuple[int, int]:
    """The code spans of a line and its `<` outside them (a backslash escapes outside code only)."""
    spans = html = 0
    code = escaped = False
    for char in line:
        if code:
            code = char != "`"
        elif escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "`":
            code, spans = True, spans + 1
        elif char == "<":
            html += 1
    return spans, html


def _decode(entity: str) -> str:
    named = {"lt": "<", "gt": ">", "quot": '"', "amp": "&"}
    return chr(int(entity)) if entity.isdigit() else named.get(entity, "?")


BASELINES = {
    sample: _docs(sample, dict.fromkeys(fields, "plain words")) for sample, fields in DOC_FIELDS.items()
}


def _baseline(sample: str, values: dict[str, str]) -> dict[str, str] | None:
    """The docs with plain words where `values` has text: a blank description leaves its paragraph out."""
    if "description" in values and not markdown_text(values["description"]):
        return _docs(sample, {**dict.fromkeys(values, "plain words"), "description": ""})
    return BASELINES[sample]


def check(sample: str, values: dict[str, str]) -> None:
    docs = _docs(sample, values)
    if docs is None:
        return  # validate refused the value: nothing is generated
    baseline = _baseline(sample, values)
    assert baseline is not None
    assert set(docs) == set(baseline)
    for path, text in docs.items():
        assert _markdown_shape(text) == _markdown_shape(baseline[path]), (path, values)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({field: HOSTILE for field in DOC_FIELDS["enterprise"]}))
@example({**dict.fromkeys(DOC_FIELDS["enterprise"], "plain words"), "description": " \n"})  # no paragraph
@example({f: v for f in DOC_FIELDS["enterprise"] for v in ["- item"]})
@example({f: v for f in DOC_FIELDS["enterprise"] for v in ["#lt;img src=x onerror=alert(1)#gt;"]})
@example({f: v for f in DOC_FIELDS["enterprise"] for v in ["a | b `c` $x$"]})
def test_hostile_doc_fields_keep_the_enterprise_docs_structure(values: dict[str, str]) -> None:
    check("enterprise", values)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({field: HOSTILE for field in DOC_FIELDS["custom-model-devops"]}))
@example({f: v for f in DOC_FIELDS["custom-model-devops"] for v in ["1. first"]})
def test_hostile_doc_fields_keep_the_custom_model_docs_structure(values: dict[str, str]) -> None:
    check("custom-model-devops", values)


ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


@settings(max_examples=300, deadline=None, database=None)
@given(ANY_TEXT)
@example("reviewer\r```\n# heading")
@example("a\u2028b")
def test_the_markdown_filters_never_break_a_line_or_a_span(value: str) -> None:
    """Even text validate would refuse: the filters are the last line of defence."""
    for escaped in (markdown_text(value), markdown_code(value), markdown_cell_code(value), _label(value)):
        assert not LINE_BREAKS.search(escaped), repr(escaped)
    assert "`" not in markdown_code(value)
    assert _count(r"\|", markdown_cell_code(value)) == 0
    text = markdown_text(value)
    for char in "|*_[]<>`#~$&":
        assert _count(re.escape(char), text) == 0, (char, text)
    assert not BLOCK.match(text), text


@settings(max_examples=300, deadline=None, database=None)
@given(ANY_TEXT)
@example("#lt;script#gt;")
@example("#60;img#62;")
def test_a_mermaid_label_decodes_to_the_text_without_html(value: str) -> None:
    label = _label(value)
    assert not set(label) & set('"<>`'), label
    decoded = MERMAID_ENTITY.sub(lambda m: _decode(m.group(1)), label)
    assert decoded == one_line(value)
