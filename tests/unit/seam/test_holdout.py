"""Fails loudly when Poetry moves a method this plugin wraps."""

from __future__ import annotations

import importlib.metadata

from poetry_torch_plugin.seam.holdout import HoldOut
from poetry_torch_plugin.seam.holdout import check_seams
from poetry_torch_plugin.seam.holdout import hold_out
from poetry_torch_plugin.seam.holdout import release


def test_every_wrapped_poetry_method_is_where_it_was_verified() -> None:
    check_seams()  # raises PoetrySeamError naming the moved method


def test_poetry_version_is_in_the_supported_range() -> None:
    version = tuple(int(p) for p in importlib.metadata.version("poetry").split(".")[:2])
    assert (2, 0) <= version < (3, 0)


def test_hold_out_wraps_and_release_restores() -> None:
    from poetry.core.packages.dependency import Dependency
    from poetry.core.packages.package import Package
    from poetry.repositories import Repository
    from poetry.repositories import RepositoryPool

    repo = Repository("primary", [Package("torch", "2.9.0"), Package("numpy", "2.0.0")])
    pool = RepositoryPool([repo])
    hold = HoldOut(lambda name: name == "torch", lambda name: "2.8.0+cu129", frozenset)
    hold_out(hold)
    try:
        hold_out(hold)  # idempotent: no wrapper around a wrapper
        found = pool.find_packages(Dependency("torch", ">=2.0"))
        assert [str(p.version) for p in found] == ["2.8.0+cu129"]
        assert pool.find_packages(Dependency("torch", ">=2.9")) == []
        assert [str(p.version) for p in pool.find_packages(Dependency("numpy", "*"))] == ["2.0.0"]
    finally:
        release()
    assert [str(p.version) for p in pool.find_packages(Dependency("torch", "*"))] == ["2.9.0"]
