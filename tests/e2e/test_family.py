"""The family follows what each index publishes (issue 22 item 6).

``tests.support.wheels.build_family_universe``: the cu132 index has torch 2.14.0 and
torchvision 0.29.0 but only a legacy torchaudio 2.2.0 pinned to torch 2.2.0, as PyTorch's cu132
page does; the PyPI stand-in has torchaudio 2.11.1, which declares no torch requirement.  With
no packages named, ``poetry torch install --cuda 13.2`` installs what PyTorch's own command
installs: torch and torchvision from cu132, and torchaudio from PyPI (said in one line), never
the legacy torchaudio and never pip's ResolutionImpossible.  Poetry's own commands, check,
export and the wheelhouse agree with the lock.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.toml import loads
from tests.support.wheels import build_family_universe
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def family_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("family")
    build_family_universe(root)
    # a primary index with no torchaudio at all (a company mirror of a few projects)
    build_wheel(root / "whl" / "plain", "tinydep", "1.0.0")
    with IndexServer(root, real=True) as server:
        yield server


def _project(tmp_path: Path, poetry_bin: Path, server: IndexServer, primary: str) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(primary, dependencies=("tinydep",)))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    return Project(root, poetry_bin, env)


def _torch_lock(project: Project) -> dict[str, dict[str, object]]:
    data = loads((project.root / "poetry-torch.lock").read_text())
    return {str(p["name"]): p for p in data["package"]}


def _poetry_lock_names(project: Project) -> set[str]:
    return {str(p["name"]) for p in loads(project.lock.read_text()).get("package", [])}


@pytest.mark.smoke
def test_cu132_takes_torchaudio_from_pypi(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
    result = project.run("torch", "install", "--cuda", "13.2")
    out = result.stdout + result.stderr
    assert "ResolutionImpossible" not in out
    assert "torchaudio 2.11.1 comes from" in out, out
    assert project.version_of("torch") == "2.14.0+cu132"
    assert project.version_of("torchvision") == "0.29.0+cu132"
    assert project.version_of("torchaudio") == "2.11.1"
    locked = _torch_lock(project)
    assert locked["torchaudio"]["version"] == "2.11.1"
    assert str(locked["torchaudio"]["index"]).rstrip("/") == family_server.pypi_url.rstrip("/")
    assert "index" not in locked["torch"]
    # pyproject.toml says the default family, as PyTorch's command names it
    assert loads(project.pyproject.read_text())["tool"]["poetry-torch"]["packages"] == [
        "torch",
        "torchvision",
        "torchaudio",
    ]

    project.run("lock")
    assert _poetry_lock_names(project) == {"tinydep"}
    project.run("install")
    project.run("sync")
    assert project.version_of("torchaudio") == "2.11.1"
    assert project.version_of("torch") == "2.14.0+cu132"
    project.pip("check")
    check = project.run("torch", "check")
    assert "torchaudio 2.11.1 comes from" in check.stdout, check.stdout
    assert "did not come from" not in check.stdout, check.stdout
    indexed = project.run("torch", "check", "--index", check=False)
    assert "torchaudio 2.11.1 comes from" in indexed.stdout, indexed.stdout

    exported = project.run("torch", "export").stdout
    assert f"--extra-index-url {family_server.pypi_url.rstrip('/')}" in exported, exported
    assert "torchaudio==2.11.1" in exported
    pylock = project.run("torch", "export", "--format", "pylock").stdout
    assert "torchaudio-2.11.1-py3-none-any.whl" in pylock

    folder = tmp_path / "wheels"
    project.run("torch", "wheelhouse", str(folder))
    assert (folder / "torchaudio-2.11.1-py3-none-any.whl").is_file()
    project.pip("uninstall", "-y", "torchaudio")
    project.run("torch", "install", "--wheelhouse", str(folder))
    assert project.version_of("torchaudio") == "2.11.1"
    project.pip("check")


def test_torchaudio_left_out_where_no_index_has_one_that_pairs(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    project = _project(tmp_path, poetry_bin, family_server, f"{family_server.base}/plain")
    result = project.run("torch", "install", "--cuda", "13.2")
    out = result.stdout + result.stderr
    assert "torchaudio is not part of this build" in out, out
    assert project.version_of("torch") == "2.14.0+cu132"
    assert project.version_of("torchaudio") is None  # never the legacy 2.2.0
    assert "torchaudio" not in _torch_lock(project)
    project.run("lock")
    project.run("sync")
    assert project.version_of("torchaudio") is None
    project.pip("check")
    check = project.run("torch", "check")
    assert "torchaudio is not part of this build" in check.stdout, check.stdout
    assert "torchaudio is not installed" not in check.stdout


def test_named_torchaudio_is_never_swapped(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    """Packages named on the command line are what the user asked for: no PyPI exception."""
    project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
    result = project.run("torch", "install", "--cuda", "13.2", "torch", "torchaudio", check=False)
    assert result.returncode != 0
    assert project.version_of("torchaudio") is None
