"""A mirror stays on the machine that uses it (issue 23, item 7; issue 22, item 10d).

``POETRY_TORCH_INDEX_BASE`` says where this machine fetches PyTorch's index from: pyproject.toml
and poetry-torch.lock keep https://download.pytorch.org/whl/<variant>, which the tests cannot
reach, exactly as a teammate whose only way to the index is a mirror.  ``--index-base URL``
is the way to commit a mirror, and says so.  A team lock made through one mirror replays
through another without anything called stale."""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.project.lockstate import read_lock
from tests.e2e.test_universal_lock import team_pyproject
from tests.support.index_server import IndexServer
from tests.support.project import Project


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.fixtures import PlatformIndex


pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PYTORCH = "https://download.pytorch.org/whl"
VARIABLE = "POETRY_TORCH_INDEX_BASE"


def test_the_variable_fetches_through_the_mirror_and_writes_pytorchs_url(
    project: Project, index_server: IndexServer
) -> None:
    mirror = index_server.base
    result = project.run("torch", "install", "--cuda", "12.9")
    assert (
        f"from pytorch_cuda_cu129 ({PYTORCH}/cu129, fetched from {mirror}/cu129"
        f" ({VARIABLE}, this machine only))"
    ) in result.stdout, result.stdout
    assert project.version_of("torch") == "2.9.0+cu129"
    text = project.pyproject.read_text()
    assert f'url = "{PYTORCH}/cu129"' in text
    assert mirror not in text  # the stand-in PyPI source is on the same server, not under /whl
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    assert lock.inputs.source_url == f"{PYTORCH}/cu129"
    assert mirror not in (project.root / LOCK_NAME).read_text()
    assert all(url.startswith(f"{PYTORCH}/cu129/") for p in lock.packages for _, url in p.urls), (
        lock.packages
    )

    # Poetry itself reads pyproject.toml's URL, which this machine cannot reach: its commands
    # work all the same (the held family never reaches Poetry's solver or installer)
    project.run("lock")
    project.uninstall("torch")
    repaired = project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129", repaired.stdout + repaired.stderr
    assert (project.root / "poetry.lock").exists()
    assert mirror + "/cu129" not in (project.root / "poetry.lock").read_text()

    # a teammate without the variable: the files name PyTorch's index, and the lock is fresh
    # for them (nothing in it depends on the mirror)
    teammate = Project(
        project.root, project.poetry, {k: v for k, v in project.env.items() if k != VARIABLE}
    )
    checked = teammate.run("torch", "lock", "--check")
    assert "stale" not in checked.stdout + checked.stderr


def test_index_base_on_the_command_line_commits_the_mirror_and_says_so(
    project: Project, index_server: IndexServer
) -> None:
    mirror = index_server.base
    bare = Project(
        project.root, project.poetry, {k: v for k, v in project.env.items() if k != VARIABLE}
    )
    dry = bare.run("torch", "install", "--cuda", "12.8", "--index-base", mirror, "--dry-run")
    assert (
        f"--index-base: the source pytorch_cuda_cu128 in pyproject.toml would name"
        f" {mirror}/cu128, for everyone who uses this project; for a mirror on this machine"
        f" only, set {VARIABLE} instead."
    ) in dry.stdout, dry.stdout
    result = bare.run("torch", "install", "--cuda", "12.8", "--index-base", mirror)
    assert f'url = "{mirror}/cu128"' in bare.pyproject.read_text()
    assert (
        f"--index-base: the source pytorch_cuda_cu128 in pyproject.toml names {mirror}/cu128,"
        " for everyone who uses this project"
    ) in result.stdout, result.stdout
    assert bare.version_of("torch") == "2.8.0+cu128"


def test_a_team_lock_made_through_one_mirror_replays_through_another(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    """22.10d: the lock is made against PyTorch's URL through mirror A; a teammate whose
    mirror is B (another origin serving the same index) replays its own entry (the no-gpu
    target's cpu build), and nothing is called stale."""
    root = tmp_path / "team"
    root.mkdir()
    text = team_pyproject(platform_index, '\n[tool.poetry-torch.targets]\nno-gpu = "cpu"\n')
    text = text.replace(platform_index.url("cu129"), f"{PYTORCH}/cu129")
    (root / "pyproject.toml").write_text(text)
    env = {**os.environ, **uv_path, "POETRY_TORCH_FAKE_MACHINE": no_gpu}
    author = Project(root, poetry_bin, {**env, VARIABLE: platform_index.base})
    author.run("torch", "lock")
    locked = (root / LOCK_NAME).read_text()
    assert platform_index.base not in locked
    assert f'"{PYTORCH}/cpu"' in locked, locked

    with IndexServer(platform_index.universe.root) as other:
        assert other.base != platform_index.base
        teammate = Project(root, poetry_bin, {**env, VARIABLE: other.base})
        result = teammate.run("torch", "install")
        said = result.stdout + result.stderr
        assert "stale" not in said, said
        assert (teammate.version_of("torch") or "").endswith("+cpu"), said
        assert any(r.path.endswith(".whl") for r in other.requests), "not fetched from B"
        checked = teammate.run("torch", "lock", "--check")
        assert "stale" not in checked.stdout + checked.stderr
    assert (root / LOCK_NAME).read_text() == locked
    assert f'url = "{PYTORCH}/cu129"' in (root / "pyproject.toml").read_text()


@pytest.fixture
def no_gpu(tmp_path: Path) -> str:
    import json

    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.machine import machine_to_dict

    bare = Machine(nvidia=None, nvcc=None, mps=False, rocm=None, platform="linux-x86_64")
    path = tmp_path / "no-gpu.json"
    path.write_text(json.dumps(machine_to_dict(bare)))
    return str(path)
