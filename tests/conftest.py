from __future__ import annotations

import os

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.fixtures import _index_server_session  # noqa: F401
from tests.support.fixtures import _platform_server_session  # noqa: F401
from tests.support.fixtures import _real_index_session  # noqa: F401
from tests.support.fixtures import _real_platform_session  # noqa: F401
from tests.support.fixtures import fresh_platform_index  # noqa: F401
from tests.support.fixtures import index_server  # noqa: F401
from tests.support.fixtures import index_universe  # noqa: F401
from tests.support.fixtures import platform_index  # noqa: F401
from tests.support.fixtures import platform_universe  # noqa: F401
from tests.support.fixtures import real_index_server  # noqa: F401
from tests.support.fixtures import real_platform_index  # noqa: F401
from tests.support.fixtures import uv_path  # noqa: F401
from tests.support.isolation import ISOLATED_PREFIXES
from tests.support.isolation import isolated_env
from tests.support.isolation import isolated_settings
from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import OLDEST_POETRY
from tests.support.poetry_env import POETRY_VERSION_ENV
from tests.support.poetry_env import build_poetry_venv
from tests.support.project import Project
from tests.support.project import platform_pyproject_text
from tests.support.project import pyproject_text


if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.fixtures import PlatformIndex
    from tests.support.index_server import IndexServer


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's Poetry, pip or uv configuration, caches or active venv."""
    for key in list(os.environ):
        if key.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    for name, value in isolated_settings(tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    yield


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``smoke`` run on the newest and on the oldest supported Poetry.

    Only when POETRY_TORCH_TEST_POETRY is unset: setting it (as ``./dev matrix`` does) pins
    every e2e test to that one Poetry.
    """
    if (
        "poetry_bin" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("smoke") is not None
        and POETRY_VERSION_ENV not in os.environ
    ):
        metafunc.parametrize(
            "poetry_bin",
            [DEFAULT_POETRY, OLDEST_POETRY],
            indirect=True,
            ids=lambda version: f"poetry{version}",
            scope="session",
        )


@pytest.fixture(scope="session")
def poetry_bin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real poetry executable, in a throwaway venv, with this plugin installed.

    Its version: the smoke parametrization's, else POETRY_TORCH_TEST_POETRY, else the newest
    supported. Venvs live under POETRY_TORCH_TEST_VENVS when set, else in this session's
    temporary folder; either way one per version, so switching versions rebuilds nothing.
    """
    version: str = getattr(request, "param", None) or os.environ.get(
        POETRY_VERSION_ENV, DEFAULT_POETRY
    )
    cache = os.environ.get("POETRY_TORCH_TEST_VENVS")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # one folder for every worker of this run: each version built once
    root = Path(cache) if cache else base / "poetry-venvs"
    return build_poetry_venv(root / f"poetry-{version}", version)


@pytest.fixture
def project(
    tmp_path: Path,
    poetry_bin: Path,
    index_server: IndexServer,  # noqa: F811
) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(index_server.pypi_url))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = index_server.base
    return Project(root, poetry_bin, env)


@pytest.fixture(scope="module")
def module_project(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,  # noqa: F811
) -> Project:
    """``project``, once for a whole test module: for tests that only read what one setup
    left (e.g. a refused command, an export), so it is built once instead of once a test.
    Its own isolated home; the server's faults are not reset for it (use ``index_server``)."""
    root = tmp_path_factory.mktemp("module-project") / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(_index_server_session.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = _index_server_session.base
    return Project(root, poetry_bin, env)


@pytest.fixture(scope="module")
def real_module_project(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _real_index_session: IndexServer,  # noqa: F811
) -> Project:
    """``module_project`` on the real-shape index (``real_index_server``)."""
    root = tmp_path_factory.mktemp("module-project") / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(_real_index_session.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = _real_index_session.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def real_project(
    tmp_path: Path,
    poetry_bin: Path,
    real_index_server: IndexServer,  # noqa: F811
) -> Project:
    """``project`` on ``real_index_server``: PyTorch's own 2026 page shape."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(real_index_server.pypi_url))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = real_index_server.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def real_platform_project(
    tmp_path: Path,
    poetry_bin: Path,
    real_platform_index: PlatformIndex,  # noqa: F811
) -> Project:
    """``platform_project`` on ``real_platform_index`` (PyTorch's own 2026 page shape)."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(platform_pyproject_text(real_platform_index.url("cu129")))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = real_platform_index.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def platform_project(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,  # noqa: F811
) -> Project:
    """A project on ``platform_index``'s cu129 (``platform_pyproject_text``: Pythons 3.10-3.13,
    no targets, no other source), ``POETRY_TORCH_INDEX_BASE`` set to ``platform_index.base``."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(platform_pyproject_text(platform_index.url("cu129")))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = platform_index.base
    return Project(root, poetry_bin, env)
