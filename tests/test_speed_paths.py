"""The fast paths of `generate` (benchmarks/README.md) give what the reference paths give.

- fastload (libyaml) reads a spec to the same data and positions as ruamel, or declines;
- a plain `almgen generate` off a terminal runs without click and prints and exits the same;
- the fast path of `check` reads JSON and writes the seal's message without `json` (cjson), to the
  same values and bytes as `json`;
- `@frozen` classes are made, compare, hash and print as `@dataclass(frozen=True)` classes are,
  `@frozen(order=True)` ones sort as ordered ones do, and `@record` ones act as plain dataclasses;
- `tempname.create` makes a private file exclusively, as `tempfile.mkstemp` does;
- the commands over one spec run without the cyclic garbage collector, and give it back;
- the executable leaves without the interpreter's teardown after them, losing nothing.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.spec import fastload, load
from generator.spec.document import Document
from generator.spec.read import MAX_DEPTH
from tests.conftest import REPO, SAMPLES
from tests.helpers import python_c

MUTATIONS = list(" \n:-'\"#&*!|>[]{},?%@`~0123456789.eE+_xyzTtrueNnull<<=\\")
WORDS = [
    "yes", "no", "on", "off", "y", "017", "0o17", "0x1F", "0b1", "1_000", "1e3", ".5", "+1", "-0",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "~", "null", "Null", "True", "FALSE", "1.0",
    "inf", ".inf", "-.inf", ".nan", "<<", "*a", "&a", "!!str", "!!set", "!x", "'q'", '"\\t"',
    "%YAML 1.1\n---\n", "---\n", "\n...\n", "? ", "1:20", "\x85", "\u2028",
]  # fmt: skip


def ruamel_read(text: str) -> tuple[Any, Document] | None:
    doc = Document(path=Path("/x"), data=None)
    try:
        builder = load._Builder(doc, "x")
        data = builder.convert(load._parse("x", text), (), 0)
    except Exception:
        return None
    return (None if builder.issues else data), doc


def fast_read(text: str) -> tuple[Any, Document]:
    doc = Document(path=Path("/x"), data=None)
    return fastload.parse(text, doc, "x", load.MAX_NODES, MAX_DEPTH), doc


def assert_alike(text: str) -> bool:
    """True when fastload read `text` (then exactly as ruamel did); False when it declined."""
    fast, fast_doc = fast_read(text)
    if fast is None:
        return False
    reference = ruamel_read(text)
    assert reference is not None, f"ruamel refuses what fastload read:\n{text}"
    data, doc = reference
    assert repr(fast) == repr(data), text  # repr: 1 and 1.0 and True differ
    assert fast_doc.positions == doc.positions, text
    assert fast_doc.key_positions == doc.key_positions, text
    return True


def specs() -> list[str]:
    found = []
    for path in sorted([*SAMPLES.glob("*/almgen.yaml"), *(REPO / "tests").rglob("*.yaml")]):
        try:
            found.append(path.read_text("utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return [text for text in found if len(text) > 10]


def test_every_sample_is_read_fast_and_alike() -> None:
    for path in sorted(SAMPLES.glob("*/almgen.yaml")):
        assert assert_alike(path.read_text("utf-8")), path


def test_the_repositorys_yaml_is_read_alike_or_declined() -> None:
    assert sum(assert_alike(text) for text in specs()) > 10


@pytest.mark.parametrize(
    "text",
    [
        "a: 017\n", "a: 0o17\n", "a: 1_000\n", "a: 1e3\n", "a: .5\n", "a: +1\n", "a: 0x1F\n",
        "a: 2024-01-01\n", "a: .inf\n", "a: .nan\n",
        "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: !x b\n", "<<: {a: 1}\n", "a:\n",
        "a: 1\na: 2\n", "1: a\n", "null: a\n", "? [a]\n: b\n", "%YAML 1.1\n---\na: b\n",
        "a: b\n---\nc: d\n", "a: \"x\\ty\"\n", "a: b\x85c\n", "a: [1, {b: c}\n", "",
    ],
)  # fmt: skip
def test_what_yaml_versions_or_readers_could_read_differently_goes_to_ruamel(text: str) -> None:
    assert fast_read(text)[0] is None


@pytest.mark.parametrize(
    "text",
    [
        "a: true\nb: false\nc: 5\nd: -3\ne: 0.25\nf: ~\ng: text\nh: 'yes'\ni: \"017\"\n",
        "a:\n  - b: 1\n    c: [x, y]\n  - |\n    block\n    text\n",
        "true: a\nFalse: b\n",
        "a: 1:20\n",  # text in YAML 1.2, a sexagesimal number in 1.1
        "a: yes\nb: no\nc: on\nd: y\n",  # text in YAML 1.2 (ruamel), booleans in 1.1 (libyaml's resolver)
        "a: >-\n  folded\n  text\n",
    ],
)
def test_plain_yaml_is_read_fast_and_alike(text: str) -> None:
    assert assert_alike(text)


def test_mutated_specs_are_read_alike_or_declined() -> None:
    sources = specs()
    rng = random.Random(15)
    fast = 0
    for _ in range(800):
        text = rng.choice(sources)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            roll = rng.random()
            if roll < 0.4:
                text = text[:at] + rng.choice(MUTATIONS) + text[at:]
            elif roll < 0.7:
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + rng.choice(WORDS) + text[at:]
        fast += assert_alike(text)
    assert fast > 150  # the comparison is not vacuous


# a plain generate without click


def almgen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    probe = (
        "import sys\nsys.argv = ['almgen', *sys.argv[1:]]\n"
        "import atexit\natexit.register(lambda: print('CLICK', 'click' in sys.modules, file=sys.stderr))\n"
        "from generator.entry import main\nmain()\n"
    )
    return python_c(cwd, probe, args)


def test_a_plain_generate_runs_without_click_and_says_the_same(tmp_path: Path) -> None:
    import shutil

    for name in ("plain", "click"):
        shutil.copytree(SAMPLES / "minimal", tmp_path / name)
    plain, clicked = tmp_path / "plain", tmp_path / "click"
    runs = [(almgen(plain, "generate"), almgen(clicked, "generate", "--format", "text"))]
    assert "CLICK False" in runs[0][0].stderr and "CLICK True" in runs[0][1].stderr
    for folder in (plain, clicked):  # a hand edit: refused, exit 1
        with (folder / "infra" / "main.bicep").open("a") as handle:
            handle.write("// mine\n")
    runs.append((almgen(plain, "generate"), almgen(clicked, "generate", "--format", "text")))
    for folder in (plain, clicked):  # an invalid spec: exit 3
        with (folder / "almgen.yaml").open("a") as handle:
            handle.write("bogus: 1\n")
    runs.append((almgen(plain, "generate"), almgen(clicked, "generate", "--format", "text")))
    runs.append(
        (almgen(plain, "generate", "missing.yaml"), almgen(clicked, "generate", "missing.yaml", "--"))
    )
    codes = []
    for fast, slow in runs:
        assert fast.returncode == slow.returncode
        assert fast.stdout == slow.stdout
        assert fast.stderr.replace("CLICK False", "") == slow.stderr.replace("CLICK True", "")
        codes.append(fast.returncode)
    assert codes == [0, 1, 3, 3]


@pytest.mark.parametrize(("command", "collects"), [("generate", False), ("rehearse", True)])
def test_commands_over_one_spec_run_without_the_cyclic_collector(
    command: str, collects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from generator import entry

    seen = []
    monkeypatch.setattr(entry, "_main", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(sys, "argv", ["almgen", command])
    entry.main()
    assert seen == [collects] and gc.isenabled()  # given back to a caller in the same process
    gc.disable()
    try:
        entry.main()
        assert not gc.isenabled()  # and not switched on for a caller that had it off
    finally:
        gc.enable()


# the executable leaves without the interpreter's teardown after a command over one spec

TORN_DOWN = "TORN DOWN"


def executable(cwd: Path, *args: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """`almgen ARGS` as the executable runs it (`entry.run`), with an atexit function and an object
    whose finalizer only the interpreter's teardown calls."""
    probe = (
        "import atexit, sys\nsys.argv = ['almgen', *sys.argv[1:]]\n"
        "atexit.register(lambda: print('AT EXIT', file=sys.stderr))\n"
        "class Probe:\n    def __del__(self):\n"
        f"        print({TORN_DOWN!r}, file=sys.stderr)\n"
        "probe = Probe()\n"
        f"from generator import entry\n{before}\nentry.run()\n"
    )
    return python_c(cwd, probe, args)


