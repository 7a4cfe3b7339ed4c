"""Fails loudly when Poetry moves a method this plugin wraps."""

from __future__ import annotations

import importlib.metadata

from typing import TYPE_CHECKING
from typing import Any

import pytest

from poetry_torch_plugin.seam.holdout import VERIFIED_WITH
from poetry_torch_plugin.seam.holdout import HoldOut
from poetry_torch_plugin.seam.holdout import bind
from poetry_torch_plugin.seam.holdout import check_seams


if TYPE_CHECKING:
    from pathlib import Path


def test_every_wrapped_poetry_method_is_where_it_was_verified() -> None:
    check_seams()  # raises PoetrySeamError naming the moved method


def test_poetry_version_is_in_the_supported_range() -> None:
    from tests.support.poetry_env import SUPPORTED_POETRY

    minor = importlib.metadata.version("poetry").split(".")[:2]
    assert minor in [v.split(".")[:2] for v in SUPPORTED_POETRY]
    assert set(VERIFIED_WITH) == set(SUPPORTED_POETRY)  # the seam claims what ./dev matrix tests


def found_version(text: str) -> Any:
    from poetry.core.constraints.version import Version

    return Version.parse(text)


class _Poetry:
    """The two attributes of Poetry's ``Poetry`` object that the seam binds to."""

    def __init__(self, pool: object, locker: object, package: object) -> None:
        self.pool = pool
        self.locker = locker
        self.package = package


def test_bind_scopes_the_hold_out_to_one_command(tmp_path: Path) -> None:
    from poetry.core.packages.dependency import Dependency
    from poetry.core.packages.package import Package
    from poetry.packages.locker import Locker
    from poetry.repositories import Repository
    from poetry.repositories import RepositoryPool

    repo = Repository("primary", [Package("torch", "2.9.0"), Package("numpy", "2.0.0")])
    pool = RepositoryPool([repo])
    locker = Locker(tmp_path / "poetry.lock", {})
    requires = [
        "filelock",
        "sympy>=1.13.3",
        "nvidia-cublas-cu12==12.9.1.4; platform_system == 'Linux'",
    ]
    hold = HoldOut(
        lambda name: name == "torch" or name.startswith("nvidia-"),
        lambda name: ("2.8.0+cu129", requires) if name == "torch" else None,
        frozenset,
        shown=("torch",),
    )
    from poetry.core.packages.project_package import ProjectPackage

    root = ProjectPackage("demo", "0.1.0")
    declared = Dependency("torch", "^2.4.0+cu124")
    declared.source_name = "pytorch-gpu-src"
    root.add_dependency(declared)
    root.add_dependency(Dependency("numpy", "2.0.0"))
    bind(_Poetry(pool, locker, root), None, hold)
    # the declaration, as this command's solver reads it: any variant of that release, any source
    assert declared.source_name is None
    assert declared.constraint.allows(found_version("2.8.0+cu129"))
    found = pool.find_packages(Dependency("torch", ">=2.0"))
    assert [str(p.version) for p in found] == ["2.8.0+cu129"]
    # the stand-in carries the build's dependencies, minus the held family
    assert sorted(d.name for d in found[0].requires) == ["filelock", "sympy"]
    assert hold.conflict() is None
    # the solver tried the build and ruled it out for another reason (a dependency of it
    # excludes part of the project's Python range): not a torch-version conflict, so Poetry's
    # own explanation stands alone (issue 23, item 3)
    assert pool.find_packages(Dependency("torch", ">=2.0,!=2.8.0+cu129")) == []
    assert hold.conflict() is None
    assert pool.find_packages(Dependency("torch", ">=2.9")) == []
    # a failed solve gets one line naming both sides
    assert "torch (>=2.9)" in (hold.conflict() or "")
    assert "2.8.0+cu129" in (hold.conflict() or "")
    assert [str(p.version) for p in pool.find_packages(Dependency("numpy", "*"))] == ["2.0.0"]
    # what the lock shows: the stand-in instead of any locked torch
    assert [p.name for p in locker.locked_repository().packages] == ["torch"]
    # another pool, as an isolated build would use, is untouched
    other = RepositoryPool([repo])
    assert [str(p.version) for p in other.find_packages(Dependency("torch", "*"))] == ["2.9.0"]


class _Installer:
    """The parts of Poetry's ``Installer`` that the seam binds to."""

    def __init__(self, package: Any, pool: object) -> None:
        self._package = package
        self._pool = pool

    def set_package(self, package: Any) -> _Installer:
        self._package = package
        return self

    def _execute(self, operations: list[Any]) -> int:
        return 0


