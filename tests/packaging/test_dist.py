"""What a maintainer would upload: the sdist and the wheel from ``python -m build``.

Checked as PyPI would (``twine check --strict``), by their contents (the facts data, the
license, the plugin's entry point, the one version), by rebuilding the wheel from the sdist
alone, and by installing the built wheel (not the source tree) next to a fresh Poetry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import venv

from pathlib import Path

import pytest

from tests.packaging.dists import Dists
from tests.packaging.dists import build_dists
from tests.packaging.dists import wheel_files
from tests.support.check_demo import PYPROJECT
from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import REPO
from tests.support.poetry_env import pip_environment
from tests.support.project import seeded_venv
from tests.support.toml import loads


# one worker builds the dists and runs every test on them: the other works on, rather than
# waiting on the build lock for the same files
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dists")]

PROJECT = loads((REPO / "pyproject.toml").read_text())["project"]
NAME, VERSION = "poetry_torch_plugin", PROJECT["version"]
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
ENTRY_POINT = "torch=poetry_torch_plugin.plugin:TorchApplicationPlugin"


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # one build for every worker of this run
    return build_dists(base / "dists")


def test_twine_check_strict(dists: Dists) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.sdist), str(dists.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_holds_the_facts_the_license_and_the_entry_point(dists: Dists) -> None:
    assert dists.wheel.name == f"{NAME}-{VERSION}-py3-none-any.whl"
    files = wheel_files(dists.wheel)
    assert f"{NAME}/data/facts.json" in files
    assert files[f"{NAME}/data/facts.json"] == (REPO / NAME / "data" / "facts.json").read_bytes()
    assert files[f"{DIST_INFO}/licenses/LICENSE"] == (REPO / "LICENSE").read_bytes()
    assert b"MIT License" in files[f"{DIST_INFO}/licenses/LICENSE"]
    text = files[f"{DIST_INFO}/entry_points.txt"].decode()
    entry_points = [line.replace(" ", "") for line in text.splitlines()]
    section = entry_points.index("[poetry.application.plugin]")
    assert ENTRY_POINT in entry_points[section + 1 :], entry_points
    metadata = files[f"{DIST_INFO}/METADATA"].decode().split("\n\n", 1)[0].splitlines()
    assert f"Version: {VERSION}" in metadata
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    # no test code, no development files
    assert not [name for name in files if not name.startswith((f"{NAME}/", f"{DIST_INFO}/"))]


def test_sdist_holds_what_a_rebuild_needs(dists: Dists) -> None:
    top = f"{NAME}-{VERSION}"
    with tarfile.open(dists.sdist) as archive:
        names = set(archive.getnames())
    for needed in ("pyproject.toml", "README.md", "LICENSE", f"{NAME}/data/facts.json", "PKG-INFO"):
        assert f"{top}/{needed}" in names, needed


def test_a_wheel_built_from_the_sdist_alone_is_the_same(dists: Dists) -> None:
    from_tree, from_sdist = wheel_files(dists.wheel), wheel_files(dists.wheel_from_sdist)
    assert sorted(from_sdist) == sorted(from_tree)
    assert [name for name in from_tree if from_tree[name] != from_sdist[name]] == []


@pytest.fixture(scope="session")
def fresh_poetry(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding Poetry and the built wheel (session-scoped, so pip sees the machine's
    own configuration and cache, as tests/support/poetry_env.py's venvs do); its bin folder."""
    prefix = seeded_venv(tmp_path_factory.mktemp("fresh-poetry"))
    bin_dir = prefix / ("Scripts" if os.name == "nt" else "bin")
    # --no-compile: Python writes bytecode on first import (~3 CPU-s less than compiling all)
    command = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    command += ["--disable-pip-version-check", f"poetry=={DEFAULT_POETRY}", str(dists.wheel)]
    installed = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=pip_environment()
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return bin_dir


def test_the_built_wheel_in_a_fresh_poetry(fresh_poetry: Path, tmp_path: Path) -> None:
    """The plugin loads from the venv's site-packages, not from this checkout, reports the one
    version, and its commands run in a small opted-in project with nothing installed."""
    probe = "import poetry_torch_plugin as p; print(p.__file__); print(p.__version__)"
    where, version = subprocess.run(
        [str(fresh_poetry / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert Path(where).is_relative_to(fresh_poetry.parent), where
    assert version == VERSION

    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT.format(name="demo", variant="cu130"))
    venv.EnvBuilder(with_pip=False).create(project / ".venv")
    machine = tmp_path / "machine.json"
    machine.write_text('{"platform": "linux-x86_64"}')  # no GPU, whatever this machine has
    env = dict(os.environ)
    env["POETRY_TORCH_FAKE_MACHINE"] = str(machine)

    def poetry(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(fresh_poetry / "poetry"), "--no-ansi", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    help_ = poetry("torch", "install", "--help")
    assert help_.returncode == 0, help_.stdout + help_.stderr
    for option in ("--cuda", "--cpu", "--dry-run"):
        assert option in help_.stdout, option
    check = poetry("torch", "check")
    # nothing installed: a failing verdict (exit 1) that names the configured source and the fix
    assert check.returncode == 1, check.stdout + check.stderr
    assert re.search(r"^\s*torch\s+not installed$", check.stdout, re.M), check.stdout
    assert "pytorch_cuda_cu130" in check.stdout
    assert "poetry torch install" in check.stdout
    assert "Traceback" not in check.stdout + check.stderr