def test_the_executable_skips_the_teardown_and_loses_nothing(tmp_path: Path) -> None:
    import shutil

    for name in ("run", "main"):
        shutil.copytree(SAMPLES / "minimal", tmp_path / name)
    ran, mained = tmp_path / "run", tmp_path / "main"
    pairs = []
    for args in (["generate"], ["check"], ["explain"], ["validate", "--format", "json"]):
        pairs.append((executable(ran, *args), almgen(mained, *args)))
    for folder in (ran, mained):  # an invalid spec: exit 3
        with (folder / "almgen.yaml").open("a") as handle:
            handle.write("bogus: 1\n")
    pairs.append((executable(ran, "generate"), almgen(mained, "generate")))
    pairs.append((executable(ran, "check"), almgen(mained, "check")))
    for fast, slow in pairs:
        assert fast.returncode == slow.returncode
        assert fast.stdout == slow.stdout  # flushed, all of it
        assert "AT EXIT" in fast.stderr and TORN_DOWN not in fast.stderr
        assert fast.stderr.replace("AT EXIT\n", "") == slow.stderr.split("CLICK")[0]
    assert [fast.returncode for fast, _ in pairs] == [0, 0, 0, 0, 3, 3]
    assert all(fast.stdout.strip() for fast, _ in pairs[:4])
    manifest = Path(".almgen", "manifest.json")
    assert (ran / manifest).read_bytes() == (mained / manifest).read_bytes()


