"""Probes that run tools or read files: nvidia-smi, /proc, nvcc, ROCm, Apple Silicon
(``sw_vers``, ``sysctl``) and NVIDIA Jetson (``/etc/nv_tegra_release``, the device tree); the
parsers of what they print (each takes recorded text); where the NVIDIA driver keeps its tools
on Windows; and the helpers the vendor probes (nvml.py, amd.py, intel.py) share: ``read_text``
and ``tool_output``.

Every probe returns ``None`` (or ``False``) when the thing is absent or its output cannot be
read; none raises, none waits more than a few seconds."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import threading

from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.machine import DRIVER_VERSION
from poetry_torch_plugin.core.machine import JETSON_SOCS
from poetry_torch_plugin.core.machine import MPS_FIRST_MACOS
from poetry_torch_plugin.core.machine import DriverReading
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import Jetson
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.process import Finished
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Sequence


# nvidia-smi and friends answer in well under a second once the driver is loaded.
SUBPROCESS_TIMEOUT_S = 2.0
ROCM_DEFAULT_PATH = Path("/opt/rocm")
# (a pattern as text: re compiles it on first use, not when `check`'s modules load)
_AMD_SMI_ROCM = r"(?i)ROCm version:\s*(\d+(?:\.\d+)+)"


def _run(argv: Sequence[str]) -> Finished | None:
    """Run a tool; None when it is missing, hangs past SUBPROCESS_TIMEOUT_S or cannot start."""
    try:
        finished = run(argv, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, ValueError):
        return None
    return None if finished.timed_out else finished


def tool_output(argv: Sequence[str]) -> str | None:
    result = _run(argv)
    return result.stdout if result is not None and result.code == 0 else None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# Windows: where the NVIDIA driver keeps ``nvidia-smi.exe`` and ``nvml.dll``

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


# NVIDIA: the text that ``nvidia-smi``, ``/proc/driver/nvidia`` and ``nvcc`` print


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
# (patterns as text: re compiles them on first use, not when `check`'s modules load)
_SMI_DRIVER = r"(?i)driver version\s*:\s*(\d+\.\d+(?:\.\d+)?)"
_SMI_CUDA = r"(?i)cuda version\s*:\s*(\d+)\.(\d+)"
_PROC_DRIVER = r"(?m)^NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)\s"
_PROC_MODEL = r"(?m)^Model:\s*(.+?)\s*$"
_NVCC = r"release (\d+)\.(\d+)(?:, V(\d+(?:\.\d+)*))?"


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
        if name is None or index is None or not re.match(DRIVER_VERSION, version):
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
    driver = re.search(_SMI_DRIVER, text)
    if driver is None:
        return None
    cuda = re.search(_SMI_CUDA, text)
    return DriverReading(
        driver.group(1), (int(cuda.group(1)), int(cuda.group(2))) if cuda else None
    )


def parse_proc_driver_version(text: str) -> DriverReading | None:
    """The kernel module's version from ``/proc/driver/nvidia/version`` (no CUDA version)."""
    match = re.search(_PROC_DRIVER, text)
    return DriverReading(match.group(1), None) if match else None


def parse_nvcc_version(text: str) -> NvccInfo | None:
    """``nvcc --version``: "Cuda compilation tools, release 13.0, V13.0.88"."""
    match = re.search(_NVCC, text)
    if match is None:
        return None
    major, minor, full = match.groups()
    return NvccInfo((int(major), int(minor)), full or f"{major}.{minor}")


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
    banner = tool_output([exe])
    header = parse_smi_header(banner) if banner is not None else None
    return replace(info, cuda_driver_version=header.cuda_driver_version if header else None)


def probe_proc_driver(root: Path = Path("/")) -> NvidiaInfo | None:
    """Read the kernel module's version and GPU models from ``/proc`` (Linux only).

    This finds the driver where neither NVML nor nvidia-smi are reachable; it knows no
    compute capability and no CUDA version.
    """
    text = read_text(root / "proc/driver/nvidia/version")
    reading = parse_proc_driver_version(text) if text is not None else None
    if reading is None:
        plain = (read_text(root / "sys/module/nvidia/version") or "").strip()
        reading = DriverReading(plain, None) if re.match(DRIVER_VERSION, plain) else None
    if reading is None:
        return None
    gpus: list[Gpu] = []
    for information in sorted((root / "proc/driver/nvidia/gpus").glob("*/information")):
        model = re.search(_PROC_MODEL, read_text(information) or "")
        if model is not None:
            gpus.append(Gpu(len(gpus), model.group(1), None, None))
    return NvidiaInfo(reading.driver_version, None, tuple(gpus), "proc")


# a toolkit probe begun ahead of its question (``start_nvcc``): (PATH, worker, answer)
_nvcc_begun: list[tuple[str | None, threading.Thread, list[NvccInfo | None]]] = []


