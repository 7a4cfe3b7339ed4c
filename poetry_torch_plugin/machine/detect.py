"""What accelerator this machine has: every probe, or a fake machine from a JSON file.

Nothing here imports torch."""

from __future__ import annotations

import json
import os
import platform
import re
import sys

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.machine import DRIVER_VERSION
from poetry_torch_plugin.core.machine import AmdGpu
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import IntelGpu
from poetry_torch_plugin.core.machine import Jetson
from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.core.machine import intel_gpu
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.machine import probes


if TYPE_CHECKING:
    from collections.abc import Mapping

FAKE_MACHINE_ENV = "POETRY_TORCH_FAKE_MACHINE"


def current_platform() -> str:
    return f"{platform.system().lower()}-{platform.machine().lower()}"


@record
class Families:
    """Which GPU vendors' probes are worth running on this machine."""

    nvidia: bool = True
    amd: bool = True
    intel: bool = True


# Linux device nodes per vendor: the NVIDIA driver's (and WSL2's /dev/dxg, Jetson's nvhost
# and nvmap), AMD's ROCm compute node, and the DRM render nodes an Intel GPU runs through.
_NVIDIA_NODES = ("nvidia", "dxg", "nvhost", "nvmap", "nvgpu")


def present_families(root: Path = Path("/")) -> Families:
    """On Linux, the vendors whose device nodes (or loaded driver) exist: a probe for a vendor
    with none would only spend time (NVML's dlopen, PATH lookups, a tool started) to find
    nothing.  Elsewhere every probe runs (Windows has no such nodes; macOS has no GPU probe to
    skip but MPS, which is not gated)."""
    if platform.system() != "Linux":
        return Families(nvidia=platform.system() != "Darwin", amd=True, intel=True)
    try:
        names = [path.name for path in (root / "dev").iterdir()]
    except OSError:
        names = []
    nvidia = any(name.startswith(_NVIDIA_NODES) for name in names) or any(
        (root / path).exists() for path in ("proc/driver/nvidia", "sys/module/nvidia")
    )
    try:
        render = any(path.name.startswith("renderD") for path in (root / "dev/dri").iterdir())
    except OSError:
        render = False
    return Families(nvidia=nvidia, amd="kfd" in names, intel=render)


def start_probes() -> None:
    """Begin the slow probes in the background, so that a command about to detect the machine
    overlaps them with its own imports (``detect_machine`` takes the answers): the CUDA
    toolkit's, everywhere, and NVML's init where an NVIDIA driver may be."""
    if os.environ.get(FAKE_MACHINE_ENV):
        return
    if present_families().nvidia:
        # NVML first: its init and first device handle (~18 ms on an H100) are the longest
        # wait of `check`; nvcc's thread is begun after it, not before
        from poetry_torch_plugin.machine import nvml  # ctypes: only where a driver may be

        nvml.start_probe()
    probes.start_nvcc()


def nvml_pending() -> bool:
    """Whether NVML's answer, begun by ``start_probes``, is still on its way (a command can do
    work of its own meanwhile).  Never begun (a fake machine, no driver): the module holding
    the probe was not even imported, and is not imported here."""
    if "poetry_torch_plugin.machine.nvml" not in sys.modules:
        return False
    from poetry_torch_plugin.machine import nvml

    return nvml.pending()


def detect_machine(*, use_nvml: bool = True, families: Families | None = None) -> Machine:
    """Probe everything: NVML, then nvidia-smi, then ``/proc`` for the NVIDIA driver.

    Only the vendors in ``families`` (default: ``present_families()``) are probed; the CUDA
    toolkit, the ROCm version file, macOS and Jetson always are.  With
    ``POETRY_TORCH_FAKE_MACHINE=<file.json>`` set, return the machine that file describes
    instead (the shape of ``machine_to_dict``); a broken file raises TorchPluginError rather
    than silently detecting the real machine.
    """
    fake = os.environ.get(FAKE_MACHINE_ENV)
    if fake:
        return _load_fake(Path(fake))
    present = families if families is not None else present_families()
    nvidia = None
    if present.nvidia:
        from poetry_torch_plugin.machine import nvml  # ctypes: only where a driver may be

        nvidia = nvml.probe_nvml() if use_nvml else None
        nvidia = nvidia or probes.probe_nvidia_smi() or probes.probe_proc_driver()
    amd_gpus: tuple[AmdGpu, ...] = ()
    if present.amd:
        from poetry_torch_plugin.machine import amd  # only where an AMD GPU's nodes are

        amd_gpus = amd.probe_amd_gpus()
    intel_gpus: tuple[IntelGpu, ...] = ()
    if present.intel:
        from poetry_torch_plugin.machine import intel  # only where an Intel GPU's nodes are

        intel_gpus = intel.probe_intel_gpus()
    macos, mps = probes.probe_macos()
    return Machine(
        nvidia=nvidia,
        nvcc=probes.probe_nvcc(),
        mps=mps,
        rocm=probes.probe_rocm() if present.amd else probes.rocm_version_file(),
        platform=current_platform(),
        amd_gpus=amd_gpus,
        intel_gpus=intel_gpus,
        macos=macos,
        jetson=probes.probe_jetson(),
    )


