"""Pytest fixtures for the fake PyTorch indexes; ``tests/conftest.py`` re-exports them."""

from __future__ import annotations

import os
import shutil

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.platform_wheels import build_platform_universe
from tests.support.platform_wheels import publish_newer
from tests.support.wheels import Universe
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="session")
def index_universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    """Every fake index, built once per session (deterministic: same bytes every run)."""
    return build_torch_universe(tmp_path_factory.mktemp("index-universe"))


@pytest.fixture(scope="session")
def _index_server_session(index_universe: Universe) -> Iterator[IndexServer]:
    with IndexServer(index_universe.root) as server:
        yield server


@pytest.fixture
def index_server(_index_server_session: IndexServer) -> Iterator[IndexServer]:
    """The session's server, with no faults, no auth and an empty log when each test starts."""
    _index_server_session.reset()
    yield _index_server_session
    _index_server_session.reset()


@pytest.fixture(scope="session")
def _real_index_session(index_universe: Universe) -> Iterator[IndexServer]:
    with IndexServer(index_universe.root, real=True) as server:
        yield server


@pytest.fixture
def real_index_server(_real_index_session: IndexServer) -> Iterator[IndexServer]:
    """The session's indexes served as download.pytorch.org writes its pages in 2026
    (``IndexServer(real=True)``: torch, torchvision and torchaudio linked to a second origin,
    ``real_index_server.files_url``; the rest root-relative), reset like ``index_server``."""
    _real_index_session.reset()
    yield _real_index_session
    _real_index_session.reset()


@dataclass
class PlatformIndex:
    """``tests.support.platform_wheels``' indexes, served: ``{base}/cu129``, ``{base}/cu128``
    and ``{base}/cpu`` are PyTorch-style indexes (PEP 503 pages with ``#sha256=`` links and
    PEP 658 metadata) whose wheels carry real platform tags."""

    universe: Universe
    server: IndexServer

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT/whl``, what ``POETRY_TORCH_INDEX_BASE`` takes."""
        return self.server.base

    def url(self, label: str) -> str:
        """``http://127.0.0.1:PORT/whl/<label>``, an index URL for pip/uv/Poetry."""
        return f"{self.base}/{label}"

    def publish_newer(self, label: str = "cu128") -> None:
        """Add the torch 2.9.1 family to ``label``'s index, served from the next request on.
        Only on ``fresh_platform_index`` (the session's tree is shared by every test)."""
        self.universe = publish_newer(self.universe, label)


@pytest.fixture(scope="session")
def platform_universe(tmp_path_factory: pytest.TempPathFactory) -> Universe:
    """The platform-tagged indexes, built once per session (per xdist worker: it takes ~0.1 s)."""
    return build_platform_universe(tmp_path_factory.mktemp("platform-universe"))


@pytest.fixture(scope="session")
def _platform_server_session(platform_universe: Universe) -> Iterator[IndexServer]:
    with IndexServer(platform_universe.root) as server:
        yield server


@pytest.fixture
def platform_index(
    platform_universe: Universe, _platform_server_session: IndexServer
) -> Iterator[PlatformIndex]:
    """The session's platform-tagged indexes on 127.0.0.1, no faults and an empty request log
    when each test starts.  Read-only: a test that publishes more wants ``fresh_platform_index``."""
    _platform_server_session.reset()
    yield PlatformIndex(platform_universe, _platform_server_session)
    _platform_server_session.reset()


@pytest.fixture(scope="session")
def _real_platform_session(platform_universe: Universe) -> Iterator[IndexServer]:
    with IndexServer(platform_universe.root, real=True) as server:
        yield server


@pytest.fixture
def real_platform_index(
    platform_universe: Universe, _real_platform_session: IndexServer
) -> Iterator[PlatformIndex]:
    """``platform_index`` served in PyTorch's 2026 page shape (``IndexServer(real=True)``)."""
    _real_platform_session.reset()
    yield PlatformIndex(platform_universe, _real_platform_session)
    _real_platform_session.reset()


@pytest.fixture
def fresh_platform_index(platform_universe: Universe, tmp_path: Path) -> Iterator[PlatformIndex]:
    """A copy of the platform-tagged indexes for this test alone, on its own server, which
    ``publish_newer`` may change."""
    root = tmp_path / "platform-universe"
    shutil.copytree(platform_universe.root, root)
    universe = Universe(
        root=root,
        wheels=MappingProxyType(
            {
                label: tuple(root / w.relative_to(platform_universe.root) for w in wheels)
                for label, wheels in platform_universe.wheels.items()
            }
        ),
    )
    with IndexServer(root) as server:
        yield PlatformIndex(universe, server)


@pytest.fixture
def uv_path(tmp_path: Path) -> dict[str, str]:
    """PATH with only uv added (a link in its own directory), so Poetry picks nothing else up."""
    from poetry_torch_plugin.installer.uv import find_uv

    binary = find_uv()
    if binary is None:
        pytest.skip("uv is not installed: `.venv/bin/pip install uv` (or put uv on PATH)")
    directory = tmp_path / "uv-bin"
    directory.mkdir()
    (directory / "uv").symlink_to(binary)
    return {"PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"}
