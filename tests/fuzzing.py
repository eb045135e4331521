"""A seeded spec mutator and an in-process validate + generate run, for tests/test_fuzz.py.

Each case starts from a sample's data and applies one to four mutations: a value of another
type, control characters spliced into a string, deep nesting, huge numbers and strings, unicode,
a removed key, an added key. The spec is written as JSON (valid YAML, and every character,
control characters included, survives as an escape). `run_case` loads, renders and verifies it
as `almgen generate --dry-run` does, and classifies the outcome by the exit code the CLI would
give; a case that exceeds its time bound is stopped by SIGALRM.
"""

from __future__ import annotations

import copy
import json
import random
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from generator.errors import AlmgenError, ExitCode
from generator.render.all import render
from generator.render.verify import verify
from generator.spec.document import FieldPath, iter_paths
from generator.spec.validate import load_spec
from tests.strategies import HOSTILE, KNOWN_KEYS, KNOWN_VALUES

CONTROL = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]] + ["\u2028", "\u2029", "\ufeff"]
UNICODE = ["日本語", "\u202e", "\u200b", "é", "\U0001f600", "ǅ", "\u0301", "ﬀ", "İ", "\uffff"]
HUGE: list[Any] = [10**400, -(10**30), 2**64, 1e308, "x" * 10_000, "a-" * 2_000, "9" * 5_000]


class CaseTimeout(Exception):
    """A case ran past its time bound."""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    detail: str  # the traceback for an exit 4, else ""


def leaves(data: Any) -> Iterator[tuple[FieldPath, Any]]:
    """Every path of the document, containers included, the root excluded."""
    return ((path, value) for path, value in iter_paths(data) if path)


def _parent(data: Any, path: FieldPath) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _nested(rng: random.Random, depth: int) -> Any:
    node: Any = rng.choice(["leaf", 1, None])
    for _ in range(depth):
        node = [node] if rng.random() < 0.5 else {"k": node}
    return node


def _spliced(rng: random.Random, text: str) -> str:
    pieces = rng.choice([CONTROL, CONTROL, UNICODE, HOSTILE])
    at = rng.randint(0, len(text))
    return text[:at] + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) + text[at:]


def _value(rng: random.Random, old: Any) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(KNOWN_VALUES)
    if kind == 1:
        return rng.choice(HOSTILE)
    if kind == 2:
        return rng.choice(HUGE)
    if kind == 3:
        return _nested(rng, rng.choice([3, 40, 200]))
    if kind == 4 and isinstance(old, str):
        return _spliced(rng, old)
    return "".join(rng.choice(UNICODE + CONTROL + ["a", " "]) for _ in range(rng.randint(1, 12)))


def mutate(rng: random.Random, data: Any) -> Any:
    """`data` changed by one to four random mutations (a new document; `data` is untouched)."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 4)):
        paths = list(leaves(data))
        if not paths:
            break
        path, old = rng.choice(paths)
        parent = _parent(data, path)
        op = rng.randrange(10)
        if op < 5:
            parent[path[-1]] = _spliced(rng, old) if isinstance(old, str) and op < 3 else _value(rng, old)
        elif op < 7:
            del parent[path[-1]]
        elif isinstance(old, dict):
            key = rng.choice([*KNOWN_KEYS, *HOSTILE[:20], _spliced(rng, "key")])
            old[key] = _value(rng, None)
        elif isinstance(old, list):
            old.insert(rng.randint(0, len(old)), copy.deepcopy(rng.choice(old)) if old else "x")
        elif isinstance(old, str):
            parent[path[-1]] = _spliced(rng, old)
    return data


def as_text(data: Any) -> str:
    """JSON text (YAML 1.2): integers of any size, control characters as escapes."""
    return json.dumps(data, ensure_ascii=True, default=str)


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise CaseTimeout


def run_case(spec: Path, seconds: int) -> Outcome:
    """validate + generate (in memory) of the spec at `spec`, bounded by `seconds`."""
    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        verify(render(load_spec(spec)))
        return Outcome(ExitCode.OK, "")
    except CaseTimeout:
        return Outcome(-1, f"over {seconds} s")
    except AlmgenError as exc:
        detail = traceback.format_exc() if exc.exit_code == ExitCode.INTERNAL else ""
        return Outcome(exc.exit_code, detail)
    except Exception:  # exit 4 in the CLI: a bug
        return Outcome(ExitCode.INTERNAL, traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
