"""The NVIDIA driver and GPUs through NVML (libnvidia-ml via ctypes), with a timeout."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import threading

from typing import Any

from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.machine.probes import nvml_library_names


# nvmlInit can take seconds on a multi-GPU box without persistence mode; past this, give up.
NVML_TIMEOUT_S = 5.0
_NVML_SUCCESS = 0
_NVML_BUFFER = 96


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
    """The driver and GPUs, NVML being initialised (the caller shuts it down)."""
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


def _open() -> Any:
    for name in nvml_library_names():
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


# a probe begun ahead of its question (``start_probe``): (answered, answer, worker)
_Probe = tuple[threading.Event, list["NvidiaInfo | None"], threading.Thread]
_begun: list[_Probe] = []


def _begin() -> _Probe:
    """Open the library, init NVML and read it in a daemon thread; the answer is handed over
    (``answered``) before ``nvmlShutdown``, which that thread runs next."""
    answer: list[NvidiaInfo | None] = []
    answered = threading.Event()

    def read() -> None:
        initialised = False
        try:
            lib = _open()
            initialised = lib is not None and _nvml_call(lib, "nvmlInit_v2")
            answer.append(_nvml_read(lib) if initialised else None)
        except Exception:  # a probe never raises: ctypes and driver errors mean "unknown"
            answer.append(None)
        finally:
            answered.set()
        if initialised:  # nothing waits for it; a failure changes no answer
            with contextlib.suppress(Exception):
                _nvml_call(lib, "nvmlShutdown")

    worker = threading.Thread(target=read, name="poetry-torch-nvml", daemon=True)
    worker.start()
    # the process does not leave while the driver library is mid-shutdown (bounded: a wedged
    # driver has already cost NVML_TIMEOUT_S)
    atexit.register(worker.join, _EXIT_WAIT_S)
    return answered, answer, worker


_EXIT_WAIT_S = 0.5


def start_probe() -> None:
    """Begin the probe now, in the background: a command that will ask ``probe_nvml`` later
    overlaps NVML's init (~15 ms on an H100) with its own imports.  Once per question."""
    if not _begun:
        _begun.append(_begin())


def pending() -> bool:
    """Whether a probe begun by ``start_probe`` has not answered yet."""
    return bool(_begun) and not _begun[-1][0].is_set()


def probe_nvml() -> NvidiaInfo | None:
    """Ask the driver's NVML library through ctypes (no pynvml needed).

    The calls run in a daemon thread so that a wedged driver costs at most NVML_TIMEOUT_S.
    The answer is handed back before ``nvmlShutdown``, which then runs in that thread while
    the command goes on (on an H100 with persistence mode, init costs ~15 ms and shutdown
    another ~10 ms: `check` should not wait for the second).  A probe begun by
    ``start_probe`` is the one answered.
    """
    answered, answer, _ = _begun.pop() if _begun else _begin()
    answered.wait(NVML_TIMEOUT_S)
    return answer[0] if answer else None
