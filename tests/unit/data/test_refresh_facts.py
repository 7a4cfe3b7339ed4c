"""``./dev facts`` against the local PEP 503 server, and offline."""

from __future__ import annotations

import json
import socket

from typing import TYPE_CHECKING

import pytest

from scripts import facts as refresh
from tests.support.index_server import IndexServer
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from pathlib import Path


def test_reads_a_mirror_of_variant_indexes_and_prints_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    universe = build_torch_universe(tmp_path / "universe")
    facts = tmp_path / "facts.json"
    facts.write_text(refresh.FACTS.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(refresh, "FACTS", facts)
    with IndexServer(universe.root) as server:
        monkeypatch.setenv("POETRY_TORCH_INDEX_BASE", f"{server.url}/whl")
        live = refresh.live_variants(f"{server.url}/whl")
        assert {"cu129", "cu128", "cpu"} <= live["2.8"] and live["2.9"] == {"cu129"}
        assert refresh.main([]) == 0
        out = capsys.readouterr().out.splitlines()
        # The fixture publishes cu129 for 2.9 (PyTorch did not) and no ROCm/XPU builds.
        assert "+ 2.9 cu129" in out and "- 2.8 rocm6.4" in out and "- 2.8 xpu" in out
        assert refresh.main(["--write"]) == 0
    written = json.loads(facts.read_text(encoding="utf-8"))
    release = next(r for r in written["releases"] if r["torch"] == "2.9")
    added = next(v for v in release["variants"] if v["name"] == "cu129")
    assert added == {
        "name": "cu129",
        "status": "experimental",
        "source": "index-listing",
        "checked": True,
    }
    assert "index-listing" in written["sources"]


def test_offline_says_so_in_one_line_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("POETRY_TORCH_INDEX_BASE", f"http://127.0.0.1:{port}/whl")
    monkeypatch.setenv("POETRY_TORCH_TIMEOUT", "2")
    assert refresh.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("offline: ") and out.count("\n") == 1
