"""The service side of the live index: the one-line refusal before a download, and
``--cuda auto``'s fallback to the facts when the index cannot be read (issue 13 item 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import NotPublishedError
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.service.choose import LiveIndex
from poetry_torch_plugin.service.choose import refuse_unpublished
from tests.unit.index.test_pages_published import CP312_LINUX
from tests.unit.index.test_pages_published import write_index


if TYPE_CHECKING:
    from pathlib import Path

CU130 = Variant("cuda", (13, 0))
FAMILY = ("torch==2.9.0", "torchvision", "torchaudio")


@pytest.fixture
def base(tmp_path: Path) -> str:
    return write_index(tmp_path / "whl")


def test_a_missing_package_is_refused_in_one_line(base: str) -> None:
    with pytest.raises(IndexAccessError) as caught:
        refuse_unpublished(IndexPages(IndexAccess), f"{base}/cu130", CU130, FAMILY, CP312_LINUX)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"cu130: torchaudio is not published on {base}/cu130; nothing was")
    assert "poetry torch install --cuda auto" in line and "drop torchaudio" in line


def test_no_torch_at_all_keeps_the_index_line(base: str) -> None:
    with pytest.raises(NotPublishedError, match="does not publish torch"):
        refuse_unpublished(IndexPages(IndexAccess), f"{base}/cu999", CU130, FAMILY, CP312_LINUX)


def test_an_unreadable_index_is_left_to_the_install() -> None:
    why = refuse_unpublished(
        IndexPages(IndexAccess), "http://127.0.0.1:9/whl/cu130", CU130, FAMILY, CP312_LINUX
    )
    assert why is not None and why.startswith("cannot reach the index")


def test_auto_falls_back_to_the_facts_once_the_index_fails() -> None:
    asked: list[str] = []

    def access(url: str) -> IndexAccess:
        asked.append(url)
        return IndexAccess(url)

    live = LiveIndex(IndexPages(access), "http://127.0.0.1:9/whl", FAMILY, CP312_LINUX)
    assert live(CU130) is None
    assert live.note is not None
    assert live.note.startswith("cannot reach the index http://127.0.0.1:9/whl/cu130")
    assert live.note.endswith(
        "chose from the facts alone (facts.json), without checking which"
        " packages the index publishes"
    )
    assert live(Variant("cuda", (12, 8))) is None
    assert asked == ["http://127.0.0.1:9/whl/cu130"]  # not asked again


def test_auto_hears_the_index(base: str) -> None:
    live = LiveIndex(IndexPages(IndexAccess), base, FAMILY, CP312_LINUX)
    assert live(CU130) == f"torchaudio is not published on {base}/cu130"
    assert live(Variant("cuda", (12, 8))) == ""
    assert live.note is None