def test_the_executable_tears_down_for_other_commands_and_running_threads(tmp_path: Path) -> None:
    other = executable(tmp_path, "--version")
    assert other.returncode == 0 and TORN_DOWN in other.stderr and "AT EXIT" in other.stderr
    # a thread alive until the interpreter's exit, however long the command takes
    waiting = "import threading\nthreading.Thread(target=threading.main_thread().join).start()"
    threaded = executable(tmp_path, "validate", before=waiting)
    assert threaded.returncode == 3 and TORN_DOWN in threaded.stderr


@pytest.mark.parametrize(
    ("status", "code", "printed"), [("None", 0, ""), ("2", 2, ""), ("'gone'", 1, "gone"), ("257", 1, "")]
)
def test_the_executable_exits_with_the_status_sys_exit_gives(
    tmp_path: Path, status: str, code: int, printed: str
) -> None:
    stub = f"entry.main = lambda: sys.exit({status})"
    done = executable(tmp_path, "generate", before=stub)
    assert done.returncode == code and TORN_DOWN not in done.stderr
    assert done.stderr == (f"{printed}\n" if printed else "") + "AT EXIT\n"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_cjson_reads_what_json_reads(value: object, indent: int | None, ascii_only: bool) -> None:
    import json

    from generator.regen import cjson

    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    assert cjson.loads(text) == json.loads(text)
    assert cjson.loads(f" \n{text}\r\n\t") == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "{", "[1,]", "[1 2]", "1 2", '{"a": 1}x', "'a'", "\ufeff{}", '"\x01"', "NaN", "-Infinity"],
)
def test_cjson_refuses_what_json_refuses(text: str) -> None:
    """and NaN and Infinity, which json reads but almgen never writes"""
    import json

    from generator.regen import cjson

    if text not in ("NaN", "-Infinity"):
        with pytest.raises(ValueError):
            json.loads(text)
    with pytest.raises(ValueError):
        cjson.loads(text)


