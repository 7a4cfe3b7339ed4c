"""An index URL with a query string or fragment is refused, the query unseen (issue 12, item
27)."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.index.access import refuse_query
from poetry_torch_plugin.index.access import resolve_access


def test_a_query_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_access("pytorch_cuda_cu129", "https://bob:pw@mirror.example/whl/cu129?token=T0K3N")
    line = str(info.value)
    assert line.startswith(
        "the URL of the source pytorch_cuda_cu129 (https://mirror.example/whl/cu129)"
        " has a query string (?…)"
    )
    assert "T0K3N" not in line
    assert "pw" not in line
    assert "poetry config http-basic.pytorch_cuda_cu129 USER" in line


def test_a_fragment_is_refused_and_a_plain_url_passes() -> None:
    with pytest.raises(ConfigError, match=r"has a fragment \(#…\)"):
        refuse_query("s", "https://mirror.example/whl/cu129#x")
    refuse_query("s", "https://mirror.example/whl/cu129/")
