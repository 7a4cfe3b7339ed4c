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


R2 = "https://download-r2.pytorch.org"
STAMP = 1764979200  # 2025-12-06 00:00 UTC


def pytorch_page(wheels: list[tuple[str, str]], *, base: str = R2, nightly: bool = False) -> str:
    """A ``<project>/index.html`` as pytorch/test-infra s3_management/manage_v2.py writes it:
    absolute links to the R2 host (torch, torchvision, torchaudio) or root-relative ones, the
    ``+`` quoted in the link only, the metadata digest under both attribute names on some files,
    no sha256 on nightly pages, and the TIMESTAMP trailer after ``</html>``."""
    lines = ["<!DOCTYPE html>", "<html>", "  <body>", "    <h1>Links for torch</h1>"]
    for number, (folder, filename) in enumerate(wheels):
        quoted = filename.replace("+", "%2B")
        href = f"{base}/whl/{folder}/{quoted}" if folder else quoted  # "": relative to the page
        fragment = "" if nightly else f"#sha256={number:064x}"
        attributes = ""
        if number % 2 == 0:
            digest = f"sha256={number + 1:064x}"
            attributes = f' data-dist-info-metadata="{digest}" data-core-metadata="{digest}"'
        attributes += ' data-upload-time="2025-12-05T10:00:00Z"'
        lines.append(f'    <a href="{href}{fragment}"{attributes}>{filename}</a><br/>')
    lines += ["  </body>", "</html>", f"<!--TIMESTAMP {STAMP}-->"]
    return "\n".join(lines)


def torch_wheel(version: str, variant: str, tag: str = "cp312-cp312-manylinux_2_28_x86_64") -> str:
    return f"torch-{version}+{variant}-{tag}.whl"


def facts_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, set[str]]]:
    facts = tmp_path / "facts.json"
    facts.write_text(refresh.FACTS.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(refresh, "FACTS", facts)
    data = json.loads(facts.read_text(encoding="utf-8"))
    return facts, {r["torch"]: {v["name"] for v in r["variants"]} for r in data["releases"]}


def test_reads_a_saved_copy_of_pytorchs_torch_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    facts, known = facts_copy(tmp_path, monkeypatch)
    assert "rocm7.2" not in known["2.14"] and "xpu" in known["2.15"]
    # A made-up listing: 2.14 as the facts say plus a rocm7.2 build, 2.15 without xpu.
    wheels = [(v, torch_wheel("2.14.0", v)) for v in sorted(known["2.14"] | {"rocm7.2"})]
    wheels += [(v, torch_wheel("2.15.0", v)) for v in sorted(known["2.15"] - {"xpu"})]
    # macOS wheels carry no local label: the folder the link points into says cpu.
    wheels.append(("cpu", "torch-2.15.0-cp312-none-macosx_11_0_arm64.whl"))
    wheels.append(("cu130", torch_wheel("2.16.0.dev20261201", "cu130")))  # a pre-release
    page = tmp_path / "saved" / "torch.html"
    page.parent.mkdir()
    page.write_text(pytorch_page(wheels), encoding="utf-8")

    assert refresh.main(["--listing", str(page)]) == 0
    assert capsys.readouterr().out.splitlines() == ["+ 2.14 rocm7.2", "- 2.15 xpu"]
    assert refresh.main(["--listing", str(page), "--write"]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {facts}\n")
    written = json.loads(facts.read_text(encoding="utf-8"))
    releases = {r["torch"]: r for r in written["releases"]}
    added = next(v for v in releases["2.14"]["variants"] if v["name"] == "rocm7.2")
    assert added == {
        "name": "rocm7.2",
        "status": "experimental",
        "source": "index-listing",
        "checked": True,
    }
    assert "xpu" not in {v["name"] for v in releases["2.15"]["variants"]}
    assert written["sources"]["index-listing"] == (
        "a saved listing (torch.html, pages dated 2025-12-06) read by ./dev facts --listing"
    )
    assert refresh.main(["--listing", str(page)]) == 0
    assert capsys.readouterr().out.startswith("facts.json agrees with ")


def test_saved_variant_pages_speak_only_for_their_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    facts, known = facts_copy(tmp_path, monkeypatch)
    before = facts.read_text(encoding="utf-8")
    saved = tmp_path / "whl"
    (saved / "cu130" / "torch").mkdir(parents=True)
    (saved / "cu130" / "torch" / "index.html").write_text(
        pytorch_page([("cu130", torch_wheel(f"2.{minor}.0", "cu130")) for minor in (14, 15)]),
        encoding="utf-8",
    )
    # Root-relative links and a page without sha256 (as nightly's) read the same; the folder
    # the page was saved in names the variant of a wheel without a local label.
    (saved / "cpu" / "torch").mkdir(parents=True)
    (saved / "cpu" / "torch" / "index.html").write_text(
        pytorch_page(
            [("cpu", torch_wheel("2.14.0", "cpu")), ("", "torch-2.15.0-cp312-none-win_amd64.whl")],
            base="",
            nightly=True,
        ),
        encoding="utf-8",
    )
    (saved / "index.html").write_text(
        '<html><body><a href="torch/">torch</a><br/></body></html>', encoding="utf-8"
    )
    assert {"cu126", "cu130", "cpu"} <= known["2.14"]
    found, covered, _ = refresh.saved_variants(saved)
    assert found == {"2.14": {"cu130", "cpu"}, "2.15": {"cu130", "cpu"}}
    assert covered == {"cu130", "cpu"}
    assert refresh.main(["--listing", str(saved), "--write"]) == 0
    assert capsys.readouterr().out.startswith("facts.json agrees with ")
    assert facts.read_text(encoding="utf-8") == before  # nothing to write


@pytest.mark.parametrize("what", ["projects-page", "missing"])
def test_a_saved_listing_without_torch_wheels_fails_in_one_line(
    tmp_path: Path, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "whl.html"
    if what == "projects-page":
        listing.write_text(
            '<html><body><a href="torch/">torch</a><br/><a href="torchvision/">torchvision</a>'
            "</body></html>\n<!--TIMESTAMP 1764979200-->",
            encoding="utf-8",
        )
    assert refresh.main(["--listing", str(listing)]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.endswith("; facts.json unchanged\n")
    assert ("names no torch wheel" if what == "projects-page" else "cannot read") in out
