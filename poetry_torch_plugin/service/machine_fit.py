"""The verdicts on whether the installed build fits this machine (driver, GPU architectures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.facts import arch_row
from poetry_torch_plugin.core.facts import arch_supported
from poetry_torch_plugin.core.facts import build_for
from poetry_torch_plugin.core.facts import driver_at_least
from poetry_torch_plugin.core.facts import driver_floor
from poetry_torch_plugin.core.facts import os_of
from poetry_torch_plugin.data import load_facts


if TYPE_CHECKING:
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import InstalledDist

from poetry_torch_plugin.service.verdict import ERROR
from poetry_torch_plugin.service.verdict import FIX_AUTO
from poetry_torch_plugin.service.verdict import WARNING


if TYPE_CHECKING:
    from poetry_torch_plugin.service.verdicts import _Verdicts


def machine_fit(verdicts: _Verdicts, torch: InstalledDist, configured: Variant | None) -> None:
    """Whether this machine can run the build: the installed one, or, when that is about
    to be replaced (it does not match the configuration), the configured one."""
    machine = verdicts.machine
    if not machine.has_gpu:
        verdicts.add(
            "no-gpu",
            ERROR if verdicts.require_gpu else WARNING,
            "no GPU found on this machine: torch runs on the CPU here (expected on CI runners)",
            None,
        )
        return
    if "torch" in verdicts.flagged:
        build, subject, version = configured, f"the configured {configured} build", None
    else:
        build, subject = torch.variant(), f"torch {torch.build_version()}"
        version = torch.version
    nvidia = machine.nvidia
    if build is None:
        return
    if build.kind == "cpu" and (
        machine.has_nvidia_gpu
        or machine.rocm is not None
        or bool(machine.amd_gpus)
        or any(gpu.xpu for gpu in machine.intel_gpus)
    ):
        verdicts.add(
            "cpu-build-on-gpu",
            ERROR if verdicts.require_gpu else WARNING,
            f"{subject} is a CPU-only build, but this machine has {gpus_text(machine)}",
            FIX_AUTO,
        )
        return
    if build.kind == "rocm":
        gfx_fit(verdicts, build, subject, version)
        return
    if build.kind != "cuda" or nvidia is None or not nvidia.gpus:
        return
    cuda = (build.version[0], build.version[1])
    facts = load_facts()
    row = driver_floor(facts, cuda, os_of(machine.platform))
    floor = row.driver if row is not None else None
    known_too_old = floor is not None and not driver_at_least(nvidia.driver_version, floor)
    reported = nvidia.cuda_driver_version
    if known_too_old or (floor is None and reported is not None and reported[0] < cuda[0]):
        runs = f" (runs CUDA up to {reported[0]}.{reported[1]})" if reported else ""
        needs = f" needs a driver >= {floor}" if floor else f" needs CUDA {build.dotted}"
        # A floor not checked against its source only warns (facts.json says which).
        unchecked = (
            row is not None
            and not row.checked
            and not (reported is not None and reported[0] < cuda[0])
        )
        verdicts.add(
            "driver-too-old",
            WARNING if unchecked else ERROR,
            f"NVIDIA driver {nvidia.driver_version}{runs} is too old for {subject},"
            f" which{needs}{' (unchecked fact)' if unchecked else ''}; upgrade the driver,"
            " or install a build this driver runs",
            FIX_AUTO,
        )
    archs = arch_row(facts, build.index_name, version, machine.platform)
    if archs is None or not archs.value:
        return
    for gpu in nvidia.gpus:
        cc = gpu.compute_capability
        if cc is not None and not arch_supported(archs.value, cc):
            verdicts.add(
                "arch-not-in-build",
                ERROR if archs.checked else WARNING,
                f"GPU {gpu.index} ({gpu.name}, sm_{cc[0]}{cc[1]}) is not among the"
                f" architectures of {subject} ({' '.join(archs.value)})"
                f"{'' if archs.checked else ' (unchecked fact)'}",
                FIX_AUTO,
            )


def gfx_fit(verdicts: _Verdicts, build: Variant, subject: str, version: str | None) -> None:
    """Each AMD GPU's gfx target against the ROCm build's list."""
    row = build_for(load_facts(), build.index_name, version)
    gfx = row.gfx if row is not None else None
    if gfx is None or not gfx.value:
        return
    for gpu in verdicts.machine.amd_gpus:
        if gpu.gfx is not None and gpu.gfx not in gfx.value:
            verdicts.add(
                "gfx-not-in-build",
                ERROR if gfx.checked else WARNING,
                f"AMD GPU {gpu.index} ({gpu.name}, {gpu.gfx}) is not among the gfx targets"
                f" of {subject} ({' '.join(gfx.value)})"
                f"{'' if gfx.checked else ' (unchecked fact)'}",
                FIX_AUTO,
            )


def gpus_text(machine: Machine) -> str:
    if machine.nvidia is not None and machine.nvidia.gpus:
        names = sorted({gpu.name for gpu in machine.nvidia.gpus})
        count = len(machine.nvidia.gpus)
        return f"{count} NVIDIA GPU{'s' if count > 1 else ''} ({', '.join(names)})"
    if machine.amd_gpus:
        names = sorted({gpu.name for gpu in machine.amd_gpus})
        count = len(machine.amd_gpus)
        return f"{count} AMD GPU{'s' if count > 1 else ''} ({', '.join(names)})"
    if machine.rocm is not None:
        return f"ROCm {machine.rocm}"
    xpu = sorted({gpu.name for gpu in machine.intel_gpus if gpu.xpu})
    if xpu:
        return f"an Intel GPU ({', '.join(xpu)})"
    return "a GPU"
