"""The verdicts on whether the installed build fits this machine (driver, GPU architectures)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.facts import mps_macos_floor
from poetry_torch_plugin.core.facts import torch_minor
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.machine import MPS_FIRST_MACOS
from poetry_torch_plugin.core.machine import jetson_line
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.data import load_facts


if TYPE_CHECKING:
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import InstalledDist

from poetry_torch_plugin.service.verdict import ERROR
from poetry_torch_plugin.service.verdict import FIX_AUTO
from poetry_torch_plugin.service.verdict import OK
from poetry_torch_plugin.service.verdict import WARNING


if TYPE_CHECKING:
    from poetry_torch_plugin.service.verdicts import _Verdicts


def machine_fit(verdicts: _Verdicts, torch: InstalledDist, configured: Variant | None) -> None:
    """Whether this machine can run the build: the installed one, or, when that is about
    to be replaced (it does not match the configuration), the configured one."""
    machine = verdicts.machine
    if machine.platform.lower().startswith("darwin"):
        mps_fit(verdicts, torch.version if "torch" not in verdicts.flagged else None)
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
    if build is None:
        return
    jetson = machine.jetpack_only
    if build.kind == "cpu" and jetson is not None:
        verdicts.add(
            "jetson-needs-jetpack", WARNING, f"{subject} runs on the CPU: {jetson_line(jetson)}"
        )
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
    if build.kind not in ("cuda", "rocm"):
        return
    # The same decision, in the same words, as an explicit `poetry torch install --cuda X.Y`.
    fit = judge_variant(load_facts(), machine, build, version)
    for finding in fit.findings:
        verdicts.add(
            finding.code,
            ERROR if finding.checked else WARNING,
            f"{subject} cannot run here: {finding.text}"
            f"{'' if finding.checked else ' (an unchecked fact)'}",
            FIX_AUTO,
        )


def mps_fit(verdicts: _Verdicts, version: str | None) -> None:
    """On macOS: whether MPS is there, and the macOS that this torch release's MPS needs."""
    machine = verdicts.machine
    floor = mps_macos_floor(load_facts(), version)
    minor = torch_minor(version)
    release = f"torch {minor}" if minor else "the newest torch"
    needs = (
        f"{release}'s MPS needs macOS >= {floor.macos} ({floor.source}"
        f"{'' if floor.checked else ', unchecked'})"
        if floor is not None
        else f"the facts do not say which macOS {release}'s MPS needs"
    )
    macos = f"macOS {machine.macos}" if machine.macos else "this macOS"
    if not machine.mps:
        why = (
            "it needs Apple Silicon and an arm64 Python"
            if version_tuple(machine.macos) >= MPS_FIRST_MACOS or machine.macos is None
            else "it needs macOS 12.3 or newer"
        )
        verdicts.add("mps", WARNING, f"no Apple MPS on {macos}: {why}; {needs}")
        return
    if (
        machine.macos is not None
        and floor is not None
        and version_tuple(machine.macos) < version_tuple(floor.macos)
    ):
        verdicts.add(
            "mps-macos-too-old",
            ERROR if floor.checked else WARNING,
            f"{macos} is older than {floor.macos}: {needs}, so torch runs on the CPU here;"
            " upgrade macOS, or pin an older torch",
            None,
        )
        return
    verdicts.add("mps", OK, f"Apple MPS available on {macos}; {needs}")


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