def start_nvcc() -> None:
    """Begin ``probe_nvcc`` now, in a daemon thread: where no toolkit file names nvcc's version
    (an ``nvcc`` on PATH that is a wrapper script, a toolkit without ``version.json``) it runs
    ``nvcc --version``, ~20 ms on the GPU machine, which a command about to detect the machine
    then overlaps with its own imports.  A probe already begun for the same PATH and not yet
    asked is kept (the plugin begins one as Poetry starts, the command again); one begun for
    another PATH is dropped for this one."""
    path = os.environ.get("PATH")  # None: unset, and ``shutil.which`` takes the system's
    if _nvcc_begun and _nvcc_begun[-1][0] == path:
        return
    _nvcc_begun.clear()
    answer: list[NvccInfo | None] = []
    worker = threading.Thread(
        target=lambda: answer.append(_probe_nvcc(path)), name="poetry-torch-nvcc", daemon=True
    )
    worker.start()
    _nvcc_begun.append((path, worker, answer))


def probe_nvcc() -> NvccInfo | None:
    """The CUDA toolkit's ``nvcc`` on PATH (the answer of a probe begun by ``start_nvcc``,
    if one was).

    This is the toolkit used to compile extensions, NOT what torch runs on: torch wheels
    bundle their own CUDA runtime, and only the driver decides which of them can run.
    """
    if _nvcc_begun:
        path, worker, answer = _nvcc_begun.pop()
        if path == os.environ.get("PATH"):  # else an answer for another PATH: ask again
            worker.join(SUBPROCESS_TIMEOUT_S + 1.0)  # the tool itself is stopped after the first
            return answer[0] if answer else None
    return _probe_nvcc()


def _probe_nvcc(path: str | None = None) -> NvccInfo | None:
    exe = shutil.which("nvcc", path=path)
    if exe is None:
        return None
    real = Path(exe).resolve()
    # cuda.h speaks for the nvcc beside it, not for a script that runs another (a wrapper in
    # /usr/local/bin: its parent's parent is a prefix shared with other packages)
    known = nvcc_from_toolkit_files(real.parent.parent, header=not _is_script(real))
    if known is not None:
        return known  # no process: `check` runs on every CI job, nvcc takes 20-50 ms to answer
    output = tool_output([exe, "--version"])
    return parse_nvcc_version(output) if output is not None else None


def _is_script(path: Path) -> bool:
    """Whether ``path`` is a script (``#!``) rather than a compiled executable."""
    try:
        with path.open("rb") as stream:
            return stream.read(2) == b"#!"
    except OSError:
        return True  # unreadable: nothing beside it is trusted either


# (a pattern as text: re compiles it on first use, not when `check`'s modules load)
_NVCC_DIST_INFO = r"^nvidia_cuda_nvcc(?:_cu\d+)?-(\d+)\.(\d+)(?:\.(\d+))?\.dist-info$"


def nvcc_from_toolkit_files(root: Path, *, header: bool = True) -> NvccInfo | None:
    """nvcc's version from the toolkit's own files beside ``bin/nvcc``: ``version.json``
    (every CUDA toolkit since 11.1: ``{"cuda_nvcc": {"version": "13.0.88"}}``), else a pip
    package's ``nvidia_cuda_nvcc-13.0.88.dist-info`` folder (a toolkit assembled from wheels),
    else, in a toolkit's own tree (``nvvm/`` beside ``bin/``, as in /usr/local/cuda-13.0), the
    release its ``include/cuda.h`` defines (``CUDA_VERSION 13000``: 13.0, without nvcc's patch
    number; a toolkit image stripped of version.json; not with ``header`` False: the nvcc found
    is a script).  None when none names it: then nvcc itself is asked."""
    text = read_text(root / "version.json")
    if text is not None:
        try:
            version = json.loads(text).get("cuda_nvcc", {}).get("version")
        except (ValueError, AttributeError):
            version = None
        match = re.match(r"^(\d+)\.(\d+)(?:\.\d+)*$", version) if isinstance(version, str) else None
        if match is not None:
            return NvccInfo((int(match.group(1)), int(match.group(2))), version)
    try:
        names = sorted(entry.name for entry in os.scandir(root / "dist-info"))
    except OSError:
        names = []
    for name in names:
        found = re.match(_NVCC_DIST_INFO, name)
        if found is not None:
            major, minor, patch = found.groups()
            full = f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"
            return NvccInfo((int(major), int(minor)), full)
    if not header or not (root / "nvvm").is_dir():  # a toolkit's own tree, not a shared prefix
        return None
    return _cuda_header_release(root / "include" / "cuda.h")


_CUDA_VERSION_DEFINE = r"(?m)^#define CUDA_VERSION (\d{4,6})\s*$"


def _cuda_header_release(header: Path) -> NvccInfo | None:
    """The release ``cuda.h`` defines (``#define CUDA_VERSION 13000`` -> 13.0), read from the
    header's start (it is ~1 MB; the define is in its first ~10 kB); None without one."""
    try:
        with header.open("rb") as stream:
            start = stream.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(_CUDA_VERSION_DEFINE, start)
    if found is None:
        return None
    number = int(found.group(1))
    major, minor = number // 1000, (number % 1000) // 10
    return NvccInfo((major, minor), f"{major}.{minor}")


