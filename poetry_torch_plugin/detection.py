"""What accelerator this machine has: NVIDIA driver and GPUs, nvcc, Apple MPS, ROCm.

Every probe returns ``None`` (or ``False``) when the thing is absent or its output cannot be
read; none raises, none waits more than a few seconds.  Nothing here imports torch.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import subprocess
import threading

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

FAKE_MACHINE_ENV = "POETRY_TORCH_FAKE_MACHINE"
# nvidia-smi and friends answer in well under a second once the driver is loaded.
SUBPROCESS_TIMEOUT_S = 2.0
# nvmlInit can take seconds on a multi-GPU box without persistence mode; past this, give up.
NVML_TIMEOUT_S = 5.0
ROCM_DEFAULT_PATH = Path("/opt/rocm")

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

_DRIVER_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?$")
_SMI_DRIVER = re.compile(r"driver version\s*:\s*(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)
_SMI_CUDA = re.compile(r"cuda version\s*:\s*(\d+)\.(\d+)", re.IGNORECASE)
_PROC_DRIVER = re.compile(r"^NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)\s", re.MULTILINE)
_PROC_MODEL = re.compile(r"^Model:\s*(.+?)\s*$", re.MULTILINE)
_NVCC = re.compile(r"release (\d+)\.(\d+)(?:, V(\d+(?:\.\d+)*))?")
_AMD_SMI_ROCM = re.compile(r"ROCm version:\s*(\d+(?:\.\d+)+)", re.IGNORECASE)
_NVML_SUCCESS = 0
_NVML_BUFFER = 96


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
class Machine:
    """Everything detection found; ``platform`` is ``system-machine``, e.g. ``linux-x86_64``."""

    nvidia: NvidiaInfo | None
    nvcc: NvccInfo | None
    mps: bool
    rocm: str | None
    platform: str

    @property
    def has_nvidia_gpu(self) -> bool:
        return self.nvidia is not None and bool(self.nvidia.gpus)

    @property
    def has_gpu(self) -> bool:
        """True with a visible NVIDIA GPU, Apple MPS, or a ROCm install."""
        return self.has_nvidia_gpu or self.mps or self.rocm is not None


# Parsers: pure functions over the text a tool printed.


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
        if name is None or index is None or not _DRIVER_VERSION.match(version):
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


# Probes: each touches the machine once and returns None when it finds nothing.


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str] | None:
    """Run a tool; None when it is missing, hangs past SUBPROCESS_TIMEOUT_S or cannot start."""
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _stdout(argv: Sequence[str]) -> str | None:
    result = _run(argv)
    return result.stdout if result is not None and result.returncode == 0 else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


class _NvmlMemory(ctypes.Structure):
    _fields_ = (
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    )


def _nvml_call(lib: Any, name: str, *args: Any) -> bool:
    function = getattr(lib, name, None)
    return function is not None and int(function(*args)) == _NVML_SUCCESS


def _nvml_device(lib: Any, index: int) -> Gpu | None:
    handle = ctypes.c_void_p()
    if not _nvml_call(
        lib, "nvmlDeviceGetHandleByIndex_v2", ctypes.c_uint(index), ctypes.byref(handle)
    ):
        return None
    name = ctypes.create_string_buffer(_NVML_BUFFER)
    major, minor = ctypes.c_int(), ctypes.c_int()
    memory = _NvmlMemory()
    current, pending = ctypes.c_uint(), ctypes.c_uint()
    has_name = _nvml_call(lib, "nvmlDeviceGetName", handle, name, ctypes.c_uint(_NVML_BUFFER))
    has_cc = _nvml_call(
        lib, "nvmlDeviceGetCudaComputeCapability", handle, ctypes.byref(major), ctypes.byref(minor)
    )
    has_memory = _nvml_call(lib, "nvmlDeviceGetMemoryInfo", handle, ctypes.byref(memory))
    # NOT_SUPPORTED on GPUs without MIG, and the symbol is missing from old drivers.
    has_mig = _nvml_call(
        lib, "nvmlDeviceGetMigMode", handle, ctypes.byref(current), ctypes.byref(pending)
    )
    return Gpu(
        index=index,
        name=name.value.decode("utf-8", "replace") if has_name else "unknown NVIDIA GPU",
        compute_capability=(major.value, minor.value) if has_cc else None,
        memory_mib=int(memory.total) // (1024 * 1024) if has_memory else None,
        mig=has_mig and current.value == 1,
    )


def _nvml_read(lib: Any) -> NvidiaInfo | None:
    if not _nvml_call(lib, "nvmlInit_v2"):
        return None
    try:
        version = ctypes.create_string_buffer(_NVML_BUFFER)
        if not _nvml_call(lib, "nvmlSystemGetDriverVersion", version, ctypes.c_uint(_NVML_BUFFER)):
            return None
        cuda = ctypes.c_int()
        cuda_version = None
        if _nvml_call(lib, "nvmlSystemGetCudaDriverVersion_v2", ctypes.byref(cuda)) and cuda.value:
            # 13000 means 13.0, 12040 means 12.4.
            cuda_version = (cuda.value // 1000, cuda.value % 1000 // 10)
        count = ctypes.c_uint()
        if not _nvml_call(lib, "nvmlDeviceGetCount_v2", ctypes.byref(count)):
            return None
        devices = (_nvml_device(lib, index) for index in range(count.value))
        gpus = tuple(gpu for gpu in devices if gpu is not None)
        return NvidiaInfo(version.value.decode("ascii", "replace"), cuda_version, gpus, "nvml")
    finally:
        _nvml_call(lib, "nvmlShutdown")


def probe_nvml() -> NvidiaInfo | None:
    """Ask the driver's NVML library through ctypes (no pynvml needed).

    The calls run in a daemon thread so that a wedged driver costs at most NVML_TIMEOUT_S.
    """
    name = "nvml.dll" if platform.system() == "Windows" else "libnvidia-ml.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    answer: list[NvidiaInfo | None] = []

    def read() -> None:
        try:
            answer.append(_nvml_read(lib))
        except Exception:  # a probe never raises: ctypes and driver errors mean "unknown"
            answer.append(None)

    worker = threading.Thread(target=read, name="poetry-torch-nvml", daemon=True)
    worker.start()
    worker.join(NVML_TIMEOUT_S)
    return answer[0] if answer else None


def probe_nvidia_smi() -> NvidiaInfo | None:
    """Ask ``nvidia-smi``: one query for the GPUs, its banner for the CUDA version."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    for columns in (QUERY_COLUMNS, MINIMAL_QUERY_COLUMNS):
        result = _run([exe, f"--query-gpu={','.join(columns)}", "--format=csv,noheader,nounits"])
        # Hung or gone: asking again would only wait again.  Exit 0: the fields were understood.
        if result is None or result.returncode == 0:
            break
    if result is None or result.returncode != 0:
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
        reading = DriverReading(plain, None) if _DRIVER_VERSION.match(plain) else None
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


