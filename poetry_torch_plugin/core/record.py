"""Frozen value types: what ``@dataclass(frozen=True)`` gives, without generating code per class.

``dataclasses`` writes and compiles six functions for every frozen class (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``): about 0.6 ms a class
on Python 3.11-3.12, and the plugin defines 56 of them, most on the path of every hooked Poetry
command and of ``poetry torch check`` (issue 24: measured, 60 % of the plugin's own import
time).  ``record`` gives a class the same behaviour from shared functions that read the field
list: a keyword-or-positional ``__init__`` with defaults and ``field(default_factory=...)``,
equality and hashing over the compared fields, the dataclass ``repr``, immutability
(``dataclasses.FrozenInstanceError``), ``__match_args__``.  mypy reads it as a frozen dataclass
(``dataclass_transform``).  ``replace`` and ``as_dict`` stand for ``dataclasses.replace`` and
``dataclasses.asdict``, which need a real dataclass.
"""

from __future__ import annotations

import dataclasses

from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar


if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Any:
        return lambda decorated: decorated


T = TypeVar("T")
_MISSING = dataclasses.MISSING
_FIELDS = "__record_fields__"


class _Spec:
    """One record class's fields: names in order, defaults, factories, the compared names."""

    __slots__ = ("compared", "defaults", "factories", "names", "title")

    def __init__(self, cls: type) -> None:
        # the class's own annotations, in order (strings: every module uses the __future__
        # import); Python 3.14 computes them on first access when the dict holds none yet
        annotations: dict[str, Any] | None = cls.__dict__.get("__annotations__")  # noqa: RUF063
        if annotations is None:
            annotations = getattr(cls, "__annotations__", {})
        self.title = cls.__qualname__
        self.names: tuple[str, ...] = tuple(
            name
            for name, kind in annotations.items()
            if not str(kind).startswith(("ClassVar", "typing.ClassVar"))
        )
        self.defaults: dict[str, Any] = {}
        self.factories: dict[str, Any] = {}
        compared: list[str] = []
        for name in self.names:
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, dataclasses.Field):
                if value.default_factory is not _MISSING:
                    self.factories[name] = value.default_factory
                elif value.default is not _MISSING:
                    self.defaults[name] = value.default
                if value.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
                if value.compare:
                    compared.append(name)
                continue
            if value is not _MISSING:
                self.defaults[name] = value
            elif self.defaults or self.factories:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            compared.append(name)
        self.compared = tuple(compared)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    spec: _Spec = getattr(type(self), _FIELDS)
    names = spec.names
    if len(args) > len(names):
        raise TypeError(
            f"{spec.title}() takes {len(names) + 1} positional arguments but"
            f" {len(args) + 1} were given"
        )
    values = self.__dict__
    for index, name in enumerate(names):
        if index < len(args):
            if name in kwargs:
                raise TypeError(f"{spec.title}() got multiple values for argument {name!r}")
            values[name] = args[index]
        elif name in kwargs:
            values[name] = kwargs.pop(name)
        elif name in spec.defaults:
            values[name] = spec.defaults[name]
        elif name in spec.factories:
            values[name] = spec.factories[name]()
        else:
            raise TypeError(f"{spec.title}() missing 1 required argument: {name!r}")
    if kwargs:
        raise TypeError(f"{spec.title}() got an unexpected keyword argument {next(iter(kwargs))!r}")


def _key(self: Any) -> tuple[Any, ...]:
    values = self.__dict__
    return tuple(values[name] for name in getattr(type(self), _FIELDS).compared)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _repr(self: Any) -> str:
    spec: _Spec = getattr(type(self), _FIELDS)
    values = self.__dict__
    shown = ", ".join(f"{name}={values[name]!r}" for name in spec.names)
    return f"{spec.title}({shown})"


def _setattr(self: Any, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen value type, like ``@dataclass(frozen=True)``."""
    spec = _Spec(cls)
    setattr(cls, _FIELDS, spec)
    for name, function in (
        ("__init__", _init),
        ("__eq__", _eq),
        ("__hash__", _hash),
        ("__repr__", _repr),
        ("__setattr__", _setattr),
        ("__delattr__", _delattr),
    ):
        setattr(cls, name, function)
    setattr(cls, "__match_args__", spec.names)  # noqa: B010 - mypy: no such attribute on type
    return cls


def _spec_of(obj: object) -> _Spec:
    spec = getattr(type(obj), _FIELDS, None)
    if not isinstance(spec, _Spec):
        raise TypeError(f"{type(obj).__qualname__} is not a record")
    return spec


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes`` (``dataclasses.replace``, which it calls
    for a real dataclass)."""
    if not isinstance(getattr(type(obj), _FIELDS, None), _Spec) and dataclasses.is_dataclass(obj):
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    spec = _spec_of(obj)
    values: dict[str, Any] = obj.__dict__
    for name in changes:
        if name not in spec.names:
            raise TypeError(f"{spec.title}.__init__() got an unexpected keyword argument {name!r}")
    return type(obj)(**{name: changes.get(name, values[name]) for name in spec.names})


def fields_of(obj: object) -> tuple[str, ...]:
    """The record's field names, in order."""
    return _spec_of(obj).names


def as_dict(obj: object) -> dict[str, Any]:
    """The record as plain data, recursively (``dataclasses.asdict``)."""
    spec = _spec_of(obj)
    values: dict[str, Any] = obj.__dict__
    return {name: _plain(values[name]) for name in spec.names}


def _plain(value: Any) -> Any:
    if isinstance(getattr(type(value), _FIELDS, None), _Spec):
        return as_dict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value
