"""`@frozen` and `@record`: `@dataclass(frozen=True)` and `@dataclass` without compiling a method
per class.

For every class, `dataclasses` compiles its `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` from source text (one `exec` each, about 0.1 ms apiece on
Python 3.11). almgen defines about 60 frozen dataclasses on the way to a `generate`: 364
`exec`s, about 40 ms, a sixth of the whole command (benchmarks/README.md). `@frozen` has
`dataclasses` record the fields and compile nothing, and gives every class the same six methods,
which read the field names `dataclasses` recorded. They behave as the generated ones do:

- `__init__` takes the fields in order, by position or name; a field with a default or a
  `default_factory` may be left out (the factory runs for each instance); too many, unknown,
  repeated or missing arguments raise `TypeError`; `__post_init__` runs last;
- equal only to an instance of the same class whose compared fields are equal (as tuples, so
  identity first), and the hash of those fields; `Name(field=value, ...)` as the repr;
- frozen: `__init__` sets each field once; after that, assigning or deleting any attribute
  raises `FrozenInstanceError` (`object.__setattr__`, as in `__post_init__`, still works);
- a method of that name written in the class itself wins, as it would;
- `@frozen(order=True)` adds `<`, `<=`, `>` and `>=`, comparing the same tuples (only with the
  same class); `@record` is not frozen and, as dataclasses makes such a class, has no hash.

Not supported, and refused when the class is defined: `init=False` fields, `kw_only` and
`InitVar` (almgen uses none of them). A class without a docstring gets none, where `dataclasses`
would write its signature there (`inspect.signature`, a tenth of the cost).

The class stays a dataclass (`fields`, `replace`, `asdict`), declared to `dataclasses` as not
frozen: its frozen `__setattr__` is this module's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:  # what it does at run time (mark the function for type checkers); typing has it from 3.11

    def dataclass_transform(**_: object) -> Any:
        return lambda function: function


__all__ = ["frozen", "record"]

T = TypeVar("T", bound=type)

_COMPARED = "__frozen_compared__"
_HASHED = "__frozen_hashed__"
_SHOWN = "__frozen_shown__"
_FIELDS = "__frozen_fields__"
_INIT = "__frozen_init__"


def _init(self: Any, *args: object, **kwargs: object) -> None:
    names, _, _, post_init = getattr(self, _INIT)
    if kwargs or len(args) != len(names):
        self.__dict__.update(_bound(self, args, kwargs))
    else:
        self.__dict__.update(zip(names, args, strict=True))
    if post_init:
        self.__post_init__()


def _bound(self: Any, args: tuple[object, ...], kwargs: dict[str, object]) -> dict[str, object]:
    """Every field's value, in field order, from the arguments and the defaults; TypeError as Python's."""
    names, template, unfilled, _ = getattr(self, _INIT)
    if len(args) > len(names):
        raise TypeError(f"{_name(self)} takes {len(names)} positional arguments but {len(args)} were given")
    values = dict(template)  # in field order: the defaults, MISSING for the rest
    values.update(zip(names, args, strict=False))  # args may be fewer
    for name in kwargs:
        if name not in values:
            raise TypeError(f"{_name(self)} got an unexpected keyword argument {name!r}")
        if name in names[: len(args)]:
            raise TypeError(f"{_name(self)} got multiple values for argument {name!r}")
    values.update(kwargs)
    missing = []
    for name, factory in unfilled:  # the fields without a default value
        if values[name] is MISSING:
            if factory is None:
                missing.append(repr(name))
            else:
                values[name] = factory()
    if missing:
        raise TypeError(f"{_name(self)} missing {len(missing)} required argument(s): {', '.join(missing)}")
    return values


def _name(self: Any) -> str:
    return f"{self.__class__.__qualname__}.__init__()"


def _values(item: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(item, name) for name in names)


def _eq(self: Any, other: object) -> object:  # a bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = getattr(self, _COMPARED)
    return _values(self, names) == _values(other, names)  # tuples, as dataclasses compares


def _hash(self: Any) -> int:
    return hash(_values(self, getattr(self, _HASHED)))


def _setattr(self: Any, name: str, value: object) -> None:
    if name in self.__dict__ or name not in getattr(self, _FIELDS):  # a field, set once: by __init__
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _SHOWN))
    return f"{self.__class__.__qualname__}({shown})"


def _ordered(compare: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Callable[[Any, object], object]:
    def method(self: Any, other: object) -> object:  # a bool, or NotImplemented
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = getattr(self, _COMPARED)
        return compare(_values(self, names), _values(other, names))

    return method


_ORDER = {"__lt__": operator.lt, "__le__": operator.le, "__gt__": operator.gt, "__ge__": operator.ge}
_ORDER_METHODS = {name: _ordered(compare) for name, compare in _ORDER.items()}


@overload
def frozen(cls: T, /) -> T: ...


@overload
def frozen(*, order: bool = False) -> Callable[[T], T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: T | None = None, /, *, order: bool = False) -> T | Callable[[T], T]:
    """`@dataclass(frozen=True)`, or with `order=True`, with every method but `__init__` shared
    (see above)."""
    if cls is None:
        return lambda later: _make(later, frozen=True, order=order)
    return _make(cls, frozen=True, order=order)


@dataclass_transform(field_specifiers=(field,))
def record(cls: T) -> T:
    """`@dataclass`: a class whose fields can change, with the shared `__init__`, `__eq__` and
    `__repr__`, and no hash (as dataclasses makes a class that compares but is not frozen)."""
    return _make(cls, frozen=False, order=False)


def _make(cls: T, *, frozen: bool, order: bool) -> T:
    own = dict(cls.__dict__)
    for name in ("__setattr__", "__delattr__") if frozen else ():
        if name in own:  # as dataclasses refuses it for a frozen class
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    for name in _ORDER if order else ():
        if name in own:  # as dataclasses refuses it with order=True
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    doc = cls.__doc__
    cls.__doc__ = doc or "-"  # so that dataclasses does not write the signature there (see above)
    dataclass(init=False, eq=False, repr=False)(cls)  # without slots: the same class
    cls.__doc__ = doc
    found = fields(cls)
    _refuse_unsupported(cls, found)
    setattr(cls, _FIELDS, frozenset(f.name for f in found))
    setattr(
        cls,
        _INIT,
        (
            tuple(f.name for f in found),
            {f.name: f.default for f in found},  # MISSING where there is no default value
            tuple(
                (f.name, None if f.default_factory is MISSING else f.default_factory)
                for f in found
                if f.default is MISSING
            ),
            hasattr(cls, "__post_init__"),
        ),
    )
    if "__init__" not in own:
        cls.__init__ = _init  # type: ignore[misc]
    setattr(cls, _COMPARED, tuple(f.name for f in found if f.compare))
    setattr(cls, _HASHED, tuple(f.name for f in found if (f.compare if f.hash is None else f.hash)))
    setattr(cls, _SHOWN, tuple(f.name for f in found if f.repr))
    if frozen:
        cls.__setattr__ = _setattr  # type: ignore[assignment]
        cls.__delattr__ = _delattr  # type: ignore[assignment]
    if "__eq__" not in own:
        cls.__eq__ = _eq  # type: ignore[assignment]
    if own.get("__hash__") is None:  # none written, or None because the class wrote __eq__
        cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    if "__repr__" not in own:
        cls.__repr__ = _repr  # type: ignore[assignment]
    for name, method in _ORDER_METHODS.items() if order else ():
        setattr(cls, name, method)
    return cls


def _refuse_unsupported(cls: type, found: tuple[Field[Any], ...]) -> None:
    every: dict[str, Field[Any]] = cls.__dataclass_fields__  # type: ignore[attr-defined]
    init_vars = [f.name for f in every.values() if f not in found and "InitVar" in str(f.type)]
    unsupported = [f.name for f in found if not f.init or f.kw_only is True] + init_vars
    if unsupported:
        raise TypeError(
            f"@frozen {cls.__name__}: init=False, kw_only and InitVar are not supported: {unsupported}"
        )
