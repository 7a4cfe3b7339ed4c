from __future__ import annotations

import re

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import Listing
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.resolve import install_locked
from poetry_torch_plugin.installer.resolve import lock_from_report
from poetry_torch_plugin.installer.resolve import python_allows
from poetry_torch_plugin.installer.resolve import replay_failure
from poetry_torch_plugin.installer.resolve import wheel_allowed
from tests.unit.core.test_lockfile import URL
from tests.unit.core.test_lockfile import digest
from tests.unit.core.test_lockfile import inputs
from tests.unit.core.test_lockfile import sample_lock


# --- building the lock from pip's report ----------------------------------------------------


def report_item(name: str, version: str, filename: str, sha: str, *, requested: bool) -> Any:
    return {
        "download_info": {
            "url": f"https://download.pytorch.org/whl/cu129/{filename.replace('+', '%2B')}",
            "archive_info": {"hash": f"sha256={sha}", "hashes": {"sha256": sha}},
        },
        "is_direct": False,
        "requested": requested,
        "metadata": {"name": name, "version": version},
    }


TORCH_FILES = (
    ("torch-2.9.0+cu129-cp38-cp38-manylinux_2_28_x86_64.whl", digest("38")),
    ("torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl", digest("311")),
    ("torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl", digest("311a")),
    ("torch-2.9.0+cu129-cp313-cp313t-win_amd64.whl", digest("313t")),
    ("torch-2.8.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl", digest("old")),
    ("torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl", ""),  # no hash published
    ("torch-2.9.0+cu129-cp39-abi3-manylinux_2_28_x86_64.whl", digest("abi3")),
)
REPORT: dict[str, Any] = {
    "version": "1",
    "install": [
        report_item(
            "torch",
            "2.9.0+cu129",
            "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
            digest("311"),
            requested=True,
        ),
        report_item(
            "Filelock",
            "3.19.1",
            "filelock-3.19.1-py3-none-any.whl",
            digest("filelock"),
            requested=False,
        ),
    ],
    "environment": {
        "implementation_name": "cpython",
        "python_version": "3.11",
        "sys_platform": "linux",
        "platform_machine": "x86_64",
    },
}


def listings(name: str) -> Listing | None:
    if name == "torch":
        return Listing("torch", URL + "/torch/", TORCH_FILES)
    return None  # the report's own file and hash are enough


def test_lock_from_report_keeps_every_allowed_platform_file() -> None:
    lock = lock_from_report(REPORT, inputs(requires_python=">=3.9"), listings)
    assert [p.name for p in lock.packages] == ["filelock", "torch"]
    filelock, torch = lock.packages
    assert not filelock.requested
    assert filelock.files == (("filelock-3.19.1-py3-none-any.whl", digest("filelock")),)
    assert torch.requested
    assert torch.version == "2.9.0+cu129"
    names = [name for name, _ in torch.files]
    assert names == sorted(names)
    assert set(names) == {
        "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl",
        "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.9.0+cu129-cp313-cp313t-win_amd64.whl",
        "torch-2.9.0+cu129-cp39-abi3-manylinux_2_28_x86_64.whl",
    }  # not cp38 (requires-python), not 2.8.0, not the file without a hash
    assert lock.resolved_for == "cpython 3.11 linux x86_64"
    assert lock.fresh_for(inputs(requires_python=">=3.9"))


def test_lock_from_report_needs_a_hash() -> None:
    item = report_item("torch", "2.9.0+cu129", "torch.whl", "", requested=True)
    item["download_info"]["archive_info"] = {}
    unhashed = Listing("torch", URL + "/torch/", (("torch-2.9.0+cu129-py3-none-any.whl", ""),))
    with pytest.raises(IndexAccessError, match="publishes no sha256"):
        lock_from_report({"install": [item]}, inputs(), lambda name: unhashed)


