"""An index whose pages carry no ``#sha256=`` (PyTorch's nightly pages), with the real poetry
and pip: the lock holds the sha256 of the bytes downloaded, says the index gave none, and every
replay checks it (issue 22, item 4)."""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING

import pytest

from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_an_index_without_sha256_locks_the_bytes_downloaded_and_replays_them_checked(
    project: Project, index_server: IndexServer, index_universe: Universe
) -> None:
    index_server.set_fault("/whl/cu128/", "nohash")  # every page link without #sha256=
    installed = project.run("torch", "install", "--cuda", "12.8")
    assert "publishes no sha256" in installed.stdout, installed.stdout
    assert project.version_of("torch") == "2.8.0+cu128"
    lock_path = project.root / "poetry-torch.lock"
    text = lock_path.read_text()
    assert "# the index published no sha256: these are of the bytes downloaded" in text
    lock = loads(text)
    served = index_universe.root / "whl" / "cu128"
    for package in lock["package"]:
        assert package["index-sha256"] is False, package
        assert package["files"], package
        for entry in package["files"]:
            data = (served / entry["file"]).read_bytes()
            assert entry["hash"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
    project.run("torch", "lock", "--check")

    # `poetry torch lock` on its own locks the same: it downloads to hash, too
    lock_path.unlink()
    project.run("torch", "lock")
    assert lock_path.read_text() == text

    # the hook replays it, checked: the right bytes install ...
    project.pip("uninstall", "-y", "torch")
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"
    # ... other bytes under the same name stop it in one line, and nothing is left installed
    index_server.set_fault("/whl/cu128/torch-", "tamper")
    project.pip("uninstall", "-y", "torch")
    bad = project.run("install", check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    # the hook's note that it reinstalls, then the one error line
    errors = [line for line in bad.stderr.splitlines() if "does not match" in line]
    assert len(errors) == 1, bad.stderr
    assert errors[0].startswith("poetry-torch: a file from "), errors
    assert "does not match its sha256 in poetry-torch.lock" in errors[0], errors
    assert "Traceback" not in bad.stdout + bad.stderr
    assert project.version_of("torch") is None
    assert lock_path.read_text() == text