def test_cjson_without_the_c_module_is_json() -> None:
    """On a Python without `_json`, cjson reads with json.loads and escapes with json's own."""
    probe = (
        "import sys\nsys.modules['_json'] = None\n"
        "from generator.regen import cjson\n"
        "assert cjson.loads(' {\"a\": [1, 2.5, \"\\\\u00e9\"]}\\n') == {'a': [1, 2.5, 'é']}\n"
        "assert cjson.quote('é\"') == '\"\\\\u00e9\\\\\"\"'\n"
        "try:\n    cjson.loads('NaN')\nexcept ValueError:\n    print('OK')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert done.stdout == "OK\n", done.stdout + done.stderr


@settings(max_examples=300, deadline=None)
@given(
    version=st.text(),
    inputs=st.dictionaries(st.text(), st.text(), max_size=4),
    files=st.lists(st.tuples(st.text(), st.text(), st.text()), max_size=4),
    content=st.text(),
)
def test_the_seals_message_is_jsons(
    version: str, inputs: dict[str, str], files: list[tuple[str, str, str]], content: str
) -> None:
    """What the seal signs is the compact ASCII `json.dumps` it was defined as (manifests written
    before the fast path stopped importing json still verify)."""
    import json

    from generator.regen import seal

    sealed: dict[str, object] = {"version": version, "inputs": sorted(inputs.items()), "files": sorted(files)}
    if content:
        sealed["content"] = content
    expected = json.dumps(sealed, separators=(",", ":"), ensure_ascii=True)
    assert seal.message(version, inputs, files, content) == expected


def test_a_seal_over_values_that_are_not_text_does_not_verify() -> None:
    from generator.regen import seal

    assert not seal.verifies("0" * 64, "0.1.0", {"almgen.yaml": 1}, [])  # type: ignore[dict-item]
    assert not seal.verifies("0" * 64, "0.1.0", {}, [("a", "managed", None)])  # type: ignore[list-item]


def test_frozen_classes_behave_as_frozen_dataclasses() -> None:
    import dataclasses

    from generator.frozen import frozen

    def define(decorate: Any) -> Any:
        @decorate
        class Point:
            x: float
            y: tuple[str, ...] = ()
            note: str = dataclasses.field(default="", compare=False, repr=False)

        return Point

    new, old = define(frozen), define(dataclasses.dataclass(frozen=True))
    nan = float("nan")
    for made in (new, old):
        a, b = made(nan, ("p",), "first"), made(nan, ("p",), "second")
        # tuples compare items by identity first: the same NaN is equal to itself, as in dataclasses
        assert (a == b, a == made(float("nan"), ("p",)), a != made(1.0), a == (nan, ("p",))) == (
            True,
            False,
            True,
            False,
        )
        same = made(1.0, ("p",), "first")
        assert same == made(1.0, ("p",), "other") and hash(same) == hash(made(1.0, ("p",), "x"))
        with pytest.raises(dataclasses.FrozenInstanceError):
            same.x = 2.0
        with pytest.raises(dataclasses.FrozenInstanceError):
            same.other = 2.0
        with pytest.raises(dataclasses.FrozenInstanceError):
            del same.y
        assert (same.x, same.y) == (1.0, ("p",))
        assert dataclasses.replace(same, x=3.0).x == 3.0 and dataclasses.is_dataclass(same)
    assert new(1.0) != old(1.0)  # another class
    assert repr(new(1.0, ("p",), "hidden")) == repr(old(1.0, ("p",), "hidden"))
    assert repr(new(1.0)).endswith("Point(x=1.0, y=())")
    assert hash(new(1.0, ("p",))) == hash(old(1.0, ("p",)))


def test_a_frozen_class_is_made_as_a_frozen_dataclass_is() -> None:
    import dataclasses

    from generator.frozen import frozen

    def define(decorate: Any) -> tuple[Any, Any]:
        @decorate
        class Base:
            name: str
            tags: list[str] = dataclasses.field(default_factory=list)

        @decorate
        class Child(Base):
            size: int = 1

            def __post_init__(self) -> None:
                if self.size < 0:
                    raise ValueError("negative")

        return Base, Child

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
        (("a",), {}),
        (("a", ["t"], 3), {}),
        (("a",), {"size": 2}),
        ((), {"size": 2, "name": "b"}),
        (("a", ["t"], 3, 4), {}),  # too many
        ((), {}),  # missing
        (("a",), {"name": "b"}),  # twice
        (("a",), {"colour": "red"}),  # unknown
        (("a",), {"size": -1}),  # __post_init__ refuses
    ]
    (_, new), (_, old) = define(frozen), define(dataclasses.dataclass(frozen=True))
    for args, kwargs in calls:
        made = []
        for cls in (new, old):
            try:
                made.append(repr(cls(*args, **kwargs)))
            except (TypeError, ValueError) as exc:
                made.append(type(exc).__name__)
        assert made[0] == made[1], (args, kwargs)
    assert new("a").tags is not new("a").tags  # a factory runs for each instance
    assert list(new("a", size=5).__dict__) == ["name", "tags", "size"]  # in field order
    with pytest.raises(TypeError, match=r"missing 1 required argument\(s\): 'name'"):
        new()
    assert new.__doc__ is None  # no signature written there
    assert dataclasses.replace(new("a", size=2), name="b") == new("b", size=2)
    with pytest.raises(TypeError, match="not supported: \\['name'\\]"):

        @frozen
        class NotInInit:
            name: str = dataclasses.field(default="", init=False)

    with pytest.raises(TypeError, match="not supported: \\['name'\\]"):

        @frozen
        class KeywordOnly:
            name: str = dataclasses.field(kw_only=True)

    seeded = type("Seeded", (), {"__annotations__": {"seed": dataclasses.InitVar[int]}})  # not a string
    with pytest.raises(TypeError, match="not supported: \\['seed'\\]"):
        frozen(seeded)


