"""The built-in templates compiled to Python (`render/aot.py`) print what Jinja prints.

- every template of every sample, and of samples holding hostile text, the same both ways;
- Jinja's scoping, loops, macros, imports and includes, one construct at a time;
- the filters and lookups of `aot_helpers`, against Jinja's own on awkward values;
- what the compiler does not translate is refused with the template and line;
- the compiled code is cached, a changed template or a broken entry compiles again, and a
  generate that finds the cache does not import Jinja.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from generator.package_data import data_dir
from generator.plan.build import plan as make_plan
from generator.render import aot_helpers, builtin
from generator.render.all import renderer
from generator.render.aot import Unsupported, compile_templates
from generator.render.jinja import environment
from generator.render.outputs import TemplateFile
from generator.spec.validate import load_spec
from generator.targets import TARGETS
from tests.conftest import SAMPLE_NAMES, SAMPLES
from tests.helpers import python_c

PACK_OF_NONE = Path("/nonexistent-template-pack")  # Jinja's sandbox, with no template shadowed


def _template_files(spec_path: Path) -> list[TemplateFile]:
    spec = load_spec(spec_path)
    plan = make_plan(spec)
    found = []
    for target in TARGETS:
        if target.wanted(spec):
            found += [item for item in target.files(spec, plan) if isinstance(item, TemplateFile)]
    return found


def _assert_alike(spec_path: Path) -> int:
    compiled, jinja = renderer(None), renderer(PACK_OF_NONE)
    items = _template_files(spec_path)
    for item in items:
        assert compiled(item.template, item.context) == jinja(item.template, item.context), item.path
    return len(items)


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_every_template_of_every_sample_prints_the_same_compiled(sample: str) -> None:
    assert _assert_alike(SAMPLES / sample / "almgen.yaml") >= 10


def test_every_built_in_template_is_compiled() -> None:
    names = {name for name, _, _ in builtin._files(data_dir("templates")) if name.endswith(".j2")}
    assert names == set(builtin.templates()) and len(names) > 40
    used = {
        item.template for sample in SAMPLE_NAMES for item in _template_files(SAMPLES / sample / "almgen.yaml")
    }
    assert used <= names


# what validate accepts: no control characters but a description's line breaks
PIECES = [*"'\"\\$`{}()[]:#&*!|<>%@,;=+-~_ .1", "${{", "$(", "}}", "{%", "%}", "{#", "\u202e", "<br>", "- "]
HOSTILE = st.lists(st.sampled_from(PIECES), min_size=1, max_size=25).map("".join).filter(str.strip)
MULTILINE = st.lists(st.sampled_from([*PIECES, "\n"]), min_size=1, max_size=25).map("".join).filter(str.strip)
SETTERS = {
    "description": lambda d, v: d["service"].update(description=v),
    "owner": lambda d, v: d["service"].update(owner=v),
    "reviewer": lambda d, v: d["environments"][2]["approval"]["reviewers"].__setitem__(0, v),
    "evaluation-command": lambda d, v: d["evaluation"].update(command=v),
    "setup-command": lambda d, v: d["tests"]["smoke"].update(setup={"command": v}),
}
ENTERPRISE = YAML(typ="safe").load((SAMPLES / "enterprise" / "almgen.yaml").read_text("utf-8"))


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({**dict.fromkeys(SETTERS, HOSTILE), "description": MULTILINE}))
def test_hostile_text_prints_the_same_compiled(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, str]
) -> None:
    import copy

    data = copy.deepcopy(ENTERPRISE)
    for name, value in values.items():
        SETTERS[name](data, value)
    folder = tmp_path_factory.mktemp("hostile")
    shutil.copytree(SAMPLES / "enterprise", folder, dirs_exist_ok=True)
    with (folder / "almgen.yaml").open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump(data, handle)
    _assert_alike(folder / "almgen.yaml")  # every value here is one validate accepts


# one construct at a time, against Jinja with almgen's settings


def _both(sources: dict[str, str], context: dict[str, Any], name: str = "t.j2") -> tuple[str, str]:
    namespace = aot_helpers.namespace()
    exec(compile(compile_templates(sources.items()), "<test>", "exec"), namespace)
    compiled = namespace["TEMPLATES"][name]({**aot_helpers.GLOBALS, **context})[0]
    env = environment()
    env.loader = jinja2.DictLoader(sources)
    return compiled, env.get_template(name).render(**context)


CASES = [
    # scoping: a set in a loop does not leak; an if is no scope; the loop target is gone after it
    ("{% set x = 1 %}{% for i in items %}{% set x = i %}{{ x }}{% endfor %}|{{ x }}", {"items": [5, 6]}),
    ("{% if flag %}{% set x = 'in' %}{% endif %}{{ x }}", {"flag": True, "x": "out"}),
    ("{% if flag %}{% set x = 'in' %}{% endif %}{{ x }}", {"flag": False, "x": "out"}),
    ("{% for i in items %}{{ i }}{% endfor %}{{ i }}", {"items": [1], "i": "outer"}),
    ("{% set a, b = pair %}{{ b }}{{ a }}", {"pair": ("x", "y")}),
    # ... and a set in one iteration is gone in the next
    (
        "{% set x = 'o' %}{% for i in items %}{% if i == 1 %}{% set x = 'a' %}{% endif %}{{ x }}{% endfor %}",
        {"items": [1, 2]},
    ),
    (
        "{% for i in items %}{% if i == 1 %}{% set x = 'a' %}{% endif %}{{ x }}{% endfor %}",
        {"items": [1, 2], "x": "c"},
    ),
    (
        "{% macro m(a) %}{% for i in [1, 2] %}{% if i == 1 %}{% set a = 'z' %}{% endif %}{{ a }}{% endfor %}"
        "{% endmacro %}{{ m('p') }}",
        {},
    ),
    # loops: the loop variable, filters, else, unpacking, dict iteration, nesting
    (
        "{% for i in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
        "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}",
        {"items": "abc"},
    ),
    (
        "{% for i in items if i > 1 %}{{ loop.index }}:{{ i }}{{ ',' if not loop.last }}{% endfor %}",
        {"items": [1, 2, 3]},
    ),
    ("{% for i in items %}{{ i }}{% else %}none{% endfor %}", {"items": []}),
    (
        "{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}{% for k in d %}{{ k }}{% endfor %}",
        {"d": {"a": 1, "b": 2}},
    ),
    (
        "{% for a in x %}{% for b in y %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
        {"x": [1, 2], "y": [1, 2, 3]},
    ),
    # whitespace control as almgen sets it (trim_blocks, lstrip_blocks, keep_trailing_newline)
    ("  {% if x %}\n  yes\n  {% endif %}\n{{- ' trimmed ' -}}\n  end\n", {"x": True}),
    # expressions
    (
        "{{ a ~ b ~ 1 }} {{ a + b }} {{ n * 2 - 1 }} {{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ -n }} "
        "{{ 'y' if n > 2 else 'n' }} {{ [1, 'a'] }} {{ (1, 2) }} {{ {'k': n} }} {{ none }} {{ true }} "
        "{{ a in 'xab' }} {{ a not in b }} {{ 1 < n <= 5 }} {{ n == 5 and a or b }} {{ not a }}",
        {"a": "a", "b": "b", "n": 5},
    ),
    (
        "{{ d.key }} {{ d['key'] }} {{ d.items }} {{ o.real }} {{ l[0] }} {{ o['real'] }}",
        {"d": {"key": "v", "items": 1}, "o": 3, "l": [9]},
    ),
    ("{{ 'x' if n > 9 }}|{{ ('x' if n > 9) ~ 'y' }}", {"n": 1}),
    ("{{ v is string }} {{ n is not string }} {{ expr('a.b') }}", {"v": "s", "n": 1}),
    # filters
    (
        "{{ items | join(', ') }}|{{ items | map(attribute='a') | join }}"
        "|{{ items | map(attribute='b.0') | list }}"
        "|{{ items | selectattr('a') | list }}"
        "|{{ ['x', 'y'] | map('upper' if false else 'yaml_string') | join(' ') }}"
        "|{{ ' A b ' | trim | lower }}",
        {"items": [{"a": 1, "b": [7]}, {"a": 0, "b": [8]}]},
    ),
    ("{{ v | tojson }}{{ v | tojson(2) }}", {"v": {"b": "<a href='x'>&", "a": [1.5, None, True]}}),
    (
        "{{ items | join(', ', attribute='a') }}"
        "|{{ items | selectattr('s', 'string') | map(attribute='a') | list }}"
        "|{{ ['a\\nb'] | map('indent', 2, first=true) | list }}",
        {"items": [{"a": 1, "s": "x"}, {"a": 2, "s": 3}]},
    ),
    (
        "{{ text | indent(4) }}|{{ text | indent(2, true) }}"
        "|{{ text | indent('> ', first=true, blank=true) }}",
        {"text": "a\n\nb\r\nc\u2028d\n"},
    ),
    ("{{ 'a\\nb' | indent(3, true) }}{{ '' | indent(2, true) }}", {}),
    # macros: defaults from earlier arguments, keywords, a missing argument never used
    (
        "{% macro m(a, b=a ~ '!', c='c') %}[{{ a }}{{ b }}{{ c }}]{% endmacro %}"
        "{{ m(1) }}{{ m(1, c=3) }}{{ m(a=2, b=0) }}"
        "{% macro unused(x) %}{{ 'ok' }}{% endmacro %}{{ unused() }}",
        {},
    ),
    ("{% macro m() %}{% set x = 'inner' %}{{ x }}{% endmacro %}{{ m() }}{{ x }}", {"x": "outer"}),
]


@pytest.mark.parametrize(("template", "context"), CASES)
def test_a_construct_prints_what_jinja_prints(template: str, context: dict[str, Any]) -> None:
    compiled, jinja = _both({"t.j2": template}, context)
    assert compiled == jinja


def test_imports_and_includes_print_what_jinja_prints() -> None:
    sources = {
        "lib.j2": (
            "{% set version = '1' %}{% macro hello(who) %}hi {{ who }} v{{ version }}{% endmacro %}top\n"
        ),
        "part.j2": "[{{ name }}|{{ local }}|{{ hello('p') }}]",
        "t.j2": (
            "{% from 'lib.j2' import hello, version as v %}{{ hello(name) }} {{ v }}\n"
            "{% set local = 'L' %}{% for name in ['a', 'b'] %}{% include 'part.j2' %}{% endfor %}\n"
            "{% block tail %}{{ name }}{% endblock %}"
        ),
    }
    compiled, jinja = _both(sources, {"name": "N"})
    assert compiled == jinja and "hi N v1 1" in compiled


def test_an_undefined_value_fails_when_it_is_used_as_strict_jinja_does() -> None:
    for template in (
        "{{ missing }}",
        "{{ d.missing }}",
        "{% if d.missing %}{% endif %}",
        "{{ l[3] }}",
        "{% for x in missing %}{% endfor %}",
    ):
        with pytest.raises(aot_helpers.UndefinedError):
            _both({"t.j2": template}, {"d": {}, "l": []})
        with pytest.raises(jinja2.UndefinedError):
            environment().from_string(template).render(d={}, l=[])
    compiled, jinja = _both({"t.j2": "{% set unused = d.missing %}{{ 'fine' }}"}, {"d": {}})
    assert compiled == jinja == "fine"


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("{% extends 'x.j2' %}", "Extends"),
        ("a\n{{ items[1:] }}", "t.j2:2: a slice"),
        ("{{ x | wordwrap }}", "the filter 'wordwrap'"),
        ("{{ x is odd }}", "the test 'odd'"),
        ("{% for x in y recursive %}{% endfor %}", "a recursive loop"),
        ("{% for x in y %}{{ loop.cycle('a', 'b') }}{% endfor %}", "loop.cycle"),
        ("{{ loop }}", "`loop` as a value"),
        ("{% macro m() %}{{ caller() }}{% endmacro %}", "`caller` as a value"),
        ("{% for x in y %}{% macro m() %}{% endmacro %}{% endfor %}", "a macro inside a loop"),
        ("{% macro m(w) %}{% endmacro %}", "the macro parameter name 'w'"),
        ("{% set ns = namespace() %}{% set ns.x = 1 %}", "a `set` of anything but names"),
        ("{% include name %}", "an include that may be missing or of a computed name"),
        ("{% from 'x.j2' import y with context %}", "an import with context"),
        ("{% with a = 1 %}{% endwith %}", "the With statement"),
        ("{{ f(*args) }}", "`*args` or `**kwargs`"),
    ],
)
def test_what_the_compiler_does_not_translate_is_refused_located(template: str, what: str) -> None:
    with pytest.raises(Unsupported, match=r"^t\.j2:") as refused:
        compile_templates([("t.j2", template)])
    assert what in str(refused.value)


@pytest.mark.parametrize(
    ("value", "width", "first", "blank"),
    [
        ("a\nb", 2, False, False),
        ("a\r\nb\x0bc\u2028d\n", 4, True, True),
        ("\n\n", "--", True, False),
        ("", 2, True, True),
    ],
)
def test_indent_splits_and_joins_lines_as_jinja_does(
    value: str, width: int | str, first: bool, blank: bool
) -> None:
    from jinja2.filters import do_indent

    assert aot_helpers.indent(value, width, first, blank) == do_indent(value, width, first, blank)


# the cache


@pytest.fixture
def templates_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the built-in templates as almgen's, and an empty cache folder."""
    folder = tmp_path / "templates"
    shutil.copytree(data_dir("templates"), folder)
    monkeypatch.setattr(builtin, "data_dir", lambda _name: folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    builtin.templates.cache_clear()
    yield folder
    builtin.templates.cache_clear()


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "almgen" / "templates").glob("*.marshal"))


