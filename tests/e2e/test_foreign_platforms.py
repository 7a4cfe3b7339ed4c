"""Resolving for another machine against the platform-tagged indexes (``platform_index``), with
the real uv and the real pip: what each gives for a platform and Python other than its own.

uv (``uv pip compile --python-platform … --python-version …``) evaluates torch's environment
markers for the target: ``nvidia-fakeblas-cu12; platform_machine == "x86_64"`` stays out of an
aarch64 resolution, ``fake-setuptools; python_version >= "3.12"`` comes in for 3.12 only, and
the macOS resolution takes the cpu index's unlabelled macOS torch.

pip (``install --dry-run --report --platform … --python-version …``) filters wheels by those
tags but evaluates every marker against the interpreter running it (pip 23.2 and 26.3 alike):
on a Linux x86_64 host it asks for nvidia-fakeblas for aarch64 and Windows and, finding no wheel
of it for those platforms, fails; and it leaves out what a 3.12 target needs when it runs on
3.11.  On download.pytorch.org, where the nvidia-* runtimes have aarch64 wheels, the same bug
passes silently and locks CUDA runtimes an aarch64 machine never installs.  pip cannot resolve
a foreign platform; uv can.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

from typing import TYPE_CHECKING

import pytest

from packaging.markers import Marker
from packaging.markers import default_environment

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.installer.uv import find_uv
from poetry_torch_plugin.project.lockstate import read_lock
from tests.support.platform_wheels import LINUX_AARCH64
from tests.support.platform_wheels import LINUX_X86_64
from tests.support.platform_wheels import MACOS_ARM64
from tests.support.platform_wheels import NVIDIA_MARKER
from tests.support.platform_wheels import platform_wheel
from tests.support.project import seeded_venv


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.fixtures import PlatformIndex
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e]


def uv_compile(
    index: PlatformIndex, label: str, platform: str, python: str, tmp_path: Path
) -> dict[str, list[str]]:
    """``uv pip compile`` of ``torch`` for ``platform``/``python``: each pin -> its hashes.

    ``--python`` names this interpreter, which only runs uv's own build steps (there are none
    here): without it, uv looks for a CPython of ``--python-version`` on the machine and, when
    there is none, tries to download one first (5-8 s of retries offline, then a warning).
    """
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed: `.venv/bin/pip install uv` (or put uv on PATH)")
    requirements = tmp_path / "requirements.in"
    requirements.write_text("torch\n")
    command = [uv, "pip", "compile", "--python", sys.executable, "--python-platform", platform]
    command += ["--python-version", python, "--generate-hashes", "--no-header", "--no-annotate"]
    command += ["--index-url", index.url(label), str(requirements)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "not available" not in result.stderr  # no interpreter hunt, no download attempt
    pins: dict[str, list[str]] = {}
    current = ""
    for line in result.stdout.splitlines():
        if pin := re.match(r"^([a-z0-9-]+==\S+)", line):
            current = pin.group(1)
            pins[current] = []
        elif digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[current].append(digest.group(1))
    return pins


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_uv_leaves_the_x86_64_runtime_out_of_an_aarch64_resolution(
    platform_index: PlatformIndex, tmp_path: Path
) -> None:
    aarch64 = uv_compile(platform_index, "cu128", "aarch64-manylinux_2_28", "3.12", tmp_path)
    assert sorted(aarch64) == [
        "fake-filelock==3.20.0",
        "fake-setuptools==80.9.0",
        "torch==2.9.0+cu128",
    ]
    wheel = platform_wheel(platform_index.universe, "cu128", "torch", "312", LINUX_AARCH64)
    assert sha256(wheel) in aarch64["torch==2.9.0+cu128"]

    x86_64 = uv_compile(platform_index, "cu128", "x86_64-manylinux_2_28", "3.12", tmp_path)
    assert sorted(x86_64) == [
        "fake-filelock==3.20.0",
        "fake-setuptools==80.9.0",
        "nvidia-fakeblas-cu12==12.8.4",
        "torch==2.9.0+cu128",
    ]
    nvidia = platform_index.universe.index_dir("cu128").glob("nvidia_fakeblas_cu12-*.whl")
    assert x86_64["nvidia-fakeblas-cu12==12.8.4"] == [sha256(next(nvidia))]
    wheel = platform_wheel(platform_index.universe, "cu128", "torch", "312", LINUX_X86_64)
    assert sha256(wheel) in x86_64["torch==2.9.0+cu128"]


def test_uv_reads_python_version_markers_for_the_target(
    platform_index: PlatformIndex, tmp_path: Path
) -> None:
    py310 = uv_compile(platform_index, "cu129", "x86_64-manylinux_2_28", "3.10", tmp_path)
    assert sorted(py310) == [
        "fake-filelock==3.20.0",
        "nvidia-fakeblas-cu12==12.9.1",
        "torch==2.9.0+cu129",
    ]
    py313 = uv_compile(platform_index, "cu129", "x86_64-manylinux_2_28", "3.13", tmp_path)
    assert "fake-setuptools==80.9.0" in py313
    windows = uv_compile(platform_index, "cu129", "x86_64-pc-windows-msvc", "3.13", tmp_path)
    assert sorted(windows) == [
        "fake-filelock==3.20.0",
        "fake-setuptools==80.9.0",
        "torch==2.9.0+cu129",
    ]


def test_uv_gives_macos_the_unlabelled_cpu_torch(
    platform_index: PlatformIndex, tmp_path: Path
) -> None:
    macos = uv_compile(platform_index, "cpu", "aarch64-apple-darwin", "3.12", tmp_path)
    assert sorted(macos) == ["fake-filelock==3.20.0", "fake-setuptools==80.9.0", "torch==2.9.0"]
    wheel = platform_wheel(platform_index.universe, "cpu", "torch", "312", MACOS_ARM64)
    assert wheel.name == "torch-2.9.0-cp312-none-macosx_11_0_arm64.whl"
    assert sha256(wheel) in macos["torch==2.9.0"]


@pytest.fixture(scope="module")
def project_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip as a Poetry project's venv gets it: a virtualenv seeded from its bundled wheels."""
    return seeded_venv(tmp_path_factory.mktemp("pip-venv")) / "bin" / "python"