def probe_mps() -> bool:
    """Apple Silicon on macOS 12.3+, where torch's macOS wheels use MPS; torch is not imported."""
    if platform.system() != "Darwin" or platform.machine() != "arm64":
        return False
    release = tuple(_leading_int(part) or 0 for part in platform.mac_ver()[0].split("."))
    return release >= (12, 3)


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


def current_platform() -> str:
    return f"{platform.system().lower()}-{platform.machine().lower()}"


def detect_machine(*, use_nvml: bool = True) -> Machine:
    """Probe everything: NVML, then nvidia-smi, then ``/proc`` for the NVIDIA driver.

    With ``POETRY_TORCH_FAKE_MACHINE=<file.json>`` set, return the machine that file
    describes instead (the shape of ``machine_to_dict``); a broken file raises
    TorchPluginError rather than silently detecting the real machine.
    """
    fake = os.environ.get(FAKE_MACHINE_ENV)
    if fake:
        return _load_fake(Path(fake))
    nvidia = probe_nvml() if use_nvml else None
    nvidia = nvidia or probe_nvidia_smi() or probe_proc_driver()
    return Machine(
        nvidia=nvidia,
        nvcc=probe_nvcc(),
        mps=probe_mps(),
        rocm=probe_rocm(),
        platform=current_platform(),
    )


def _load_fake(path: Path) -> Machine:
    try:
        return machine_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as error:
        raise TorchPluginError(
            f"{FAKE_MACHINE_ENV}={path} does not describe a machine ({error});"
            f" nothing was changed. Fix the file or unset {FAKE_MACHINE_ENV}."
        ) from error


# JSON round trip, for the fake machine and for `poetry torch check --json`-style output.


def machine_to_dict(machine: Machine) -> dict[str, Any]:
    """The machine as JSON-ready data (pairs such as ``compute_capability`` are tuples)."""
    return asdict(machine)


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
        if driver is None or not _DRIVER_VERSION.match(driver):
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
    return Machine(
        nvidia=nvidia,
        nvcc=nvcc,
        mps=_typed(data, "mps", bool, False),
        rocm=_typed(data, "rocm", str),
        platform=_typed(data, "platform", str) or current_platform(),
    )