def test_a_frozen_class_keeps_the_methods_it_writes() -> None:
    from generator.frozen import frozen

    @frozen
    class Named:
        name: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Named) and self.name.lower() == other.name.lower()

        def __hash__(self) -> int:
            return hash(self.name.lower())

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert Named("A") == Named("a") and hash(Named("A")) == hash(Named("a")) and repr(Named("A")) == "<A>"

    @frozen
    class EqualOnly:  # noqa: PLW1641 (the point: @frozen, as dataclasses, hashes its fields)
        name: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, EqualOnly)

    assert hash(EqualOnly("a")) == hash(("a",))  # as dataclasses: a written __eq__ gets the fields' hash

    import dataclasses

    for decorate in (frozen, dataclasses.dataclass(frozen=True)):  # a frozen class cannot unfreeze itself
        with pytest.raises(TypeError, match="Cannot overwrite attribute __setattr__"):

            @decorate
            class Writable:
                name: str

                def __setattr__(self, name: str, value: object) -> None:
                    object.__setattr__(self, name, value)


def test_an_ordered_frozen_class_sorts_and_compares_as_an_ordered_dataclass() -> None:
    import dataclasses

    from generator.frozen import frozen

    def define(decorate: Any) -> Any:
        @decorate
        class Issue:
            line: int
            column: int
            note: str = dataclasses.field(default="", compare=False)

        return Issue

    new, old = define(frozen(order=True)), define(dataclasses.dataclass(frozen=True, order=True))
    pairs = [(2, 1), (1, 5), (1, 2), (1, 2), (3, 0)]
    assert [(i.line, i.column) for i in sorted(new(*p, note=str(n)) for n, p in enumerate(pairs))] == [
        (i.line, i.column) for i in sorted(old(*p, note=str(n)) for n, p in enumerate(pairs))
    ]
    a, b = new(1, 2, "x"), new(1, 3, "y")
    assert (a < b, a <= b, a > b, a >= b, a <= new(1, 2, "z"), a >= new(1, 2, "z")) == (
        True,
        True,
        False,
        False,
        True,
        True,
    )
    assert a.__lt__(old(1, 3)) is NotImplemented  # another class, as dataclasses answers
    with pytest.raises(TypeError):
        assert a < (1, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.line = 2
    for decorate in (frozen(order=True), dataclasses.dataclass(frozen=True, order=True)):
        with pytest.raises(TypeError, match="Cannot overwrite attribute __lt__"):

            @decorate
            class Sorted:
                name: str

                def __lt__(self, other: object) -> bool:
                    return True


def test_a_record_behaves_as_a_plain_dataclass() -> None:
    import dataclasses

    from generator.frozen import record

    def define(decorate: Any) -> Any:
        @decorate
        class Report:
            path: str
            changes: list[str] = dataclasses.field(default_factory=list)
            note: str = dataclasses.field(default="", repr=False)

        return Report

    new, old = define(record), define(dataclasses.dataclass)
    for made in (new, old):
        a = made("p")
        a.changes.append("c")
        a.path = "q"  # not frozen
        assert a == made("q", ["c"]) and a != made("q") and a.changes is not made("p").changes
        assert made.__hash__ is None  # compared but not frozen: unhashable, as dataclasses makes it
        with pytest.raises(TypeError):
            hash(a)
        assert dataclasses.asdict(a) == {"path": "q", "changes": ["c"], "note": ""}
    assert repr(new("p", ["c"], "hidden")) == repr(old("p", ["c"], "hidden"))


def test_tempname_creates_a_private_file_exclusively_as_mkstemp_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import tempname

    fd, path = tempname.create(tmp_path, ".name.", ".tmp")
    os.close(fd)
    assert Path(path).parent == tmp_path and Path(path).name.startswith(".name.") and path.endswith(".tmp")
    assert os.stat(path).st_mode & 0o777 == 0o600
    planted = tmp_path / f".x{(b'0' * 6).hex()}"
    planted.symlink_to(tmp_path / "elsewhere")  # a name in use, here a symlink, is never opened
    draws = iter([b"0" * 6, b"1" * 6])
    monkeypatch.setattr(os, "urandom", lambda _n: next(draws))
    fd, path = tempname.create(tmp_path, ".x")
    os.close(fd)
    assert path == str(tmp_path / f".x{(b'1' * 6).hex()}") and not (tmp_path / "elsewhere").exists()
    monkeypatch.setattr(os, "urandom", lambda _n: b"0" * 6)
    with pytest.raises(FileExistsError):
        tempname.create(tmp_path, ".x")
    assert not (tmp_path / "elsewhere").exists()
