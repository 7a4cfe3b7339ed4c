"""Parsers for the text that ``nvidia-smi``, ``/proc/driver/nvidia`` and ``nvcc`` print."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.machine import DRIVER_VERSION
from poetry_torch_plugin.core.machine import DriverReading
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo


if TYPE_CHECKING:
    from collections.abc import Sequence


QUERY_COLUMNS = (
    "index",
    "name",
    "driver_version",
    "compute_cap",
    "memory.total",
    "mig.mode.current",
)


# Drivers older than ~510 reject compute_cap and mig.mode.current as query fields.
MINIMAL_QUERY_COLUMNS = ("index", "name", "driver_version", "memory.total")
_SMI_DRIVER = re.compile(r"driver version\s*:\s*(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)
_SMI_CUDA = re.compile(r"cuda version\s*:\s*(\d+)\.(\d+)", re.IGNORECASE)
_PROC_DRIVER = re.compile(r"^NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)\s", re.MULTILINE)
_PROC_MODEL = re.compile(r"^Model:\s*(.+?)\s*$", re.MULTILINE)
_NVCC = re.compile(r"release (\d+)\.(\d+)(?:, V(\d+(?:\.\d+)*))?")


def _cell(value: str) -> str | None:
    text = value.strip()
    return None if not text or text.startswith("[") else text


def _leading_int(value: str | None) -> int | None:
    match = re.match(r"\d+", value or "")
    return int(match.group()) if match else None


def _capability(value: str | None) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_query_gpu_csv(text: str, columns: Sequence[str] = QUERY_COLUMNS) -> NvidiaInfo | None:
    """Parse ``nvidia-smi --query-gpu=<columns> --format=csv,noheader[,nounits]``.

    Malformed lines are skipped; ``None`` when no line names a GPU (for instance
    "No devices were found").  Without an ``index`` column, GPUs are numbered by line.
    """
    driver: str | None = None
    gpus: list[Gpu] = []
    for line in text.splitlines():
        cells = [part.strip() for part in line.split(",")]
        if len(cells) != len(columns):
            continue
        row = dict(zip(columns, cells))
        name = _cell(row.get("name", ""))
        version = row.get("driver_version", "")
        index = _leading_int(row["index"]) if "index" in row else len(gpus)
        if name is None or index is None or not DRIVER_VERSION.match(version):
            continue
        driver = driver or version
        gpus.append(
            Gpu(
                index=index,
                name=name,
                compute_capability=_capability(_cell(row.get("compute_cap", ""))),
                memory_mib=_leading_int(_cell(row.get("memory.total", ""))),
                mig=(_cell(row.get("mig.mode.current", "")) or "").lower() == "enabled",
            )
        )
    if driver is None:
        return None
    return NvidiaInfo(driver, None, tuple(gpus), "nvidia-smi")


def parse_smi_header(text: str) -> DriverReading | None:
    """Driver and CUDA version from plain ``nvidia-smi`` or ``nvidia-smi --version``."""
    driver = _SMI_DRIVER.search(text)
    if driver is None:
        return None
    cuda = _SMI_CUDA.search(text)
    return DriverReading(
        driver.group(1), (int(cuda.group(1)), int(cuda.group(2))) if cuda else None
    )


def parse_proc_driver_version(text: str) -> DriverReading | None:
    """The kernel module's version from ``/proc/driver/nvidia/version`` (no CUDA version)."""
    match = _PROC_DRIVER.search(text)
    return DriverReading(match.group(1), None) if match else None


def parse_nvcc_version(text: str) -> NvccInfo | None:
    """``nvcc --version``: "Cuda compilation tools, release 13.0, V13.0.88"."""
    match = _NVCC.search(text)
    if match is None:
        return None
    major, minor, full = match.groups()
    return NvccInfo((int(major), int(minor)), full or f"{major}.{minor}")
