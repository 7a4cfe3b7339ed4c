"""torch's own pins bind poetry.lock when torch is not declared (issue 22 item 2).

``tests.support.wheels.build_shared_pin_universe``: torch 2.8.0+cu129 requires
``sharedep==1.0.0``; the PyPI stand-in also publishes sharedep 1.1.0.  Poetry alone locks
sharedep 1.1.0 for a project that declares only ``sharedep``, which breaks the installed torch.
"""

from __future__ import annotations

import os
import zipfile

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.toml import loads
from tests.support.wheels import build_shared_pin_universe


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def shared_pin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    universe = build_shared_pin_universe(tmp_path_factory.mktemp("shared-pin"))
    with IndexServer(universe.root) as server:
        yield server


def _project(tmp_path: Path, poetry_bin: Path, server: IndexServer, text: str) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(text)
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    return Project(root, poetry_bin, env)


def locked(project: Project) -> dict[str, str]:
    data = loads(project.lock.read_text())
    return {p["name"]: p["version"] for p in data.get("package", [])}


def pip_check(project: Project) -> None:
    """``pip check`` of the project's environment is clean (it raises when it is not)."""
    project.pip("check")


@pytest.mark.smoke
def test_the_configured_builds_pins_bind_poetry_lock(
    tmp_path: Path, poetry_bin: Path, shared_pin_server: IndexServer
) -> None:
    text = pyproject_text(shared_pin_server.pypi_url, dependencies=("sharedep",))
    project = _project(tmp_path, poetry_bin, shared_pin_server, text)
    # Poetry alone: the newest sharedep, which the torch build below does not accept
    project.run("--no-plugins", "lock")
    assert locked(project) == {"sharedep": "1.1.0"}

    project.run("torch", "install", "--cuda", "12.9", "torch")
    assert project.version_of("torch") == "2.8.0+cu129"
    assert "torch" not in loads(project.pyproject.read_text())["project"]["dependencies"]
    # the refreshed poetry.lock already follows the build's pin
    assert locked(project) == {"sharedep": "1.0.0"}
    project.run("check", "--lock")

    project.run("lock")
    assert locked(project) == {"sharedep": "1.0.0"}  # and no torch entry
    project.run("install")
    assert project.version_of("sharedep") == "1.0.0"
    assert project.version_of("torch") == "2.8.0+cu129"
    pip_check(project)

    project.run("update")
    assert locked(project) == {"sharedep": "1.0.0"}
    pip_check(project)
    project.run("add", "tinydep")
    assert locked(project) == {"sharedep": "1.0.0", "tinydep": "1.0.0"}
    pip_check(project)
    project.run("sync")
    assert project.version_of("torch") == "2.8.0+cu129"
    pip_check(project)

    # a requirement the build does not accept is Poetry's own conflict, naming torch's pin
    failed = project.run("add", "sharedep==1.1.0", check=False)
    assert failed.returncode != 0
    assert "sharedep (1.0.0)" in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    assert locked(project) == {"sharedep": "1.0.0", "tinydep": "1.0.0"}
    pip_check(project)


LIBRARY = """[project]
name = "heldlib"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["sharedep"]

[[tool.poetry.source]]
name = "fakepypi"
url = "{pypi_url}"
priority = "primary"

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
"""


def requires_dist(metadata: str) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def test_held_requirements_stay_out_of_the_build_metadata(
    tmp_path: Path, poetry_bin: Path, shared_pin_server: IndexServer
) -> None:
    project = _project(
        tmp_path,
        poetry_bin,
        shared_pin_server,
        LIBRARY.replace("{pypi_url}", shared_pin_server.pypi_url),
    )
    (project.root / "heldlib").mkdir()
    (project.root / "heldlib" / "__init__.py").write_text("")
    project.run("torch", "install", "--cuda", "12.9", "torch")
    project.run("lock")
    assert locked(project) == {"sharedep": "1.0.0"}
    project.run("install")  # installs the project itself too (editable)
    pip_check(project)
    (dist_info,) = project.site_packages()[0].glob("heldlib-0.1.0.dist-info")
    assert requires_dist((dist_info / "METADATA").read_text()) == ["sharedep"]

    project.run("build", "--format", "wheel")
    (wheel,) = (project.root / "dist").glob("heldlib-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("heldlib-0.1.0.dist-info/METADATA").decode()
    assert requires_dist(metadata) == ["sharedep"]


def test_a_project_not_opted_in_locks_as_poetry_alone(
    tmp_path: Path, poetry_bin: Path, shared_pin_server: IndexServer
) -> None:
    text = pyproject_text(shared_pin_server.pypi_url, dependencies=("sharedep",))
    project = _project(tmp_path, poetry_bin, shared_pin_server, text)
    project.run("--no-plugins", "lock")
    alone = project.lock.read_bytes()
    project.lock.unlink()
    project.run("lock")
    assert project.lock.read_bytes() == alone
    assert locked(project) == {"sharedep": "1.1.0"}
    project.run("install")
    project.run("lock", "--regenerate")
    assert project.lock.read_bytes() == alone