def test_a_page_without_sha256_locks_the_downloaded_bytes_and_says_so(tmp_path: Path) -> None:
    """PyTorch's nightly pages carry no ``#sha256=``: the hash of the file downloaded (pip's
    report of the wheelhouse) is locked, marked ``index-sha256 = false``, and read back the
    same; a package whose page has hashes stays unmarked (issue 22, item 4)."""
    from poetry_torch_plugin.core.lockfile import dumps
    from poetry_torch_plugin.core.lockfile import loads

    name = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl"
    torch = report_item("torch", "2.9.0+cu129", name, digest("downloaded"), requested=True)
    torch["download_info"]["url"] = (tmp_path / name).as_uri()  # the wheelhouse's copy
    other = report_item(
        "filelock", "3.19.1", "filelock-3.19.1-py3-none-any.whl", "", requested=False
    )
    other["download_info"]["archive_info"] = {}
    pages = {
        "torch": Listing("torch", URL + "/torch/", ((name, ""),)),
        "filelock": Listing(
            "filelock", URL + "/filelock/", (("filelock-3.19.1-py3-none-any.whl", digest("f")),)
        ),
    }
    lock = lock_from_report({"install": [torch, other]}, inputs(), pages.get)
    filelock, locked = lock.packages
    assert locked.files == ((name, digest("downloaded")),)
    assert not locked.index_sha256
    assert filelock.index_sha256
    text = dumps(lock)
    assert text.count("index-sha256 = false") == 1
    assert "# the index published no sha256: these are of the bytes downloaded" in text
    assert loads(text) == lock


def test_an_unhashed_page_makes_the_lock_download_to_hash() -> None:
    from poetry_torch_plugin.installer.download_once import hashes_missing

    name = "torch-2.9.0+cu129-py3-none-any.whl"
    assert hashes_missing(Listing("torch", URL + "/torch/", ((name, ""),), metadata=True))
    assert not hashes_missing(Listing("torch", URL + "/torch/", ((name, digest("t")),)))
    assert not hashes_missing(Listing("torch", "file:///idx/torch/", ((name, ""),)))
    assert not hashes_missing(None)


def test_another_machines_files_without_sha256_are_downloaded_to_hash_them(tmp_path: Path) -> None:
    """A team lock's entry (uv's report: no file, no hash) on an index without sha256: the
    files of the chosen version that fit that machine (and requires-python) are downloaded
    through the index's access, hashed and not kept, once per run; no other file is read,
    the package is locked ``index-sha256 = false`` with the URLs the page gave, and a file
    that cannot be read stops the lock (issue 22, item 4)."""
    import hashlib

    from poetry_torch_plugin.installer.resolve import download_hashes

    names = [name for name, _ in TORCH_FILES]
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
    links = tuple((name, (tmp_path / name).as_uri()) for name in names)
    page = Listing("torch", URL + "/torch/", tuple((n, "") for n in names), links=links)
    aarch64 = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl"
    seen: dict[str, str] = {}
    hashing = download_hashes(IndexAccess(URL), lambda name: "aarch64" in name, seen)
    report = {"install": [uv_item("torch", "2.9.0+cu129")]}
    lock = lock_from_report(
        report, inputs(requires_python=">=3.11"), {"torch": page}.get, hash_file=hashing
    )
    [torch] = lock.packages
    assert torch.files == ((aarch64, hashlib.sha256(aarch64.encode()).hexdigest()),)
    assert not torch.index_sha256
    assert torch.urls == ((aarch64, (tmp_path / aarch64).as_uri()),)
    assert list(seen) == [(tmp_path / aarch64).as_uri()]
    (tmp_path / aarch64).unlink()  # a second entry locking the same file reads it no more
    assert (
        lock_from_report(
            report, inputs(requires_python=">=3.11"), {"torch": page}.get, hash_file=hashing
        )
        == lock
    )
    with pytest.raises(
        IndexAccessError,
        match=f"cannot download {re.escape(aarch64)} from .*, which the lock downloads to hash",
    ):
        lock_from_report(
            report,
            inputs(requires_python=">=3.11"),
            {"torch": page}.get,
            hash_file=download_hashes(IndexAccess(URL), lambda name: "aarch64" in name, {}),
        )
    # uv's hashes, where it gave some, must be among those of the bytes downloaded
    other = {"install": [uv_item("torch", "2.9.0+cu129", digest("elsewhere"))]}
    with pytest.raises(IndexAccessError, match="with other files than"):
        lock_from_report(
            other, inputs(requires_python=">=3.11"), {"torch": page}.get, hash_file=hashing
        )


def uv_item(name: str, version: str, *hashes: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "version": version}, "requested": True, "hashes": hashes}


