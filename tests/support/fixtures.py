"""Pytest fixtures for the fake PyTorch indexes; ``tests/conftest.py`` re-exports them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.wheels import Universe
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from collections.abc import Iterator


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
