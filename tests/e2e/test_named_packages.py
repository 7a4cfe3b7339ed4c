"""Named packages mean those packages (issue 15, item 3), with the real poetry executable."""

from __future__ import annotations

import shutil

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.project import Project
from tests.support.toml import loads


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def packages(project: Project) -> list[str]:
    return list(loads(project.pyproject.read_text())["tool"]["poetry-torch"]["packages"])


def test_named_torch_installs_torch_alone_and_a_bare_switch_keeps_it(project: Project) -> None:
    project.run("torch", "install", "--cpu", "torch")
    assert packages(project) == ["torch"]
    assert project.version_of("torch") == "2.8.0+cpu"
    assert project.version_of("torchvision") is None
    assert project.version_of("torchaudio") is None

    # a bare variant switch keeps the configured packages
    project.run("torch", "install", "--cuda", "12.9")
    assert packages(project) == ["torch"]
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchvision") is None

    # the hook repairs what is configured, and only that
    project.run("lock")
    project.uninstall("torch")
    project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchvision") is None

    # naming packages again replaces the list; torch stays first
    project.run("torch", "install", "torchvision")
    assert packages(project) == ["torch", "torchvision"]
    assert project.version_of("torchvision") == "0.24.0+cu129"


def test_bare_install_keeps_the_default_family(project: Project) -> None:
    project.run("torch", "install", "--cpu")
    assert packages(project) == ["torch", "torchvision", "torchaudio"]
    assert project.version_of("torchaudio") == "2.8.0+cpu"


@pytest.fixture
def torch_only_index(tmp_path: Path, index_universe: Universe) -> Iterator[IndexServer]:
    """A CPU index that publishes torch and nothing else of the family, as some mirrors do."""
    root = tmp_path / "torch-only"
    cpu = root / "whl" / "cpu"
    cpu.mkdir(parents=True)
    for wheel in (index_universe.root / "whl" / "cpu").glob("torch-*.whl"):
        shutil.copy2(wheel, cpu / wheel.name)
    shutil.copytree(index_universe.root / "pypi", root / "pypi")
    with IndexServer(root) as server:
        yield server


def test_named_torch_needs_nothing_else_on_the_index(
    project: Project, torch_only_index: IndexServer
) -> None:
    env = {**project.env, "POETRY_TORCH_INDEX_BASE": torch_only_index.base}
    local = Project(project.root, project.poetry, env)
    local.run("torch", "install", "--cpu", "torch")
    assert packages(local) == ["torch"]
    assert local.version_of("torch") == "2.8.0+cpu"
    assert not torch_only_index.requested("/whl/cpu/torchvision")


def test_the_help_says_the_named_packages_rule_and_which_installer_runs(project: Project) -> None:
    """The rule and the installer, in ``poetry torch install --help`` (items 3 and 5)."""
    text = " ".join(project.run("torch", "install", "--help").stdout.split())
    assert "Named packages mean those packages" in text
    assert 'torch alone, recorded as packages = ["torch"]' in text
    assert (
        "The installer is pip, unless [tool.poetry-torch] installer or --installer says uv" in text
    )
    assert (
        "-v prints the installer's exact commands and its own output, -q silences the"
        " progress lines" in text
    )
