"""The index page reader against the local PEP 503 index: PEP 658 metadata of one build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import fetch_requires
from tests.support.index_server import IndexServer


if TYPE_CHECKING:
    from tests.support.wheels import Universe


def test_requires_of_a_build_come_from_its_metadata_file(index_server: IndexServer) -> None:
    listing = fetch_listing(f"{index_server.base}/cu129", "torch")
    assert listing.metadata
    requires = fetch_requires(listing, "2.9.0+cu129")
    assert requires == ["nvidia-fakeblas-cu12==12.9.1"]
    # only the metadata file was read, never the wheel
    paths = [entry.path for entry in index_server.requests]
    assert any(path.endswith(".whl.metadata") for path in paths), paths
    assert not any(path.endswith(".whl") for path in paths), paths
    assert fetch_requires(listing, "1.0.0") is None  # a version the index does not publish


def test_no_metadata_means_unknown_not_empty(index_universe: Universe) -> None:
    with IndexServer(index_universe.root, metadata=False) as server:
        listing = fetch_listing(f"{server.base}/cu129", "torch")
        assert not listing.metadata
        assert fetch_requires(listing, "2.9.0+cu129") is None