def rocm_version_file() -> str | None:
    """The ROCm version its ``.info/version`` file names (``ROCM_PATH``, else /opt/rocm)."""
    roots = [Path(os.environ["ROCM_PATH"])] if os.environ.get("ROCM_PATH") else []
    for root in [*roots, ROCM_DEFAULT_PATH]:
        version = (read_text(root / ".info/version") or "").strip().split("-")[0]
        if re.fullmatch(r"\d+(?:\.\d+)+", version):
            return version
    return None


def probe_rocm() -> str | None:
    """The ROCm version (``6.4.1``); ``unknown`` when ROCm tools are present but unversioned."""
    version = rocm_version_file()
    if version is not None:
        return version
    amd_smi = shutil.which("amd-smi")
    if amd_smi is not None:
        match = re.search(_AMD_SMI_ROCM, tool_output([amd_smi, "version"]) or "")
        return match.group(1) if match else "unknown"
    return "unknown" if shutil.which("rocminfo") is not None else None


# (patterns as text: re compiles them on first use, not when `check`'s modules load)
_SW_VERS = r"(?m)^ProductVersion:\s*(\d+(?:\.\d+)*)\s*$"
_SYSCTL = r"(?m)^([a-z][\w.]*):\s*(.*?)\s*$"
_TEGRA_RELEASE = r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)"


# Apple


def parse_sw_vers(text: str) -> str | None:
    """``sw_vers``: the ``ProductVersion:`` line (``14.5``)."""
    match = re.search(_SW_VERS, text)
    return match.group(1) if match else None


def parse_sysctl(text: str) -> dict[str, str]:
    """``sysctl machdep.cpu.brand_string hw.optional.arm64``: ``name: value`` lines."""
    return {match.group(1): match.group(2) for match in re.finditer(_SYSCTL, text)}


def apple_silicon(sysctl: dict[str, str]) -> bool:
    """An Apple chip, whatever this process runs as: under Rosetta 2 the Python is x86_64, yet
    ``hw.optional.arm64`` still says 1."""
    return sysctl.get("hw.optional.arm64") == "1" or sysctl.get(
        "machdep.cpu.brand_string", ""
    ).startswith("Apple")


def mps_usable(macos: str | None, arm64_process: bool, silicon: bool) -> bool:
    """Whether torch's MPS backend can run: an arm64 Python on Apple Silicon, macOS >= 12.3
    (each torch release needs more; ``check`` reports that from the facts)."""
    return silicon and arm64_process and version_tuple(macos) >= MPS_FIRST_MACOS


def probe_macos() -> tuple[str | None, bool]:
    """The macOS version and whether MPS can run in this Python; ``(None, False)`` elsewhere."""
    if platform.system() != "Darwin":
        return None, False
    version = platform.mac_ver()[0] or None
    if version is None:
        version = parse_sw_vers(tool_output(["/usr/bin/sw_vers"]) or "")
    arm64 = platform.machine().lower() == "arm64"
    silicon = arm64
    if not arm64:
        answer = tool_output(["/usr/sbin/sysctl", "machdep.cpu.brand_string", "hw.optional.arm64"])
        silicon = apple_silicon(parse_sysctl(answer or ""))
    return version, mps_usable(version, arm64, silicon)


# NVIDIA Jetson


def parse_tegra_release(text: str) -> str | None:
    """``/etc/nv_tegra_release``: "# R36 (release), REVISION: 4.3, ..." -> ``R36.4.3``."""
    match = re.search(_TEGRA_RELEASE, text)
    return f"R{match.group(1)}.{match.group(2)}" if match else None


def parse_compatible(data: bytes) -> str | None:
    """``/proc/device-tree/compatible`` (NUL-separated): the ``nvidia,tegraNNN`` SoC."""
    for entry in data.decode("ascii", "replace").split("\0"):
        vendor, _, soc = entry.strip().partition(",")
        if vendor == "nvidia" and soc.startswith("tegra"):
            return soc
    return None


def probe_jetson(root: Path = Path("/")) -> Jetson | None:
    """A Jetson: an ``nvidia,tegra*`` device tree, or an L4T release file; None elsewhere."""
    try:
        compatible = (root / "proc/device-tree/compatible").read_bytes()
    except OSError:
        compatible = b""
    soc = parse_compatible(compatible)
    release = read_text(root / "etc/nv_tegra_release")
    l4t = parse_tegra_release(release) if release is not None else None
    if soc is None and l4t is None:
        return None
    model = (read_text(root / "proc/device-tree/model") or "").replace("\0", "").strip()
    if not model:
        model = JETSON_SOCS[soc][0] if soc in JETSON_SOCS else "NVIDIA Jetson"
    return Jetson(model, soc, l4t)
