"""Value types for what a machine has (NVIDIA driver and GPUs, nvcc, MPS, ROCm), and their
JSON shape for ``check --json``."""

from __future__ import annotations

import re

from typing import Any

from poetry_torch_plugin.core.record import as_dict
from poetry_torch_plugin.core.record import record


# the text of a driver version's pattern (re compiles it on first use)
DRIVER_VERSION = r"^\d+\.\d+(?:\.\d+)?$"
MPS_FIRST_MACOS = (12, 3)  # torch's MPS backend never ran before macOS 12.3


def version_tuple(text: str | None) -> tuple[int, ...]:
    """``(14, 5)`` from ``14.5``; ``()`` for nothing readable."""
    parts = [re.match(r"\d+", part) for part in (text or "").strip().split(".")]
    return tuple(int(part.group()) for part in parts if part is not None)


@record
class Gpu:
    """One NVIDIA GPU; ``None`` fields were not reported by the source that found it."""

    index: int
    name: str
    compute_capability: tuple[int, int] | None
    memory_mib: int | None
    mig: bool = False


@record
class NvidiaInfo:
    """The NVIDIA driver and the GPUs it exposes.

    ``cuda_driver_version`` is the newest CUDA the driver runs (``(13, 0)`` for 580.x);
    ``source`` says which probe answered: ``nvml``, ``nvidia-smi`` or ``proc``.
    """

    driver_version: str
    cuda_driver_version: tuple[int, int] | None
    gpus: tuple[Gpu, ...]
    source: str


@record
class DriverReading:
    """A driver version, and the CUDA version it reports where the text names one."""

    driver_version: str
    cuda_driver_version: tuple[int, int] | None


@record
class NvccInfo:
    """The CUDA toolkit compiler on PATH: ``version=(13, 0)``, ``full="13.0.88"`` (``"13.0"``
    where only the toolkit's cuda.h named the release)."""

    version: tuple[int, int]
    full: str


@record
class AmdGpu:
    """One AMD GPU: its LLVM target (``gfx942``), which ROCm builds list; ``name`` is the
    marketing name where the source gives one (rocminfo, amd-smi), else ``AMD GPU``."""

    index: int
    name: str
    gfx: str | None


@record
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


# Jetson modules by their SoC (``/proc/device-tree/compatible``): the GPU's compute capability,
# and whether PyTorch's own Linux aarch64 CUDA wheels (built for SBSA servers) run there.  Only
# Thor (JetPack 7, L4T r38) moved to SBSA CUDA; the others need NVIDIA's JetPack wheels.
JETSON_SOCS: dict[str, tuple[str, tuple[int, int], bool]] = {
    "tegra264": ("Jetson Thor", (11, 0), True),
    "tegra234": ("Jetson Orin", (8, 7), False),
    "tegra194": ("Jetson Xavier", (7, 2), False),
    "tegra186": ("Jetson TX2", (6, 2), False),
    "tegra210": ("Jetson Nano/TX1", (5, 3), False),
}


@record
class Jetson:
    """An NVIDIA Jetson (L4T): ``model`` from the device tree, ``soc`` (``tegra234``), the
    L4T release (``R36.4.3``) from ``/etc/nv_tegra_release``."""

    model: str
    soc: str | None
    l4t: str | None

    @property
    def compute_capability(self) -> tuple[int, int] | None:
        known = JETSON_SOCS.get(self.soc or "")
        return known[1] if known else None

    @property
    def runs_pytorch_cuda_wheels(self) -> bool:
        """Whether download.pytorch.org's aarch64 CUDA wheels (SBSA) run here (Thor only)."""
        known = JETSON_SOCS.get(self.soc or "")
        return known is not None and known[2]

    def describe(self) -> str:
        cc = self.compute_capability
        arch = f", sm_{cc[0]}{cc[1]}" if cc else ""
        l4t = f", L4T {self.l4t}" if self.l4t else ""
        return f"{self.model} ({self.soc or 'tegra'}{arch}{l4t})"


JETPACK_INDEX = "https://pypi.jetson-ai-lab.io"


def jetson_line(jetson: Jetson) -> str:
    """The one line that auto, an explicit --cuda and check all say on a JetPack Jetson."""
    return (
        f"{jetson.describe()} is a Jetson: PyTorch's aarch64 CUDA wheels target SBSA servers"
        f" (GH200, GB200), not JetPack, so its GPU needs NVIDIA's JetPack wheels"
        f" ({JETPACK_INDEX} or NVIDIA's PyTorch for Jetson downloads)"
    )


@record
class Machine:
    """Everything detection found; ``platform`` is ``system-machine``, e.g. ``linux-x86_64``."""

    nvidia: NvidiaInfo | None
    nvcc: NvccInfo | None
    mps: bool
    rocm: str | None
    platform: str
    amd_gpus: tuple[AmdGpu, ...] = ()
    intel_gpus: tuple[IntelGpu, ...] = ()
    macos: str | None = None  # the macOS version (sw_vers -productVersion), on macOS
    jetson: Jetson | None = None

    @property
    def jetpack_only(self) -> Jetson | None:
        """The Jetson, where only NVIDIA's JetPack wheels use its GPU (not Thor)."""
        if self.jetson is None or self.jetson.runs_pytorch_cuda_wheels:
            return None
        return self.jetson

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
            or self.jetson is not None
        )


def machine_to_dict(machine: Machine) -> dict[str, Any]:
    """The machine as JSON-ready data (pairs such as ``compute_capability`` are tuples)."""
    data = as_dict(machine)
    for key in ("amd_gpus", "intel_gpus", "macos", "jetson"):
        if not data[key]:
            del data[key]  # the shape recorded before AMD and Intel detection, where there is none
    return data
