"""An index whose pages carry no ``#sha256=`` (PyTorch's nightly pages), with the real poetry
and pip (and uv for a team lock's other machines): the lock holds the sha256 of the bytes
downloaded, says the index gave none, and every replay checks it (issue 22, item 4)."""

from __future__ import annotations

import hashlib
import subprocess

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.project.lockstate import read_lock
from tests.e2e.test_team_lock import project_for
from tests.e2e.test_universal_lock import HERE
from tests.e2e.test_universal_lock import no_gpu  # noqa: F401  (a fixture)
from tests.e2e.test_universal_lock import one_error
from tests.support.toml import loads


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.fixtures import PlatformIndex
    from tests.support.index_server import IndexServer
    from tests.support.project import Project
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _the_hook_refuses_tampered_torch(
    project: Project, server: IndexServer, prefix: str
) -> subprocess.CompletedProcess[str]:
    """Other bytes under torch's locked name (``prefix``): with torch uninstalled, the hook's
    replay stops `poetry install` with the hook's note and one error line."""
    server.set_fault(prefix, "tamper")
    project.uninstall("torch")
    bad = project.run("install", check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "does not match" in line]
    assert len(errors) == 1, bad.stderr
    assert errors[0].startswith("poetry-torch: a file from "), errors
    assert "does not match its sha256 in poetry-torch.lock" in errors[0], errors
    return bad


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
    project.uninstall("torch")
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"
    # ... other bytes under the same name stop it in one line, and nothing is left installed
    bad = _the_hook_refuses_tampered_torch(project, index_server, "/whl/cu128/torch-")
    assert "Traceback" not in bad.stdout + bad.stderr
    assert project.version_of("torch") is None
    assert lock_path.read_text() == text


def test_a_team_lock_on_an_index_without_sha256_hashes_each_machines_own_files_and_replays_them(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,  # noqa: F811  (the fixture imported above)
) -> None:
    """The entries for other platforms and Pythons are resolved with uv, which downloads no
    wheel: each entry's own files (those its resolution chose for that machine) are
    downloaded through the index's access path to hash them, and nothing else is fetched or
    installed; a file that cannot be fetched stops the lock in one line with every file as it
    was; install, the hook, an export read by pip and the wheelhouse all check those hashes."""
    index = platform_index
    index.server.set_fault("/whl/", "nohash")  # every variant's pages, as on the nightly channel
    targets = '\n[tool.poetry-torch.targets]\nlinux-aarch64 = "cu128"\nno-gpu = "cpu"\n'
    project = project_for(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, targets)
    pyproject = project.pyproject.read_bytes()
    secret = "s3cret-hash-login"  # the index wants a login while locking
    index.server.require_auth("/whl/", "alice", secret)
    with_login = index.base.replace("http://", f"http://alice:{secret}@")
    result = project.run("torch", "lock", extra_env={"POETRY_TORCH_INDEX_BASE": with_login})
    index.server.clear_auth()
    assert "entries for other machines" in result.stdout, result.stdout
    assert secret not in result.stdout + result.stderr
    assert secret not in (project.root / LOCK_NAME).read_text()
    # the plugin's own downloads (to hash) carried the login, to the index's own origin
    mine = [r for r in index.server.requested("/whl/") if r.agent.startswith("Python-urllib")]
    assert any(r.path.endswith(".whl") for r in mine), [r.path for r in mine]
    assert all(r.authorization.startswith("Basic ") for r in mine)
    assert project.version_of("torch") is None  # locking installs nothing
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    kinds = {(e.variant, e.platform) for e in lock.entries}
    assert kinds >= {("cpu", "linux-x86_64"), ("cu128", "linux-aarch64"), ("cu129", "linux-x86_64")}
    assert {e.python for e in lock.entries} > {HERE}  # another Python, too
    served = index.universe.root / "whl"
    locked_files = set()
    for entry in lock.entries:
        machine = "aarch64" if entry.platform == "linux-aarch64" else "x86_64"
        python = f"cp{entry.python.replace('.', '')}"
        for package in entry.lock.packages:
            assert not package.index_sha256, (entry.where, package.name)
            assert package.files, (entry.where, package.name)
            for name, digest in package.files:
                assert name.endswith(("-any.whl", f"_{machine}.whl")), (entry.where, name)
                assert "-cp" not in name or f"-{python}-" in name, (entry.where, name)
                data = (served / entry.variant / name).read_bytes()
                assert digest == hashlib.sha256(data).hexdigest(), (entry.where, name)
                locked_files.add(f"/whl/{entry.variant}/{name}")
    text = (project.root / LOCK_NAME).read_text()
    assert text.count("index-sha256 = false") == sum(
        len(part.packages) for part in (lock, *(e.lock for e in lock.entries))
    )
    # exactly the entries' files were fetched for them (and this machine's first part by pip)
    first = {f"/whl/cu129/{name}" for package in lock.packages for name, _ in package.files}
    fetched = {r.path for r in index.server.requested("/whl/") if r.path.endswith(".whl")}
    assert fetched == locked_files | first, fetched ^ (locked_files | first)
    project.run("torch", "lock", "--check")

    # a file that cannot be fetched fails closed: one line, every file as it was
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    other = next(e for e in lock.entries if (e.variant, e.platform) == ("cu128", "linux-aarch64"))
    torch_file = next(n for p in other.lock.packages if p.name == "torch" for n, _ in p.files)
    index.server.set_fault(f"/whl/cu128/{torch_file}", "404")
    # (its PEP 658 metadata still answers, so uv resolves: the download to hash it fails)
    index.server.set_fault(f"/whl/cu128/{torch_file}.metadata", "nohash")
    line = one_error(project.run("torch", "lock", "--regenerate", check=False))
    assert line.startswith(
        f"poetry-torch: while locking cu128 for linux-aarch64, Python {other.python}"
    ), line
    assert f"cannot download {torch_file} from {index.url('cu128')}/" in line, line
    assert "which the lock downloads to hash (the index publishes no sha256)" in line, line
    assert f"{LOCK_NAME} and pyproject.toml were left as they were" in line, line
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    assert project.pyproject.read_bytes() == pyproject
    assert project.version_of("torch") is None

    # this machine (no GPU) replays its cpu entry, checked against the hashes of that entry
    index.server.set_fault(f"/whl/cu128/{torch_file}", "nohash")
    installed = project.run("torch", "install")
    assert "checked against its sha256 in the lock" in installed.stdout, installed.stdout
    assert project.version_of("torch") == "2.9.0+cpu"
    # other bytes under a locked name: the hook, an exported requirements file read by pip
    # and the wheelhouse refuse them, and nothing of them is kept
    _the_hook_refuses_tampered_torch(project, index.server, "/whl/cpu/torch-")
    assert project.version_of("torch") is None
    project.run("torch", "export", "--target", "no-gpu", "-o", "requirements.txt")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        project.pip(
            "download",
            "--no-deps",
            "-d",
            str(tmp_path / "dl"),
            "-r",
            str(project.root / "requirements.txt"),
        )
    assert "DO NOT MATCH THE HASHES" in refused.value.stderr, refused.value.stderr
    house = tmp_path / "house"
    line = one_error(project.run("torch", "wheelhouse", str(house), "--all", check=False))
    assert "torch-2.9.0+cpu-" in line and "does not match its sha256 in" in line, line
    assert not list(house.glob("torch-2.9.0+cpu-*")), list(house.iterdir())
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
