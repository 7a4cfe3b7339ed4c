"""Probes that run tools or read files: nvidia-smi, /proc, nvcc, ROCm (MPS: platforms.py).

Every probe returns ``None`` (or ``False``) when the thing is absent or its output cannot be
read; none raises, none waits more than a few seconds."""

from __future__ import annotations

import os
import re
import shutil

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.machine import DRIVER_VERSION
from poetry_torch_plugin.core.machine import DriverReading
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.machine.parsers import _PROC_MODEL
from poetry_torch_plugin.machine.parsers import MINIMAL_QUERY_COLUMNS
from poetry_torch_plugin.machine.parsers import QUERY_COLUMNS
from poetry_torch_plugin.machine.parsers import parse_nvcc_version
from poetry_torch_plugin.machine.parsers import parse_proc_driver_version
from poetry_torch_plugin.machine.parsers import parse_query_gpu_csv
from poetry_torch_plugin.machine.parsers import parse_smi_header
from poetry_torch_plugin.machine.windows import windows_tool
from poetry_torch_plugin.process import Finished
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Sequence


# nvidia-smi and friends answer in well under a second once the driver is loaded.
SUBPROCESS_TIMEOUT_S = 2.0
ROCM_DEFAULT_PATH = Path("/opt/rocm")
_AMD_SMI_ROCM = re.compile(r"ROCm version:\s*(\d+(?:\.\d+)+)", re.IGNORECASE)


def _run(argv: Sequence[str]) -> Finished | None:
    """Run a tool; None when it is missing, hangs past SUBPROCESS_TIMEOUT_S or cannot start."""
    try:
        finished = run(argv, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, ValueError):
        return None
    return None if finished.timed_out else finished


def _stdout(argv: Sequence[str]) -> str | None:
    result = _run(argv)
    return result.stdout if result is not None and result.code == 0 else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def probe_nvidia_smi() -> NvidiaInfo | None:
    """Ask ``nvidia-smi``: one query for the GPUs, its banner for the CUDA version.

    On Windows, ``nvidia-smi.exe`` is looked for on PATH and then where the driver installs it.
    """
    exe = windows_tool("nvidia-smi")
    if exe is None:
        return None
    for columns in (QUERY_COLUMNS, MINIMAL_QUERY_COLUMNS):
        result = _run([exe, f"--query-gpu={','.join(columns)}", "--format=csv,noheader,nounits"])
        # Hung or gone: asking again would only wait again.  Exit 0: the fields were understood.
        if result is None or result.code == 0:
            break
    if result is None or result.code != 0:
        return None
    info = parse_query_gpu_csv(result.stdout, columns)
    if info is None:
        return None
    banner = _stdout([exe])
    header = parse_smi_header(banner) if banner is not None else None
    return replace(info, cuda_driver_version=header.cuda_driver_version if header else None)


def probe_proc_driver(root: Path = Path("/")) -> NvidiaInfo | None:
    """Read the kernel module's version and GPU models from ``/proc`` (Linux only).

    This finds the driver where neither NVML nor nvidia-smi are reachable; it knows no
    compute capability and no CUDA version.
    """
    text = _read_text(root / "proc/driver/nvidia/version")
    reading = parse_proc_driver_version(text) if text is not None else None
    if reading is None:
        plain = (_read_text(root / "sys/module/nvidia/version") or "").strip()
        reading = DriverReading(plain, None) if DRIVER_VERSION.match(plain) else None
    if reading is None:
        return None
    gpus: list[Gpu] = []
    for information in sorted((root / "proc/driver/nvidia/gpus").glob("*/information")):
        model = _PROC_MODEL.search(_read_text(information) or "")
        if model is not None:
            gpus.append(Gpu(len(gpus), model.group(1), None, None))
    return NvidiaInfo(reading.driver_version, None, tuple(gpus), "proc")


def probe_nvcc() -> NvccInfo | None:
    """The CUDA toolkit's ``nvcc`` on PATH.

    This is the toolkit used to compile extensions, NOT what torch runs on: torch wheels
    bundle their own CUDA runtime, and only the driver decides which of them can run.
    """
    exe = shutil.which("nvcc")
    output = _stdout([exe, "--version"]) if exe is not None else None
    return parse_nvcc_version(output) if output is not None else None


def probe_rocm() -> str | None:
    """The ROCm version (``6.4.1``); ``unknown`` when ROCm tools are present but unversioned."""
    roots = [Path(os.environ["ROCM_PATH"])] if os.environ.get("ROCM_PATH") else []
    for root in [*roots, ROCM_DEFAULT_PATH]:
        version = (_read_text(root / ".info/version") or "").strip().split("-")[0]
        if re.fullmatch(r"\d+(?:\.\d+)+", version):
            return version
    amd_smi = shutil.which("amd-smi")
    if amd_smi is not None:
        match = _AMD_SMI_ROCM.search(_stdout([amd_smi, "version"]) or "")
        return match.group(1) if match else "unknown"
    return "unknown" if shutil.which("rocminfo") is not None else None
