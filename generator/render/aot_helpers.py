"""What the compiled built-in templates call: Jinja's lookups, filters and tests, without Jinja.

Each helper does what the Jinja function it is named after does with almgen's environment
(no autoescape, `StrictUndefined`), for the arguments the built-in templates pass;
`tests/test_compiled_templates.py` compares them with Jinja's own. Anything undefined is an
`Undefined` that fails when it is used, as `StrictUndefined` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from generator.render.escape import FILTERS as ESCAPING
from generator.render.escape import expression

_DICT_NAMES = frozenset(dir(dict))
MAX_RANGE = 100_000  # Jinja's sandbox refuses a longer range


class UndefinedError(Exception):
    """A built-in template used a name, attribute or item that is not there: almgen's bug."""


class Undefined:
    """A missing value: using it in any way but passing it on raises `UndefinedError`."""

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def _fail(self, *_args: object, **_kwargs: object) -> Any:
        raise UndefinedError(f"{self._what} is undefined")

    __str__ = __bool__ = __iter__ = __len__ = __eq__ = __ne__ = __hash__ = __contains__ = _fail
    __add__ = __radd__ = __lt__ = __le__ = __gt__ = __ge__ = __call__ = __getitem__ = _fail

    def __getattr__(self, name: str) -> Any:
        return self._fail()


MISSING = object()  # a macro argument not passed


def resolve(context: dict[str, Any], name: str) -> Any:
    return context[name] if name in context else Undefined(f"the name {name!r}")


def attr(obj: Any, name: str) -> Any:
    """`obj.name` in a template: the attribute, else the item (Jinja's `Environment.getattr`)."""
    if type(obj) is dict and name not in _DICT_NAMES:  # a dict's only attributes are its methods
        if name in obj:
            return obj[name]
        return Undefined(f"the attribute {name!r} of a {type(obj).__name__}")
    try:
        return getattr(obj, name)
    except AttributeError:
        pass
    try:
        return obj[name]
    except (TypeError, LookupError):
        return Undefined(f"the attribute {name!r} of a {type(obj).__name__}")


def item(obj: Any, key: Any) -> Any:
    """`obj[key]` in a template: the item, else the attribute (Jinja's `Environment.getitem`)."""
    try:
        return obj[key]
    except (TypeError, LookupError):
        if isinstance(key, str):
            try:
                return getattr(obj, key)
            except AttributeError:
                pass
    return Undefined(f"the item {key!r} of a {type(obj).__name__}")


def _getter(attribute: str | int) -> Callable[[Any], Any]:
    """Jinja's `make_attrgetter`: dotted parts, digits as indexes, each looked up as an item."""
    parts: list[str | int] = [attribute]
    if isinstance(attribute, str):
        parts = [int(part) if part.isdigit() else part for part in attribute.split(".")]

    def get(value: Any) -> Any:
        for part in parts:
            value = item(value, part)
        return value

    return get


def join(value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    if attribute is not None:
        value = map(_getter(attribute), value)
    return str(d).join(map(str, value))


def trim(value: Any, chars: str | None = None) -> str:
    return str(value).strip(chars)


def lower(value: Any) -> str:
    return str(value).lower()


def indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    """Every line after the first indented (each with `first`, blank ones too with `blank`).

    Lines are split as Jinja splits them (`str.splitlines`, so at \\r, \\x0b, \\u2028 and the
    others too) and joined with \\n, exactly as Jinja does.
    """
    indention = width if isinstance(width, str) else " " * width
    s += "\n"  # Jinja's: so that a final newline gives a last, empty line
    if blank:
        text = ("\n" + indention).join(s.splitlines())
    else:
        lines = s.splitlines()
        text = lines.pop(0)
        if lines:
            text += "\n" + "\n".join(indention + line if line else line for line in lines)
    return indention + text if first else text


def map_(value: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
    """`map(attribute=...)`, or `map("filter", ...)` applying the filter with the other arguments,
    as Jinja's `map` (a list, where Jinja gives a generator)."""
    if not args and "attribute" in kwargs:
        get = _getter(kwargs["attribute"])
        return [get(v) for v in value]
    name, *rest = args
    apply = FILTERS[name]
    return [apply(v, *rest, **kwargs) for v in value]


def selectattr(value: Iterable[Any], attribute: str, test: str | None = None, *args: Any) -> list[Any]:
    get = _getter(attribute)
    if test is None:
        return [v for v in value if get(v)]
    check = TESTS[test]
    return [v for v in value if check(get(v), *args)]


def tojson(value: Any, indent: int | None = None) -> str:
    """JSON with sorted keys, and `<`, `>`, `&` and `'` as \\u escapes (Jinja's `htmlsafe_json_dumps`)."""
    text = json.dumps(value, sort_keys=True, indent=indent)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, escaped)
    return text


def safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise OverflowError(f"a range of more than {MAX_RANGE} items")
    return rng


FILTERS: dict[str, Callable[..., Any]] = {
    "join": join,
    "trim": trim,
    "lower": lower,
    "indent": indent,
    "map": map_,
    "selectattr": selectattr,
    "tojson": tojson,
    "list": list,
    **ESCAPING,
}
TESTS: dict[str, Callable[..., bool]] = {"string": lambda value: isinstance(value, str)}
GLOBALS: dict[str, Any] = {"expr": expression, "range": safe_range, "dict": dict}


def namespace() -> dict[str, Any]:
    """The globals the compiled code runs with: these helpers, each filter as `F_<name>`, each
    test as `T_<name>`."""
    names: dict[str, Any] = {
        "_resolve": resolve,
        "_attr": attr,
        "_item": item,
        "_undefined": Undefined,
        "_MISSING": MISSING,
        "GLOBALS": GLOBALS,
    }
    names |= {f"F_{name}": function for name, function in FILTERS.items()}
    names |= {f"T_{name}": function for name, function in TESTS.items()}
    return names
