"""Tables of facts about NVIDIA drivers and PyTorch builds, and the ``--cuda auto`` choice.

Update the tables below with each PyTorch release; every table names where its numbers
come from, and rows that are not checked against that source say so."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.variants import from_index_name


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Sequence

    from poetry_torch_plugin.core.machine import Gpu
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.machine import NvidiaInfo
    from poetry_torch_plugin.core.variants import Variant


# Source: NVIDIA CUDA Toolkit release notes, table 2 "CUDA Toolkit and Minimum Required Driver
# Version for CUDA Minor Version Compatibility" (Linux x86_64).  Torch wheels bundle their CUDA
# runtime, so a driver at the floor of a CUDA major runs every minor of it: cu129 runs on
# 525.60.13.  Features that need a newer driver (PTX JIT of newer PTX) are the exception.
_MINOR_COMPAT_DRIVER: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580"}


# CUDA 11.0 predates minor version compatibility.
_EXACT_DRIVER: dict[tuple[int, int], str] = {(11, 0): "450.36.06"}


# Source: NVIDIA CUDA Toolkit release notes, table 3 "CUDA Toolkit and Corresponding Driver
# Versions", GA rows, Linux x86_64: the driver with which every feature of the toolkit works.
# 13.1 and later are left out until checked.
_FULL_FEATURE_DRIVER: dict[tuple[int, int], str] = {
    (11, 8): "520.61.05",
    (12, 0): "525.60.13",
    (12, 1): "530.30.02",
    (12, 2): "535.54.03",
    (12, 3): "545.23.06",
    (12, 4): "550.54.14",
    (12, 5): "555.42.02",
    (12, 6): "560.28.03",
    (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}


# Source: `torch.cuda.get_arch_list()` of each wheel (PTX entries, compute_XY, left out), and
# TORCH_CUDA_ARCH_LIST in .ci/manywheel/build_cuda.sh of each release branch.  These are the
# Linux x86_64 and Windows builds; the Linux aarch64 builds carry fewer architectures.
_KEPLER_TO_HOPPER = ("sm_37", "sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
_MAXWELL_TO_HOPPER = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
_MAXWELL_TO_BLACKWELL = (*_MAXWELL_TO_HOPPER, "sm_100", "sm_120")
_VOLTA_TO_BLACKWELL = ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
_TURING_TO_BLACKWELL = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")


# The builds PyTorch publishes per release, each CUDA build with its GPU architectures (cpu
# and ROCm builds carry none).  Source: PyTorch RELEASE.md "Release Compatibility Matrix" and
# pytorch.org "Previous versions" for the variants; the arch lists as above.
# Checked: 2.11 cu130 (get_arch_list on an H100); 2.7 cu128, 2.8 and 2.10 cu128 (reported
# get_arch_list outputs).  Uncertain: the cu118 lists (sm_37), 2.5 cu121/cu124 and 2.6 arch
# lists; the ROCm versions besides the matrix's "stable ROCm" (2.5 rocm6.1, 2.6 rocm6.1,
# 2.7 rocm6.2.4, 2.8 rocm6.3); whether 2.9-2.11 also publish cu129; the 2.12 and 2.13 rows
# (from the matrix only, not checked against download.pytorch.org).
_BUILDS: dict[str, dict[str, tuple[str, ...]]] = {
    "2.5": {
        "cu118": _KEPLER_TO_HOPPER,
        "cu121": _MAXWELL_TO_HOPPER,
        "cu124": _MAXWELL_TO_HOPPER,
        "cpu": (),
        "rocm6.1": (),
        "rocm6.2": (),
    },
    "2.6": {
        "cu118": _KEPLER_TO_HOPPER,
        "cu124": _MAXWELL_TO_HOPPER,
        "cu126": _MAXWELL_TO_HOPPER,
        "cpu": (),
        "rocm6.1": (),
        "rocm6.2.4": (),
    },
    "2.7": {
        "cu118": _KEPLER_TO_HOPPER,
        "cu126": _MAXWELL_TO_HOPPER,
        "cu128": _MAXWELL_TO_BLACKWELL,
        "cpu": (),
        "rocm6.2.4": (),
        "rocm6.3": (),
    },
    # 2.8 removed Maxwell and Pascal from cu128/cu129 (pytorch/pytorch#157517).
    "2.8": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu128": _VOLTA_TO_BLACKWELL,
        "cu129": _VOLTA_TO_BLACKWELL,
        "cpu": (),
        "rocm6.3": (),
        "rocm6.4": (),
    },
    "2.9": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu128": _VOLTA_TO_BLACKWELL,
        "cu130": _TURING_TO_BLACKWELL,
        "cpu": (),
        "rocm6.4": (),
    },
    "2.10": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu128": _VOLTA_TO_BLACKWELL,
        "cu130": _TURING_TO_BLACKWELL,
        "cpu": (),
        "rocm7.1": (),
    },
    # 2.11 removed Volta from cu128 (pytorch/pytorch#172352); cu130 is the PyPI build.
    "2.11": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu128": _TURING_TO_BLACKWELL,
        "cu130": _TURING_TO_BLACKWELL,
        "cpu": (),
        "rocm7.2": (),
    },
    "2.12": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu130": _TURING_TO_BLACKWELL,
        "cu132": _TURING_TO_BLACKWELL,
        "cpu": (),
        "rocm7.2": (),
    },
    "2.13": {
        "cu126": _MAXWELL_TO_HOPPER,
        "cu130": _TURING_TO_BLACKWELL,
        "cu132": _TURING_TO_BLACKWELL,
        "cpu": (),
        "rocm7.2": (),
    },
}


_TORCH_MINOR = re.compile(r"^\s*(?:==\s*)?v?(\d+)\.(\d+)")
_SM = re.compile(r"^sm_(\d+)(\d)([a-z]?)$")


def _dotted(version: str) -> tuple[int, ...] | None:
    parts = version.strip().split(".")
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else None


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


def _torch_minor(version: str | None) -> str | None:
    match = _TORCH_MINOR.match(version or "")
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def known_torch_releases() -> tuple[str, ...]:
    """The torch releases the tables describe, oldest first (``"2.5"``, ..., ``"2.13"``)."""
    return tuple(sorted(_BUILDS, key=_minor_key))


def min_driver_for_cuda(cuda: tuple[int, int]) -> str | None:
    """The oldest Linux driver that runs torch wheels built with ``cuda``; None if unknown."""
    return _EXACT_DRIVER.get(cuda) or _MINOR_COMPAT_DRIVER.get(cuda[0])


def full_feature_driver_for_cuda(cuda: tuple[int, int]) -> str | None:
    """The driver released with that CUDA toolkit; None where the table has no row."""
    return _FULL_FEATURE_DRIVER.get(cuda)


def driver_supports(driver_version: str, cuda: tuple[int, int]) -> bool:
    """Whether the driver runs torch wheels built with ``cuda``, comparing dotted numbers."""
    floor = min_driver_for_cuda(cuda)
    driver = _dotted(driver_version)
    needed = _dotted(floor) if floor is not None else None
    return driver is not None and needed is not None and driver >= needed


def variants_for_torch(version: str) -> tuple[str, ...] | None:
    """The index names PyTorch publishes for that torch (matched on major.minor)."""
    minor = _torch_minor(version)
    builds = _BUILDS.get(minor) if minor is not None else None
    return tuple(builds) if builds is not None else None


def archs_for(variant: str, torch_version: str | None) -> tuple[str, ...] | None:
    """The ``sm_XY`` list of a CUDA build; None for non-CUDA builds and unknown pairs.

    Without a torch version, or for a torch newer than the table, the newest listed build of
    that variant answers.
    """
    minor = _torch_minor(torch_version)
    if minor in _BUILDS:
        archs = _BUILDS[minor].get(variant)
    elif minor is None or _minor_key(minor) > _minor_key(known_torch_releases()[-1]):
        rows = reversed(known_torch_releases())
        archs = next((_BUILDS[row][variant] for row in rows if variant in _BUILDS[row]), None)
    else:
        archs = None
    return archs or None


def arch_supported(archs: Iterable[str], compute_capability: tuple[int, int]) -> bool:
    """Whether a build with ``archs`` has kernels for a GPU of that compute capability.

    A cubin for ``sm_XY`` runs on compute capability X.Z with Z >= Y (binary compatibility
    within a major: sm_86 runs on an 8.9 RTX 4090).  ``sm_XYa`` runs on X.Y only.  PTX
    (``compute_XY``) is not counted: JIT from PTX is slow and needs a new enough driver.
    """
    major, minor = compute_capability
    for arch in archs:
        match = _SM.match(arch.strip().lower())
        if match is None:
            continue
        arch_major, arch_minor = int(match.group(1)), int(match.group(2))
        exact = bool(match.group(3))
        if arch_major == major and (arch_minor == minor if exact else arch_minor <= minor):
            return True
    return False


def _candidates(
    torch_version: str | None, available: Iterable[str] | None
) -> tuple[list[Variant], str]:
    """The builds to choose from, newest first, and how to name their torch in a reason."""
    minor = _torch_minor(torch_version)
    basis = f"torch {minor}" if minor is not None else "torch"
    if available is not None:
        names: Iterable[str] = available
    elif minor in _BUILDS:
        names = _BUILDS[minor]
    else:
        newest = known_torch_releases()[-1]
        names = _BUILDS[newest]
        if minor is None:
            basis = f"the newest torch in the table ({newest})"
        else:
            basis = f"torch {minor} (not in the table; assuming the builds of {newest})"
    parsed = (from_index_name(name) for name in names)
    found = {variant for variant in parsed if variant is not None}
    return sorted(found, key=lambda variant: variant.sort_key(), reverse=True), basis


def _gpu_names(gpus: Sequence[Gpu]) -> str:
    shown = []
    for gpu in gpus:
        cc = gpu.compute_capability
        text = gpu.name if cc is None else f"{gpu.name} (sm_{cc[0]}{cc[1]})"
        if text not in shown:
            shown.append(text)
    return ", ".join(shown)


def _without_nvidia_gpu(machine: Machine, builds: Sequence[Variant], basis: str) -> tuple[str, str]:
    if machine.rocm is not None:
        rocm = next((build for build in builds if build.kind == "rocm"), None)
        if rocm is not None:
            return rocm.index_name, (
                f"ROCm {machine.rocm} found and no NVIDIA GPU;"
                f" {rocm.index_name} is the newest ROCm build of {basis}"
            )
        return "cpu", f"ROCm {machine.rocm} found, but {basis} has no ROCm build"
    if machine.mps:
        return "cpu", "Apple Silicon: the macOS wheels of the cpu index (PyPI) include MPS"
    if machine.nvidia is not None:
        return "cpu", f"NVIDIA driver {machine.nvidia.driver_version} found, but no GPU is visible"
    return "cpu", "no NVIDIA GPU found"


def _no_cuda_fits(nvidia: NvidiaInfo, cuda: Sequence[Variant], basis: str, runnable: bool) -> str:
    driver = nvidia.driver_version
    if not runnable:
        oldest = cuda[-1]
        floor = min_driver_for_cuda((oldest.version[0], oldest.version[1]))
        return (
            f"driver {driver} is too old for every CUDA build of {basis}"
            f" (the oldest, {oldest.index_name}, needs >= {floor}); upgrade the driver to use"
            f" {_gpu_names(nvidia.gpus)}"
        )
    return (
        f"no CUDA build of {basis} that driver {driver} runs has kernels for"
        f" {_gpu_names(nvidia.gpus)}"
    )


def choose_auto_variant(
    machine: Machine, torch_version: str | None, available: Iterable[str] | None = None
) -> tuple[str, str]:
    """The variant ``--cuda auto`` installs, and a one-line reason.

    The newest CUDA build that exists for that torch (``available``, the index names the
    index lists, else the table), that the driver runs, and whose kernels cover every GPU.
    ROCm without an NVIDIA GPU picks the newest ROCm build; everything else gets ``cpu``,
    and the reason says why.
    """
    builds, basis = _candidates(torch_version, available)
    nvidia = machine.nvidia
    if nvidia is None or not nvidia.gpus:
        return _without_nvidia_gpu(machine, builds, basis)
    cuda = [build for build in builds if build.kind == "cuda"]
    if not cuda:
        return "cpu", f"{basis} has no CUDA build"
    runnable = False
    for build in cuda:
        version = (build.version[0], build.version[1])
        if not driver_supports(nvidia.driver_version, version):
            continue
        runnable = True
        archs = archs_for(build.index_name, torch_version)
        # An unknown arch list is trusted only where no GPU's compute capability is known.
        if all(
            gpu.compute_capability is None
            or (archs is not None and arch_supported(archs, gpu.compute_capability))
            for gpu in nvidia.gpus
        ):
            return build.index_name, (
                f"{build.index_name} is the newest CUDA build of {basis} that driver"
                f" {nvidia.driver_version} runs (needs >= {min_driver_for_cuda(version)})"
                f" with kernels for {_gpu_names(nvidia.gpus)}"
            )
    return "cpu", _no_cuda_fits(nvidia, cuda, basis, runnable)