def test_the_solver_requires_the_undeclared_family_and_the_project_does_not(
    tmp_path: Path,
) -> None:
    from poetry.core.packages.dependency import Dependency
    from poetry.core.packages.package import Package
    from poetry.core.packages.project_package import ProjectPackage
    from poetry.packages.locker import Locker
    from poetry.repositories import Repository
    from poetry.repositories import RepositoryPool

    pool = RepositoryPool([Repository("primary", [Package("sharedep", "1.1.0")])])
    asked: list[str] = []

    def provide(name: str) -> tuple[str, list[str]] | None:
        asked.append(name)
        return ("2.8.0+cu129", ["sharedep==1.0.0"]) if name == "torch" else None

    hold = HoldOut(
        lambda name: name in {"torch", "torchvision"},
        provide,
        frozenset,
        shown=("torch", "torchvision"),
    )
    root = ProjectPackage("demo", "0.1.0")
    root.add_dependency(Dependency("sharedep", "*"))
    installer = _Installer(root, pool)
    bind(_Poetry(pool, Locker(tmp_path / "poetry.lock", {}), root), installer, hold)
    assert asked == []  # nothing is read before the solver asks
    solved = installer._package
    assert solved is not root
    # the solver's root: what the project declares, plus torch at the configured build; a
    # configured package with no build (torchvision here) is left out, as if undeclared
    assert [d.to_pep_508() for d in solved.all_requires] == ["sharedep", "torch (==2.8.0+cu129)"]
    assert [d.name for d in solved.requires] == ["sharedep", "torch"]
    assert [d.name for d in solved.with_dependency_groups([], only=False).requires] == [
        "sharedep",
        "torch",
    ]
    # the project itself (what `poetry build` and the editable install read) is unchanged
    assert [d.name for d in root.all_requires] == ["sharedep"]
    # `poetry add` hands the Installer the edited project: it is held again
    root.add_dependency(Dependency("numpy", "*"))
    installer.set_package(root)
    assert [d.name for d in installer._package.all_requires] == ["sharedep", "numpy", "torch"]
    # a declared torch is the project's own requirement: not doubled
    declared = ProjectPackage("lib", "0.1.0")
    declared.add_dependency(Dependency("torch", ">=2.8"))
    installer.set_package(declared)
    assert [d.to_pep_508() for d in installer._package.all_requires] == ["torch (>=2.8)"]


TORCH_REQUIRES = [
    "filelock",
    "typing-extensions>=4.10.0",
    "setuptools<82",
    "sympy>=1.13.3",
    'nvidia-cublas==13.0.0.19; platform_system == "Linux" and platform_machine == "x86_64"',
    'opt-einsum>=3.3; extra == "opt-einsum"',
    'fake-setuptools; python_version >= "3.12"',
    'rocm[libraries,device-all]==7.14.0; sys_platform == "linux"',
    'numpy<2,>=1.21; python_version < "3.13" and sys_platform != "win32"',
    "pillow!=8.3.*,>=5.3.0",
    "Foo_Bar.baz~=1.2",
    "torch==2.9.0",
]


NOTHING_HELD = lambda _name: False  # noqa: E731


@pytest.mark.parametrize("line", TORCH_REQUIRES)
def test_a_stand_in_dependency_is_what_poetrys_pep508_reading_gives(line: str) -> None:
    """The stand-in's Requires-Dist lines are read without poetry-core's PEP 508 grammar
    (~60 ms to build on a no-op `poetry install`), into the same Dependency: name, constraint,
    marker, the extras it needs and the ones it is in, its Python range."""
    from poetry.core.packages.dependency import Dependency

    from poetry_torch_plugin.seam.holdout import _dependency

    poetrys, ours = Dependency.create_from_pep_508(line), _dependency(line, NOTHING_HELD)
    assert ours is not None

    def seen(dependency: Dependency) -> tuple[object, ...]:
        return (
            dependency.name,
            dependency.pretty_name,
            str(dependency.constraint),
            dependency.pretty_constraint,  # what Poetry's solver messages show
            str(dependency.marker),
            sorted(dependency.in_extras),
            sorted(dependency.extras),
            str(dependency.python_constraint),
            dependency.is_optional(),
        )

    assert seen(ours) == seen(poetrys)
    assert ours == poetrys


@pytest.mark.parametrize(
    "line", ["dep===1.0", "not a requirement", "url @ https://x.invalid/a.whl"]
)
def test_a_line_packaging_or_poetry_cannot_take_is_poetrys_to_read(line: str) -> None:
    from poetry.core.packages.dependency import Dependency

    from poetry_torch_plugin.seam.holdout import _dependency

    try:
        expected: object = Dependency.create_from_pep_508(line)
    except ValueError:
        with pytest.raises(ValueError):
            _dependency(line, NOTHING_HELD)
        return
    assert _dependency(line, NOTHING_HELD) == expected


@pytest.mark.parametrize(
    "line",
    [
        *TORCH_REQUIRES[4:5],
        "Nvidia_CuDNN==9.1; sys_platform == 'linux'",
        "url @ https://x.invalid/url-1.0-py3-none-any.whl",
    ],
)
def test_a_held_line_gives_no_dependency(line: str) -> None:
    """A line naming a held package is left out of the stand-in (its marker never parsed)."""
    from packaging.utils import canonicalize_name

    from poetry_torch_plugin.seam.holdout import _dependency

    names = {"nvidia-cublas", "nvidia-cudnn", "url"}
    assert _dependency(line, lambda name: canonicalize_name(name) in names) is None
