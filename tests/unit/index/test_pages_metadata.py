"""PEP 658/714 metadata per file, checked (issue 22 item 4): a page offers metadata for some
files only, under ``data-core-metadata`` or the older ``data-dist-info-metadata``, as ``true``
or ``sha256=<hex>``; a ``.metadata`` file whose bytes do not match the sha256 the page gives
(PyTorch issue 197552) is never trusted: the wheel's own metadata is read instead, and the
caller's ``note`` hears one line."""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING

import pytest

from packaging.version import Version

from poetry_torch_plugin.index.pages import Listing
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import _parse_listing
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import fetch_requires
from poetry_torch_plugin.index.pages import release_requires
from tests.support.index_server import IndexServer
from tests.support.wheels import build_family_universe


if TYPE_CHECKING:
    from collections.abc import Iterator

URL = "https://download.example/whl/cu129/torch/"
ANY = WheelTarget("py3 any", frozenset({"py3-none-any"}))
A = "torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl"
B = "torch-2.9.0-cp313-cp313-manylinux_2_28_x86_64.whl"
HEX = "ab" * 32


def _offered(*anchors: str) -> dict[str, str]:
    page = "\n".join(anchors)
    listing = _parse_listing("torch", URL, page)
    assert listing.metadata is bool(listing.offered)
    return dict(listing.offered)


def test_metadata_is_read_per_file_under_either_attribute_name() -> None:
    offered = _offered(
        f'<a href="/whl/cu129/{A}#sha256=00" data-core-metadata="sha256={HEX}">{A}</a>',
        f'<a href="/whl/cu129/{B}#sha256=11">{B}</a>',
    )
    assert offered == {A: HEX}  # B offers none: never asked for its .metadata
    legacy = _offered(f'<a data-dist-info-metadata="sha256={HEX.upper()}" href="/w/{A}">x</a>')
    assert legacy == {A: HEX}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ('data-core-metadata="true"', ""),
        ("data-dist-info-metadata='true'", ""),
        ("data-core-metadata", ""),  # a bare attribute says true
        ('data-core-metadata="sha256&#61;' + HEX + '"', HEX),  # HTML-escaped
        ('data-core-metadata="sha256&equals;' + HEX + '"', HEX),
        (f"data-core-metadata=sha256={HEX}", HEX),  # unquoted
        ('data-core-metadata="md5=0123"', ""),  # offered, with a hash this does not check
        ('data-core-metadata="false"', None),
        # PEP 714: the new name wins over the old one, in either order
        (f'data-dist-info-metadata="true" data-core-metadata="sha256={HEX}"', HEX),
        (f'data-core-metadata="sha256={HEX}" data-dist-info-metadata="sha256=00"', HEX),
        ('data-href="x" data-upload-time="2026-01-01"', None),
    ],
)
def test_one_anchors_offer(attributes: str, expected: str | None) -> None:
    offered = _offered(f'<a href="/whl/cu129/{A}#sha256=00" {attributes}>{A}</a>')
    assert offered.get(A) == expected


# -- the .metadata file checked against the page's sha256 ------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("metadata")
    build_family_universe(root)  # cu132's torchaudio 2.2.0 requires torch==2.2.0
    with IndexServer(root) as served:
        yield served


@pytest.fixture
def index(server: IndexServer) -> Iterator[IndexServer]:
    server.reset()
    yield server
    server.reset()


AUDIO = "/whl/cu132/torchaudio-2.2.0"


def test_metadata_that_matches_its_sha256_is_used(index: IndexServer) -> None:
    listing = fetch_listing(index.index_url("cu132"), "torchaudio")
    assert all(digest for _, digest in listing.offered)
    notes: list[str] = []
    assert release_requires(listing, Version("2.2.0"), ANY, note=notes.append) == ["torch==2.2.0"]
    assert notes == []
    paths = [r.path for r in index.requested(AUDIO)]
    assert paths and all(path.endswith(".metadata") for path in paths)  # never the wheel


def test_metadata_that_does_not_match_is_never_trusted(index: IndexServer) -> None:
    index.set_fault(AUDIO, "badmeta")  # served without its Requires-Dist lines
    listing = fetch_listing(index.index_url("cu132"), "torchaudio")
    notes: list[str] = []
    assert fetch_requires(listing, "2.2.0", note=notes.append) is None
    (line,) = notes
    assert "the index's metadata for torchaudio-2.2.0-py3-none-any.whl did not match" in line
    assert "\n" not in line
    # the caller falls back to the wheel, checked against the page's sha256
    notes.clear()
    assert release_requires(listing, Version("2.2.0"), ANY, note=notes.append) == ["torch==2.2.0"]
    assert len(notes) == 1
    assert any(r.path.endswith(".whl") for r in index.requested(AUDIO))


def test_a_file_that_offers_no_metadata_is_read_from_its_wheel(index: IndexServer) -> None:
    listing = fetch_listing(index.index_url("cu132"), "torchaudio")
    # another file of the page offers metadata; this one does not
    bare = Listing(
        listing.project, listing.url, listing.files, True, listing.links, (("other.whl", ""),)
    )
    assert fetch_requires(bare, "2.2.0") is None
    assert release_requires(bare, Version("2.2.0"), ANY) == ["torch==2.2.0"]
    assert not any(r.path.endswith(".metadata") for r in index.requested(AUDIO))


def test_the_test_server_corrupts_only_under_the_fault(index: IndexServer) -> None:
    import urllib.request

    listing = fetch_listing(index.index_url("cu132"), "torchaudio")
    (link,) = [link for name, link in listing.links if name.startswith("torchaudio-2.2.0")]
    expected = dict(listing.offered)["torchaudio-2.2.0-py3-none-any.whl"]
    with urllib.request.urlopen(f"{link}.metadata") as response:
        assert hashlib.sha256(response.read()).hexdigest() == expected
    index.set_fault(AUDIO, "badmeta")
    with urllib.request.urlopen(f"{link}.metadata") as response:
        body = response.read()
    assert hashlib.sha256(body).hexdigest() != expected
    assert b"Checksum-SHA256:" in body and b"Requires-Dist" not in body
