"""Advice the plugin accepts (issue 23, item 3), with the real poetry executable: a failed
solve that is not about the torch version is Poetry's own explanation, alone; a dependency of
the build that the index lacks is not answered as if the user had requested it; "the earlier
build is still installed" only when there was one; each command suggested is run."""

from __future__ import annotations

import os
import re
import shlex

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.wheels import _torch_family_wheel
from tests.support.wheels import build_torch_universe
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _project(tmp_path: Path, poetry_bin: Path, server: IndexServer, text: str) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(text)
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    return Project(root, poetry_bin, env)


def ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("poetry-torch:")]


@pytest.fixture(scope="module")
def python_range_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    """torch 2.8.0+cu129 requires pydep, whose only release requires Python <3.14 (as networkx
    3.6.1, a dependency of the real torch 2.11.0, excludes Python 3.14.1)."""
    root = tmp_path_factory.mktemp("python-range")
    whl, pypi = root / "whl" / "cu129", root / "pypi"
    _torch_family_wheel(whl, "torch", "2.8.0", "cu129", requires=["pydep>=1.0"])
    for where in (whl, pypi):
        build_wheel(where, "pydep", "1.0.0", requires_python=">=3.9,<3.14")
    with IndexServer(root) as server:
        yield server


def test_a_failed_solve_not_about_torch_is_poetrys_own_explanation(
    tmp_path: Path, poetry_bin: Path, python_range_server: IndexServer
) -> None:
    server = python_range_server
    text = pyproject_text(server.pypi_url, dependencies=("torch>=2.0",))
    project = _project(tmp_path, poetry_bin, server, text)
    project.run("torch", "install", "--cuda", "12.9", "torch")
    assert project.version_of("torch") == "2.8.0+cu129"

    result = project.run("lock", check=False)
    assert result.returncode == 1
    # Poetry's solver says what is wrong, and the plugin adds no wrong cause or command
    assert "pydep requires Python >=3.9,<3.14" in result.stderr, result.stderr
    assert ours(result.stderr) == [], result.stderr
    assert "torch install" not in result.stdout + result.stderr
    # and Poetry's cause is the real one: narrowing the project's Python range fixes it
    narrowed = project.pyproject.read_text().replace('">=3.9"', '">=3.9,<3.14"')
    project.pyproject.write_text(narrowed)
    project.run("lock")
    assert project.version_of("torch") == "2.8.0+cu129"


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IndexServer, ...]]:
    """A broken index, whose cu129 torch requires a CUDA runtime it does not publish (its cu128
    is whole), and a whole one (the fixture universe)."""
    broken = tmp_path_factory.mktemp("lacking")
    whl = broken / "whl" / "cu129"
    runtime = ["nvidia-fakeruntime-cu12==12.9.0"]
    _torch_family_wheel(whl, "torch", "2.9.0", "cu129", requires=runtime)
    for name, version in (("torchvision", "0.24.0"), ("torchaudio", "2.9.0")):
        _torch_family_wheel(whl, name, version, "cu129", requires=["torch==2.9.0"])
    cu128 = broken / "whl" / "cu128"
    _torch_family_wheel(cu128, "torch", "2.8.0", "cu128", requires=[])
    for name, version in (("torchvision", "0.23.0"), ("torchaudio", "2.8.0")):
        _torch_family_wheel(cu128, name, version, "cu128", requires=["torch==2.8.0"])
    build_wheel(broken / "pypi", "tinydep", "1.0.0")
    whole = tmp_path_factory.mktemp("whole")
    build_torch_universe(whole)
    with IndexServer(broken) as lacking, IndexServer(whole) as good:
        yield lacking, good


def test_a_dependency_the_index_lacks_is_not_a_requested_package(
    tmp_path: Path, poetry_bin: Path, two_servers: tuple[IndexServer, IndexServer]
) -> None:
    lacking, good = two_servers
    text = pyproject_text(lacking.pypi_url, dependencies=("tinydep",))
    project = _project(tmp_path, poetry_bin, lacking, text)
    before = project.pyproject.read_bytes()

    # a fresh environment: nothing was installed, and there was no earlier build
    fresh = project.run("torch", "install", "--cuda", "12.9", check=False)
    assert fresh.returncode == 1
    (line,) = ours(fresh.stderr)
    assert "does not publish nvidia-fakeruntime-cu12, which the requested build depends on" in line
    assert "Drop it" not in line and "requested packages" not in line, line
    assert "nothing was installed" in line and "earlier build" not in line, line
    assert project.pyproject.read_bytes() == before

    # with an earlier build installed, the line says it is still there, and it is
    project.run("torch", "install", "--cuda", "12.8")
    kept = project.run("torch", "install", "--cuda", "12.9", check=False)
    (line,) = ours(kept.stderr)
    assert "the earlier build is still installed" in line, line
    assert project.version_of("torch") == "2.8.0+cu128"

    # the command it suggests, with an index that serves the whole build, works
    suggested = re.findall(r"`(poetry torch install [^`]*)`", line)
    assert suggested == ["poetry torch install --cuda 12.9 --index-base URL"], line
    command = shlex.split(suggested[0].replace("URL", good.base))
    project.run(*command[1:])
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.9.1"
