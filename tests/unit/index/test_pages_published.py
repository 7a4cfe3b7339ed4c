"""What the index publishes for one variant: pages read once, wheels matched against the
target's tags (issue 13 item 2).  The pages are recorded from download.pytorch.org's layout
(file names as it spells them) and served as a file:// PEP 503 tree."""

from __future__ import annotations

import urllib.parse

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import NO_VERSION
from poetry_torch_plugin.index.pages import NO_WHEEL
from poetry_torch_plugin.index.pages import UNPUBLISHED
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import Listing
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import has_wheel
from poetry_torch_plugin.index.pages import wanted_packages


if TYPE_CHECKING:
    from pathlib import Path


# download.pytorch.org/whl/cu130/<project>/ as of torch 2.9.0 / torchaudio 2.9.0 (excerpts)
RECORDED = {
    "cu130": {
        "torch": [
            "torch-2.9.0+cu130-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.9.0+cu130-cp312-cp312-manylinux_2_28_aarch64.whl",
            "torch-2.9.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl",
            "torch-2.9.0+cu130-cp312-cp312-win_amd64.whl",
        ],
        "torchvision": ["torchvision-0.24.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl"],
        # no torchaudio page
    },
    "cu128": {
        "torch": ["torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"],
        "torchvision": ["torchvision-0.24.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"],
        "torchaudio": [
            "torchaudio-2.9.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl",
            "torchaudio-2.11.1-py3-none-any.whl",
        ],
    },
    "cu126": {
        "torch": ["torch-2.9.0+cu126-cp312-cp312-win_amd64.whl"],
        "torchvision": ["torchvision-0.24.0+cu126-cp312-cp312-win_amd64.whl"],
        "torchaudio": ["torchaudio-2.9.0+cu126-cp312-cp312-win_amd64.whl"],
    },
}
# the first tags of CPython 3.12 on a glibc 2.35 x86_64 Linux, as packaging.tags computes them
CP312_LINUX = WheelTarget(
    "cp312 linux_x86_64",
    frozenset(
        f"{interpreter}-{abi}-{platform}"
        for interpreter, abi in (("cp312", "cp312"), ("cp312", "abi3"), ("cp312", "none"))
        for platform in ("manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "linux_x86_64")
    )
    | {"py3-none-any", "py312-none-any", "cp312-none-any"},
)


def write_index(root: Path) -> str:
    """``root/<variant>/<project>/index.html`` from RECORDED; the file:// base URL."""
    for variant, projects in RECORDED.items():
        for project, files in projects.items():
            folder = root / variant / project
            folder.mkdir(parents=True)
            links = "".join(
                f'<a href="../../{urllib.parse.quote(name)}#sha256={"0" * 64}">{name}</a><br/>\n'
                for name in files
            )
            (folder / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return root.as_uri()


@pytest.fixture
def base(tmp_path: Path) -> str:
    return write_index(tmp_path / "whl")


def counting_pages() -> tuple[IndexPages, list[str]]:
    asked: list[str] = []

    def access(url: str) -> IndexAccess:
        asked.append(url)
        return IndexAccess(url)

    return IndexPages(access), asked


FAMILY = wanted_packages(["torch==2.9.0", "torchvision", "torchaudio"])


def test_a_package_without_a_page_is_not_published(base: str) -> None:
    pages, _ = counting_pages()
    why = pages.missing(f"{base}/cu130", FAMILY, CP312_LINUX)
    assert why is not None
    assert (why.package, why.kind) == ("torchaudio", UNPUBLISHED)
    assert str(why) == f"torchaudio is not published on {base}/cu130"


def test_a_page_without_a_wheel_for_the_target(base: str) -> None:
    pages, _ = counting_pages()
    why = pages.missing(f"{base}/cu126", FAMILY, CP312_LINUX)
    assert why is not None
    assert (why.package, why.kind) == ("torch", NO_WHEEL)
    assert str(why) == "torch==2.9.0 has no wheel for cp312 linux_x86_64"
    windows = WheelTarget("cp312 win_amd64", frozenset({"cp312-cp312-win_amd64"}))
    assert pages.missing(f"{base}/cu126", FAMILY, windows) is None


def test_every_package_with_a_wheel(base: str) -> None:
    pages, _ = counting_pages()
    assert pages.missing(f"{base}/cu128", FAMILY, CP312_LINUX) is None
    # the pin is honoured: no torch 2.8.0 on this page
    why = pages.missing(f"{base}/cu128", wanted_packages(["torch==2.8.0"]), CP312_LINUX)
    assert why is not None
    assert (why.package, why.kind) == ("torch", NO_VERSION)
    assert str(why) == f"torch==2.8.0 matches no version on {base}/cu128 (newest: 2.9.0+cu128)"


def test_pages_are_read_once_per_run(base: str) -> None:
    pages, asked = counting_pages()
    for _ in range(3):
        pages.missing(f"{base}/cu130", FAMILY, CP312_LINUX)
        pages.missing(f"{base}/cu128/", FAMILY, CP312_LINUX)
    # cu130: torch, torchvision, torchaudio (missing); cu128: the three; each once
    assert len(asked) == 6 == pages.read
    assert pages.page(f"{base}/cu130", "torchaudio") is None


def test_an_unreachable_index_raises() -> None:
    pages, _ = counting_pages()
    with pytest.raises(IndexAccessError, match="cannot reach the index"):
        pages.missing("http://127.0.0.1:9/whl/cu130", FAMILY, CP312_LINUX)


def listing(*files: str) -> Listing:
    return Listing("torchaudio", "https://example.invalid/", tuple((f, "") for f in files))


@pytest.mark.parametrize(
    ("files", "spec", "found"),
    [
        (["torchaudio-2.11.1-py3-none-any.whl"], "", True),  # decoupled, py3-none
        (["torchaudio-2.11.1-py3-none-any.whl"], "==2.9.0", False),
        (["torchaudio-2.9.0+cu130-cp311-cp311-manylinux_2_28_x86_64.whl"], "", False),
        (["torchaudio-2.9.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl"], "==2.9.0", True),
        (["torch-2.12.0.dev20260301+cu130-cp312-cp312-manylinux_2_28_x86_64.whl"], "", True),
        (["torchaudio-2.9.0.tar.gz"], "", False),  # no wheel at all
    ],
)
def test_has_wheel(files: list[str], spec: str, found: bool) -> None:
    specifier = wanted_packages([f"torchaudio{spec}"])["torchaudio"]
    assert has_wheel(listing(*files), specifier, CP312_LINUX) is found


def test_wanted_packages_last_pin_wins() -> None:
    wanted = wanted_packages(["torch==2.8.0", "torchvision", "not valid ===", "Torch==2.9.0"])
    assert list(wanted) == ["torch", "torchvision"]
    assert str(wanted["torch"]) == "==2.9.0"


def test_this_interpreter_as_target() -> None:
    import sys

    here = WheelTarget.here()
    assert here.short.startswith(f"cp{sys.version_info[0]}{sys.version_info[1]} ")
    assert "py3-none-any" in here.tags


def test_the_target_interpreter_reports_its_own_tags() -> None:
    """``environment_wheel_target`` runs the interpreter it is given (here this one) with the
    plugin's packaging: the same tags as computed in this process."""
    import sys

    from pathlib import Path

    from poetry_torch_plugin.installer.backend import environment_wheel_target

    found = environment_wheel_target(Path(sys.executable))
    assert found == WheelTarget.here()
    assert environment_wheel_target(Path("/nonexistent/python")) is None


class _S3Like:
    """An index that answers 403 for every page it lacks, as download.pytorch.org (S3) does;
    ``login`` makes it refuse every page (a real refusal)."""

    def __init__(self, *, refuse_all: bool = False) -> None:
        import threading

        from http.server import BaseHTTPRequestHandler
        from http.server import ThreadingHTTPServer

        wheel = "torch-2.9.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl"
        body = f'<a href="/{wheel}#sha256={"0" * 64}">{wheel}</a>'.encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                found = self.path == "/whl/cu130/torch/" and not refuse_all
                self.send_response(200 if found else 403)
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/whl"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_403_after_a_served_page_means_not_published() -> None:
    s3 = _S3Like()
    try:
        pages, _ = counting_pages()
        why = pages.missing(f"{s3.base}/cu130", FAMILY, CP312_LINUX)
    finally:
        s3.close()
    assert str(why) == f"torchvision is not published on {s3.base}/cu130"


def test_a_403_on_the_first_page_is_a_refusal() -> None:
    s3 = _S3Like(refuse_all=True)
    try:
        pages, _ = counting_pages()
        with pytest.raises(IndexAccessError, match=r"refused access \(HTTP 403\)"):
            pages.missing(f"{s3.base}/cu130", FAMILY, CP312_LINUX)
    finally:
        s3.close()


def test_an_interpreter_is_asked_once_per_command(tmp_path: Path) -> None:
    """One command asks the environment for its tags from several places: the interpreter
    starts once; a replaced executable (a recreated venv) is asked again."""
    import sys

    from poetry_torch_plugin.installer.backend import environment_wheel_target

    log = tmp_path / "started"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho x >> "{log}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    first = environment_wheel_target(python)
    assert first is not None
    assert environment_wheel_target(python) == first
    assert log.read_text().count("x") == 1
    replaced = tmp_path / "python.new"
    replaced.write_text(python.read_text())
    replaced.chmod(0o755)
    replaced.replace(python)
    assert environment_wheel_target(python) == first
    assert log.read_text().count("x") == 2
