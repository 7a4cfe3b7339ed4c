"""Value types for what a machine has (NVIDIA driver and GPUs, nvcc, MPS, ROCm), and their
JSON shape for ``check --json``."""

from __future__ import annotations

import re

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any


DRIVER_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class Gpu:
    """One NVIDIA GPU; ``None`` fields were not reported by the source that found it."""

    index: int
    name: str
    compute_capability: tuple[int, int] | None
    memory_mib: int | None
    mig: bool = False


@dataclass(frozen=True)
class NvidiaInfo:
    """The NVIDIA driver and the GPUs it exposes.

    ``cuda_driver_version`` is the newest CUDA the driver runs (``(13, 0)`` for 580.x);
    ``source`` says which probe answered: ``nvml``, ``nvidia-smi`` or ``proc``.
    """

    driver_version: str
    cuda_driver_version: tuple[int, int] | None
    gpus: tuple[Gpu, ...]
    source: str


@dataclass(frozen=True)
class DriverReading:
    """A driver version, and the CUDA version it reports where the text names one."""

    driver_version: str
    cuda_driver_version: tuple[int, int] | None


@dataclass(frozen=True)
class NvccInfo:
    """The CUDA toolkit compiler on PATH: ``version=(13, 0)``, ``full="13.0.88"``."""

    version: tuple[int, int]
    full: str


@dataclass(frozen=True)
class AmdGpu:
    """One AMD GPU: its LLVM target (``gfx942``), which ROCm builds list; ``name`` is the
    marketing name where the source gives one (rocminfo, amd-smi), else ``AMD GPU``."""

    index: int
    name: str
    gfx: str | None


@dataclass(frozen=True)
class IntelGpu:
    """One Intel GPU from sysfs: its PCI device id (``0x56a0``) and, where the id is known,
    its family (``Arc A-series``); ``xpu`` says whether PyTorch's xpu builds support it."""

    index: int
    device_id: str
    name: str
    xpu: bool


# PCI device id prefixes of the Intel GPUs PyTorch's xpu builds support (its "Getting Started on
# Intel GPU" page: Data Center GPU Max, Arc A- and B-series, Core Ultra's Arc graphics).  Older
# integrated graphics (UHD, Iris Xe) are Intel GPUs too, but not xpu targets.
XPU_FAMILIES = (
    ("0x0bd", "Intel Data Center GPU Max"),
    ("0x56c", "Intel Data Center GPU Flex"),
    ("0x56", "Intel Arc A-series"),
    ("0xe20", "Intel Arc B-series"),
    ("0x7d", "Intel Arc graphics (Core Ultra)"),
    ("0x64a", "Intel Arc graphics (Core Ultra 200V)"),
)


def intel_gpu(index: int, device_id: str) -> IntelGpu:
    """The Intel GPU with that PCI device id, named by family where known."""
    text = device_id.strip().lower()
    for prefix, family in XPU_FAMILIES:
        if text.startswith(prefix):
            return IntelGpu(index, text, family, True)
    return IntelGpu(index, text, "Intel GPU", False)


@dataclass(frozen=True)
class Machine:
    """Everything detection found; ``platform`` is ``system-machine``, e.g. ``linux-x86_64``."""

    nvidia: NvidiaInfo | None
    nvcc: NvccInfo | None
    mps: bool
    rocm: str | None
    platform: str
    amd_gpus: tuple[AmdGpu, ...] = ()
    intel_gpus: tuple[IntelGpu, ...] = ()

    @property
    def has_nvidia_gpu(self) -> bool:
        return self.nvidia is not None and bool(self.nvidia.gpus)

    @property
    def has_gpu(self) -> bool:
        """True with a visible NVIDIA or AMD GPU, Apple MPS, or a ROCm install."""
        return (
            self.has_nvidia_gpu
            or self.mps
            or self.rocm is not None
            or bool(self.amd_gpus)
            or any(gpu.xpu for gpu in self.intel_gpus)
        )


def machine_to_dict(machine: Machine) -> dict[str, Any]:
    """The machine as JSON-ready data (pairs such as ``compute_capability`` are tuples)."""
    data = asdict(machine)
    for key in ("amd_gpus", "intel_gpus"):
        if not data[key]:
            del data[key]  # the shape recorded before AMD and Intel detection, where there is none
    return data