@pytest.mark.parametrize("which", ["project", "dev"])
def test_pip_evaluates_markers_for_the_machine_running_it(
    platform_index: PlatformIndex, project_pip: Path, tmp_path: Path, which: str
) -> None:
    """pip's ``--platform``/``--python-version`` pick wheels, not markers: what it resolves for
    an aarch64/3.12 machine follows the host's ``platform_machine`` and ``python_version``.
    (If a pip ever evaluates them for the target, this test fails: then pip can lock foreign
    platforms too.)"""
    python = str(project_pip) if which == "project" else sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull

    def dry_run(label: str) -> subprocess.CompletedProcess[str]:
        command = [python, "-m", "pip", "install", "--dry-run", "--report", "-", "--quiet"]
        command += ["--ignore-installed", "--only-binary=:all:", "--no-cache-dir"]
        command += ["--disable-pip-version-check", "--platform", LINUX_AARCH64]
        command += ["--python-version", "3.12", "--implementation", "cp", "--abi", "cp312"]
        command += ["--target", str(tmp_path / "target"), "--index-url", platform_index.url(label)]
        return subprocess.run(
            [*command, "torch"], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    host = default_environment()
    host_wants_nvidia = Marker(NVIDIA_MARKER).evaluate()
    cu128 = dry_run("cu128")
    if host_wants_nvidia:  # an x86_64 Linux host: asks for the runtime aarch64 never gets
        assert cu128.returncode != 0
        assert "No matching distribution found for nvidia-fakeblas-cu12==12.8.4" in cu128.stderr
    else:
        assert cu128.returncode == 0, cu128.stderr
        assert "nvidia-fakeblas-cu12" not in cu128.stdout

    cpu = dry_run("cpu")  # no marker on the platform: this one resolves anywhere
    assert cpu.returncode == 0, cpu.stderr
    installed = {
        (item["metadata"]["name"], item["download_info"]["url"].rsplit("/", 1)[-1])
        for item in json.loads(cpu.stdout)["install"]
    }
    assert ("torch", "torch-2.9.0%2Bcpu-cp312-cp312-manylinux_2_28_aarch64.whl") in installed
    # a 3.12 machine needs fake-setuptools; pip decides by the host's python_version
    host_is_312 = tuple(int(p) for p in host["python_version"].split(".")) >= (3, 12)
    assert any(name == "fake-setuptools" for name, _ in installed) is host_is_312


@pytest.mark.skipif(
    sys.platform != "linux"
    or os.uname().machine not in ("x86_64", "aarch64")
    or not ((3, 10) <= sys.version_info[:2] <= (3, 13)),
    reason="the fake wheels are for CPython 3.10-3.13 on Linux x86_64/aarch64",
)
def test_poetry_torch_installs_and_locks_from_the_platform_index(
    platform_project: Project, platform_index: PlatformIndex
) -> None:
    """The fixture works with the plugin as it is: ``poetry torch install`` picks this machine's
    wheel, its ``version.py`` passes the post-install check, and the lock records every
    platform's files of each locked version (the closure itself is this machine's)."""
    platform_project.run("torch", "install", "--cuda", "12.9")
    assert platform_project.version_of("torch") == "2.9.0+cu129"
    assert platform_project.version_of("torchvision") == "0.24.0+cu129"
    x86_64 = default_environment()["platform_machine"] == "x86_64"
    assert (platform_project.version_of("nvidia-fakeblas-cu12") == "12.9.1") is x86_64
    platform_project.run("torch", "lock", "--check")
    lock = read_lock(platform_project.root / LOCK_NAME)
    assert lock is not None
    files = {name for package in lock.packages for name, _ in package.files}
    for python in ("310", "313"):
        for where in (LINUX_X86_64, LINUX_AARCH64, "win_amd64"):
            wheel = platform_wheel(platform_index.universe, "cu129", "torch", python, where)
            assert wheel.name in files
    torch_pages = [r.path for r in platform_index.server.requests if r.path.endswith("/torch/")]
    assert torch_pages
    assert all(path.startswith("/whl/cu129/") for path in torch_pages)
