"""Where the NVIDIA driver keeps ``nvidia-smi.exe`` and ``nvml.dll`` on Windows."""

from __future__ import annotations

import platform
import shutil

from pathlib import Path


# System32 since the DCH drivers (R4xx), the NVSMI folder before them.  PATH usually has the
# first; a service account or a trimmed PATH may not.
WINDOWS_NVIDIA_DIRS = (
    Path("C:/Windows/System32"),
    Path("C:/Program Files/NVIDIA Corporation/NVSMI"),
)


def windows_tool(name: str) -> str | None:
    """``nvidia-smi.exe`` (or another driver tool) on PATH, else where the driver installs it."""
    found = shutil.which(name)
    if found is not None or platform.system() != "Windows":
        return found
    for folder in WINDOWS_NVIDIA_DIRS:
        candidate = folder / f"{name}.exe"
        if candidate.is_file():
            return str(candidate)
    return None


def nvml_library_names() -> tuple[str, ...]:
    """What to hand ctypes for NVML: ``libnvidia-ml.so.1`` on Linux; on Windows ``nvml.dll``
    (System32 is searched) and then the full paths the driver uses."""
    if platform.system() != "Windows":
        return ("libnvidia-ml.so.1",)
    return ("nvml.dll", *(str(folder / "nvml.dll") for folder in WINDOWS_NVIDIA_DIRS))
