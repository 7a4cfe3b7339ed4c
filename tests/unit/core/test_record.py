"""core/record: frozen value types behave like ``@dataclass(frozen=True)``."""

from __future__ import annotations

import dataclasses
import pickle

from dataclasses import field

import pytest

from poetry_torch_plugin.core.record import as_dict
from poetry_torch_plugin.core.record import fields_of
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace


@record
class Inner:
    name: str
    size: int = 0


@record
class Outer:
    inner: Inner
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict, compare=False)


@dataclasses.dataclass(frozen=True)
class Same:
    name: str
    size: int = 0


def test_a_record_is_built_by_position_and_keyword_with_defaults() -> None:
    assert Inner("a") == Inner(name="a", size=0)
    assert Inner("a", 2).size == 2
    assert Outer(Inner("a")).extra == {}
    assert Outer(Inner("a")).extra is not Outer(Inner("a")).extra  # a fresh dict each time


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 1 required argument: 'name'"),
        (("a", 1, 2), {}, "takes 3 positional arguments but 4 were given"),
        (("a",), {"name": "b"}, "multiple values for argument 'name'"),
        (("a",), {"colour": 1}, "unexpected keyword argument 'colour'"),
    ],
)
def test_wrong_arguments_fail_like_a_dataclass(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Inner(*args, **kwargs)  # type: ignore[arg-type]


def test_equality_hash_and_repr_match_a_frozen_dataclass() -> None:
    assert repr(Inner("a", 1)) == repr(Same("a", 1)).replace("Same", "Inner")
    assert Inner("a", 1) != Inner("a", 2)
    assert Inner("a", 1) != Same("a", 1)  # type: ignore[comparison-overlap]  # another class
    assert hash(Inner("a", 1)) == hash(Inner("a", 1))
    assert len({Inner("a"), Inner("a"), Inner("b")}) == 2
    # compare=False fields take no part in equality
    assert Outer(Inner("a"), extra={"x": 1}) == Outer(Inner("a"), extra={"y": 2})


def test_a_record_is_frozen() -> None:
    value = Inner("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.name = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del value.size
    assert value.name == "a"


def test_replace_as_dict_fields_and_pickle() -> None:
    value = Outer(Inner("a", 1), ("t",))
    assert replace(value, tags=("u",)) == Outer(Inner("a", 1), ("u",))
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        replace(value, colour=1)
    assert as_dict(value) == {"inner": {"name": "a", "size": 1}, "tags": ("t",), "extra": {}}
    assert fields_of(value) == ("inner", "tags", "extra")
    assert pickle.loads(pickle.dumps(value)) == value
    assert replace(Same("a"), size=3) == Same("a", 3)  # a real dataclass goes to dataclasses


def test_match_args_name_the_fields_in_order() -> None:
    assert Inner.__match_args__ == ("name", "size")
