"""poetry-torch.lock with the real poetry, real pip and the local index: pin, replay, export."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import venv

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.project.lockstate import read_lock
from poetry_torch_plugin.project.lockstate import write_lock
from tests.support.project import seeded_venv
from tests.support.toml import loads


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.index_server import IndexServer
    from tests.support.project import Project
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CU129_29 = {
    "torch": "2.9.0+cu129",
    "torchvision": "0.24.0+cu129",
    "torchaudio": "2.9.0+cu129",
    "nvidia-fakeblas-cu12": "12.9.1",
}
CU129_28 = {
    "torch": "2.8.0+cu129",
    "torchvision": "0.23.0+cu129",
    "torchaudio": "2.8.0+cu129",
    "nvidia-fakeblas-cu12": "12.9.1",
}
CU128 = {
    "torch": "2.8.0+cu128",
    "torchvision": "0.23.0+cu128",
    "torchaudio": "2.8.0+cu128",
    "nvidia-fakeblas-cu12": "12.8.4",
}


def lock_of(project: Project) -> TorchLock:
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    return lock


def locked_versions(project: Project) -> dict[str, str]:
    return {package.name: package.version for package in lock_of(project).packages}


def installed_versions(project: Project) -> dict[str, str]:
    return {name: project.version_of(name) or "" for name in CU129_29}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pin_lock(project: Project, universe: Universe, index: str, versions: dict[str, str]) -> None:
    """Rewrite the lock's pins by hand, as if it had been written before a newer release."""
    lock = lock_of(project)
    packages = tuple(
        LockedPackage(
            name,
            versions[name],
            name != "nvidia-fakeblas-cu12",
            ((wheel.name, sha256(wheel)),),
        )
        for name in sorted(versions)
        for wheel in [universe.wheel(index, name, versions[name])]
    )
    write_lock(project.root / LOCK_NAME, replace(lock, packages=packages))


@pytest.mark.smoke
def test_install_locks_and_a_fresh_venv_replays_the_lock(
    project: Project, index_universe: Universe
) -> None:
    result = project.run("torch", "install", "--cuda", "12.9")
    assert installed_versions(project) == CU129_29
    lock = lock_of(project)
    assert locked_versions(project) == CU129_29
    assert lock.inputs.source_name == "pytorch_cuda_cu129"
    # POETRY_TORCH_INDEX_BASE is this machine's mirror: the lock names PyTorch's index
    assert lock.inputs.source_url == "https://download.pytorch.org/whl/cu129"
    assert lock.inputs.requires_python == ">=3.9"
    for package in lock.packages:
        wheel = index_universe.wheel("cu129", package.name, package.version)
        assert package.files == ((wheel.name, sha256(wheel)),)
    assert {p.name for p in lock.packages if p.requested} == {"torch", "torchvision", "torchaudio"}
    assert "Traceback" not in result.stdout + result.stderr

    # A lock written while 2.8.0 was the newest: the constraints allow 2.9.0, the lock wins.
    pin_lock(project, index_universe, "cu129", CU129_28)
    project.run("lock")
    shutil.rmtree(project.venv)
    # With nothing installed, Poetry's solver sees the locked torch, not the index's newest:
    # a dependency on torch 2.9 is a conflict even though the index publishes 2.9.0+cu129.
    conflict = project.run("add", "torch==2.9.0", "--lock", check=False)
    assert conflict.returncode != 0, conflict.stdout + conflict.stderr
    assert "torch" in conflict.stdout + conflict.stderr
    result = project.run("install")
    assert f"from {LOCK_NAME}" in result.stderr
    assert installed_versions(project) == CU129_28
    assert project.version_of("torchmetrics") == "1.0.0"
    assert project.python("import torch; print(torch.__version__)") == "2.8.0+cu129"

    # A no-op Poetry command leaves the replayed builds alone; `torch install` replays them too.
    quiet = project.run("install")
    assert "poetry-torch" not in quiet.stdout + quiet.stderr
    project.uninstall("nvidia-fakeblas-cu12")
    project.run("torch", "install")
    assert installed_versions(project) == CU129_28
    assert locked_versions(project) == CU129_28

    # --upgrade resolves again within the constraints and rewrites the lock.
    project.run("torch", "install", "--upgrade")
    assert installed_versions(project) == CU129_29
    assert locked_versions(project) == CU129_29


