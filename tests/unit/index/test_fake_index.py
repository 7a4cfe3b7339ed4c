"""The fake PyTorch indexes behave like real ones for pip, and their faults do what they say."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import subprocess
import sys
import time
import zipfile

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import CAPTIVE_PORTAL_PAGE
from tests.support.wheels import build_torch_universe
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.wheels import Universe

REPO = Path(__file__).resolve().parents[3]
TORCH_129 = "/whl/cu129/torch-2.8.0+cu129-py3-none-any.whl"


def fetch(
    server: IndexServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw request, no redirects followed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Real pip, blind to this machine's pip.conf, PIP_* variables and caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    command = [sys.executable, "-m", "pip", *args[:1], "--isolated", "--no-input"]
    command += ["--disable-pip-version-check", "--no-cache-dir", "--retries", "0", *args[1:]]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def page_hash(server: IndexServer, page: str, filename: str) -> str:
    _, _, body = fetch(server, page)
    match = re.search(
        re.escape(filename.replace("+", "%2B")) + r"#sha256=([0-9a-f]{64})", body.decode()
    )
    assert match, body
    return match.group(1)


# -- wheels -----------------------------------------------------------------------------------


def test_wheels_are_reproducible_and_well_formed(tmp_path: Path) -> None:
    first = build_wheel(tmp_path / "a", "Torch_Vision", "0.23.0+cu129", requires=["torch==2.8.0"])
    second = build_wheel(tmp_path / "b", "Torch_Vision", "0.23.0+cu129", requires=["torch==2.8.0"])
    assert first.name == "torch_vision-0.23.0+cu129-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        dist_info = "torch_vision-0.23.0+cu129.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        assert "Name: Torch_Vision\nVersion: 0.23.0+cu129\n" in metadata
        assert "Requires-Dist: torch==2.8.0\n" in metadata
        assert "Tag: py3-none-any\n" in archive.read(f"{dist_info}/WHEEL").decode()
        rows = archive.read(f"{dist_info}/RECORD").decode().splitlines()
        assert rows[-1] == f"{dist_info}/RECORD,,"
        for row in rows[:-1]:
            path, digest, size = row.split(",")
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}"
            assert int(size) == len(data)


def test_universe_holds_each_index(index_universe: Universe) -> None:
    names = {
        index: sorted(w.name for w in wheels) for index, wheels in index_universe.wheels.items()
    }
    assert set(names) == {"cu129", "cu128", "cpu", "cu126", "pypi"}
    assert "torch-2.9.0+cu129-py3-none-any.whl" in names["cu129"]
    assert "nvidia_fakeblas_cu12-12.8.4-py3-none-any.whl" in names["cu128"]
    assert all("win_amd64" in name for name in names["cu126"])
    assert "torch-2.8.0-py3-none-any.whl" in names["pypi"]
    pypi_torch = index_universe.wheel("pypi", "torch", "2.8.0")
    with zipfile.ZipFile(pypi_torch) as archive:
        version_py = archive.read("torch/version.py").decode()
    assert '__version__ = "2.8.0+cu128"' in version_py
    assert 'cuda = "12.8"' in version_py
    with zipfile.ZipFile(index_universe.wheel("cpu", "torch", "2.8.0+cpu")) as archive:
        assert "cuda = None\n" in archive.read("torch/version.py").decode()


# -- pip against the server -------------------------------------------------------------------


def test_pip_downloads_the_exact_build_with_a_matching_hash(
    index_server: IndexServer,
    index_universe: Universe,
    tmp_path: Path,
) -> None:
    result = pip(
        "download", "--no-deps", "--index-url", f"{index_server.base}/cu129",
        "torch==2.8.0+cu129", "-d", str(tmp_path / "dl"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (downloaded,) = (tmp_path / "dl").iterdir()
    assert downloaded.name == "torch-2.8.0+cu129-py3-none-any.whl"
    assert (
        downloaded.read_bytes()
        == index_universe.wheel("cu129", "torch", "2.8.0+cu129").read_bytes()
    )
    advertised = page_hash(index_server, "/whl/cu129/torch/", downloaded.name)
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == advertised
    assert all(r.path.startswith("/whl/cu129/") for r in index_server.requests)


def test_pip_install_pulls_the_fake_cuda_runtime(index_server: IndexServer, tmp_path: Path) -> None:
    target = tmp_path / "target"
    result = pip(
        "install", "--target", str(target), "--index-url", index_server.index_url("cu129"),
        "torch==2.8.0", "torchvision", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "nvidia" / "fakeblas" / "__init__.py").is_file()
    assert (target / "nvidia_fakeblas_cu12-12.9.1.dist-info").is_dir()
    probe = "import torch, torchvision; print(torch.__version__, torch.version.cuda, torchvision.__version__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(target)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.split() == ["2.8.0+cu129", "12.9", "0.23.0+cu129"]
    wheel_bytes = index_server.bytes_for("/whl/cu129/torch-2.8.0")
    assert wheel_bytes > 1000  # the metadata file and then the wheel itself


def test_pip_finds_nothing_for_a_foreign_platform_index(
    index_server: IndexServer, tmp_path: Path
) -> None:
    result = pip(
        "download", "--no-deps", "--index-url", f"{index_server.base}/cu126",
        "torch==2.8.0", "-d", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "No matching distribution found for torch==2.8.0" in result.stderr
    status, _, body = fetch(index_server, "/whl/cu126/torch/")
    assert status == 200
    assert b"cp39-cp39-win_amd64.whl" in body


def test_pip_rejects_a_tampered_wheel(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.set_fault("/whl/cu129/torch-", "tamper")
    result = pip(
        "download", "--no-deps", "--index-url", f"{index_server.base}/cu129",
        "torch==2.8.0+cu129", "-d", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr


def test_pip_passes_basic_auth_from_the_url(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.require_auth("/whl/cu129/", "alice", "s3cret")
    url = f"http://alice:s3cret@127.0.0.1:{index_server.port}/whl/cu129/"
    args = ("--no-deps", "torch==2.8.0+cu129", "-d", str(tmp_path / "dl"))
    denied = pip("download", "--index-url", index_server.index_url("cu129"), *args, cwd=tmp_path)
    assert denied.returncode != 0
    allowed = pip("download", "--index-url", url, *args, cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr


# -- pages, redirects, files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/whl/cu999/", 404, None),
        ("/whl/cu999/torch/", 404, None),
        ("/whl/cu129/nosuchproject/", 404, None),
        ("/whl/cu129/torch/extra", 404, None),
        ("/pypi/files/nope.whl", 404, None),
        ("/", 404, None),
        ("/whl/cu129", 301, "/whl/cu129/"),
        ("/whl/cu129/torch", 301, "/whl/cu129/torch/"),
        ("/whl/cu129/Torch_Vision/", 301, "/whl/cu129/torch-vision/"),
        ("/pypi/simple", 301, "/pypi/simple/"),
        ("/pypi/simple/TinyDep", 301, "/pypi/simple/tinydep/"),
        ("/whl/", 200, None),
        ("/pypi/simple/tinydep/", 200, None),
    ],
)
def test_routes(index_server: IndexServer, path: str, status: int, location: str | None) -> None:
    got, headers, _ = fetch(index_server, path)
    assert got == status
    assert headers.get("Location") == location


def test_project_pages_list_projects_and_links(index_server: IndexServer) -> None:
    _, _, root = fetch(index_server, "/pypi/simple/")
    assert re.findall(r'href="/pypi/simple/([^/]+)/"', root.decode()) == [
        "cuda-bindings", "cuda-python", "nvidia-fakeblas-cu12", "nvidia-ml-py", "otherlib",
        "tinydep", "torch", "torchaudio", "torchmetrics", "torchvision",
    ]  # fmt: skip
    _, headers, page = fetch(index_server, "/whl/cu129/torch/")
    assert headers["Content-Type"].startswith("text/html")
    hrefs = re.findall(r'href="([^"]+)"', page.decode())
    assert [h.split("#")[0] for h in hrefs] == [
        "/whl/cu129/torch-2.8.0%2Bcu129-py3-none-any.whl",
        "/whl/cu129/torch-2.9.0%2Bcu129-py3-none-any.whl",
    ]
    assert "data-requires-python" not in page.decode()


def test_requires_python_and_pep658_metadata(
    index_server: IndexServer, index_universe: Universe
) -> None:
    extra = build_wheel(
        index_universe.root / "whl" / "cpu", "newonly", "1.0", requires_python=">=3.10"
    )
    try:
        _, _, page = fetch(index_server, "/whl/cpu/newonly/")
        assert 'data-requires-python="&gt;=3.10"' in page.decode()
        match = re.search(r'data-core-metadata="sha256=([0-9a-f]{64})"', page.decode())
        assert match
        status, _, metadata = fetch(index_server, "/whl/cpu/newonly-1.0-py3-none-any.whl.metadata")
        assert status == 200
        assert hashlib.sha256(metadata).hexdigest() == match.group(1)
        assert b"Requires-Python: >=3.10" in metadata
    finally:
        extra.unlink()


def test_range_requests_serve_the_tail_of_a_wheel(index_server: IndexServer) -> None:
    _, _, whole = fetch(index_server, TORCH_129)
    status, headers, tail = fetch(index_server, TORCH_129, {"Range": "bytes=-100"})
    assert status == 206
    assert tail == whole[-100:]
    assert headers["Content-Range"] == f"bytes {len(whole) - 100}-{len(whole) - 1}/{len(whole)}"


def test_a_server_without_ranges_or_metadata(index_universe: Universe) -> None:
    from tests.support.index_server import IndexServer

    with IndexServer(index_universe.root, metadata=False, ranges=False) as plain:
        _, _, whole = fetch(plain, TORCH_129)
        status, headers, body = fetch(plain, TORCH_129, {"Range": "bytes=-100"})
        assert (status, headers["Accept-Ranges"], body) == (200, "none", whole)
        assert fetch(plain, TORCH_129 + ".metadata")[0] == 404
        assert "data-core-metadata" not in fetch(plain, "/whl/cu129/torch/")[2].decode()
        served = sum(r.bytes_sent for r in plain.requests if r.path == TORCH_129)
        assert served == 2 * len(whole)


# -- faults, auth, the log --------------------------------------------------------------------


def test_fault_404_and_500(index_server: IndexServer) -> None:
    index_server.set_fault("/whl/cu128/", "404")
    index_server.set_fault("/whl/cu129/", "500")
    assert fetch(index_server, "/whl/cu128/torch/")[0] == 404
    assert fetch(index_server, TORCH_129)[0] == 500
    assert fetch(index_server, "/whl/cpu/torch/")[0] == 200
    index_server.clear_faults()
    assert fetch(index_server, "/whl/cu129/torch/")[0] == 200


def test_fault_slow_delays_then_answers(index_server: IndexServer) -> None:
    index_server.set_fault("/pypi/", "slow", delay=0.3)
    started = time.monotonic()
    status, _, _ = fetch(index_server, "/pypi/simple/tinydep/")
    assert status == 200
    assert time.monotonic() - started >= 0.3


def test_fault_html_is_a_page_without_links(index_server: IndexServer) -> None:
    index_server.set_fault("/whl/cu129/", "html")
    status, headers, body = fetch(index_server, "/whl/cu129/torch/")
    assert (status, body) == (200, CAPTIVE_PORTAL_PAGE)
    assert headers["Content-Type"].startswith("text/html")
    assert b"<a " not in body


def test_fault_tamper_flips_one_byte_of_wheels_only(index_server: IndexServer) -> None:
    _, _, good = fetch(index_server, TORCH_129)
    _, _, page = fetch(index_server, "/whl/cu129/torch/")
    index_server.set_fault("/whl/cu129/", "tamper")
    _, _, bad = fetch(index_server, TORCH_129)
    assert len(bad) == len(good)
    assert sum(a != b for a, b in zip(good, bad)) == 1
    assert fetch(index_server, "/whl/cu129/torch/")[2] == page  # pages stay intact


def test_fault_drop_closes_without_a_response(index_server: IndexServer) -> None:
    index_server.set_fault("/whl/cu129/torch/", "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        fetch(index_server, "/whl/cu129/torch/")
    assert index_server.requests[-1].status == 0
    assert fetch(index_server, "/whl/cu129/torchvision/")[0] == 200  # the longest prefix wins


def test_unknown_fault_mode_is_refused(index_server: IndexServer) -> None:
    with pytest.raises(ValueError, match="unknown fault mode"):
        index_server.set_fault("/", "teapot")  # type: ignore[arg-type]


def test_basic_auth(index_server: IndexServer) -> None:
    index_server.require_auth("/whl/cu129/", "alice", "s3cret")
    status, headers, _ = fetch(index_server, "/whl/cu129/torch/")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic")
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    wrong = "Basic " + base64.b64encode(b"alice:nope").decode()
    assert fetch(index_server, "/whl/cu129/torch/", {"Authorization": wrong})[0] == 401
    assert fetch(index_server, "/whl/cu129/torch/", {"Authorization": good})[0] == 200
    assert fetch(index_server, "/whl/cu128/torch/")[0] == 200


def test_request_log_counts_body_bytes(index_server: IndexServer) -> None:
    assert index_server.requests == []
    _, _, body = fetch(index_server, TORCH_129)
    fetch(index_server, "/whl/cu999/")
    first, second = index_server.requests
    assert (first.method, first.path, first.status, first.bytes_sent) == (
        "GET",
        TORCH_129,
        200,
        len(body),
    )
    assert second.status == 404
    assert index_server.bytes_for("/whl/cu129/") == len(body)
    assert index_server.requested("/whl/cu999/") == [second]
    index_server.clear_log()
    assert index_server.requests == []


def test_urls(index_server: IndexServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", index_server.url)
    assert index_server.base == f"{index_server.url}/whl"
    assert index_server.index_url("cu129") == f"{index_server.url}/whl/cu129/"
    assert index_server.pypi_url == f"{index_server.url}/pypi/simple/"
    assert index_server.index_url("pypi") == index_server.pypi_url


def test_command_line_builds_and_serves(tmp_path: Path) -> None:
    root = tmp_path / "served"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.index_server", "--root", str(root), "--port", "0"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        connection.request("GET", "/whl/cpu/torch/")
        assert b"torch-2.8.0%2Bcpu-py3-none-any.whl" in connection.getresponse().read()
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert (
        build_torch_universe(tmp_path / "again").wheels["cpu"][0].read_bytes()
        == (root / "whl" / "cpu" / "torch-2.8.0+cpu-py3-none-any.whl").read_bytes()
    )


def test_the_real_shape_is_pytorchs_2026_page(real_index_server: IndexServer) -> None:
    """``IndexServer(real=True)``, as pytorch/test-infra's manage_v2.py writes the pages."""
    import urllib.error
    import urllib.request

    server = real_index_server
    assert server.files_url and server.files_url != server.url
    status, _, body = fetch(server, "/whl/cu129/torch/")
    page = body.decode()
    assert status == 200 and "<head>" not in page
    assert "<h1>Links for torch</h1>" in page
    assert re.search(r"</html>\n<!--TIMESTAMP \d+-->$", page)
    links = re.findall(r'<a href="([^"]+)"([^>]*)>', page)
    assert links and all(h.startswith(f"{server.files_url}/whl/cu129/torch-") for h, _ in links)
    assert all("#sha256=" in h and "%2B" in h for h, _ in links)
    assert all('data-dist-info-metadata="sha256=' in a for _, a in links)
    assert all('data-core-metadata="sha256=' in a and "data-upload-time=" in a for _, a in links)
    assert not any("data-requires-python" in a for _, a in links)
    # the rest root-relative, without metadata (its .metadata is a 404)
    nvidia = fetch(server, "/whl/cu129/nvidia-fakeblas-cu12/")[2].decode()
    [(href, attributes)] = re.findall(r'<a href="([^"]+)"([^>]*)>', nvidia)
    assert href.startswith("/whl/cu129/nvidia_fakeblas_cu12-") and "#sha256=" in href
    assert "metadata" not in attributes
    assert fetch(server, href.split("#")[0] + ".metadata")[0] == 404
    assert fetch(server, href.split("#")[0])[0] == 200
    # torch lives on the second origin only, which never asks for the index's login
    assert fetch(server, TORCH_129)[0] == 404
    server.require_auth("/whl/", "alice", "pw")
    url = links[0][0].split("#")[0]
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(url + ".metadata", timeout=10) as response:
        assert b"Name: torch" in response.read()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{server.url}/whl/cu129/torch/", timeout=10)