def _load_fake(path: Path) -> Machine:
    try:
        return machine_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise TorchPluginError(
            f"{FAKE_MACHINE_ENV}={path} does not describe a machine ({error})",
            kept="nothing was changed",
            next=f"Fix the file or unset {FAKE_MACHINE_ENV}.",
        ) from error


def _typed(data: Mapping[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = data.get(key, default)
    # bool is an int subclass: `true` is no index, and 1 is no flag.
    if value is not None and (
        not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
    ):
        raise ValueError(f"{key!r} must be {kind.__name__}, not {value!r}")
    return value


def _pair(data: Mapping[str, Any], key: str) -> tuple[int, int] | None:
    value = data.get(key)
    if value is None:
        return None
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        return (value[0], value[1])
    raise ValueError(f"{key!r} must be two integers such as [9, 0], not {value!r}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object, not {value!r}")
    return value


def machine_from_dict(data: Mapping[str, Any]) -> Machine:
    """The inverse of ``machine_to_dict``; raises ValueError naming the first bad key."""
    data = _mapping(data, "the machine")
    nvcc_data = data.get("nvcc")
    nvcc = None
    if nvcc_data is not None:
        nvcc_map = _mapping(nvcc_data, "'nvcc'")
        version = _pair(nvcc_map, "version")
        if version is None:
            raise ValueError("'nvcc' needs a 'version' such as [13, 0]")
        nvcc = NvccInfo(version, _typed(nvcc_map, "full", str, f"{version[0]}.{version[1]}"))
    nvidia = None
    if data.get("nvidia") is not None:
        nvidia_map = _mapping(data["nvidia"], "'nvidia'")
        driver = _typed(nvidia_map, "driver_version", str)
        if driver is None or not re.match(DRIVER_VERSION, driver):
            raise ValueError(f"'driver_version' must look like 580.65.06, not {driver!r}")
        gpus: list[Gpu] = []
        items = nvidia_map.get("gpus", ())
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"'gpus' must be a list, not {items!r}")
        for position, item in enumerate(items):
            gpu = _mapping(item, f"gpu {position}")
            gpus.append(
                Gpu(
                    index=_typed(gpu, "index", int, position),
                    name=_typed(gpu, "name", str, "NVIDIA GPU"),
                    compute_capability=_pair(gpu, "compute_capability"),
                    memory_mib=_typed(gpu, "memory_mib", int),
                    mig=_typed(gpu, "mig", bool, False),
                )
            )
        nvidia = NvidiaInfo(
            driver_version=driver,
            cuda_driver_version=_pair(nvidia_map, "cuda_driver_version"),
            gpus=tuple(gpus),
            source=_typed(nvidia_map, "source", str, "fake"),
        )
    amd_items = data.get("amd_gpus", ())
    if not isinstance(amd_items, (list, tuple)):
        raise ValueError(f"'amd_gpus' must be a list, not {amd_items!r}")
    amd_gpus = []
    for position, item in enumerate(amd_items):
        gpu = _mapping(item, f"AMD gpu {position}")
        amd_gpus.append(
            AmdGpu(
                index=_typed(gpu, "index", int, position),
                name=_typed(gpu, "name", str, "AMD GPU"),
                gfx=_typed(gpu, "gfx", str),
            )
        )
    intel_items = data.get("intel_gpus", ())
    if not isinstance(intel_items, (list, tuple)):
        raise ValueError(f"'intel_gpus' must be a list, not {intel_items!r}")
    intel_gpus = []
    for position, item in enumerate(intel_items):
        gpu = _mapping(item, f"Intel gpu {position}")
        device_id = _typed(gpu, "device_id", str)
        if device_id is None:
            raise ValueError(f"Intel gpu {position} needs a 'device_id' such as '0x56a0'")
        intel_gpus.append(intel_gpu(_typed(gpu, "index", int, position), device_id))
    jetson = None
    if data.get("jetson") is not None:
        jetson_map = _mapping(data["jetson"], "'jetson'")
        jetson = Jetson(
            model=_typed(jetson_map, "model", str, "NVIDIA Jetson"),
            soc=_typed(jetson_map, "soc", str),
            l4t=_typed(jetson_map, "l4t", str),
        )
    return Machine(
        nvidia=nvidia,
        nvcc=nvcc,
        mps=_typed(data, "mps", bool, False),
        rocm=_typed(data, "rocm", str),
        platform=_typed(data, "platform", str) or current_platform(),
        amd_gpus=tuple(amd_gpus),
        intel_gpus=tuple(intel_gpus),
        macos=_typed(data, "macos", str),
        jetson=jetson,
    )