def test_tampered_wheel_is_refused_by_hash(project: Project, index_server: IndexServer) -> None:
    project.run("torch", "install", "--cuda", "12.8")
    assert installed_versions(project) == CU128
    lock_path = project.root / LOCK_NAME
    lock_before, pyproject_before = lock_path.read_bytes(), project.pyproject.read_bytes()

    # Wheel files of torch on cu129 come with one byte flipped; the pages and metadata are intact.
    index_server.set_fault("/whl/cu129/torch-", "tamper")
    result = project.run("torch", "install", "--cuda", "12.9", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    if project.pip_version() < (25, 3):
        # pip before 25.3 downloads the wheels to resolve (into the wheelhouse, once), so the
        # file fails the index's sha256 before there is a lock to replay
        assert "does not match the index's sha256" in errors[0], errors[0]
        assert "`poetry torch install --index-base URL`" in errors[0], errors[0]
    else:
        assert f"does not match its sha256 in {LOCK_NAME}" in errors[0]
    assert installed_versions(project) == CU128
    assert lock_path.read_bytes() == lock_before
    assert project.pyproject.read_bytes() == pyproject_before

    # The same through the hook: a cu129 lock written while the index is intact (pip before
    # 25.3 downloads the wheels even to lock), then replayed against the tampered files.
    index_server.clear_faults()
    project.pyproject.write_text(project.pyproject.read_text().replace("cu128", "cu129"))
    project.run("torch", "lock")
    assert locked_versions(project) == CU129_29
    index_server.set_fault("/whl/cu129/torch-", "tamper")
    project.run("lock", extra_env={"POETRY_TORCH_SKIP": "1"})
    result = project.run("install", check=False)
    assert result.returncode == 1
    assert "poetry-torch:" in result.stderr
    assert f"sha256 in {LOCK_NAME}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert installed_versions(project) == CU128

    index_server.clear_faults()
    project.run("install")
    assert installed_versions(project) == CU129_29


@pytest.mark.usefixtures("cu129_installed")
def test_changing_cuda_rewrites_the_lock_and_a_hand_edit_makes_it_stale(
    project: Project,
) -> None:
    assert locked_versions(project) == CU129_29
    project.run("torch", "install", "--cuda", "12.8")
    assert installed_versions(project) == CU128
    assert locked_versions(project) == CU128
    assert lock_of(project).inputs.source_name == "pytorch_cuda_cu128"
    project.run("torch", "lock", "--check")

    # A teammate switches the source by hand (or a merge does): the lock no longer matches.
    project.pyproject.write_text(project.pyproject.read_text().replace("cu128", "cu129"))
    for args in (("torch", "lock", "--check"), ("torch", "export")):
        result = project.run(*args, check=False)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1, result.stderr
        assert "the configuration changed after the lock was written" in errors[0]
        assert "`poetry torch lock` or `poetry torch install`" in errors[0]
    project.run("lock")
    result = project.run("install")
    assert "the configuration changed after the lock was written" in result.stderr
    assert project.version_of("torch") == "2.9.0+cu129"  # the configuration still rules
    assert locked_versions(project) == CU128

    result = project.run("torch", "lock")
    assert "Wrote poetry-torch.lock" in result.stdout
    assert locked_versions(project) == CU129_29
    project.run("torch", "lock", "--check")
    quiet = project.run("install")
    assert "poetry-torch" not in quiet.stdout + quiet.stderr


@pytest.fixture(scope="module")
def _installed_cu129(real_module_project: Project) -> Project:
    real_module_project.run("torch", "install", "--cuda", "12.9")
    real_module_project.run("torch", "lock")
    return real_module_project


@pytest.fixture
def exporting(_installed_cu129: Project, real_index_server: IndexServer) -> Project:
    """cu129 installed and locked on PyTorch's own page shape (torch on another host, the rest
    root-relative), shared by the module's export tests (they only read the lock and write
    their own export file); the index has no faults (``real_index_server``)."""
    return _installed_cu129


@pytest.mark.xdist_group("lock_exporting")  # shares a module-scoped project
def test_export_installs_with_plain_pip(exporting: Project, tmp_path: Path) -> None:
    """pip reads the index the export names and follows its links."""
    project = exporting
    project.run("torch", "export", "-o", "requirements-torch.txt")
    exported = project.root / "requirements-torch.txt"
    text = exported.read_text()
    assert f"--index-url {project.env['POETRY_TORCH_INDEX_BASE']}/cu129" in text
    assert "--hash=sha256:" in text
    assert project.run("torch", "export").stdout == text

    target = seeded_venv(tmp_path / "plain")  # a plain venv with pip, as a container has
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "-r", str(exported)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    site = sorted(target.glob("lib/python*/site-packages"))
    installed = installed_distributions(site)
    assert {name: installed[name].version for name in CU129_29} == CU129_29


@pytest.mark.xdist_group("lock_exporting")  # shares a module-scoped project
def test_pylock_export_installs_with_uv(
    exporting: Project, real_index_server: IndexServer, tmp_path: Path
) -> None:
    """Issue 14 item 4: PEP 751 ``pylock.toml``, read by a real installer (uv).  Issue 22
    item 3: on PyTorch's own page shape, each wheel's URL is the one the index gave (torch
    on the second origin, nvidia root-relative on the index's), kept in the lock by
    ``poetry torch lock``, and it downloads to the locked bytes."""
    import urllib.request

    from poetry_torch_plugin.installer.uv import find_uv

    project = exporting
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed: `.venv/bin/pip install uv`")
    lock = lock_of(project)
    files = real_index_server.files_url
    for package in lock.packages:
        for filename, _ in package.files:
            url = package.url_of(filename, lock.inputs.source_url)
            # fetched through POETRY_TORCH_INDEX_BASE, a link under the mirror is kept as
            # PyTorch's own (issue 23, item 7); the export names the mirror again
            home = files if package.name.startswith("torch") else "https://download.pytorch.org"
            assert url.startswith(f"{home}/whl/cu129/"), url
    wrong = project.run("torch", "export", "--format", "pylock", "-o", "torch.lock", check=False)
    assert wrong.returncode == 1
    assert "pylock.<name>.toml" in wrong.stderr
    project.run("torch", "export", "--format", "pylock", "-o", "pylock.torch.toml")
    exported = project.root / "pylock.torch.toml"
    data = loads(exported.read_text())
    assert data["lock-version"] == "1.0"
    versions = {p["name"]: p["version"] for p in data["packages"]}
    assert {name: versions[name] for name in CU129_29} == CU129_29
    assert all(w["hashes"]["sha256"] for p in data["packages"] for w in p["wheels"])
    for package_table in data["packages"]:
        for wheel in package_table["wheels"]:
            with urllib.request.urlopen(wheel["url"], timeout=30) as response:
                body = response.read()
            assert hashlib.sha256(body).hexdigest() == wheel["hashes"]["sha256"], wheel["url"]
    assert any(w["url"].startswith(files) for p in data["packages"] for w in p["wheels"])

    target = tmp_path / "plain"
    venv.EnvBuilder(with_pip=False).create(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env["UV_NO_CONFIG"] = "1"
    subprocess.run(
        [uv, "pip", "install", "--python", str(target / "bin" / "python"), "-r", str(exported)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    site = sorted(target.glob("lib/python*/site-packages"))
    installed = installed_distributions(site)
    assert {name: installed[name].version for name in CU129_29} == CU129_29


@pytest.mark.usefixtures("cu129_installed")
def test_a_locked_file_the_index_no_longer_lists_says_lock_again(project: Project) -> None:
    """A fresh environment replays poetry-torch.lock, but the index's torch page no longer
    lists the locked file: not "no wheel ... matches Python 3.x ... use another Python" but the
    index no longer lists the locked build, and `poetry torch lock` (issue 23, item 3)."""
    shutil.rmtree(project.venv)
    lock = lock_of(project)
    gone = tuple(
        replace(package, version="2.9.9+cu129", files=((f"torch-2.9.9+cu129-{name}", "0" * 64),))
        if package.name == "torch"
        else package
        for package in lock.packages
        for name in [package.files[0][0].split("-", 2)[2]]
    )
    write_lock(project.root / LOCK_NAME, replace(lock, packages=gone))  # a build since removed
    result = project.run("torch", "install", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("poetry-torch:")]
    assert len(ours) == 1, result.stderr
    assert "no longer lists the locked torch==2.9.9+cu129" in ours[0], ours[0]
    assert "`poetry torch lock`" in ours[0] and "another Python" not in ours[0], ours[0]
    assert "earlier build" not in ours[0], ours[0]  # the environment was new
