"""``POETRY_TORCH_INDEX_BASE`` is this machine's mirror of the project's index (issue 23, item 7):
``index.access`` maps a URL under the committed base to it when fetching, and maps the links
the mirror gives back, so that committed files never name it."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.index.access import mirror_url
from poetry_torch_plugin.index.access import resolve_access


PYTORCH = "https://download.pytorch.org/whl"
MIRROR = "http://127.0.0.1:8765/whl"


@pytest.fixture(autouse=True)
def _no_logins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "poetry_torch_plugin.index.access.poetry_credentials", lambda name: (None, None)
    )
    monkeypatch.setattr(
        "poetry_torch_plugin.index.access.poetry_certificates", lambda name: (None, None, True)
    )


def test_without_the_variable_nothing_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDEX_BASE_ENV, raising=False)
    assert mirror_url(f"{PYTORCH}/cu129") is None
    access = resolve_access("pytorch_cuda_cu129", f"{PYTORCH}/cu129")
    assert (access.url, access.mirror) == (f"{PYTORCH}/cu129", None)
    assert access.as_written(f"{PYTORCH}/cu129/torch-2.8.0.whl") == (
        f"{PYTORCH}/cu129/torch-2.8.0.whl"
    )


def test_a_url_under_the_committed_base_is_fetched_from_the_mirror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INDEX_BASE_ENV, MIRROR + "/")
    assert mirror_url(f"{PYTORCH}/cu129") == f"{MIRROR}/cu129"
    assert mirror_url(f"{PYTORCH}/nightly/cu130/") == f"{MIRROR}/nightly/cu130"
    # a source the project points elsewhere is fetched as written
    assert mirror_url("https://mirror.corp/whl/cu129") is None
    assert mirror_url("https://download.pytorch.org/whlx/cu129") is None
    # the committed base is `index-base` when the project sets one
    corp = "https://mirror.corp/whl"
    assert mirror_url(f"{corp}/cu129", corp) == f"{MIRROR}/cu129"
    access = resolve_access("pytorch_cuda_cu129", f"{PYTORCH}/cu129")
    assert access.url == f"{MIRROR}/cu129"
    assert access.mirror == (PYTORCH, MIRROR)


def test_links_the_mirror_gives_are_kept_as_the_project_names_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INDEX_BASE_ENV, MIRROR)
    access = resolve_access("pytorch_cuda_cu129", f"{PYTORCH}/cu129")
    wheel = "torch-2.8.0%2Bcu129-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert access.as_written(f"{MIRROR}/cu129/{wheel}#sha256=ab") == (
        f"{PYTORCH}/cu129/{wheel}#sha256=ab"
    )
    # elsewhere on the mirror's origin: not kept (the lock then names {index}/{file})
    assert access.as_written(f"http://127.0.0.1:8765/files/{wheel}") is None
    # another origin (PyTorch's file host, passed through): kept as given
    r2 = f"https://download-r2.pytorch.org/whl/cu129/{wheel}"
    assert access.as_written(r2) == r2


def test_the_mirror_login_is_used_and_never_part_of_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INDEX_BASE_ENV, "https://alice:s3cret@mirror.example/whl")
    access = resolve_access("pytorch_cuda_cu129", f"{PYTORCH}/cu129")
    assert access.url == "https://mirror.example/whl/cu129"
    assert (access.username, access.password) == ("alice", "s3cret")
    assert access.mirror == (PYTORCH, "https://mirror.example/whl")


def test_a_remote_plain_http_mirror_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POETRY_TORCH_ALLOW_HTTP", raising=False)
    monkeypatch.setenv(INDEX_BASE_ENV, "http://mirror.example/whl")
    with pytest.raises(ConfigError) as caught:
        resolve_access("pytorch_cuda_cu129", f"{PYTORCH}/cu129")
    message = str(caught.value)
    assert message.startswith(
        f"refusing plain http for http://mirror.example/whl/cu129 (from {INDEX_BASE_ENV})"
    )


def test_a_variable_that_is_no_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INDEX_BASE_ENV, "ftp://mirror.example/whl")
    with pytest.raises(ConfigError) as caught:
        mirror_url(f"{PYTORCH}/cu129")
    assert f"{INDEX_BASE_ENV} has an unsupported URL scheme 'ftp'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_export_through_the_mirror_names_it_and_the_lock_is_left_alone() -> None:
    from poetry_torch_plugin.core.formats import export_text
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import LockEntry
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.lockfile import moved
    from poetry_torch_plugin.core.record import replace

    wheel = "torch-2.8.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl"
    r2 = f"https://download-r2.pytorch.org/whl/cu129/{wheel}"
    inputs = LockInputs("pytorch_cuda_cu129", f"{PYTORCH}/cu129", ("torch",), ">=3.9")
    torch = LockedPackage("torch", "2.8.0+cu129", True, ((wheel, "a" * 64),))
    lock = TorchLock(inputs, inputs.content_hash(), (torch,))
    lock = replace(lock, entries=(LockEntry("cu129", "linux-aarch64", "3.12", lock),))
    through = moved(lock, PYTORCH, MIRROR)
    assert through.inputs.source_url == f"{MIRROR}/cu129"
    quoted = wheel.replace("+", "%2B")  # ``{index}/{file}``, quoted
    assert through.packages[0].url_of(wheel, "") == f"{MIRROR}/cu129/{quoted}"
    assert through.entries[0].lock.inputs.source_url == f"{MIRROR}/cu129"
    assert f"--index-url {MIRROR}/cu129" in export_text(through)
    assert lock.inputs.source_url == f"{PYTORCH}/cu129"  # the lock itself is untouched
    # a file on another host stays where it is
    elsewhere = replace(lock, packages=(replace(torch, urls=((wheel, r2),)),))
    assert moved(elsewhere, PYTORCH, MIRROR).packages[0].url_of(wheel, "") == r2