def test_the_compiled_templates_are_cached_and_a_changed_template_compiles_again(
    templates_copy: Path, tmp_path: Path
) -> None:
    name = "shared/CONTRACT.md.j2"
    before = builtin.render_builtin(name, _context(name))
    assert len(_entries(tmp_path)) == 1
    builtin.templates.cache_clear()
    assert builtin.render_builtin(name, _context(name)) == before and len(_entries(tmp_path)) == 1
    path = templates_copy / name
    path.write_text(path.read_text("utf-8") + "changed\n", "utf-8")
    builtin.templates.cache_clear()
    assert builtin.render_builtin(name, _context(name)) == before + "changed\n"
    assert len(_entries(tmp_path)) == 2


def test_a_broken_cache_entry_is_compiled_again(templates_copy: Path, tmp_path: Path) -> None:
    name = "shared/CONTRACT.md.j2"
    expected = builtin.render_builtin(name, _context(name))
    for garbage in (
        b"",
        b"\x00not marshal",
        __import__("marshal").dumps(compile("raise ValueError", "x", "exec")),
    ):
        (entry,) = _entries(tmp_path)
        entry.write_bytes(garbage)
        builtin.templates.cache_clear()
        assert builtin.render_builtin(name, _context(name)) == expected


def test_without_a_cache_folder_the_templates_compile_in_memory(templates_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the folder would be")
    name = "shared/CONTRACT.md.j2"
    assert builtin.render_builtin(name, _context(name)) == renderer(PACK_OF_NONE)(name, _context(name))


def test_the_cache_keeps_only_the_newest_entries_of_a_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from generator import codecache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code = compile("x = 1", "<test>", "exec")
    other = codecache.entry("other", "kept")
    assert other is not None
    codecache.write(other, code)
    for index in range(codecache.KEPT + 3):
        path = codecache.entry("templates", f"k{index:02}")
        assert path is not None
        codecache.write(path, code)
        os.utime(path, ns=(index * 10**9, index * 10**9))  # written in this order, a second apart
    kept = sorted(p.stem for p in (tmp_path / "almgen" / "templates").iterdir())
    assert kept == [f"k{index:02}" for index in range(3, codecache.KEPT + 3)]
    assert codecache.read(other) is not None  # another kind's entries are its own


def _context(name: str) -> dict[str, Any]:
    (item,) = [i for i in _template_files(SAMPLES / "enterprise" / "almgen.yaml") if i.template == name]
    return item.context


def test_a_generate_that_finds_the_caches_imports_no_jinja_decimal_or_tempfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('LOADED', *sorted({m.split('.')[0] for m in sys.modules}"
        " & {'jinja2', 'decimal', 'tempfile'}), file=sys.stderr))\n"
        "sys.argv = ['almgen', 'generate']\n"
        "from generator.entry import main\nmain()\n"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runs = []
    for name in ("first", "second"):
        shutil.copytree(SAMPLES / "minimal", tmp_path / name)
        runs.append(python_c(tmp_path / name, probe, ()))
    assert [run.returncode for run in runs] == [0, 0], runs
    assert "jinja2" in runs[0].stderr  # the first compiles the templates, with Jinja's parser
    assert "LOADED\n" in runs[1].stderr  # the second finds them compiled
    first, second = (
        {p.relative_to(tmp_path / n): p.read_bytes() for p in (tmp_path / n).rglob("*") if p.is_file()}
        for n in ("first", "second")
    )
    assert first == second
