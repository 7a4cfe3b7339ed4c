from __future__ import annotations

import pytest

from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.wheelhouse import select_files


LINUX_311 = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl"
LINUX_312 = "torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl"
WINDOWS_311 = "torch-2.9.0+cu129-cp311-cp311-win_amd64.whl"
PURE = "nvidia_fakeblas_cu12-12.9.1-py3-none-any.whl"


def lock() -> TorchLock:
    inputs = LockInputs("pytorch_cuda_cu129", "https://x/whl/cu129", ("torch",), ">=3.9")
    torch = LockedPackage(
        "torch",
        "2.9.0+cu129",
        True,
        ((LINUX_311, "a" * 64), (LINUX_312, "b" * 64), (WINDOWS_311, "c" * 64)),
    )
    blas = LockedPackage("nvidia-fakeblas-cu12", "12.9.1", False, ((PURE, "d" * 64),))
    return TorchLock(inputs, "e" * 64, (blas, torch), "cpython 3.11 linux x86_64")


def test_this_environment_gets_only_the_files_it_installs() -> None:
    tags = {"cp311-cp311-manylinux_2_28_x86_64", "cp311-cp311-linux_x86_64", "py3-none-any"}
    assert select_files(lock(), tags) == [
        ("nvidia-fakeblas-cu12", PURE, "d" * 64),
        ("torch", LINUX_311, "a" * 64),
    ]


def test_all_means_every_locked_file() -> None:
    assert len(select_files(lock(), None)) == 4


def test_a_package_with_no_file_for_this_environment_is_refused_before_downloading() -> None:
    with pytest.raises(ConfigError, match=r"holds no file of torch 2\.9\.0\+cu129 that this"):
        select_files(lock(), {"cp310-cp310-macosx_11_0_arm64", "py3-none-any"})