def test_lock_from_uv_report_names_files_from_the_index() -> None:
    report = {"install": [uv_item("torch", "2.9.0+cu129", digest("311"), digest("elsewhere"))]}
    lock = lock_from_report(report, inputs(requires_python=">=3.11"), listings)
    [torch] = lock.packages
    assert [name for name, _ in torch.files] == [
        "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl",
        "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torch-2.9.0+cu129-cp313-cp313t-win_amd64.whl",
        "torch-2.9.0+cu129-cp39-abi3-manylinux_2_28_x86_64.whl",
    ]
    assert lock.resolved_for == "? ? ? ?"  # no environment in this report


def test_lock_from_uv_report_refuses_an_index_that_disagrees() -> None:
    report = {"install": [uv_item("torch", "2.9.0+cu129", digest("republished"))]}
    with pytest.raises(IndexAccessError, match="other files than the installer just resolved"):
        lock_from_report(report, inputs(), listings)


def test_lock_from_uv_report_without_a_page_cannot_name_files() -> None:
    report = {"install": [uv_item("filelock", "3.19.1", digest("filelock"))]}
    with pytest.raises(IndexAccessError, match=r"page of filelock on .* could not be read"):
        lock_from_report(report, inputs(), listings)


@pytest.mark.parametrize(
    ("filename", "requires_python", "allowed"),
    [
        ("torch-2.9.0-cp311-cp311-linux_x86_64.whl", ">=3.9", True),
        ("torch-2.9.0-cp38-cp38-linux_x86_64.whl", ">=3.9", False),
        ("torch-2.9.0-cp313-cp313t-linux_x86_64.whl", ">=3.9,<3.13", False),
        ("torch-2.9.0-cp39-abi3-linux_x86_64.whl", ">=3.11", True),
        ("x-1.0-py3-none-any.whl", ">=3.9", True),
        ("x-1.0-py2.py3-none-any.whl", ">=3.9", True),
        ("x-1.0-py2-none-any.whl", ">=3.9", False),
        ("torch-2.9.0-cp310-cp310-linux_x86_64.whl", "^3.10", True),  # Poetry's syntax
        ("torch-2.9.0-cp39-cp39-linux_x86_64.whl", "^3.10", False),
        ("torch-2.9.0-cp39-cp39-linux_x86_64.whl", ">=3.9.1", True),
        ("torch-2.9.0-cp38-cp38-linux_x86_64.whl", "", True),
        ("x-1.0.tar.gz", ">=3.9", True),
    ],
)
def test_wheel_allowed(filename: str, requires_python: str, allowed: bool) -> None:
    allows = python_allows(requires_python)
    assert wheel_allowed(filename, allows) is allowed


# --- replaying ------------------------------------------------------------------------------


class RecordingBackend:
    """A non-pip backend: install_locked hands it the hashed requirements file."""

    name = "uv"
    login_variable = "UV_INDEX_URL"
    compile_bytecode = False

    def __init__(self) -> None:
        self.seen: list[tuple[Request, str]] = []

    def command(self, target: TargetEnv, request: Request) -> list[str]:
        return ["uv", "pip", "install", *request.requirements]

    def environment(self, request: Request) -> dict[str, str]:
        return {}

    def report_command(self, target: TargetEnv, request: Request, folder: Path) -> list[str]:
        raise AssertionError("a locked install resolves nothing")

    def report(self, target: TargetEnv, request: Request) -> dict[str, Any]:
        raise AssertionError("a locked install resolves nothing")

    def run(self, target: TargetEnv, request: Request) -> tuple[int, str]:
        self.seen.append((request, Path(request.requirements[-1]).read_text()))
        return 0, ""

    def install(self, target: TargetEnv, request: Request) -> None:
        raise AssertionError("a locked install needs the installer's own error output")


def test_install_locked_hands_other_backends_the_hashed_file(tmp_path: Path) -> None:
    backend = RecordingBackend()
    target = TargetEnv(tmp_path, tmp_path / "bin" / "python", ())
    access = IndexAccess(URL)
    pins = install_locked(target, sample_lock(), access, backend=backend, quiet=True)
    assert pins == ("nvidia-cublas-cu12==12.9.1.4", "torch==2.9.0+cu129")
    [(request, text)] = backend.seen
    assert request.index_url == URL
    assert request.requirements[:2] == ("--require-hashes", "-r")
    assert request.quiet
    assert text.splitlines() == requirement_lines(sample_lock())


