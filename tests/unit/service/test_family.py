"""``service.family``: the default family follows what each index publishes (issue 22 item 6),
decided from the pages' metadata (here plain ``file://`` indexes with no PEP 658 metadata, so
each candidate's Requires-Dist is read from its wheel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from packaging.version import Version

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import release_requires
from poetry_torch_plugin.service.family import Family
from poetry_torch_plugin.service.family import decide
from poetry_torch_plugin.service.family import torch_requirement
from tests.support.wheels import build_family_universe
from tests.support.wheels import write_static_index


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig

ANY = WheelTarget("py3 any", frozenset({"py3-none-any"}))


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("family-unit")
    universe = build_family_universe(root)
    urls = {}
    for name in ("cu132", "cu130", "cu129", "rocm7.14", "pypi"):
        static = write_static_index(universe.index_dir(name), root / "static" / name)
        urls[name] = static.as_uri()
    return urls


def _settings(pypi: str, packages: list[str] | None = None) -> TorchConfig:
    table: dict[str, object] = {"packages": packages} if packages is not None else {}
    source = {"name": "fakepypi", "url": pypi, "priority": "primary"}
    return read_config({"tool": {"poetry": {"source": [source]}, "poetry-torch": table}})


def _decide(
    indexes: dict[str, str], variant: str, pypi: str, packages: list[str] | None = None
) -> Family:
    url = indexes[variant]
    pages = IndexPages(lambda _url: IndexAccess(url))
    return decide(_settings(pypi, packages), pages, url, ANY, IndexAccess(url))


def test_cu132_takes_pypis_torchaudio_read_from_its_wheel(indexes: dict[str, str]) -> None:
    family = _decide(indexes, "cu132", indexes["pypi"])
    assert family.requirements[:2] == ("torch", "torchvision")
    name, url = family.requirements[2].split(" @ ")
    assert name == "torchaudio"
    assert url.split("#")[0].endswith("/torchaudio-2.11.1-py3-none-any.whl")
    assert "#sha256=" in url
    assert set(family.elsewhere) == {"torchaudio"}
    assert family.left_out == ()
    assert family.line is not None
    assert "torchaudio 2.11.1 comes from" in family.line
    assert "(2.2.0 requires torch==2.2.0)" in family.line


def test_without_a_pairing_build_anywhere_torchaudio_is_left_out(
    indexes: dict[str, str],
) -> None:
    family = _decide(indexes, "cu130", indexes["cu129"])  # a "PyPI" whose torchaudio pins 2.8
    assert family.requirements == ("torch", "torchvision")
    assert family.left_out == ("torchaudio",)
    assert family.line is not None
    assert family.line.startswith("torchaudio is not part of this build: ")
    assert "publishes no torchaudio" in family.line


def test_an_index_whose_torchaudio_pairs_keeps_it(indexes: dict[str, str]) -> None:
    family = _decide(indexes, "cu129", indexes["pypi"])
    assert family.requirements == ("torch", "torchvision", "torchaudio")
    assert family.line is None


def test_named_packages_are_never_changed(indexes: dict[str, str]) -> None:
    family = _decide(indexes, "cu132", indexes["pypi"], ["torch", "torchaudio"])
    assert family.requirements == ("torch", "torchaudio")
    assert family.line is None


def test_release_requires_reads_the_wheel_without_pep_658(indexes: dict[str, str]) -> None:
    listing = fetch_listing(indexes["cu132"], "torchaudio")
    assert not listing.metadata
    requires = release_requires(listing, Version("2.2.0"), ANY)
    assert requires == ["torch==2.2.0"]
    pin = torch_requirement(requires)
    assert pin is not None and str(pin.specifier) == "==2.2.0"
    assert torch_requirement(['torch>=2.0; extra == "cuda"']) is None


def test_default_family_and_what_it_must_publish(tmp_path: Path) -> None:
    del tmp_path
    default = _settings("https://mirror.example/simple/")
    assert default.default_family
    assert default.pypi == "https://mirror.example/simple"
    assert default.must_publish == ("torch", "torchvision")
    named = _settings("https://mirror.example/simple/", ["torch", "torchaudio"])
    assert not named.default_family
    assert named.must_publish == ("torch", "torchaudio")
    narrowed = default.as_built(
        ["torch", "torchaudio", "torchvision"], ["torch", "torchvision", "filelock"]
    )
    assert narrowed.package_names == ("torch", "torchvision")
    # a lock resolved before torchaudio was asked for does not narrow
    assert default.as_built(["torch"], ["torch"]) is default
    assert read_config({"tool": {"poetry-torch": {}}}).pypi == "https://pypi.org/simple"