MISMATCH = """ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.
    torch==2.9.0+cu129 from http://127.0.0.1:1/whl/cu129/torch-2.9.0%2Bcu129-py3-none-any.whl:
        Expected sha256 abc
             Got        def
"""
# uv 0.13's words, recorded from a real run against the test index.
UV_MISMATCH = """error: Failed to download `torch==2.9.0+cu129`
  cause: Hash mismatch for `torch==2.9.0+cu129`

         Expected:
           sha256:0000000000000000000000000000000000000000000000000000000000000000
"""
UV_NOT_A_ZIP = """error: Failed to download `torch==2.8.0+cu128`
  cause: Failed to extract archive: torch-2.8.0+cu128-py3-none-any.whl
  cause: ZIP local header filename at offset 605 does not use UTF-8 encoding
"""
UV_MISSING = (
    "error: Hash-checking is required, but no trusted hash was provided for:"
    " `nvidia-fakeblas-cu12`\n"
)
MISSING = """ERROR: Hashes are required in --require-hashes mode, but they are missing from some requirements. Here is a list of those requirements along with the hashes their downloaded archives actually had.
    setuptools==80.0.0 --hash=sha256:0123
"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (MISMATCH, "does not match its sha256 in poetry-torch.lock"),
        (MISSING, "resolved for cpython 3.11 linux x86_64"),
        ("ERROR: boom\n", "pip failed: boom"),
        (UV_MISMATCH, "does not match its sha256 in poetry-torch.lock"),
        (UV_NOT_A_ZIP, "does not match its sha256 in poetry-torch.lock"),
        (UV_MISSING, "resolved for cpython 3.11 linux x86_64"),
        ("error: boom\n", "uv failed: boom"),
    ],
)
def test_replay_failures_are_one_line_without_secrets(stderr: str, expected: str) -> None:
    target = TargetEnv(Path("/venv"), Path("/venv/bin/python"), ())
    url = "https://user:s3cret@mirror.example/whl/cu129"
    tool = "uv" if stderr.startswith("error") else "pip"
    message = str(replay_failure(stderr, sample_lock(), url, target, tool))
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message


# --- one download: the wheelhouse -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "metadata", "needed"),
    [
        ("https://mirror.example/whl/cu129/torch/", False, True),
        ("https://download.pytorch.org/whl/cu129/torch/", True, False),
        ("file:///srv/wheels/cu129/torch/", False, False),
    ],
)
def test_wheelhouse_only_where_resolving_would_download_wheels(
    url: str, metadata: bool, needed: bool
) -> None:
    from poetry_torch_plugin.installer.download_once import wheelhouse_needed

    assert wheelhouse_needed(Listing("torch", url, TORCH_FILES, metadata)) is needed
    assert wheelhouse_needed(None) is False


def test_listing_sees_pep658_metadata() -> None:
    from poetry_torch_plugin.index.pages import _parse_listing

    plain = '<a href="/t/torch-2.9.0-py3-none-any.whl#sha256=ab">torch</a>'
    offered = '<a href="/t/torch-2.9.0-py3-none-any.whl#sha256=ab" data-core-metadata="sha256=cd">'
    legacy = '<a data-dist-info-metadata="true" href="/t/torch-2.9.0-py3-none-any.whl">'
    assert not _parse_listing("torch", URL, plain).metadata
    assert _parse_listing("torch", URL, offered).metadata
    assert _parse_listing("torch", URL, legacy).metadata


def test_download_report_describes_the_wheelhouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from poetry_torch_plugin.installer import pip as pip_module
    from poetry_torch_plugin.installer.download_once import download_report

    def fake_download(_self: object, _target: TargetEnv, _request: Request, dest: Path) -> None:
        (dest / "torch-2.9.0+cu129-py3-none-any.whl").write_bytes(b"torch")
        (dest / "nvidia_cublas_cu12-12.9.1.4-py3-none-any.whl").write_bytes(b"cublas")

    monkeypatch.setattr(pip_module.PipBackend, "download", fake_download)
    target = TargetEnv(tmp_path, Path("/no/python"), ())
    house = tmp_path / "house"
    house.mkdir()
    report = download_report(target, Request(URL, ("torch>=2.8",)), house)
    assert report is not None
    items = {item["metadata"]["name"]: item for item in report["install"]}
    assert items["torch"]["metadata"]["version"] == "2.9.0+cu129"
    assert items["torch"]["requested"] and not items["nvidia-cublas-cu12"]["requested"]
    sha = items["torch"]["download_info"]["archive_info"]["hashes"]["sha256"]
    assert sha == hashlib.sha256(b"torch").hexdigest()


def test_install_locked_from_a_wheelhouse_uses_no_index(tmp_path: Path) -> None:
    from poetry_torch_plugin.installer.pip import PipBackend

    backend = RecordingBackend()
    target = TargetEnv(tmp_path, tmp_path / "bin" / "python", ())
    house = tmp_path / "house"
    house.mkdir()
    (house / "torch-2.9.0+cu129-py3-none-any.whl").write_bytes(b"torch")
    install_locked(target, sample_lock(), IndexAccess(URL), backend=backend, wheelhouse=house)
    [(request, _)] = backend.seen
    assert request.find_links == str(house)
    assert PipBackend().index_args(request) == ["--no-index", "--find-links", str(house)]


@pytest.mark.parametrize("metadata", [False, True])
def test_uv_replays_from_files_pip_fetched_once_when_the_index_has_no_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metadata: bool
) -> None:
    """uv would read each wheel twice from such an index: pip downloads the locked files once
    (hash-checked) and uv installs them with no index; with metadata uv reads the index."""
    import poetry_torch_plugin.installer.download_once as wheelhouse

    fetched: list[tuple[str, ...]] = []

    def fetch(target: TargetEnv, request: Request, house: Path) -> tuple[int, str]:
        fetched.append(request.requirements)
        house.mkdir(parents=True, exist_ok=True)
        (house / "torch-2.9.0+cu129-py3-none-any.whl").write_bytes(b"torch")
        return 0, ""

    monkeypatch.setattr(wheelhouse, "fetch_locked", fetch)
    backend = RecordingBackend()
    target = TargetEnv(tmp_path, tmp_path / "bin" / "python", ())
    listing = Listing("torch", URL, TORCH_FILES, metadata)
    install_locked(target, sample_lock(), IndexAccess(URL), backend=backend, listing=listing)
    [(request, _)] = backend.seen
    if metadata:
        assert fetched == [] and request.find_links is None
    else:
        assert fetched[0][:2] == ("--require-hashes", "-r")
        assert request.find_links is not None and request.find_links.endswith("wheels")


def test_a_tampered_file_pip_fetched_for_uv_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import poetry_torch_plugin.installer.download_once as wheelhouse

    from poetry_torch_plugin.errors import InstallError

    def fetch(target: TargetEnv, request: Request, house: Path) -> tuple[int, str]:
        return 1, "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."

    monkeypatch.setattr(wheelhouse, "fetch_locked", fetch)
    backend = RecordingBackend()
    target = TargetEnv(tmp_path, tmp_path / "bin" / "python", ())
    listing = Listing("torch", URL, TORCH_FILES, False)
    with pytest.raises(InstallError, match="does not match its sha256"):
        install_locked(target, sample_lock(), IndexAccess(URL), backend=backend, listing=listing)
    assert backend.seen == []


def test_lock_keeps_the_url_the_page_gave_without_login_or_fragment() -> None:
    """PyTorch's pages link torch to another host (download-r2) and the rest root-relative:
    the lock keeps each file's URL as linked, never the index's login, never a signed query."""
    page = "https://u:secret@download.pytorch.org/whl/cu129/torch/"
    name = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl"
    other = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl"
    r2 = f"https://download-r2.pytorch.org/whl/cu129/{name.replace('+', '%2B')}"
    listing = Listing(
        "torch",
        page,
        ((name, digest("311")), (other, digest("311a"))),
        links=((name, r2 + f"#sha256={digest('311')}"), (other, f"{r2}?X-Amz-Signature=s")),
    )

    def listing_of(project: str) -> Listing | None:
        return listing if project == "torch" else None

    lock = lock_from_report(REPORT, inputs(requires_python=">=3.11"), listing_of)
    filelock, torch = lock.packages
    assert dict(torch.urls) == {name: r2}  # the signed link is left to {index}/{file}
    assert torch.url_of(other, URL) == f"{URL}/{other.replace('+', '%2B')}"
    # pip's report names the file it chose where no page was read
    assert filelock.urls == (
        (
            "filelock-3.19.1-py3-none-any.whl",
            "https://download.pytorch.org/whl/cu129/filelock-3.19.1-py3-none-any.whl",
        ),
    )
    listed = Listing("x", "https://u:pw@mirror.example/simple/x/", ())
    assert "pw" not in str(lock_from_report(REPORT, inputs(), lambda n: listed).packages)
